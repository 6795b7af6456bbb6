//! Per-client options of the central sign-in: pairwise `sub` per sector,
//! `private_key_jwt` client authentication, and back-channel logout to a
//! client's server.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use egov_id::admin::NewClient;
use egov_id::keys::{Algorithm, SigningKey};
use egov_testkit::{TestServer, engine_test};
use serde_json::{Value, json};

use super::id::{CHALLENGE, CITIZEN, PASSWORD, VERIFIER, browser, query_of, sign_in};
use super::support::{App, spawn_demo};

/// Registers a first-party web client; returns its secret, if it has one.
async fn register(app: &App, client: NewClient) -> Option<String> {
    let client = NewClient {
        first_party: true,
        ..client
    };
    egov_id::admin::add_client(&app.test_db.db, &client, "test", chrono::Utc::now())
        .await
        .expect("register the client")
}

fn authorize_url(app: &App, client_id: &str, redirect: &str) -> String {
    let mut url = url::Url::parse(&app.server.url("/oauth/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid profile")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// Signs the browser in for `client_id` (with the password the first time,
/// through its session afterwards) and redeems the code.
async fn tokens_for(app: &App, browser: &reqwest::Client, client_id: &str, secret: &str, redirect: &str) -> Value {
    let url = authorize_url(app, client_id, redirect);
    let first = browser.get(&url).send().await.expect("authorize");
    let response = if first.status().as_u16() == 200 {
        let html = first.text().await.expect("page");
        assert!(html.contains("name=\"password\""), "the sign-in page");
        sign_in(app, browser, &url, CITIZEN, PASSWORD).await
    } else {
        first
    };
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().expect("ASCII").to_owned();
    assert!(location.starts_with(redirect), "{location}");
    let code = query_of(&location).remove("code").expect("a code");
    let response = app
        .server
        .client
        .post(app.server.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("JSON")
}

/// The claims of a JWT, unverified (the signature is another test's).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

engine_test! {
    async fn pairwise_clients_see_one_subject_per_sector(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let web = |id: &str, redirect: &str| NewClient::web(id, id, redirect);
        let a = "https://a.example.vn/cb";
        let a_elsewhere = "https://portal.a-partner.example.vn/cb";
        let b = "https://b.example.vn/cb";
        let plain = "https://plain.example.vn/cb";
        let secret_a = register(&app, NewClient { pairwise: true, ..web("sector-a", a) }).await.expect("secret");
        let secret_a2 = register(
            &app,
            NewClient { pairwise: true, sector_identifier: Some("a.example.vn".into()), ..web("sector-a-2", a_elsewhere) },
        )
        .await
        .expect("secret");
        let secret_b = register(&app, NewClient { pairwise: true, ..web("sector-b", b) }).await.expect("secret");
        let secret_plain = register(&app, web("public-sub", plain)).await.expect("secret");

        let browser = browser();
        let tokens_a = tokens_for(&app, &browser, "sector-a", &secret_a, a).await;
        let sub_a = claims_of(tokens_a["id_token"].as_str().expect("ID token"))["sub"].clone();
        let sub_a2 = claims_of(tokens_for(&app, &browser, "sector-a-2", &secret_a2, a_elsewhere).await["id_token"].as_str().expect("ID token"))["sub"].clone();
        let sub_b = claims_of(tokens_for(&app, &browser, "sector-b", &secret_b, b).await["id_token"].as_str().expect("ID token"))["sub"].clone();
        let sub_plain = claims_of(tokens_for(&app, &browser, "public-sub", &secret_plain, plain).await["id_token"].as_str().expect("ID token"))["sub"].clone();

        let user = egov_id::store::user_by_login(&app.test_db.db, CITIZEN).await.expect("query").expect("the citizen");
        assert_eq!(sub_plain, json!(user.id.to_string()), "a public client sees the account id");
        assert_eq!(sub_a, sub_a2, "clients of one sector see one subject");
        assert_ne!(sub_a, sub_b, "clients of different sectors cannot join on sub");
        assert_ne!(sub_a, sub_plain, "the pairwise subject does not reveal the account id");

        // The same user signing in again gets the same pairwise subject, and
        // userinfo and introspection agree with the ID token.
        let again = tokens_for(&app, &browser, "sector-a", &secret_a, a).await;
        assert_eq!(claims_of(again["id_token"].as_str().expect("ID token"))["sub"], sub_a);
        let access = again["access_token"].as_str().expect("access token");
        let userinfo: Value = app.server.client.get(app.server.url("/oauth/userinfo")).bearer_auth(access).send().await.expect("userinfo").json().await.expect("JSON");
        assert_eq!(userinfo["sub"], sub_a);
        let introspection: Value = app
            .server
            .client
            .post(app.server.url("/oauth/introspect"))
            .basic_auth("sector-a", Some(&secret_a))
            .form(&[("token", again["refresh_token"].as_str().expect("refresh token"))])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("JSON");
        assert_eq!((introspection["active"].as_bool(), &introspection["sub"]), (Some(true), &sub_a));

        // Redirect URIs on two hosts need an explicit sector.
        let two_hosts = NewClient {
            pairwise: true,
            redirect_uris: vec![a.into(), b.into()],
            ..web("two-hosts", a)
        };
        let refused = egov_id::admin::add_client(&app.test_db.db, &two_hosts, "test", chrono::Utc::now()).await;
        assert!(matches!(refused, Err(egov_id::admin::AdminError::Invalid { field: "sector_identifier", .. })), "{refused:?}");
    }
}

/// A machine client that authenticates with `private_key_jwt`, and its key.
async fn register_key_client(app: &App) -> SigningKey {
    let key = SigningKey::generate(Algorithm::Es256).expect("client key");
    let client = NewClient {
        grant_types: vec!["client_credentials".into()],
        redirect_uris: Vec::new(),
        jwks: Some(json!({ "keys": [key.public_jwk()] }).to_string()),
        ..NewClient::web("he-thong-thue", "Hệ thống thuế", "")
    };
    let secret = register(app, client).await;
    assert_eq!(secret, None, "a client with keys gets no secret");
    key
}

/// A client assertion signed by `key` with jsonwebtoken, as a client
/// library would make it.
fn assertion(key: &SigningKey, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = key.public_jwk()["kid"].as_str().map(str::to_owned);
    let encoding = jsonwebtoken::EncodingKey::from_ec_pem(key.private_pkcs8_pem().as_bytes()).expect("EC key");
    jsonwebtoken::encode(&header, claims, &encoding).expect("sign")
}

fn assertion_claims(app: &App, jti: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "he-thong-thue",
        "sub": "he-thong-thue",
        "aud": app.server.url("/oauth/token"),
        "iat": now,
        "exp": now + 60,
        "jti": jti,
    })
}

async fn grant_with(app: &App, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .server
        .client
        .post(app.server.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// `jwt` with one character of its signature changed.
fn tampered(jwt: &str) -> String {
    let at = jwt.rfind('.').expect("a compact JWS") + 10;
    let replacement = if &jwt[at..=at] == "A" { "B" } else { "A" };
    format!("{}{replacement}{}", &jwt[..at], &jwt[at + 1..])
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

engine_test! {
    async fn a_client_authenticates_with_a_signed_assertion_once(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let key = register_key_client(&app).await;
        let (_, discovery) = app.get_json("/.well-known/openid-configuration").await;
        assert!(discovery["token_endpoint_auth_methods_supported"].as_array().expect("methods").contains(&json!("private_key_jwt")));

        let signed = assertion(&key, &assertion_claims(&app, "lan-1"));
        let form = [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", signed.as_str())];
        let (status, tokens) = grant_with(&app, &form).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(claims_of(tokens["access_token"].as_str().expect("token"))["client_id"], "he-thong-thue");

        // The same assertion again is a replay.
        let (status, body) = grant_with(&app, &form).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

        let other_key = SigningKey::generate(Algorithm::Es256).expect("another key");
        let mut wrong_audience = assertion_claims(&app, "lan-3");
        wrong_audience["aud"] = json!("https://another-provider.example.vn/oauth/token");
        let mut other_subject = assertion_claims(&app, "lan-4");
        other_subject["sub"] = json!("cong-dvc");
        let mut too_long = assertion_claims(&app, "lan-5");
        too_long["exp"] = json!(chrono::Utc::now().timestamp() + 86_400);
        let mut expired = assertion_claims(&app, "lan-6");
        expired["exp"] = json!(chrono::Utc::now().timestamp() - 600);
        for (case, signed) in [
            ("an unregistered key", assertion(&other_key, &assertion_claims(&app, "lan-2"))),
            ("another audience", assertion(&key, &wrong_audience)),
            ("sub is not the client", assertion(&key, &other_subject)),
            ("a day-long assertion", assertion(&key, &too_long)),
            ("an expired assertion", assertion(&key, &expired)),
            ("a forged signature", tampered(&assertion(&key, &assertion_claims(&app, "lan-8")))),
        ] {
            let form = [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", signed.as_str())];
            let (status, body) = grant_with(&app, &form).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{case}");
        }

        // A fresh assertion with the wrong type, or beside a secret, fails;
        // and the client cannot fall back to acting as a public client.
        let fresh = assertion(&key, &assertion_claims(&app, "lan-7"));
        for form in [
            vec![("grant_type", "client_credentials"), ("client_assertion_type", "urn:example:other"), ("client_assertion", fresh.as_str())],
            vec![("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER), ("client_assertion", fresh.as_str()), ("client_secret", "x")],
            vec![("grant_type", "client_credentials"), ("client_id", "he-thong-thue")],
        ] {
            let (status, body) = grant_with(&app, &form).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{form:?}");
        }
        let form = [("grant_type", "client_credentials"), ("client_id", "he-thong-thue"), ("client_assertion_type", JWT_BEARER), ("client_assertion", fresh.as_str())];
        let (status, _) = grant_with(&app, &form).await;
        assert_eq!(status, 200, "a fresh assertion naming its client works");
    }
}

/// A client's back-channel logout endpoint: records what it receives.
async fn logout_receiver() -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let router = axum::Router::new().route(
        "/backchannel-logout",
        axum::routing::post(
            move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                let sink = Arc::clone(&sink);
                async move {
                    let token = form.get("logout_token").cloned().unwrap_or_default();
                    sink.lock().expect("lock").push(token);
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    (TestServer::serve(router).await, received)
}

engine_test! {
    async fn ending_a_session_sends_a_signed_logout_token_to_the_clients_it_signed_in_to(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (receiver, received) = logout_receiver().await;
        let redirect = "https://rp.example.gov.vn/callback";
        let client = NewClient {
            pairwise: true,
            backchannel_logout_uri: Some(receiver.url("/backchannel-logout")),
            signing_alg: Algorithm::Es256,
            ..NewClient::web("cong-dvc", "Cổng dịch vụ công", redirect)
        };
        let secret = register(&app, client).await.expect("secret");

        // The same citizen on another device: that session goes on.
        let other_device = browser();
        let other_tokens = tokens_for(&app, &other_device, "cong-dvc", &secret, redirect).await;

        let browser = browser();
        let tokens = tokens_for(&app, &browser, "cong-dvc", &secret, redirect).await;
        let id_token = claims_of(tokens["id_token"].as_str().expect("ID token"));
        app.run_jobs().await;
        assert!(received.lock().expect("lock").is_empty(), "nothing is sent while the session lives");

        let logout = browser.get(app.server.url("/oauth/logout")).send().await.expect("logout");
        assert_eq!(logout.status().as_u16(), 200);
        app.run_jobs().await;
        let tokens_received = received.lock().expect("lock").clone();
        assert_eq!(tokens_received.len(), 1, "one notice: one client, one session ended");

        // The logout token verifies against the provider's JWKS.
        let (_, jwks) = app.get_json("/oauth/jwks").await;
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).expect("a JWKS");
        let header = jsonwebtoken::decode_header(&tokens_received[0]).expect("header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256, "signed with the client's algorithm");
        assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
        let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("a published key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["cong-dvc"]);
        validation.set_issuer(&[app.server.url("")]);
        let logout_token = jsonwebtoken::decode::<Value>(
            &tokens_received[0],
            &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
            &validation,
        )
        .expect("a valid logout token")
        .claims;
        assert_eq!(logout_token["sub"], id_token["sub"], "the subject the client knows");
        assert_eq!(logout_token["sid"], id_token["sid"], "the session of the ID token");
        let other_sid = &claims_of(other_tokens["id_token"].as_str().expect("ID token"))["sid"];
        assert_ne!(&logout_token["sid"], other_sid, "the other device's session is not ended");
        assert!(logout_token["events"].get("http://schemas.openid.net/event/backchannel-logout").is_some());
        assert!(logout_token.get("nonce").is_none());
        assert!(logout_token["jti"].is_string());

        // The session and its tokens are gone; running the queue again
        // sends nothing more.
        let refresh = tokens["refresh_token"].as_str().expect("refresh token");
        let response = app.server.client.post(app.server.url("/oauth/token")).basic_auth("cong-dvc", Some(&secret)).form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).send().await.expect("refresh");
        assert_eq!(response.status().as_u16(), 400);
        app.run_jobs().await;
        assert_eq!(received.lock().expect("lock").len(), 1);
    }
}
