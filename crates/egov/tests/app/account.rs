//! Self-service: registration with e-mail verification, password reset by
//! an e-mailed link, and "my account" (sessions, password change), with the
//! mail read from a real SMTP server the app delivers to.

use egov_testkit::engine_test;

use super::id::{
    CHALLENGE, CITIZEN, OFFICIAL, PASSWORD, REDIRECT, VERIFIER, authorize_path, browser, hidden_fields, now_unix,
    query_of, register_client, second_factor, sign_in,
};
use super::support::{App, spawn_demo};

const NEW_PASSWORD: &str = "Trong-dam-gi-dep-bang-sen";

/// The first link in a mail that starts with `prefix` (after the host).
fn link_in(text: &str, path: &str) -> String {
    text.lines()
        .find(|line| line.starts_with("http") && line.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in:\n{text}"))
        .trim()
        .to_owned()
}

/// Follows redirects by hand (the client keeps cookies, never follows).
async fn follow(app: &App, browser: &reqwest::Client, mut response: reqwest::Response) -> reqwest::Response {
    for _ in 0..10 {
        if !response.status().is_redirection() {
            return response;
        }
        let location = response.headers()["location"].to_str().expect("ASCII").to_owned();
        let url = if location.starts_with('/') {
            app.server.url(&location)
        } else {
            location
        };
        response = browser.get(url).send().await.expect("follow");
    }
    panic!("too many redirects");
}

/// Posts a form from the page at `page_path`, adding its hidden fields.
pub(super) async fn post_form(
    app: &App,
    browser: &reqwest::Client,
    page_path: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = browser.get(app.server.url(page_path)).send().await.expect("form page");
    let mut form = hidden_fields(&page.text().await.expect("page"));
    for (name, value) in fields {
        form.insert((*name).to_owned(), (*value).to_owned());
    }
    browser
        .post(app.server.url(action))
        .form(&form)
        .send()
        .await
        .expect("post form")
}

/// Whether `login`/`password` completes a sign-in at the test client.
pub(super) async fn can_sign_in(app: &App, login: &str, password: &str) -> bool {
    let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
    let response = sign_in(app, &browser(), &url, login, password).await;
    match response.status().as_u16() {
        303 => {
            let location = response.headers()["location"].to_str().expect("ASCII");
            query_of(location).contains_key("code")
        }
        401 => false,
        other => panic!("unexpected sign-in answer {other}"),
    }
}

/// A browser signed into "my account" through the authorization endpoint.
async fn account_browser(app: &App, login: &str, password: &str) -> reqwest::Client {
    let browser = browser();
    let start = browser.get(app.server.url("/account")).send().await.expect("account");
    assert_eq!(start.status().as_u16(), 303, "signed-out visitors are sent to sign in");
    let login_page = follow(app, &browser, start).await;
    assert_eq!(login_page.status().as_u16(), 200);
    let mut form = hidden_fields(&login_page.text().await.expect("page"));
    form.insert("login".into(), login.into());
    form.insert("password".into(), password.into());
    let signed_in = browser
        .post(app.server.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("sign in");
    let account = follow(app, &browser, signed_in).await;
    assert_eq!(account.status().as_u16(), 200, "the account page after sign-in");
    browser
}

fn registration(personal_id: &str, email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("personal_id", personal_id.to_owned()),
        ("full_name", "Đỗ Thị Lan".to_owned()),
        ("birthdate", "1995-03-08".to_owned()),
        ("gender", "female".to_owned()),
        ("email", email.to_owned()),
        ("phone_number", "0987654321".to_owned()),
        ("password", NEW_PASSWORD.to_owned()),
        ("password_confirm", NEW_PASSWORD.to_owned()),
    ]
}

async fn register(app: &App, fields: &[(&'static str, String)]) -> (u16, String) {
    let browser = browser();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let response = post_form(app, &browser, "/account/register", "/account/register", &fields).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

async fn user_count(app: &App) -> i64 {
    egov_db::with_pool!(&app.test_db.db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM id_users").fetch_one(pool).await.expect("count")
    })
}

engine_test! {
    async fn a_citizen_registers_verifies_the_address_by_mail_and_signs_in(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let (status, html) = register(&app, &registration("001195001234", "Lan.Do@Example.vn")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Kiểm tra hộp thư của bạn"));
        assert!(!can_sign_in(&app, "001195001234", NEW_PASSWORD).await, "signed in before verifying");

        let mail = app.mail_to("lan.do@example.vn").await;
        assert_eq!(mail.len(), 1, "one verification mail");
        assert_eq!(mail[0].subject, "Xác minh địa chỉ thư điện tử");
        assert!(mail[0].text.contains("Kính gửi Đỗ Thị Lan"));
        let link = link_in(&mail[0].text, "/account/verify?token=");

        // Opening the link verifies nothing by itself; the button does.
        let browser = browser();
        let page = browser.get(&link).send().await.expect("verify page");
        assert_eq!(page.status().as_u16(), 200);
        assert!(!can_sign_in(&app, "001195001234", NEW_PASSWORD).await);
        let token = query_of(&link)["token"].clone();
        let path = format!("/account/verify?token={token}");
        let verified = post_form(&app, &browser, &path, "/account/verify", &[]).await;
        assert_eq!(verified.status().as_u16(), 200);
        assert!(verified.text().await.expect("page").contains("Đã xác minh thư điện tử"));
        assert!(can_sign_in(&app, "001195001234", NEW_PASSWORD).await);
        assert!(can_sign_in(&app, "lan.do@example.vn", NEW_PASSWORD).await, "the address is a login too");

        // The link works once.
        let again = post_form(&app, &browser, &path, "/account/verify", &[]).await;
        assert_eq!(again.status().as_u16(), 400);

        let userinfo_claims = egov_id::store::user_by_login(&app.test_db.db, "001195001234")
            .await
            .expect("query")
            .expect("the account");
        assert!(userinfo_claims.email_verified);
        assert_eq!(userinfo_claims.gender.as_deref(), Some("female"));
        assert_eq!(userinfo_claims.phone_number.as_deref(), Some("0987654321"));
    }
}

engine_test! {
    async fn registering_a_taken_id_answers_as_usual_and_warns_the_owner_instead(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let before = user_count(&app).await;
        let (fresh_status, fresh) = register(&app, &registration("001195004321", "someone@example.vn")).await;
        let (taken_status, taken) = register(&app, &registration(CITIZEN, "intruder@example.vn")).await;
        assert_eq!((fresh_status, taken_status), (200, 200));
        let body = |html: &str| html[html.find("<main").expect("main")..].replace(char::is_numeric, "");
        assert_eq!(body(&fresh), body(&taken), "the answers differ for a taken ID number");
        assert_eq!(user_count(&app).await, before + 1);

        assert!(app.mail_to("intruder@example.vn").await.is_empty(), "the intruder got a link");
        let notices = app.mail_to("an.nguyen@example.vn").await;
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].subject, "Yêu cầu đăng ký tài khoản");
        assert!(link_in(&notices[0].text, "/account/forgot").ends_with("/account/forgot"));
    }
}

engine_test! {
    async fn a_bad_registration_names_every_field_in_vietnamese_and_stores_nothing(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let before = user_count(&app).await;
        let mut fields = registration("12345", "not-an-address");
        fields[5].1 = "12".to_owned();
        fields[7].1 = "Something-else-entirely".to_owned();
        let (status, html) = register(&app, &fields).await;
        assert_eq!(status, 422);
        for message in [
            "Số định danh cá nhân phải gồm đúng 12 chữ số hợp lệ.",
            "Địa chỉ thư điện tử không hợp lệ.",
            "Số điện thoại không hợp lệ.",
            "Hai mật khẩu không khớp nhau.",
        ] {
            assert!(html.contains(message), "missing: {message}");
        }
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("value=\"Đỗ Thị Lan\""), "typed values are kept");
        assert!(!html.contains(NEW_PASSWORD), "a password was echoed back");
        assert_eq!(user_count(&app).await, before);
        assert!(app.mail_to("not-an-address").await.is_empty());
    }
}

engine_test! {
    async fn a_reset_link_sets_a_new_password_once_and_ends_every_session(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let signed_in = account_browser(&app, CITIZEN, PASSWORD).await;

        // Unknown and known accounts get the same answer.
        let anonymous = browser();
        let unknown = post_form(&app, &anonymous, "/account/forgot", "/account/forgot", &[("login", "001099999999")]).await;
        let known = post_form(&app, &anonymous, "/account/forgot", "/account/forgot", &[("login", CITIZEN)]).await;
        assert_eq!((unknown.status().as_u16(), known.status().as_u16()), (200, 200));
        let body = |html: String| html[html.find("<main").expect("main")..].to_owned();
        assert_eq!(body(unknown.text().await.expect("page")), body(known.text().await.expect("page")));

        let mail = app.mail_to("an.nguyen@example.vn").await;
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].subject, "Đặt lại mật khẩu");
        let link = link_in(&mail[0].text, "/account/reset?token=");
        let token = query_of(&link)["token"].clone();
        let path = format!("/account/reset?token={token}");

        // Without the token, or with a forged one, nothing changes.
        for forged in ["", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            let response = post_form(&app, &anonymous, "/account/forgot", "/account/reset",
                &[("token", forged), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]).await;
            assert_eq!(response.status().as_u16(), 400, "token {forged:?}");
        }
        // A weak password is refused and the link still works.
        let weak = post_form(&app, &anonymous, &path, "/account/reset",
            &[("password", "12345678901"), ("password_confirm", "12345678901")]).await;
        assert_eq!(weak.status().as_u16(), 422);
        assert!(can_sign_in(&app, CITIZEN, PASSWORD).await, "the old password still works before the reset");

        let done = post_form(&app, &anonymous, &path, "/account/reset",
            &[("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]).await;
        assert_eq!(done.status().as_u16(), 200);
        assert!(!can_sign_in(&app, CITIZEN, PASSWORD).await, "the old password still works");
        assert!(can_sign_in(&app, CITIZEN, NEW_PASSWORD).await);

        // The session opened before the reset is over.
        let stale = signed_in.get(app.server.url("/account")).send().await.expect("account");
        assert_eq!(stale.status().as_u16(), 401);
        // The link is spent.
        let again = anonymous.get(app.server.url(&path)).send().await.expect("reset page");
        assert_eq!(again.status().as_u16(), 400);
        // The owner is told.
        let mail = app.mail_to("an.nguyen@example.vn").await;
        assert_eq!(mail[0].subject, "Mật khẩu của bạn đã được thay đổi");
    }
}

engine_test! {
    async fn a_reset_password_still_needs_the_second_factor(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
        // The official enrols an authenticator at first sign-in.
        let first = browser();
        let html = sign_in(&app, &first, &url, OFFICIAL, PASSWORD).await.text().await.expect("page");
        let marker = "id=\"totp-secret\">";
        let start = html.find(marker).expect("enrolment") + marker.len();
        let secret = egov_id::totp::TotpSecret::from_base32(&html[start..start + html[start..].find('<').expect("end")])
            .expect("secret");
        let code = egov_id::totp::code_at(&secret, now_unix());
        assert_eq!(second_factor(&app, &first, &html, &code).await.status().as_u16(), 200);

        let anonymous = browser();
        post_form(&app, &anonymous, "/account/forgot", "/account/forgot", &[("login", OFFICIAL)]).await;
        let mail = app.mail_to("binh.tran@kinhbac.example.vn").await;
        let token = query_of(&link_in(&mail[0].text, "/account/reset?token="))["token"].clone();
        let path = format!("/account/reset?token={token}");
        let done = post_form(&app, &anonymous, &path, "/account/reset",
            &[("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]).await;
        assert_eq!(done.status().as_u16(), 200);

        let after = sign_in(&app, &browser(), &url, OFFICIAL, NEW_PASSWORD).await;
        assert_eq!(after.status().as_u16(), 200, "the password alone finished the sign-in");
        let html = after.text().await.expect("page");
        assert!(html.contains("Xác thực hai yếu tố") && !html.contains("totp-secret"), "the factor was reset");
    }
}

engine_test! {
    async fn a_session_cookie_that_names_no_live_session_gets_401(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let no_cookie = browser().get(app.server.url("/account")).send().await.expect("account");
        assert_eq!(no_cookie.status().as_u16(), 303);
        assert_eq!(no_cookie.headers()["location"], "/account/sign-in");
        for cookie in ["garbage", "", "%00%ff", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &"x".repeat(5000)] {
            let response = app
                .server
                .client
                .get(app.server.url("/account"))
                .header("cookie", format!("egov_sid={cookie}"))
                .send()
                .await
                .expect("account");
            assert_eq!(response.status().as_u16(), 401, "cookie {cookie:.20}");
            let html = response.text().await.expect("page");
            assert!(!html.contains("profile-name"), "the account page was shown");
        }
        let post = app
            .server
            .client
            .post(app.server.url("/account/sessions/revoke"))
            .header("cookie", "egov_sid=garbage")
            .form(&[("session", "others")])
            .send()
            .await
            .expect("post");
        assert!(matches!(post.status().as_u16(), 401 | 403), "{}", post.status());
    }
}

engine_test! {
    async fn users_see_and_end_their_sessions_and_a_password_change_ends_the_others(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let laptop = account_browser(&app, CITIZEN, PASSWORD).await;
        let phone = account_browser(&app, CITIZEN, PASSWORD).await;
        let tablet = account_browser(&app, CITIZEN, PASSWORD).await;
        let page = laptop.get(app.server.url("/account")).send().await.expect("account");
        let html = page.text().await.expect("page");
        assert!(html.contains("Nguyễn Văn An"));
        assert_eq!(html.matches("class=\"session\"").count(), 3, "three sessions listed");

        // End the phone's session from the laptop.
        let phone_id = {
            let start = html.find("name=\"session\" value=\"").expect("a revoke form") + 22;
            html[start..start + 43].to_owned()
        };
        let revoked = post_form(&app, &laptop, "/account", "/account/sessions/revoke", &[("session", &phone_id)]).await;
        assert_eq!(revoked.status().as_u16(), 303);
        let statuses = [
            laptop.get(app.server.url("/account")).send().await.expect("laptop").status().as_u16(),
            phone.get(app.server.url("/account")).send().await.expect("phone").status().as_u16(),
            tablet.get(app.server.url("/account")).send().await.expect("tablet").status().as_u16(),
        ];
        assert_eq!(statuses.iter().filter(|status| **status == 401).count(), 1, "{statuses:?}");

        // A wrong current password changes nothing.
        let wrong = post_form(&app, &laptop, "/account", "/account/password",
            &[("current_password", "wrong-password-1"), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]).await;
        assert_eq!(wrong.status().as_u16(), 422);
        assert!(wrong.text().await.expect("page").contains("Mật khẩu hiện tại không đúng."));

        let changed = post_form(&app, &laptop, "/account", "/account/password",
            &[("current_password", PASSWORD), ("password", NEW_PASSWORD), ("password_confirm", NEW_PASSWORD)]).await;
        assert_eq!(changed.status().as_u16(), 303);
        assert_eq!(laptop.get(app.server.url("/account")).send().await.expect("laptop").status().as_u16(), 200);
        for other in [&phone, &tablet] {
            // 401, or (once a 401 has cleared the cookie) a new sign-in.
            let status = other.get(app.server.url("/account")).send().await.expect("other").status().as_u16();
            assert!(matches!(status, 401 | 303), "another session survived the change: {status}");
        }
        let mail = app.mail_to("an.nguyen@example.vn").await;
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].subject, "Mật khẩu của bạn đã được thay đổi");

        let audited = egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM audit_log WHERE action IN ('id.session.revoke', 'id.password.change')",
            )
            .fetch_one(pool)
            .await
            .expect("count")
        });
        assert_eq!(audited, 2);
    }
}

const BANK_REDIRECT: &str = "https://bank.example.vn/callback";

fn bank_authorize(prompt: Option<&str>) -> String {
    let mut url = url::Url::parse("http://x/oauth/authorize").expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "ngan-hang")
        .append_pair("redirect_uri", BANK_REDIRECT)
        .append_pair("scope", "openid profile personal_id")
        .append_pair("state", "b1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    if let Some(prompt) = prompt {
        url.query_pairs_mut().append_pair("prompt", prompt);
    }
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// Where a redirect to the bank carries the browser: its query.
fn bank_query(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    assert_eq!(response.status().as_u16(), 303, "not sent back to the bank");
    let location = response.headers()["location"].to_str().expect("ASCII");
    assert!(location.starts_with(BANK_REDIRECT), "{location}");
    query_of(location)
}

async fn consent_answer(app: &App, browser: &reqwest::Client, page_html: &str, decision: &str) -> reqwest::Response {
    let mut form = hidden_fields(page_html);
    form.insert("decision".into(), decision.into());
    browser
        .post(app.server.url("/oauth/authorize/consent"))
        .form(&form)
        .send()
        .await
        .expect("consent")
}

engine_test! {
    async fn a_third_party_service_gets_data_only_with_consent_which_the_user_can_withdraw(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let mut bank = egov_id::admin::NewClient::web("ngan-hang", "Ngân hàng Ví dụ", BANK_REDIRECT);
        bank.public = true;
        bank.scopes.push("personal_id".into());
        egov_id::admin::add_client(&app.test_db.db, &bank, "test", chrono::Utc::now()).await.expect("client");

        let browser = browser();
        let asked = sign_in(&app, &browser, &app.server.url(&bank_authorize(None)), CITIZEN, PASSWORD).await;
        assert_eq!(asked.status().as_u16(), 200);
        let html = asked.text().await.expect("page");
        assert!(html.contains("Cho phép chia sẻ thông tin") && html.contains("Ngân hàng Ví dụ"));
        assert!(html.contains("Số định danh cá nhân"), "the page does not say what is shared");

        // Without consent, prompt=none cannot succeed; "deny" tells the bank so.
        let silent = browser.get(app.server.url(&bank_authorize(Some("none")))).send().await.expect("none");
        assert_eq!(bank_query(&silent)["error"], "consent_required");
        let denied = consent_answer(&app, &browser, &html, "deny").await;
        assert_eq!(bank_query(&denied)["error"], "access_denied");

        let page = browser.get(app.server.url(&bank_authorize(None))).send().await.expect("again");
        let html = page.text().await.expect("consent page");
        let allowed = consent_answer(&app, &browser, &html, "allow").await;
        let code = bank_query(&allowed)["code"].clone();
        let tokens: serde_json::Value = app.server.client.post(app.server.url("/oauth/token"))
            .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", BANK_REDIRECT),
                    ("code_verifier", VERIFIER), ("client_id", "ngan-hang")])
            .send().await.expect("token").json().await.expect("JSON");
        let access = tokens["access_token"].as_str().expect("access token").to_owned();

        // Granted once, not asked again, unless the bank asks with prompt=consent.
        let again = browser.get(app.server.url(&bank_authorize(None))).send().await.expect("again");
        assert!(bank_query(&again).contains_key("code"));
        let forced = browser.get(app.server.url(&bank_authorize(Some("consent")))).send().await.expect("forced");
        assert_eq!(forced.status().as_u16(), 200);

        // "My account" lists the bank; withdrawing ends its access.
        let account = account_browser(&app, CITIZEN, PASSWORD).await;
        let html = account.get(app.server.url("/account")).send().await.expect("account").text().await.expect("page");
        assert!(html.contains("Ngân hàng Ví dụ"));
        let withdrawn = post_form(&app, &account, "/account", "/account/consents/withdraw", &[("client_id", "ngan-hang")]).await;
        assert_eq!(withdrawn.status().as_u16(), 303);
        let userinfo = app.server.client.get(app.server.url("/oauth/userinfo")).bearer_auth(&access).send().await.expect("userinfo");
        assert_eq!(userinfo.status().as_u16(), 401, "the bank's token outlived the withdrawal");
        let after = browser.get(app.server.url(&bank_authorize(None))).send().await.expect("after");
        assert_eq!(after.status().as_u16(), 200, "no consent page after withdrawing");
    }
}

/// The secret shown on an authenticator-app setup page.
fn shown_secret(html: &str) -> egov_id::totp::TotpSecret {
    let marker = "id=\"totp-secret\">";
    let start = html.find(marker).expect("the secret is shown") + marker.len();
    let base32 = &html[start..start + html[start..].find('<').expect("end of secret")];
    egov_id::totp::TotpSecret::from_base32(base32).expect("a base32 secret")
}

engine_test! {
    async fn a_citizen_sets_up_and_removes_an_authenticator_app_from_my_account(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        register_client(&app, false).await;
        let other_device = account_browser(&app, CITIZEN, PASSWORD).await;
        let mine = account_browser(&app, CITIZEN, PASSWORD).await;
        let account = mine.get(app.server.url("/account")).send().await.expect("account").text().await.expect("page");
        assert!(account.contains("href=\"/account/totp\""), "the setup link is offered");

        let setup = mine.get(app.server.url("/account/totp")).send().await.expect("setup").text().await.expect("page");
        assert!(setup.contains("otpauth://totp/"));
        let secret = shown_secret(&setup);

        // A wrong code keeps the same secret on the page.
        let mut form = hidden_fields(&setup);
        form.insert("code".into(), "000000".into());
        let wrong = mine.post(app.server.url("/account/totp")).form(&form).send().await.expect("confirm");
        assert_eq!(wrong.status().as_u16(), 422);
        let wrong_page = wrong.text().await.expect("page");
        assert!(wrong_page.contains("Mã xác thực không đúng"));
        let secret_again = shown_secret(&wrong_page);
        assert_eq!(secret_again.to_base32(), secret.to_base32(), "the same enrolment goes on");

        // The right code turns it on and shows ten recovery codes once.
        let mut form = hidden_fields(&wrong_page);
        form.insert("code".into(), egov_id::totp::code_at(&secret, now_unix()));
        let done = mine.post(app.server.url("/account/totp")).form(&form).send().await.expect("confirm");
        assert_eq!(done.status().as_u16(), 200);
        let codes = done.text().await.expect("page").matches("<li><code>").count();
        assert_eq!(codes, 10);

        // A factor change: the other device is signed out, a notice is mailed.
        let other = other_device.get(app.server.url("/account")).send().await.expect("account");
        assert_eq!(other.status().as_u16(), 401, "the other session ended");
        let mail = app.mail_to("an.nguyen@example.vn").await;
        assert!(mail.iter().any(|message| message.subject == "Phương thức xác thực của bạn đã thay đổi"));

        // From now on a password sign-in asks for a code.
        let url = app.server.url(&authorize_path(Some((CHALLENGE, "S256")), REDIRECT));
        let fresh = browser();
        let next = sign_in(&app, &fresh, &url, CITIZEN, PASSWORD).await;
        assert_eq!(next.status().as_u16(), 200);
        assert!(next.text().await.expect("page").contains("Xác thực hai yếu tố"));

        // Removing it: the account page says so, and passwords alone work again.
        let removed = post_form(&app, &mine, "/account", "/account/totp/remove", &[]).await;
        assert_eq!(removed.status().as_u16(), 303);
        assert!(can_sign_in(&app, CITIZEN, PASSWORD).await);
        let audit = egov_db::audit::for_action(&app.test_db.db, "id.factor.totp.remove", 5).await.expect("audit");
        assert_eq!(audit.len(), 1);
    }
}

engine_test! {
    async fn an_official_cannot_remove_the_last_second_factor(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let user = egov_id::store::user_by_login(&app.test_db.db, OFFICIAL).await.expect("query").expect("official");
        let mut tx = app.test_db.db.begin().await.expect("tx");
        let secret = egov_id::totp::TotpSecret::generate();
        egov_id::store::enrol_totp(&mut tx, user.id, &secret.to_base32(), 0, &[]).await.expect("enrol");
        tx.commit().await.expect("commit");
        // Sign in to my account with password and code.
        let browser = browser();
        let start = browser.get(app.server.url("/account")).send().await.expect("account");
        let login_page = follow(&app, &browser, start).await.text().await.expect("page");
        let mut form = hidden_fields(&login_page);
        form.insert("login".into(), OFFICIAL.into());
        form.insert("password".into(), PASSWORD.into());
        let challenge = browser.post(app.server.url("/oauth/authorize")).form(&form).send().await.expect("sign in");
        let challenge_page = challenge.text().await.expect("page");
        let code = egov_id::totp::code_at(&secret, now_unix());
        let answer = second_factor(&app, &browser, &challenge_page, &code).await;
        assert_eq!(follow(&app, &browser, answer).await.status().as_u16(), 200);

        let refused = post_form(&app, &browser, "/account", "/account/totp/remove", &[]).await;
        assert_eq!(refused.status().as_u16(), 409);
        assert!(refused.text().await.expect("page").contains("hai yếu tố"));
        assert!(egov_id::store::totp(&app.test_db.db, user.id).await.expect("query").totp_secret.is_some());
    }
}
