//! Brokering ("Đăng nhập bằng VNeID") against a second egov instance acting
//! as the upstream provider: the citizen leaves this instance's sign-in
//! page, signs in upstream, and comes back signed in here, linked by
//! personal ID number.

use egov_id::admin::{NewClient, NewUpstream, NewUser};
use egov_id::domain::UserKind;
use egov_testkit::{TestDb, engine_test};
use serde_json::Value;

use super::id::{
    CHALLENGE, CITIZEN, PASSWORD, REDIRECT, VERIFIER, browser, query_of, register_client, sign_in, token_request,
    unescape,
};
use super::support::{App, spawn_demo};

/// A citizen who has an account upstream only.
const NEWCOMER: &str = "001095001234";
const NEWCOMER_PASSWORD: &str = "Sen-trong-dam-2026";

/// The upstream instance, with a client for `downstream` and a citizen of
/// its own; and `downstream` configured to sign in through it, with a
/// relying party `cong-dvc` whose secret is returned.
async fn federate(downstream: &App) -> (App, String) {
    let upstream = spawn_demo(TestDb::sqlite().await).await;
    let callback = downstream.server.url("/oauth/upstream/callback");
    let mut client = NewClient::web("tinh-kinh-bac", "Tỉnh Kinh Bắc", &callback);
    client.first_party = true;
    client.scopes.push("personal_id".into());
    let secret = egov_id::admin::add_client(&upstream.test_db.db, &client, "test", chrono::Utc::now())
        .await
        .expect("register the downstream at the upstream")
        .expect("a secret");
    let newcomer = NewUser {
        kind: UserKind::Citizen,
        personal_id: NEWCOMER.into(),
        full_name: "Trần Thị Mai".into(),
        email: Some("mai.tran@example.vn".into()),
        phone_number: None,
        birthdate: Some("1995-03-08".into()),
        gender: Some("female".into()),
        agency_code: None,
        department: None,
        roles: Vec::new(),
    };
    egov_id::admin::add_user(
        &upstream.test_db.db,
        &upstream.config.hasher,
        &newcomer,
        NEWCOMER_PASSWORD,
        "test",
        chrono::Utc::now(),
    )
    .await
    .expect("a citizen upstream");
    let vneid = NewUpstream {
        id: "vneid".into(),
        name: "VNeID".into(),
        issuer: upstream.server.url(""),
        client_id: "tinh-kinh-bac".into(),
        client_secret: secret,
        scopes: vec!["profile personal_id email".into()],
    };
    egov_id::admin::add_upstream(&downstream.test_db.db, &vneid, "test", chrono::Utc::now())
        .await
        .expect("configure the upstream");
    let rp_secret = register_client(downstream, false)
        .await
        .expect("the relying party's secret");
    (upstream, rp_secret)
}

fn authorize_url(app: &App) -> String {
    let mut url = url::Url::parse(&app.server.url("/oauth/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "cong-dvc")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile personal_id")
        .append_pair("state", "rp-state")
        .append_pair("nonce", "rp-nonce")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// The browser follows "Đăng nhập bằng VNeID" from the sign-in page, signs
/// in upstream, and returns; answers the downstream's last response.
async fn through_upstream(
    downstream: &App,
    upstream: &App,
    browser: &reqwest::Client,
    login: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser
        .get(authorize_url(downstream))
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("page");
    let marker = "href=\"/oauth/upstream/vneid?";
    let start = page.find(marker).expect("a VNeID button on the sign-in page") + "href=\"".len();
    let link = unescape(&page[start..start + page[start..].find('"').expect("end of link")]);
    assert!(page.contains("Đăng nhập bằng VNeID"), "the button names the provider");
    let leaving = browser
        .get(downstream.server.url(&link))
        .send()
        .await
        .expect("leave for the upstream");
    assert_eq!(leaving.status().as_u16(), 303, "leaving for the upstream from {link}");
    let upstream_authorize = leaving.headers()["location"].to_str().expect("ASCII").to_owned();
    let answer = sign_in(upstream, browser, &upstream_authorize, login, password).await;
    assert_eq!(answer.status().as_u16(), 303, "the upstream signs the citizen in");
    let back = answer.headers()["location"].to_str().expect("ASCII").to_owned();
    assert!(
        back.starts_with(&downstream.server.url("/oauth/upstream/callback")),
        "{back}"
    );
    browser.get(back).send().await.expect("come back")
}

async fn redeem(downstream: &App, secret: &str, response: &reqwest::Response) -> Value {
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().expect("ASCII");
    assert!(location.starts_with(REDIRECT), "{location}");
    let code = query_of(location).remove("code").expect("a code");
    let (status, tokens) = token_request(
        downstream,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access token");
    let userinfo: Value = downstream
        .server
        .client
        .get(downstream.server.url("/oauth/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("JSON");
    let id_token = tokens["id_token"].as_str().expect("ID token");
    let payload = id_token.split('.').nth(1).expect("JWS");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64"),
    )
    .expect("claims");
    serde_json::json!({ "userinfo": userinfo, "id_token": claims })
}

engine_test! {
    async fn a_citizen_signs_in_through_the_upstream_and_gets_a_linked_account(test_db: TestDb) {
        let downstream = spawn_demo(test_db).await;
        let (upstream, rp_secret) = federate(&downstream).await;
        let rp_secret = rp_secret.as_str();

        // A citizen known only upstream gets an account here, without a
        // password, with the upstream's profile.
        let first = through_upstream(&downstream, &upstream, &browser(), NEWCOMER, NEWCOMER_PASSWORD).await;
        let claims = redeem(&downstream, rp_secret, &first).await;
        assert_eq!(claims["userinfo"]["personal_id"], NEWCOMER);
        assert_eq!(claims["userinfo"]["name"], "Trần Thị Mai");
        assert_eq!(claims["id_token"]["acr"], "1", "the upstream's level, one factor");
        assert_eq!(claims["id_token"]["amr"], serde_json::json!(["fed"]));
        let local = egov_id::store::user_by_login(&downstream.test_db.db, NEWCOMER).await.expect("query").expect("an account here");
        assert_eq!(local.password_hash, None, "no password here: only the upstream signs this account in");
        assert_eq!(local.birthdate.as_deref(), Some("1995-03-08"));

        // Next time, the same local account (by the link), not a second one.
        let again = through_upstream(&downstream, &upstream, &browser(), NEWCOMER, NEWCOMER_PASSWORD).await;
        let claims_again = redeem(&downstream, rp_secret, &again).await;
        assert_eq!(claims_again["id_token"]["sub"], claims["id_token"]["sub"]);

        // A citizen with accounts on both sides is linked by personal ID
        // number to the account that exists here.
        let existing = egov_id::store::user_by_login(&downstream.test_db.db, CITIZEN).await.expect("query").expect("the demo citizen");
        let both = through_upstream(&downstream, &upstream, &browser(), CITIZEN, PASSWORD).await;
        let claims = redeem(&downstream, rp_secret, &both).await;
        assert_eq!(claims["id_token"]["sub"], existing.id.to_string());
        let linked = egov_db::audit::for_action(&downstream.test_db.db, "id.upstream.linked", 10).await.expect("audit");
        assert_eq!(linked.len(), 1, "the link was audited");
    }
}

engine_test! {
    async fn a_return_from_the_upstream_must_come_to_the_browser_that_left(test_db: TestDb) {
        let downstream = spawn_demo(test_db).await;
        let (upstream, _) = federate(&downstream).await;
        let attacker = browser();
        let page = attacker.get(authorize_url(&downstream)).send().await.expect("page").text().await.expect("page");
        let start = page.find("href=\"/oauth/upstream/vneid?").expect("button") + "href=\"".len();
        let link = unescape(&page[start..start + page[start..].find('"').expect("end")]);
        let leaving = attacker.get(downstream.server.url(&link)).send().await.expect("leave");
        let upstream_authorize = leaving.headers()["location"].to_str().expect("ASCII").to_owned();
        let answer = sign_in(&upstream, &attacker, &upstream_authorize, NEWCOMER, NEWCOMER_PASSWORD).await;
        let back = answer.headers()["location"].to_str().expect("ASCII").to_owned();

        // The attacker's callback URL, opened in a victim's browser, signs
        // nobody in there: the state is bound to the attacker's browser.
        let victim = browser();
        let response = victim.get(&back).send().await.expect("callback");
        assert_eq!(response.status().as_u16(), 400);
        assert!(response.headers().get("set-cookie").is_none_or(|cookie| !cookie.to_str().unwrap_or_default().starts_with("egov_sid=")));

        // The browser that left comes back signed in; the same return
        // again is refused: a state serves once.
        let first = attacker.get(&back).send().await.expect("callback");
        assert_eq!(first.status().as_u16(), 303);
        assert!(first.headers()["location"].to_str().expect("ASCII").starts_with(REDIRECT));
        let replay = attacker.get(&back).send().await.expect("callback again");
        assert_eq!(replay.status().as_u16(), 400);
    }
}

engine_test! {
    async fn an_unknown_upstream_or_a_refusal_upstream_shows_a_clear_page(test_db: TestDb) {
        let downstream = spawn_demo(test_db).await;
        let _federation = federate(&downstream).await;
        let url = authorize_url(&downstream);
        let query = url.split_once('?').expect("query").1;
        let response = downstream.server.get(&format!("/oauth/upstream/khong-co?{query}")).await;
        assert_eq!(response.status().as_u16(), 404);
        let response = downstream.server.get("/oauth/upstream/callback?error=access_denied&state=x").await;
        assert_eq!(response.status().as_u16(), 400);
        assert!(response.text().await.expect("page").contains("Không đăng nhập được"));
    }
}
