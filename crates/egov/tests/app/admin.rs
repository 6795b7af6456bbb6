//! Account administration: the JSON API with bearer tokens and the pages
//! with the administrator's session, scoped so that an agency admin manages
//! only the officials of their own agency.

use egov_testkit::engine_test;

use super::account::{can_sign_in, post_form};
use super::id::{
    CHALLENGE, CITIZEN, OFFICIAL, PASSWORD, REDIRECT, VERIFIER, authorize_path, browser, now_unix, query_of,
    register_client, second_factor, sign_in, token_request,
};
use super::support::{App, spawn_demo};

const AGENCY_ADMIN: &str = "024080003344";
const PLATFORM_ADMIN: &str = "001082005566";
const SPECIALIST: &str = "024088007654";

/// An official signs in (enrolling an authenticator) in a browser of its
/// own; returns the browser (with its session) and an access token.
async fn official(app: &App, secret: &str, login: &str) -> (reqwest::Client, String) {
    let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
    let browser = browser();
    let html = sign_in(app, &browser, &url, login, PASSWORD)
        .await
        .text()
        .await
        .expect("page");
    let marker = "id=\"totp-secret\">";
    let start = html.find(marker).expect("enrolment") + marker.len();
    let totp = egov_id::totp::TotpSecret::from_base32(&html[start..start + html[start..].find('<').expect("end")])
        .expect("secret");
    let code = egov_id::totp::code_at(&totp, now_unix());
    assert_eq!(second_factor(app, &browser, &html, &code).await.status().as_u16(), 200);
    let continued = browser.get(url.as_str()).send().await.expect("continue");
    let code = query_of(continued.headers()["location"].to_str().expect("ASCII"))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = token_request(app, secret, &form).await;
    assert_eq!(status, 200, "{tokens}");
    (
        browser,
        tokens["access_token"].as_str().expect("access token").to_owned(),
    )
}

async fn user_id(app: &App, login: &str) -> String {
    egov_id::store::user_by_login(&app.test_db.db, login)
        .await
        .expect("query")
        .expect("account")
        .id
        .to_string()
}

async fn api(app: &App, token: Option<&str>, method: &str, path: &str) -> (u16, serde_json::Value) {
    let url = app.server.url(path);
    let mut request = if method == "POST" {
        app.server.client.post(url)
    } else {
        app.server.client.get(url)
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("API call");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

engine_test! {
    async fn an_agency_admin_manages_only_the_officials_of_their_agency(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (_, token) = official(&app, &secret, AGENCY_ADMIN).await;

        // The search sees only the agency's officials, by name without diacritics.
        let (status, users) = api(&app, Some(&token), "GET", "/api/v1/id/users").await;
        assert_eq!(status, 200, "{users}");
        let ids: Vec<&str> = users.as_array().expect("list").iter().map(|user| user["personal_id"].as_str().expect("id")).collect();
        // The receiver, the two specialists and the leader.
        assert_eq!(ids.len(), 4, "{ids:?}");
        assert!(!ids.contains(&CITIZEN) && !ids.contains(&PLATFORM_ADMIN) && !ids.contains(&AGENCY_ADMIN));
        let (_, found) = api(&app, Some(&token), "GET", "/api/v1/id/users?q=cuong").await;
        assert_eq!(found[0]["personal_id"], SPECIALIST, "{found}");

        // Lock an official of the agency: no more sign-in; unlock restores it.
        let receiver = user_id(&app, OFFICIAL).await;
        let (status, locked) = api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{receiver}/lock")).await;
        assert_eq!((status, &locked["locked"]), (200, &serde_json::json!(true)), "{locked}");
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
        assert_eq!(sign_in(&app, &browser(), &url, OFFICIAL, PASSWORD).await.status().as_u16(), 401);
        let (status, _) = api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{receiver}/unlock")).await;
        assert_eq!(status, 200);
        assert_eq!(sign_in(&app, &browser(), &url, OFFICIAL, PASSWORD).await.status().as_u16(), 200);

        // Everyone else is out of reach.
        for outsider in [CITIZEN, PLATFORM_ADMIN, AGENCY_ADMIN] {
            let id = user_id(&app, outsider).await;
            let (status, body) = api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{id}/lock")).await;
            assert_eq!(status, 403, "{outsider}: {body}");
            assert_eq!(body["code"], "forbidden");
        }
        let unknown = uuid::Uuid::now_v7();
        assert_eq!(api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{unknown}/lock")).await.0, 404);
        assert_eq!(api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{receiver}/delete")).await.0, 404);
        assert_eq!(api(&app, None, "GET", "/api/v1/id/users").await.0, 401);
        assert_eq!(api(&app, Some("not-a-token"), "GET", "/api/v1/id/users").await.0, 401);

        let audited = egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action IN ('id.user.lock', 'id.user.unlock')")
                .fetch_one(pool)
                .await
                .expect("count")
        });
        assert_eq!(audited, 2, "refused actions are not changes");
    }
}

engine_test! {
    async fn officials_without_an_admin_role_get_403_and_a_platform_admin_reaches_everyone(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (_, receiver_token) = official(&app, &secret, OFFICIAL).await;
        assert_eq!(api(&app, Some(&receiver_token), "GET", "/api/v1/id/users").await.0, 403);

        let (platform_browser, token) = official(&app, &secret, PLATFORM_ADMIN).await;
        let citizen = user_id(&app, CITIZEN).await;
        let (status, _) = api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{citizen}/lock")).await;
        assert_eq!(status, 200);

        // Resetting the receiver's factors ends their sessions and tokens;
        // the next sign-in enrols again.
        let receiver = user_id(&app, OFFICIAL).await;
        let (status, _) = api(&app, Some(&token), "POST", &format!("/api/v1/id/users/{receiver}/reset-factors")).await;
        assert_eq!(status, 200);
        let (status, _) = api(&app, Some(&receiver_token), "GET", "/oauth/userinfo").await;
        assert_eq!(status, 401, "the receiver's token outlived the reset");
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
        let html = sign_in(&app, &browser(), &url, OFFICIAL, PASSWORD).await.text().await.expect("page");
        assert!(html.contains("totp-secret"), "no new enrolment after the reset");

        // The same through the pages, with the session and a CSRF token.
        let page = platform_browser.get(app.server.url("/admin/users?q=nguyen")).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.expect("page");
        assert!(html.contains("Nguyễn Văn An") && html.contains("Mở khóa"), "the locked citizen is listed");
        let unlocked = post_form(&app, &platform_browser, "/admin/users?q=nguyen", &format!("/admin/users/{citizen}/unlock"), &[]).await;
        assert_eq!(unlocked.status().as_u16(), 303);
        assert!(can_sign_in(&app, CITIZEN, PASSWORD).await);
    }
}

engine_test! {
    async fn the_admin_page_is_refused_to_non_administrators(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (receiver_browser, _) = official(&app, &secret, OFFICIAL).await;
        let page = receiver_browser.get(app.server.url("/admin/users")).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 403);
        let anonymous = browser().get(app.server.url("/admin/users")).send().await.expect("page");
        assert_eq!(anonymous.status().as_u16(), 303);
        let (agency_browser, _) = official(&app, &secret, AGENCY_ADMIN).await;
        let platform = user_id(&app, PLATFORM_ADMIN).await;
        let attempt = post_form(&app, &agency_browser, "/admin/users", &format!("/admin/users/{platform}/lock"), &[]).await;
        assert_eq!(attempt.status().as_u16(), 403);
    }
}

engine_test! {
    async fn a_platform_admin_manages_clients_keys_and_upstreams_over_json(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (_, token) = official(&app, &secret, PLATFORM_ADMIN).await;
        let (_, agency_token) = official(&app, &secret, AGENCY_ADMIN).await;
        assert_eq!(api(&app, Some(&agency_token), "GET", "/api/v1/id/clients").await.0, 403, "agency admins manage accounts, not the service");
        assert_eq!(api(&app, None, "GET", "/api/v1/id/clients").await.0, 401);

        let (status, clients) = api(&app, Some(&token), "GET", "/api/v1/id/clients").await;
        assert_eq!(status, 200);
        let portal = clients.as_array().expect("a list").iter().find(|client| client["client_id"] == "cong-dvc").expect("cong-dvc listed");
        assert_eq!(portal["authentication"], "client_secret");
        assert!(!clients.to_string().contains("secret_hash"), "no secret material is listed");

        // Register a client; a bad one names the field.
        let post = |path: &str, body: serde_json::Value| {
            let request = app.server.client.post(app.server.url(path)).bearer_auth(&token).json(&body);
            async move {
                let response = request.send().await.expect("API call");
                let status = response.status().as_u16();
                (status, response.json::<serde_json::Value>().await.unwrap_or_default())
            }
        };
        let (status, created) = post("/api/v1/id/clients", serde_json::json!({
            "client_id": "so-tu-phap", "name": "Sở Tư pháp", "redirect_uris": ["https://stp.example.gov.vn/cb"], "signing_alg": "ES256"
        })).await;
        assert_eq!(status, 201, "{created}");
        assert!(created["client_secret"].as_str().is_some_and(|secret| secret.len() == 43));
        let (status, refused) = post("/api/v1/id/clients", serde_json::json!({
            "client_id": "xau", "name": "Xấu", "redirect_uris": ["http://evil.example.com/cb"]
        })).await;
        assert_eq!((status, refused["code"].as_str()), (422, Some("invalid_field")));
        assert!(refused["message"].as_str().is_some_and(|message| message.contains("redirect_uri")));

        // Rotating a secret: the old one stops working, the new one works.
        let (status, rotated) = post("/api/v1/id/clients/cong-dvc/secret", serde_json::json!({})).await;
        assert_eq!(status, 200);
        let new_secret = rotated["client_secret"].as_str().expect("a new secret");
        let grant = [("grant_type", "client_credentials"), ("scope", "openid")];
        assert_eq!(token_request(&app, &secret, &grant).await.0, 401, "the old secret still works");
        assert_eq!(token_request(&app, new_secret, &grant).await.0, 200);

        // Keys: listed without private parts; "rotate now" publishes the next key.
        let (_, keys) = api(&app, Some(&token), "GET", "/api/v1/id/keys").await;
        assert!(!keys.to_string().contains("PRIVATE KEY"));
        let before = keys.as_array().expect("keys").len();
        let (status, _) = post("/api/v1/id/keys/rotate", serde_json::json!({ "alg": "ES256" })).await;
        assert_eq!(status, 200);
        let (_, keys) = api(&app, Some(&token), "GET", "/api/v1/id/keys").await;
        let keys = keys.as_array().expect("keys");
        assert_eq!(keys.len(), before + 1);
        assert!(keys.iter().any(|key| key["alg"] == "ES256" && key["status"] == "next"));

        // Upstreams: added and listed without the secret.
        let (status, _) = post("/api/v1/id/upstreams", serde_json::json!({
            "id": "vneid", "name": "VNeID", "issuer": "https://vneid.example.gov.vn", "client_id": "tinh", "client_secret": "bi-mat"
        })).await;
        assert_eq!(status, 201);
        let (_, upstreams) = api(&app, Some(&token), "GET", "/api/v1/id/upstreams").await;
        assert_eq!(upstreams[0]["id"], "vneid");
        assert!(!upstreams.to_string().contains("bi-mat"));
        let sign_in_page = || async {
            let path = authorize_path(Some((CHALLENGE, "S256")), REDIRECT);
            app.server.get(&path).await.text().await.expect("page")
        };
        assert!(sign_in_page().await.contains("Đăng nhập bằng VNeID"));

        // Turned off, its button goes; a bad change is refused whole.
        let patch = |body: serde_json::Value| {
            let request = app.server.client.patch(app.server.url("/api/v1/id/upstreams/vneid")).bearer_auth(&token).json(&body);
            async move { request.send().await.expect("API call").status().as_u16() }
        };
        assert_eq!(patch(serde_json::json!({ "issuer": "ftp://vneid.example.gov.vn", "enabled": false })).await, 422);
        assert!(sign_in_page().await.contains("Đăng nhập bằng VNeID"), "a refused change changed something");
        assert_eq!(patch(serde_json::json!({ "enabled": false })).await, 204);
        assert!(!sign_in_page().await.contains("Đăng nhập bằng VNeID"));
        let (_, upstreams) = api(&app, Some(&token), "GET", "/api/v1/id/upstreams").await;
        assert_eq!(upstreams[0]["enabled"], false);
    }
}

engine_test! {
    async fn the_service_page_rotates_a_client_secret_and_keys_for_platform_admins_only(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (agency_browser, _) = official(&app, &secret, AGENCY_ADMIN).await;
        let refused = agency_browser.get(app.server.url("/admin/sign-in")).send().await.expect("page");
        assert_eq!(refused.status().as_u16(), 403);

        let (platform_browser, _) = official(&app, &secret, PLATFORM_ADMIN).await;
        let page = platform_browser.get(app.server.url("/admin/sign-in")).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.expect("page");
        assert!(html.contains("Quản trị dịch vụ xác thực") && html.contains("<code>cong-dvc</code>"));

        let rotated = post_form(&app, &platform_browser, "/admin/sign-in", "/admin/sign-in/clients/cong-dvc/secret", &[]).await;
        assert_eq!(rotated.status().as_u16(), 200);
        let html = rotated.text().await.expect("page");
        let marker = "id=\"new-secret\">";
        let start = html.find(marker).expect("the new secret is shown once") + marker.len();
        let new_secret = &html[start..start + html[start..].find('<').expect("end")];
        let grant = [("grant_type", "client_credentials"), ("scope", "openid")];
        assert_eq!(token_request(&app, &secret, &grant).await.0, 401);
        assert_eq!(token_request(&app, new_secret, &grant).await.0, 200);

        let keys_before = egov_id::store::keys(&app.test_db.db).await.expect("keys").len();
        let rotated = post_form(&app, &platform_browser, "/admin/sign-in", "/admin/sign-in/keys/rotate", &[("alg", "EdDSA")]).await;
        assert_eq!(rotated.status().as_u16(), 303);
        assert_eq!(egov_id::store::keys(&app.test_db.db).await.expect("keys").len(), keys_before + 1);
    }
}

engine_test! {
    async fn a_platform_admin_changes_a_clients_redirect_uris_and_bad_changes_change_nothing(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (_, token) = official(&app, &secret, PLATFORM_ADMIN).await;
        let patch = |body: serde_json::Value| {
            let request = app.server.client.patch(app.server.url("/api/v1/id/clients/cong-dvc")).bearer_auth(&token).json(&body);
            async move {
                let response = request.send().await.expect("API call");
                let status = response.status().as_u16();
                (status, response.json::<serde_json::Value>().await.expect("JSON"))
            }
        };
        let moved = "https://dichvucong.example.gov.vn/callback";
        let (status, refused) = patch(serde_json::json!({ "redirect_uris": ["http://dichvucong.example.gov.vn/callback"], "name": "Đổi tên" })).await;
        assert_eq!((status, refused["code"].as_str()), (422, Some("invalid_field")));
        let (_, clients) = api(&app, Some(&token), "GET", "/api/v1/id/clients").await;
        let portal = clients.as_array().expect("list").iter().find(|client| client["client_id"] == "cong-dvc").cloned().expect("listed");
        assert_eq!(portal["name"], "Cổng dịch vụ công tỉnh", "a refused change changes nothing");

        let (status, changed) = patch(serde_json::json!({ "redirect_uris": [moved], "signing_alg": "EdDSA" })).await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["redirect_uris"], serde_json::json!([moved]));
        assert_eq!(changed["signing_alg"], "EdDSA");
        assert_eq!(changed["authentication"], "client_secret", "the authentication method stays");

        // The old redirect URI is refused at once on this node; the new one works.
        let old = app.server.get(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT)).await;
        assert_eq!(old.status().as_u16(), 400);
        let new = app.server.get(&authorize_path(Some((CHALLENGE, "S256")), moved)).await;
        assert_eq!(new.status().as_u16(), 200);
        let (status, _) = patch(serde_json::json!({ "jwks": { "keys": [] } })).await;
        assert_eq!(status, 422, "a client with a secret has no keys to replace");
        let missing = app.server.client.patch(app.server.url("/api/v1/id/clients/khong-co")).bearer_auth(&token).json(&serde_json::json!({})).send().await.expect("call");
        assert_eq!(missing.status().as_u16(), 404);
    }
}

engine_test! {
    async fn a_platform_admin_registers_and_edits_clients_and_upstreams_from_pages(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let secret = register_client(&app, false).await.expect("secret");
        let (agency_browser, _) = official(&app, &secret, AGENCY_ADMIN).await;
        let refused = agency_browser.get(app.server.url("/admin/sign-in/clients/new")).send().await.expect("page");
        assert_eq!(refused.status().as_u16(), 403);
        let (browser, _) = official(&app, &secret, PLATFORM_ADMIN).await;
        let new_client = "/admin/sign-in/clients/new";
        let mut fields = vec![
            ("client_id", "he-thong-mot-cua"),
            ("name", "Hệ thống một cửa"),
            ("authentication", "client_secret"),
            ("redirect_uris", "http://motcua.example.gov.vn/callback"),
            ("scopes", "openid profile agency"),
            ("grant_authorization_code", "on"),
            ("grant_client_credentials", "on"),
            ("signing_alg", "ES256"),
        ];

        // A plain-http redirect URI: the form comes back, in Vietnamese, with what was typed.
        let bad = post_form(&app, &browser, new_client, "/admin/sign-in/clients", &fields).await;
        assert_eq!(bad.status().as_u16(), 422);
        let html = bad.text().await.expect("page");
        assert!(html.contains("phải dùng https"), "{html}");
        assert!(html.contains("id=\"redirect_uris\" name=\"redirect_uris\" rows=\"3\" spellcheck=\"false\" aria-describedby=\"redirect_uris-hint redirect_uris-error\" aria-invalid=\"true\""));
        assert!(html.contains("value=\"Hệ thống một cửa\""), "what was typed is kept");
        assert!(egov_id::store::client(&app.test_db.db, "he-thong-mot-cua").await.expect("read").is_none());

        fields[3] = ("redirect_uris", "https://motcua.example.gov.vn/callback\r\nhttps://motcua.example.gov.vn/callback2");
        let added = post_form(&app, &browser, new_client, "/admin/sign-in/clients", &fields).await;
        assert_eq!(added.status().as_u16(), 200);
        let html = added.text().await.expect("page");
        let marker = "id=\"new-secret\">";
        let start = html.find(marker).expect("the secret is shown once") + marker.len();
        let new_secret = &html[start..start + html[start..].find('<').expect("end")];
        let stored = egov_id::store::client(&app.test_db.db, "he-thong-mot-cua").await.expect("read").expect("stored");
        assert_eq!(stored.signing_alg, "ES256");
        assert_eq!(stored.grant_types, "authorization_code client_credentials");
        let basic = reqwest::header::HeaderValue::from_str(&format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("he-thong-mot-cua:{new_secret}"))
        ))
        .expect("header");
        let grant = app.server.client.post(app.server.url("/oauth/token")).header("authorization", basic)
            .form(&[("grant_type", "client_credentials"), ("scope", "openid")]).send().await.expect("grant");
        assert_eq!(grant.status().as_u16(), 200, "the registered client works at once");
        let taken = post_form(&app, &browser, new_client, "/admin/sign-in/clients", &fields).await;
        assert_eq!(taken.status().as_u16(), 422, "a client id is registered once");

        // Edit: rename, drop client_credentials; the id and method stay.
        let edit = "/admin/sign-in/clients/he-thong-mot-cua";
        let form_page = browser.get(app.server.url(edit)).send().await.expect("page").text().await.expect("page");
        assert!(form_page.contains("ES256</option>") && form_page.contains("<option selected>ES256</option>"));
        let changed = post_form(&app, &browser, edit, edit, &[
            ("name", "Một cửa điện tử"),
            ("redirect_uris", "https://motcua.example.gov.vn/callback"),
            ("scopes", "openid profile"),
            ("grant_authorization_code", "on"),
            ("signing_alg", "EdDSA"),
            ("authentication", "none"),
        ]).await;
        assert_eq!(changed.status().as_u16(), 303);
        let stored = egov_id::store::client(&app.test_db.db, "he-thong-mot-cua").await.expect("read").expect("stored");
        assert_eq!((stored.name.as_str(), stored.signing_alg.as_str(), stored.grant_types.as_str()), ("Một cửa điện tử", "EdDSA", "authorization_code"));
        assert!(stored.secret_hash.is_some(), "the authentication method cannot change from the form");

        // Upstream providers.
        let new_upstream = "/admin/sign-in/upstreams/new";
        let mut upstream = vec![
            ("id", "vneid"),
            ("name", "VNeID"),
            ("issuer", "https://vneid.example.gov.vn/?x=1"),
            ("client_id", "tinh-bac-ninh"),
            ("client_secret", "bi-mat-cua-vneid"),
            ("scopes", ""),
        ];
        let bad = post_form(&app, &browser, new_upstream, "/admin/sign-in/upstreams", &upstream).await;
        assert_eq!(bad.status().as_u16(), 422);
        let html = bad.text().await.expect("page");
        assert!(html.contains("không có phần truy vấn") && !html.contains("bi-mat-cua-vneid"), "the secret is never shown back");
        upstream[2] = ("issuer", "https://vneid.example.gov.vn");
        let added = post_form(&app, &browser, new_upstream, "/admin/sign-in/upstreams", &upstream).await;
        assert_eq!(added.status().as_u16(), 303);
        let edit = "/admin/sign-in/upstreams/vneid";
        let changed = post_form(&app, &browser, edit, edit, &[
            ("name", "VNeID (Bộ Công an)"),
            ("issuer", "https://vneid.example.gov.vn"),
            ("client_id", "tinh-bac-ninh"),
            ("client_secret", ""),
            ("scopes", "profile personal_id"),
        ]).await;
        assert_eq!(changed.status().as_u16(), 303);
        let stored = egov_id::store::upstreams(&app.test_db.db).await.expect("read");
        assert_eq!(stored.len(), 1);
        assert_eq!((stored[0].name.as_str(), stored[0].enabled), ("VNeID (Bộ Công an)", false), "an unticked box turns it off");
        assert_eq!(stored[0].client_secret, "bi-mat-cua-vneid", "an empty secret keeps the old one");
        assert_eq!(stored[0].scopes, "openid profile personal_id");
        let overview = browser.get(app.server.url("/admin/sign-in?done=upstream")).send().await.expect("page").text().await.expect("page");
        assert!(overview.contains("VNeID (Bộ Công an)") && overview.contains("đã tắt"));
    }
}
