//! The dossier pages without JavaScript: a citizen fills the e-form (a
//! draft, a form returned with its problems, a submission with files) and
//! follows the dossier; the one-stop desk works it in the back office.

use egov_testkit::engine_test;
use reqwest::multipart::{Form, Part};

use super::id::{CITIZEN, OFFICIAL, PASSWORD, browser as new_browser, now_unix, query_of, second_factor, sign_in};
use super::support::{App, spawn_demo};

const PROCEDURE: &str = "1.001193";
const AGENCY: &str = "000.00.01.H24";

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().expect("ASCII").to_owned()
}

/// A browser signed in to the portal as `login` (officials enrol an
/// authenticator app on the way, as the sign-in requires of them).
pub(super) async fn portal_browser(app: &App, login: &str) -> reqwest::Client {
    let browser = new_browser();
    let start = browser
        .get(app.server.url("/portal/sign-in"))
        .send()
        .await
        .expect("start");
    let authorize = location(&start);
    let mut response = sign_in(app, &browser, &authorize, login, PASSWORD).await;
    if response.status().as_u16() == 200 {
        let html = response.text().await.expect("page");
        let marker = "id=\"totp-secret\">";
        let begin = html.find(marker).expect("authenticator enrolment") + marker.len();
        let end = begin + html[begin..].find('<').expect("end");
        let totp = egov_id::totp::TotpSecret::from_base32(&html[begin..end]).expect("secret");
        let code = egov_id::totp::code_at(&totp, now_unix());
        assert_eq!(second_factor(app, &browser, &html, &code).await.status().as_u16(), 200);
        response = browser.get(&authorize).send().await.expect("continue");
    }
    let callback = location(&response);
    assert!(query_of(&callback).contains_key("code"), "{callback}");
    let back = browser.get(&callback).send().await.expect("callback");
    assert_eq!(back.status().as_u16(), 303);
    browser
}

pub(super) async fn page(app: &App, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let response = browser.get(app.server.url(path)).send().await.expect("page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The action URL of the page's form that posts to `path` (it carries the
/// CSRF token, since multipart bodies are not read for it).
pub(super) fn action(html: &str, path: &str) -> String {
    let marker = format!("action=\"{path}?csrf_token=");
    let start = html.find(&marker).expect("a multipart form") + "action=\"".len();
    let end = start + html[start..].find('"').expect("end of the action");
    html[start..end].replace("&amp;", "&")
}

pub(super) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

fn pdf(name: &str) -> Part {
    Part::bytes(format!("%PDF-1.7\n% {name}\n%%EOF\n").into_bytes())
        .file_name(name.to_owned())
        .mime_str("application/pdf")
        .expect("type")
}

fn filled(key: &str, intent: &str) -> Form {
    Form::new()
        .text("idempotency_key", key.to_owned())
        .text("intent", intent.to_owned())
        .text("agency_code", AGENCY)
        .text("applicant_name", "Nguyễn Văn An")
        .text("applicant_personal_id", CITIZEN)
        .text("residence.province", "24")
        .text("residence.commune", "Phường Kinh Bắc")
        .text("residence.street", "12 Nguyễn Trãi")
        .text("phone", "0912345678")
        .text("request", "Đăng ký khai sinh cho con")
        .text("declaration", "on")
}

async fn post(browser: &reqwest::Client, app: &App, url: &str, form: Form) -> reqwest::Response {
    browser
        .post(app.server.url(url))
        .multipart(form)
        .send()
        .await
        .expect("post")
}

engine_test! {
    async fn a_citizen_drafts_corrects_and_submits_the_e_form_with_documents(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let (status, anonymous) = page(&app, &new_browser(), &format!("/procedures/{PROCEDURE}/submit")).await;
        assert_eq!(status, 200);
        assert!(anonymous.contains("/portal/sign-in?next=%2Fprocedures%2F1.001193%2Fsubmit"), "{anonymous}");

        let browser = portal_browser(&app, CITIZEN).await;
        let (status, html) = page(&app, &browser, &format!("/procedures/{PROCEDURE}/submit")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("value=\"Nguyễn Văn An\""), "the sign-in's name is filled in");
        assert!(html.contains("name=\"documents.document_2\""), "a file input per document");
        let url = action(&html, &format!("/procedures/{PROCEDURE}/submit"));
        let key = hidden(&html, "idempotency_key");

        // A draft keeps what was typed, even incomplete.
        let draft = filled(&key, "draft").text("request", "");
        let saved = post(&browser, &app, &url, draft).await;
        let status = saved.status().as_u16();
        let html = saved.text().await.expect("page");
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Đã lưu nháp"));
        let (_, html) = page(&app, &browser, &format!("/procedures/{PROCEDURE}/submit")).await;
        assert!(html.contains("value=\"12 Nguyễn Trãi\""), "the draft comes back");

        // A form with problems comes back with each beside its field and
        // nothing typed lost.
        let bad = filled(&key, "submit").text("applicant_personal_id", "12345").part("documents.document_1", pdf("to-khai.pdf"));
        let returned = post(&browser, &app, &url, bad).await;
        assert_eq!(returned.status().as_u16(), 422);
        let html = returned.text().await.expect("page");
        assert!(html.contains("id=\"f-applicant_personal_id-error\""), "{html}");
        assert!(html.contains("href=\"#f-documents-document_2\""), "the missing document is listed");
        assert!(html.contains("value=\"Phường Kinh Bắc\""), "typed values are kept");
        assert!(html.contains("vui lòng chọn lại các tệp"));

        let good = filled(&key, "submit")
            .part("documents.document_1", pdf("to-khai.pdf"))
            .part("documents.document_2", pdf("giay-chung-sinh.pdf"))
            .part("documents.document_3", pdf("cccd.pdf"));
        let submitted = post(&browser, &app, &url, good).await;
        assert_eq!(submitted.status().as_u16(), 303);
        let dossier_url = location(&submitted);
        let code = dossier_url.trim_start_matches("/portal/dossiers/").trim_end_matches("?submitted=1").to_owned();
        assert!(egov_onestop::dossier::DossierCode::parse(&code).is_some(), "{dossier_url}");
        // The same form sent twice makes one dossier.
        let again = filled(&key, "submit")
            .part("documents.document_1", pdf("to-khai.pdf"))
            .part("documents.document_2", pdf("giay-chung-sinh.pdf"))
            .part("documents.document_3", pdf("cccd.pdf"));
        assert_eq!(location(&post(&browser, &app, &url, again).await), dossier_url);

        let (status, html) = page(&app, &browser, &dossier_url).await;
        assert_eq!(status, 200);
        assert!(html.contains(&code) && html.contains("Chờ tiếp nhận") && html.contains("giay-chung-sinh.pdf"), "{html}");
        let (_, list) = page(&app, &browser, "/portal/dossiers").await;
        assert!(list.contains(&format!("href=\"/portal/dossiers/{code}\"")));
        let (_, receipt) = page(&app, &browser, &format!("/portal/dossiers/{code}/receipt")).await;
        assert!(receipt.contains("8 giờ làm việc"), "no appointment before the desk accepts");

        // The draft is gone once submitted.
        let (_, html) = page(&app, &browser, &format!("/procedures/{PROCEDURE}/submit")).await;
        assert!(!html.contains("value=\"12 Nguyễn Trãi\""));
    }
}

engine_test! {
    async fn the_desk_accepts_a_dossier_in_the_back_office_and_prints_its_forms(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let (_, html) = page(&app, &citizen, &format!("/procedures/{PROCEDURE}/submit")).await;
        let form = filled(&hidden(&html, "idempotency_key"), "submit")
            .part("documents.document_1", pdf("to-khai.pdf"))
            .part("documents.document_2", pdf("giay-chung-sinh.pdf"))
            .part("documents.document_3", pdf("cccd.pdf"));
        let submitted = post(&citizen, &app, &action(&html, &format!("/procedures/{PROCEDURE}/submit")), form).await;
        let code = location(&submitted).trim_start_matches("/portal/dossiers/").trim_end_matches("?submitted=1").to_owned();

        let (status, _) = page(&app, &citizen, "/back-office").await;
        assert_eq!(status, 403, "a citizen has no back office");

        let desk = portal_browser(&app, OFFICIAL).await;
        let (status, queue) = page(&app, &desk, "/back-office").await;
        assert_eq!(status, 200, "{queue}");
        assert!(queue.contains(&format!("href=\"/back-office/dossiers/{code}\"")) && queue.contains("class=\"deadline on-time\""), "{queue}");
        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{code}")).await;
        assert!(html.contains("value=\"accept\"") && html.contains("value=\"refuse\""), "{html}");
        let url = action(&html, &format!("/back-office/dossiers/{code}"));

        // Refusing without a reason comes back with the problem.
        let refused = post(&desk, &app, &url, Form::new().text("action", "refuse").text("revision", hidden(&html, "revision"))).await;
        assert_eq!(refused.status().as_u16(), 422);
        assert!(refused.text().await.expect("page").contains("Nêu rõ lý do"));

        let accepted = post(&desk, &app, &url, Form::new().text("action", "accept").text("revision", hidden(&html, "revision"))).await;
        assert_eq!(accepted.status().as_u16(), 303);
        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{code}")).await;
        assert!(html.contains("Đã tiếp nhận"), "{html}");
        // A stale form (the revision before the acceptance) is a conflict.
        let stale = post(&desk, &app, &url, Form::new().text("action", "request_supplement").text("note", "x").text("revision", "0")).await;
        assert_eq!(stale.status().as_u16(), 409);

        let (_, receipt) = page(&app, &citizen, &format!("/portal/dossiers/{code}/receipt")).await;
        assert!(receipt.contains("Mẫu số 01") && receipt.contains("Hẹn trả kết quả") && receipt.contains("giay-chung-sinh.pdf"), "{receipt}");
        let (_, slip) = page(&app, &desk, &format!("/back-office/dossiers/{code}/control-slip")).await;
        assert!(slip.contains("Mẫu số 06") && slip.contains("Tiếp nhận") && slip.contains("Nộp hồ sơ"), "{slip}");

        let (status, statistics) = page(&app, &desk, "/back-office/statistics").await;
        assert_eq!(status, 200);
        assert!(statistics.contains("Tỷ lệ hồ sơ trực tuyến") && statistics.contains("<svg class=\"chart\""), "{statistics}");
        let book = desk.get(app.server.url("/back-office/tracking-book")).send().await.expect("book");
        assert!(book.headers()["content-type"].to_str().expect("ASCII").starts_with("text/csv"));
        let book = book.text().await.expect("CSV");
        assert!(book.contains(&code) && book.contains("Nguyễn Văn An"), "{book}");
        let (status, _) = page(&app, &desk, "/back-office/statistics?agency=000.00.02.H24").await;
        assert_eq!(status, 403);

        let (status, lookup) = page(&app, &new_browser(), &format!("/lookup?code={code}&personal_id={CITIZEN}")).await;
        assert_eq!(status, 200);
        assert!(lookup.contains("Đã tiếp nhận") && !lookup.contains("12 Nguyễn Trãi"), "progress only");
        let (status, lookup) = page(&app, &new_browser(), &format!("/lookup?code={code}&personal_id=001190000123")).await;
        assert_eq!(status, 404);
        assert!(lookup.contains("Không tìm thấy hồ sơ"));
    }
}

/// Takes the back office's `action` on the dossier, as `browser`'s official.
async fn act_in_back_office(app: &App, browser: &reqwest::Client, code: &str, action_name: &str) {
    let (_, html) = page(app, browser, &format!("/back-office/dossiers/{code}")).await;
    let form = Form::new()
        .text("action", action_name.to_owned())
        .text("revision", hidden(&html, "revision"));
    let url = action(&html, &format!("/back-office/dossiers/{code}"));
    let response = browser
        .post(app.server.url(&url))
        .multipart(form)
        .send()
        .await
        .expect("act");
    assert_eq!(response.status().as_u16(), 303, "{action_name}");
}

engine_test! {
    async fn the_signed_result_verifies_until_the_leader_revokes_it(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let (_, html) = page(&app, &citizen, &format!("/procedures/{PROCEDURE}/submit")).await;
        let form = filled(&hidden(&html, "idempotency_key"), "submit")
            .part("documents.document_1", pdf("to-khai.pdf"))
            .part("documents.document_2", pdf("giay-chung-sinh.pdf"))
            .part("documents.document_3", pdf("cccd.pdf"));
        let submitted = post(&citizen, &app, &action(&html, &format!("/procedures/{PROCEDURE}/submit")), form).await;
        let code = location(&submitted).trim_start_matches("/portal/dossiers/").trim_end_matches("?submitted=1").to_owned();
        let desk = portal_browser(&app, OFFICIAL).await;
        let specialist = portal_browser(&app, "024088007654").await;
        let leader = portal_browser(&app, "024179001122").await;
        act_in_back_office(&app, &desk, &code, "accept").await;
        act_in_back_office(&app, &specialist, &code, "forward").await;
        act_in_back_office(&app, &leader, &code, "approve").await;
        act_in_back_office(&app, &leader, &code, "sign").await;
        app.run_jobs().await;

        let (_, html) = page(&app, &citizen, &format!("/portal/dossiers/{code}")).await;
        let marker = "href=\"/verify/";
        let start = html.find(marker).expect("a verification link") + marker.len();
        let id = html[start..start + 36].to_owned();
        let download = citizen.get(app.server.url(&format!("/portal/dossiers/{code}/result"))).send().await.expect("download");
        assert_eq!(download.headers()["content-type"], "application/pdf");
        assert_eq!(download.headers()["x-content-type-options"], "nosniff");
        let document = download.bytes().await.expect("PDF").to_vec();
        assert!(document.starts_with(b"%PDF-"));

        // Anyone with the QR code's address sees it is authentic, and can
        // check the file they hold.
        let visitor = new_browser();
        let (status, html) = page(&app, &visitor, &format!("/verify/{id}")).await;
        assert_eq!(status, 200);
        assert!(html.contains("Văn bản xác thực, còn hiệu lực") && html.contains("Nguyễn V. A."), "{html}");
        assert!(!html.contains("001090012345"), "no personal ID on a public page");
        let upload = |bytes: Vec<u8>| Form::new().part("documents.file", Part::bytes(bytes).file_name("kq.pdf"));
        let url = action(&html, &format!("/verify/{id}"));
        let checked = post(&visitor, &app, &url, upload(document.clone())).await.text().await.expect("page");
        assert!(checked.contains("Tệp bạn chọn đúng là văn bản đã ký này"));
        let mut altered = document.clone();
        let middle = altered.len() / 2;
        altered[middle] ^= 1;
        let checked = post(&visitor, &app, &url, upload(altered)).await.text().await.expect("page");
        assert!(checked.contains("KHÔNG phải văn bản đã ký này"));
        let (status, verification) = app.get_json(&format!("/api/v1/results/{id}")).await;
        assert_eq!((status, verification["authentic"].as_bool()), (200, Some(true)), "{verification}");

        // The leader revokes it; the page says so.
        let (_, html) = page(&app, &leader, &format!("/back-office/dossiers/{code}")).await;
        let revoked = leader
            .post(app.server.url(&format!("/back-office/dossiers/{code}/result/revoke")))
            .form(&[("csrf_token", hidden(&html, "csrf_token")), ("note", "Quyết định bị hủy theo kết luận thanh tra".to_owned())])
            .send().await.expect("revoke");
        assert_eq!(revoked.status().as_u16(), 303);
        let (_, html) = page(&app, &visitor, &format!("/verify/{id}")).await;
        assert!(html.contains("Đã bị thu hồi") && html.contains("kết luận thanh tra"), "{html}");
        let (_, desk_html) = page(&app, &desk, &format!("/back-office/dossiers/{code}")).await;
        let denied = desk
            .post(app.server.url(&format!("/back-office/dossiers/{code}/result/revoke")))
            .form(&[("csrf_token", hidden(&desk_html, "csrf_token")), ("note", "x".to_owned())])
            .send().await.expect("revoke");
        assert_eq!(denied.status().as_u16(), 403, "only the leader revokes");
        assert!(denied.text().await.expect("page").contains("Bạn không có quyền thực hiện thao tác này"));
    }
}

engine_test! {
    async fn the_desk_registers_a_paper_dossier_with_its_scans(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let desk = portal_browser(&app, OFFICIAL).await;
        let (status, list) = page(&app, &desk, "/back-office/counter").await;
        assert_eq!(status, 200);
        assert!(list.contains(&format!("href=\"/back-office/counter/{PROCEDURE}\"")), "{list}");
        let (_, html) = page(&app, &desk, &format!("/back-office/counter/{PROCEDURE}")).await;
        let url = action(&html, &format!("/back-office/counter/{PROCEDURE}"));
        let key = hidden(&html, "idempotency_key");
        let paper = |personal_id: &str| {
            filled(&key, "submit")
                .text("counter_applicant_name", "Trần Thị Bé")
                .text("counter_applicant_personal_id", personal_id.to_owned())
                .part("documents.document_1", pdf("to-khai-scan.pdf"))
                .part("documents.document_2", pdf("giay-chung-sinh-scan.pdf"))
                .part("documents.document_3", pdf("cccd-scan.pdf"))
        };
        let refused = post(&desk, &app, &url, paper("12")).await;
        assert_eq!(refused.status().as_u16(), 422);
        let html = refused.text().await.expect("page");
        assert!(html.contains("href=\"#f-counter_applicant_personal_id\"") && html.contains("value=\"Trần Thị Bé\""), "{html}");
        let registered = post(&desk, &app, &url, paper("001190000123")).await;
        assert_eq!(registered.status().as_u16(), 303);
        let (_, html) = page(&app, &desk, &location(&registered)).await;
        assert!(html.contains("Đã tiếp nhận") && html.contains("Trực tiếp tại Bộ phận Một cửa") && html.contains("cccd-scan.pdf"), "{html}");

        let citizen = portal_browser(&app, CITIZEN).await;
        let (status, _) = page(&app, &citizen, "/back-office/counter").await;
        assert_eq!(status, 403);
    }
}
