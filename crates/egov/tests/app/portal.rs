//! The portal signs its users in as an ordinary OpenID Connect client of
//! the central sign-in service in the same process: authorization code
//! with PKCE, its ID token checked by the `openidconnect` crate, RP-initiated
//! logout, and back-channel logout when the sign-in session ends elsewhere.

use egov_testkit::engine_test;

use super::account::post_form;
use super::id::{CITIZEN, PASSWORD, browser as new_browser, query_of, sign_in};
use super::support::{App, spawn_demo};

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().expect("ASCII").to_owned()
}

/// Signs `browser` in to the portal; returns where the portal sent it.
pub(super) async fn portal_sign_in(app: &App, browser: &reqwest::Client, login: &str) -> String {
    let start = browser
        .get(app.server.url("/portal/sign-in?next=/procedures"))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status().as_u16(), 303);
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&app.server.url("/oauth/authorize?")),
        "{authorize}"
    );
    let request = query_of(&authorize);
    assert_eq!(request["client_id"], "egov-portal");
    assert_eq!(request["code_challenge_method"], "S256");
    assert!(request.contains_key("nonce") && request.contains_key("state"));
    let signed_in = sign_in(app, browser, &authorize, login, PASSWORD).await;
    assert_eq!(signed_in.status().as_u16(), 303, "a first-party client asks no consent");
    let callback = location(&signed_in);
    assert!(callback.starts_with(&app.server.url("/portal/callback?")), "{callback}");
    let back = browser.get(&callback).send().await.expect("callback");
    assert_eq!(back.status().as_u16(), 303);
    location(&back)
}

engine_test! {
    async fn the_portal_signs_in_through_the_central_sign_in_and_out_of_both(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let browser = new_browser();
        let anonymous = browser.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(anonymous.contains("href=\"/portal/sign-in\""));

        assert_eq!(portal_sign_in(&app, &browser, CITIZEN).await, "/procedures", "back where the sign-in started");
        let page = browser.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(page.contains("Nguyễn Văn An") && page.contains("mức 1"), "{page}");

        // Signing out of the portal ends the central session too.
        let signed_out = post_form(&app, &browser, "/portal", "/portal/sign-out", &[]).await;
        assert_eq!(signed_out.status().as_u16(), 303);
        let end_session = location(&signed_out);
        assert!(end_session.starts_with(&app.server.url("/oauth/logout?")), "{end_session}");
        assert!(query_of(&end_session).contains_key("id_token_hint"));
        let ended = browser.get(&end_session).send().await.expect("logout");
        assert_eq!(location(&ended), app.server.url("/portal"));
        let page = browser.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(!page.contains("Nguyễn Văn An"));
        let account = browser.get(app.server.url("/account")).send().await.expect("account");
        assert_eq!(account.status().as_u16(), 303, "the central session ended with the portal's");
    }
}

engine_test! {
    async fn a_callback_this_browser_did_not_start_makes_no_session(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let victim = new_browser();
        let start = victim.get(app.server.url("/portal/sign-in")).send().await.expect("start");
        let authorize = location(&start);
        // The attacker signs in with the victim's authorization request and
        // hands the victim a callback: the victim's browser must not accept
        // it (login CSRF), nor may any other browser.
        let attacker = new_browser();
        let signed_in = sign_in(&app, &attacker, &authorize, CITIZEN, PASSWORD).await;
        let callback = location(&signed_in);
        let refused = attacker.get(&callback).send().await.expect("callback");
        assert_eq!(refused.status().as_u16(), 400);
        let mut forged = url::Url::parse(&callback).expect("URL");
        let code = query_of(&callback)["code"].clone();
        forged.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", "guessed");
        let refused = victim.get(forged.as_str()).send().await.expect("callback");
        assert_eq!(refused.status().as_u16(), 400);
        let page = victim.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(!page.contains("Nguyễn Văn An"));
        let rows: i64 = match &app.test_db.db {
            egov_db::Db::Sqlite(pool, _) => sqlx::query_scalar("SELECT COUNT(*) FROM portal_sessions").fetch_one(pool).await.expect("count"),
            egov_db::Db::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM portal_sessions").fetch_one(pool).await.expect("count"),
        };
        assert_eq!(rows, 0);
    }
}

engine_test! {
    async fn ending_the_central_session_elsewhere_ends_the_portal_session(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let browser = new_browser();
        portal_sign_in(&app, &browser, CITIZEN).await;
        let page = browser.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(page.contains("Nguyễn Văn An"));

        // From another device the user ends their other sign-in sessions in
        // "my account"; the sign-in service tells the portal, which ends
        // that session's portal session and no other.
        let laptop = new_browser();
        portal_sign_in(&app, &laptop, CITIZEN).await;
        let ended = post_form(&app, &laptop, "/account", "/account/sessions/revoke", &[("session", "others")]).await;
        assert_eq!(ended.status().as_u16(), 303);
        app.run_jobs().await;
        let page = browser.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(!page.contains("Nguyễn Văn An"), "the back-channel logout ended the portal session");
        let page = laptop.get(app.server.url("/portal")).send().await.expect("portal").text().await.expect("page");
        assert!(page.contains("Nguyễn Văn An"), "the laptop's own session stays");

        // A forged logout token changes nothing and is refused.
        let forged = app.server.client.post(app.server.url("/portal/backchannel-logout"))
            .form(&[("logout_token", "eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.")]).send().await.expect("post");
        assert_eq!(forged.status().as_u16(), 400);
    }
}
