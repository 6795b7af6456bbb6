//! Central sign-in against a real OpenID client library (the
//! `openidconnect` crate), and the attacks a provider must withstand.

use std::collections::HashMap;

use egov_testkit::engine_test;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse as _,
};

use super::support::{App, spawn_demo};

pub(super) const CITIZEN: &str = "001090012345";
pub(super) const PASSWORD: &str = egov::demo::DEMO_PASSWORD;
pub(super) const REDIRECT: &str = "https://rp.example.gov.vn/callback";

/// An HTTP client for openidconnect, over the test's reqwest client.
fn http_client(
    client: reqwest::Client,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>> + Send>> {
    move |request| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder
                .body(response.bytes().await?.to_vec())
                .expect("a valid response"))
        })
    }
}

pub(super) fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The hidden fields of the first form on a page, by name.
pub(super) fn hidden_fields(html: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for input in html.split("<input").skip(1) {
        let input = input.split('>').next().unwrap_or_default();
        if !input.contains("type=\"hidden\"") {
            continue;
        }
        let attribute = |name: &str| {
            let marker = format!("{name}=\"");
            input.find(&marker).map(|start| {
                let rest = &input[start + marker.len()..];
                unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
            })
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            fields.insert(name, value);
        }
    }
    fields
}

/// A browser signs in at `authorize_url`; returns where it was sent next.
pub(super) async fn sign_in(
    app: &App,
    browser: &reqwest::Client,
    authorize_url: &str,
    login: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(authorize_url).send().await.expect("authorization request");
    assert_eq!(page.status().as_u16(), 200, "the sign-in page");
    let html = page.text().await.expect("page");
    let mut form = hidden_fields(&html);
    form.insert("login".into(), login.into());
    form.insert("password".into(), password.into());
    browser
        .post(app.server.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("sign in")
}

pub(super) fn query_of(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location).expect("an absolute redirect");
    url.query_pairs().into_owned().collect()
}

pub(super) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub(super) async fn register_client(app: &App, public: bool) -> Option<String> {
    let mut client = egov_id::admin::NewClient::web("cong-dvc", "Cổng dịch vụ công tỉnh", REDIRECT);
    client.public = public;
    // The province's own portal: first-party, so it never asks for consent.
    client.first_party = true;
    client.post_logout_redirect_uris = vec!["https://rp.example.gov.vn/signed-out".into()];
    client
        .scopes
        .extend(["personal_id".to_owned(), "offline_access".to_owned()]);
    client.grant_types.push("client_credentials".into());
    if public {
        client.grant_types.pop();
    }
    egov_id::admin::add_client(&app.test_db.db, &client, "test", chrono::Utc::now())
        .await
        .expect("register the client")
}

engine_test! {
    async fn a_real_openid_client_signs_in_with_pkce_refreshes_and_logs_out(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("a confidential client has a secret");
        let http = http_client(app.server.client.clone());
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.server.url("")).expect("issuer"), &http)
            .await
            .expect("discovery");
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new("cong-dvc".into()), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("personal_id".into()))
            .set_pkce_challenge(challenge)
            .url();

        let browser = browser();
        let response = sign_in(&app, &browser, url.as_str(), CITIZEN, PASSWORD).await;
        assert_eq!(response.status().as_u16(), 303);
        let location = response.headers()["location"].to_str().expect("ASCII").to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query = query_of(&location);
        assert_eq!(query.get("state").map(String::as_str), Some(state.secret().as_str()));
        let code = query.get("code").expect("a code").clone();

        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .expect("token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("a valid ID token");
        assert_eq!(claims.auth_context_ref().map(|acr| acr.as_str()), Some("1"));
        let userinfo: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), None)
            .expect("userinfo endpoint")
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(userinfo.subject(), claims.subject());
        let name = userinfo.name().and_then(|name| name.get(None)).map(|name| name.as_str().to_owned());
        assert_eq!(name.as_deref(), Some("Nguyễn Văn An"));

        let refresh = tokens.refresh_token().expect("a refresh token").clone();
        let refreshed = client.exchange_refresh_token(&refresh).expect("token endpoint").request_async(&http).await.expect("refresh");
        assert_ne!(refreshed.refresh_token().map(RefreshToken::secret), Some(refresh.secret()), "refresh tokens rotate");

        // The old token is spent: presenting it again revokes the family,
        // so even the new one stops working.
        assert!(client.exchange_refresh_token(&refresh).expect("endpoint").request_async(&http).await.is_err());
        let newest = refreshed.refresh_token().expect("rotated token").clone();
        assert!(client.exchange_refresh_token(&newest).expect("endpoint").request_async(&http).await.is_err());

        // RP-initiated logout ends the session: the next authorization
        // request shows the sign-in page again.
        let logout = browser
            .get(app.server.url(&format!(
                "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://rp.example.gov.vn/signed-out&state=bye"
            )))
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status().as_u16(), 303);
        assert_eq!(logout.headers()["location"], "https://rp.example.gov.vn/signed-out?state=bye");
        let again = browser.get(url.as_str()).send().await.expect("authorize again");
        assert_eq!(again.status().as_u16(), 200);
        assert!(again.text().await.expect("page").contains("name=\"password\""));
    }
}

pub(super) fn authorize_path(challenge: Option<(&str, &str)>, redirect: &str) -> String {
    let mut url = url::Url::parse("http://x/oauth/authorize").expect("url");
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", "cong-dvc")
            .append_pair("redirect_uri", redirect);
        query
            .append_pair("scope", "openid profile")
            .append_pair("state", "s1")
            .append_pair("nonce", "n1");
        if let Some((challenge, method)) = challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", method);
        }
    }
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(super) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn code_for(app: &App, browser: &reqwest::Client) -> String {
    let response = sign_in(
        app,
        browser,
        &app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT)),
        CITIZEN,
        PASSWORD,
    )
    .await;
    let location = response.headers()["location"].to_str().expect("ASCII").to_owned();
    query_of(&location).get("code").expect("a code").clone()
}

pub(super) async fn token_request(app: &App, secret: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = app
        .server
        .client
        .post(app.server.url("/oauth/token"))
        .basic_auth("cong-dvc", Some(secret))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

engine_test! {
    async fn redirect_uris_that_only_resemble_the_registered_one_are_refused_without_redirecting(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        for attack in [
            "https://rp.example.gov.vn.evil.com/callback",
            "https://rp.example.gov.vn@evil.com/callback",
            "https://evil.com@rp.example.gov.vn/callback",
            "https://rp.example.gov.vn/callback/%2e%2e/evil",
            "https://rp.example.gov.vn/callback/../evil",
            "http://127.0.0.1:9999/callback",
        ] {
            let response = app.server.get(&authorize_path(Some((CHALLENGE, "S256")), attack)).await;
            assert_eq!(response.status().as_u16(), 400, "{attack}");
            assert!(!response.headers().contains_key("location"), "{attack} was redirected to");
        }
    }
}

engine_test! {
    async fn pkce_is_required_and_plain_or_downgraded_pkce_fails(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        for challenge in [None, Some((VERIFIER, "plain")), Some((CHALLENGE, "S512"))] {
            let response = app.server.get(&authorize_path(challenge, REDIRECT)).await;
            assert_eq!(response.status().as_u16(), 303, "{challenge:?}");
            let query = query_of(response.headers()["location"].to_str().expect("ASCII"));
            assert_eq!(query.get("error").map(String::as_str), Some("invalid_request"), "{challenge:?}");
            assert_eq!(query.get("state").map(String::as_str), Some("s1"));
        }
        // A code bound to a challenge cannot be redeemed without the verifier,
        // nor with a wrong one.
        let browser = browser();
        let code = code_for(&app, &browser).await;
        let base = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
        let (status, body) = token_request(&app, &secret, &base).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        let wrong = "x".repeat(43);
        let (status, body) = token_request(&app, &secret, &[base[0], base[1], base[2], ("code_verifier", wrong.as_str())]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    }
}

engine_test! {
    async fn a_reused_code_fails_and_revokes_what_its_first_use_issued(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let browser = browser();
        let code = code_for(&app, &browser).await;
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
        let (status, first) = token_request(&app, &secret, &form).await;
        assert_eq!(status, 200, "{first}");
        let access = first["access_token"].as_str().expect("access token").to_owned();
        let userinfo = |token: String| {
            let client = app.server.client.clone();
            let url = app.server.url("/oauth/userinfo");
            async move { client.get(url).bearer_auth(token).send().await.expect("userinfo").status().as_u16() }
        };
        assert_eq!(userinfo(access.clone()).await, 200);
        let (status, second) = token_request(&app, &secret, &form).await;
        assert_eq!((status, second["error"].as_str()), (400, Some("invalid_grant")));
        assert_eq!(userinfo(access).await, 401, "the access token from the first use still works");
        let refresh = first["refresh_token"].as_str().expect("refresh token");
        let (status, _) = token_request(&app, &secret, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
        assert_eq!(status, 400, "the refresh token from the first use still works");
    }
}

engine_test! {
    async fn client_credentials_introspection_and_revocation_work_for_machine_clients(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (status, tokens) = token_request(&app, &secret, &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().expect("token");
        let introspect = |token: String| {
            let client = app.server.client.clone();
            let url = app.server.url("/oauth/introspect");
            let secret = secret.clone();
            async move {
                let response = client.post(url).basic_auth("cong-dvc", Some(secret)).form(&[("token", token)]).send().await.expect("introspect");
                response.json::<serde_json::Value>().await.expect("JSON")
            }
        };
        let active = introspect(access.to_owned()).await;
        assert_eq!((active["active"].as_bool(), active["client_id"].as_str()), (Some(true), Some("cong-dvc")));
        let response = app.server.client.post(app.server.url("/oauth/revoke")).basic_auth("cong-dvc", Some(&secret)).form(&[("token", access)]).send().await.expect("revoke");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(introspect(access.to_owned()).await["active"], false);
        let (status, body) = token_request(&app, "wrong-secret", &[("grant_type", "client_credentials")]).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    }
}

engine_test! {
    async fn unknown_and_known_accounts_get_the_same_answer(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
        let known = sign_in(&app, &browser(), &url, CITIZEN, "wrong password here").await;
        let unknown = sign_in(&app, &browser(), &url, "001099999999", "wrong password here").await;
        assert_eq!(known.status(), unknown.status());
        assert_eq!(known.status().as_u16(), 401);
        let strip = |html: String| html.replace(CITIZEN, "").replace("001099999999", "");
        let known = strip(known.text().await.expect("page"));
        let unknown = strip(unknown.text().await.expect("page"));
        let without_tokens = |html: &str| html.lines().filter(|line| !line.contains("csrf_token")).collect::<Vec<_>>().join("\n");
        assert_eq!(without_tokens(&known), without_tokens(&unknown));
    }
}

engine_test! {
    async fn parallel_wrong_passwords_all_count_and_lock_the_account(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
        let attempts = (0..50).map(|n| {
            let app = &app;
            let url = url.clone();
            async move { sign_in(app, &browser(), &url, CITIZEN, &format!("wrong password {n}")).await.status().as_u16() }
        });
        let statuses = futures_util::future::join_all(attempts).await;
        assert!(statuses.iter().all(|status| *status == 401 || *status == 429), "{statuses:?}");
        let failures = egov_id::store::failures(&app.test_db.db, &format!("account:{CITIZEN}"), 15 * 60 * 1000, chrono::Utc::now().timestamp_millis())
            .await
            .expect("failures");
        assert_eq!(failures, 50, "every parallel failure was counted");
        // Even the right password is refused now.
        let response = sign_in(&app, &browser(), &url, CITIZEN, PASSWORD).await;
        assert_eq!(response.status().as_u16(), 429);
    }
}

engine_test! {
    async fn a_forged_session_cookie_signs_nobody_in(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let path = authorize_path(Some((CHALLENGE, "S256")), REDIRECT);
        for cookie in ["egov_sid=forged", "egov_sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "egov_sid=%00%FF"] {
            let response = app.server.client.get(app.server.url(&path)).header("cookie", cookie).send().await.expect("request");
            assert_eq!(response.status().as_u16(), 200, "{cookie}");
            assert!(response.text().await.expect("page").contains("name=\"password\""), "{cookie} skipped the sign-in page");
        }
        let prompt_none = format!("{path}&prompt=none");
        let response = app.server.client.get(app.server.url(&prompt_none)).header("cookie", "egov_sid=forged").send().await.expect("request");
        let query = query_of(response.headers()["location"].to_str().expect("ASCII"));
        assert_eq!(query.get("error").map(String::as_str), Some("login_required"));
    }
}

engine_test! {
    async fn discovery_and_jwks_publish_every_algorithm(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, discovery) = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(status, 200);
        assert_eq!(discovery["issuer"], app.server.url(""));
        assert_eq!(discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        let (_, jwks) = app.get_json("/oauth/jwks").await;
        let algs: Vec<&str> = jwks["keys"].as_array().expect("keys").iter().filter_map(|key| key["alg"].as_str()).collect();
        for alg in ["RS256", "ES256", "EdDSA"] {
            assert!(algs.contains(&alg), "{alg} missing from {algs:?}");
        }
    }
}

pub(super) const OFFICIAL: &str = "024185004321";

/// The claims of a JWT, unverified (the signature is checked elsewhere).
pub(super) fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON")
}

pub(super) fn now_unix() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970")
}

pub(super) async fn second_factor(
    app: &App,
    browser: &reqwest::Client,
    page_html: &str,
    code: &str,
) -> reqwest::Response {
    let mut form = hidden_fields(page_html);
    form.insert("code".into(), code.into());
    browser
        .post(app.server.url("/oauth/authorize/second-factor"))
        .form(&form)
        .send()
        .await
        .expect("second factor")
}

engine_test! {
    async fn officials_must_enrol_a_second_factor_and_then_always_use_it(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));

        // First sign-in: the password alone does not finish it; the official
        // must enrol an authenticator.
        let first_browser = browser();
        let enrolment = sign_in(&app, &first_browser, &url, OFFICIAL, PASSWORD).await;
        assert_eq!(enrolment.status().as_u16(), 200);
        let html = enrolment.text().await.expect("page");
        assert!(html.contains("Thiết lập xác thực hai yếu tố"), "no enrolment page");
        let marker = "id=\"totp-secret\">";
        let start = html.find(marker).expect("the secret is shown") + marker.len();
        let base32 = &html[start..start + html[start..].find('<').expect("end of secret")];
        let totp_secret = egov_id::totp::TotpSecret::from_base32(base32).expect("a base32 secret");

        let wrong = second_factor(&app, &first_browser, &html, "000000").await;
        assert_eq!(wrong.status().as_u16(), 401);
        let code = egov_id::totp::code_at(&totp_secret, now_unix());
        let recovery = second_factor(&app, &first_browser, &html, &code).await;
        assert_eq!(recovery.status().as_u16(), 200);
        let recovery_html = recovery.text().await.expect("page");
        let codes: Vec<String> = recovery_html
            .split("<code>")
            .skip(1)
            .map(|part| part[..part.find('<').expect("end")].to_owned())
            .collect();
        assert_eq!(codes.len(), 10, "ten recovery codes are shown once");

        // Continuing completes the authorization at level 2.
        let continued = first_browser.get(url.as_str()).send().await.expect("continue");
        assert_eq!(continued.status().as_u16(), 303);
        let code = query_of(continued.headers()["location"].to_str().expect("ASCII"))["code"].clone();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
        let (status, tokens) = token_request(&app, &secret, &form).await;
        assert_eq!(status, 200, "{tokens}");
        let claims = jwt_claims(tokens["id_token"].as_str().expect("ID token"));
        assert_eq!(claims["acr"], "2");
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));

        // Next sign-in in a new browser: password, then the authenticator's
        // code. The code just used cannot be replayed.
        let second_browser = browser();
        let challenge = sign_in(&app, &second_browser, &url, OFFICIAL, PASSWORD).await;
        let html = challenge.text().await.expect("page");
        assert!(html.contains("Xác thực hai yếu tố") && !html.contains("totp-secret"));
        // The very code used to enrol: a fresh one would be legitimate if a
        // 30-second step had passed meanwhile.
        let response = second_factor(&app, &second_browser, &html, &code).await;
        assert_eq!(response.status().as_u16(), 401, "a used code was accepted again");

        // A recovery code works once.
        let response = second_factor(&app, &second_browser, &html, &codes[0].to_lowercase()).await;
        assert_eq!(response.status().as_u16(), 303, "a recovery code was refused");
        let third_browser = browser();
        let html = sign_in(&app, &third_browser, &url, OFFICIAL, PASSWORD).await.text().await.expect("page");
        let response = second_factor(&app, &third_browser, &html, &codes[0]).await;
        assert_eq!(response.status().as_u16(), 401, "a recovery code worked twice");
    }
}

engine_test! {
    async fn concurrent_uses_of_one_refresh_token_have_one_winner_and_revoke_the_family(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let browser = browser();
        let code = code_for(&app, &browser).await;
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)];
        let (status, tokens) = token_request(&app, &secret, &form).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().expect("refresh token");

        // Twenty grants with the same token at once, as a client retrying
        // in parallel or an attacker racing the owner would send them.
        let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        let attempts = (0..20).map(|_| token_request(&app, &secret, &grant));
        let answers = futures_util::future::join_all(attempts).await;
        let winners: Vec<&serde_json::Value> = answers.iter().filter(|(status, _)| *status == 200).map(|(_, body)| body).collect();
        assert_eq!(winners.len(), 1, "{answers:?}");
        assert!(answers.iter().all(|(status, body)| *status == 200 || body["error"] == "invalid_grant"), "{answers:?}");

        // The losers were replays: the winner's new token is revoked too.
        let rotated = winners[0]["refresh_token"].as_str().expect("rotated token");
        let (status, body) = token_request(&app, &secret, &[("grant_type", "refresh_token"), ("refresh_token", rotated)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
        let replays = egov_db::audit::for_action(&app.test_db.db, "id.refresh.replay", 50).await.expect("audit");
        assert!(!replays.is_empty(), "the replay was audited");
    }
}
