//! Once-only: the citizen fills the e-form from their own record in the
//! population registry, read by the one-stop shop through the gateway with
//! their consent (the click). The values are marked as the registry's until
//! changed, the read reaches the citizen's data tracker, and a missing
//! record or a refusal is said beside the button with nothing typed lost.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use egov::demo::{DEMO_ONESTOP_CLIENT, DEMO_POPULATION_SERVICE, load_gateway, load_registry};
use egov_gateway::id::{ClientId, ServiceId};
use egov_testkit::engine_test;
use reqwest::multipart::Form;
use serde_json::Value;

use super::dossier_pages::{action, hidden, page, portal_browser};
use super::dossiers::{OTHER_CITIZEN, prepare, token};
use super::id::CITIZEN;
use super::support::{App, spawn_with};

const PROCEDURE: &str = "1.001193";
const FORM: &str = "/procedures/1.001193/submit";
const MARK: &str = "Từ CSDL dân cư";

/// The registry and the gateway of the demo, so the one-stop shop can read
/// the population registry through the gateway.
async fn spawn_with_registry(test_db: egov_testkit::TestDb) -> App {
    let app = super::support::spawn_demo(test_db).await;
    load_registry(&app.test_db.db, &app.config)
        .await
        .expect("demo registry");
    load_gateway(&app.test_db.db).await.expect("demo gateway");
    app
}

/// The text of the label of the input `id`.
fn label(html: &str, id: &str) -> String {
    let marker = format!("<label for=\"{id}\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("a label for {id}")) + marker.len();
    html[start..start + html[start..].find("</label>").expect("end of the label")].to_owned()
}

/// The `value` attribute of the input named `name`.
fn value_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("an input {name}")) + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

/// The `value` of the selected option of the select named `name`.
fn selected(html: &str, name: &str) -> String {
    let start = html.find(&format!("name=\"{name}\"")).expect("the select");
    let end = start + html[start..].find("</select>").expect("end of the select");
    let marker = "\" selected>";
    let Some(at) = html[start..end].find(marker) else {
        return String::new();
    };
    let option = &html[start..start + at];
    option[option.rfind("value=\"").expect("value") + "value=\"".len()..].to_owned()
}

/// What the citizen typed before asking for the prefill.
fn typed(html: &str, intent: &str) -> Form {
    Form::new()
        .text("idempotency_key", hidden(html, "idempotency_key"))
        .text("intent", intent.to_owned())
        .text("agency_code", "000.00.01.H24")
        .text("applicant_name", "An")
        .text("residence.street", "12 Nguyễn Trãi")
        .text("phone", "0912345678")
        .text("request", "Đăng ký khai sinh cho con")
}

async fn post(app: &App, browser: &reqwest::Client, url: &str, form: Form) -> (u16, String) {
    let response = browser
        .post(app.server.url(url))
        .multipart(form)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

async fn tracker(app: &App, personal_id: &str) -> Vec<egov_registry::store::ReadRow> {
    egov::app::registry(&app.test_db.db, &app.config)
        .reads_of_person(personal_id, 50)
        .await
        .expect("tracker")
}

engine_test! {
    async fn a_citizen_fills_the_form_from_the_population_registry_marked_as_its_values(test_db: TestDb) {
        let app = spawn_with_registry(test_db).await;
        let browser = portal_browser(&app, CITIZEN).await;
        let (status, html) = page(&app, &browser, FORM).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Điền sẵn từ Cơ sở dữ liệu quốc gia về dân cư"), "{html}");
        assert!(html.contains("Lần đọc này được ghi lại"), "the page says the read is recorded");
        assert!(!html.contains(MARK), "nothing is the registry's before the click");
        let (_, english) = page(&app, &browser, &format!("{FORM}?lang=en")).await;
        assert!(english.contains("Fill in from the national population registry"), "{english}");
        assert!(tracker(&app, CITIZEN).await.is_empty(), "showing the form reads nothing");

        let url = action(&html, FORM);
        let (status, html) = post(&app, &browser, &url, typed(&html, "prefill")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Đã điền sẵn thông tin từ Cơ sở dữ liệu quốc gia về dân cư"), "{html}");
        assert_eq!(value_of(&html, "applicant_name"), "Nguyễn Văn An", "the registry's name replaces the typed one");
        assert!(label(&html, "f-applicant_name").contains(MARK));
        assert_eq!(value_of(&html, "applicant_personal_id"), CITIZEN);
        assert!(label(&html, "f-applicant_personal_id").contains(MARK));
        let province = selected(&html, "residence.province");
        assert_eq!(province.len(), 2, "the province of permanent residence is chosen: {province:?}");
        assert!(label(&html, "f-residence-province").contains(MARK));
        let commune = value_of(&html, "residence.commune");
        assert!(egov_onestop::directory::find_commune(&province, &commune).is_some(), "{commune} in {province}");
        assert!(label(&html, "f-residence-commune").contains(MARK));
        // What the registry does not hold stays as typed, unmarked.
        assert_eq!(value_of(&html, "residence.street"), "12 Nguyễn Trãi");
        assert!(!label(&html, "f-residence-street").contains(MARK));
        assert_eq!(value_of(&html, "phone"), "0912345678");
        assert!(!label(&html, "f-phone").contains(MARK));

        // One read, by the one-stop shop's subsystem, for the prefill of
        // this procedure, on the citizen's behalf; audited on the one-stop side.
        let reads = tracker(&app, CITIZEN).await;
        assert_eq!(reads.len(), 1, "{reads:?}");
        assert_eq!(reads[0].client, DEMO_ONESTOP_CLIENT);
        assert_eq!(reads[0].purpose, "onestop-prefill");
        assert_eq!(reads[0].reference.as_deref(), Some(PROCEDURE));
        assert_eq!(reads[0].user_id, format!("VN{CITIZEN}"));
        let audited = egov_db::audit::for_action(&app.test_db.db, "onestop.registry_prefill", 10).await.expect("audit");
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].subject, format!("procedure:{PROCEDURE}"));
        let (_, usage) = page(&app, &browser, "/portal/my-data-usage").await;
        assert!(usage.contains(DEMO_ONESTOP_CLIENT) && usage.contains(PROCEDURE), "{usage}");

        // The citizen changes the name: its mark goes, the others stay, in
        // the draft too.
        let form = Form::new()
            .text("idempotency_key", hidden(&html, "idempotency_key"))
            .text("prefill_token", hidden(&html, "prefill_token"))
            .text("intent", "draft")
            .text("agency_code", "000.00.01.H24")
            .text("applicant_name", "Nguyễn Văn Ân")
            .text("applicant_personal_id", CITIZEN)
            .text("residence.province", province.clone())
            .text("residence.commune", commune.clone())
            .text("residence.street", "12 Nguyễn Trãi");
        let (status, saved) = post(&app, &browser, &action(&html, FORM), form).await;
        assert_eq!(status, 200, "{saved}");
        assert!(!label(&saved, "f-applicant_name").contains(MARK), "a changed value is the citizen's");
        assert!(label(&saved, "f-applicant_personal_id").contains(MARK));
        let (_, draft) = page(&app, &browser, FORM).await;
        assert_eq!(value_of(&draft, "applicant_name"), "Nguyễn Văn Ân");
        assert!(!label(&draft, "f-applicant_name").contains(MARK));
        assert!(label(&draft, "f-residence-province").contains(MARK), "the draft keeps the marks");
        // A forged mark is not believed.
        let claim = URL_SAFE_NO_PAD.encode(format!("{{\"applicant_personal_id\":\"{CITIZEN}\"}}"));
        let signature = hidden(&draft, "prefill_token").split_once('.').expect("signed").1.to_owned();
        let forged = Form::new()
            .text("idempotency_key", hidden(&draft, "idempotency_key"))
            .text("prefill_token", format!("{claim}.{signature}"))
            .text("intent", "draft")
            .text("agency_code", "000.00.01.H24")
            .text("applicant_personal_id", CITIZEN);
        let (_, html) = post(&app, &browser, &action(&draft, FORM), forged).await;
        assert!(!html.contains(&format!("<span class=\"tag tag-registry\">{MARK}")), "{html}");
        assert_eq!(tracker(&app, CITIZEN).await.len(), 1, "no more reads than clicks");
    }
}

engine_test! {
    async fn a_citizen_without_a_registry_record_is_told_so_and_keeps_what_they_typed(test_db: TestDb) {
        let app = spawn_with_registry(test_db).await;
        prepare(&app).await;
        let browser = portal_browser(&app, OTHER_CITIZEN).await;
        let (_, html) = page(&app, &browser, FORM).await;
        let (status, html) = post(&app, &browser, &action(&html, FORM), typed(&html, "prefill")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Không tìm thấy bản ghi của bạn trong Cơ sở dữ liệu quốc gia về dân cư"), "{html}");
        assert!(html.contains("role=\"alert\""));
        assert_eq!(value_of(&html, "applicant_name"), "An");
        assert_eq!(value_of(&html, "residence.street"), "12 Nguyễn Trãi");
        assert_eq!(value_of(&html, "phone"), "0912345678");
        assert!(!html.contains(MARK));
        assert!(tracker(&app, OTHER_CITIZEN).await.is_empty());
    }
}

engine_test! {
    async fn with_the_access_right_revoked_the_registry_refuses_and_nothing_is_lost(test_db: TestDb) {
        let app = spawn_with_registry(test_db).await;
        let service = ServiceId::parse(DEMO_POPULATION_SERVICE).expect("service");
        let client = ClientId::parse(DEMO_ONESTOP_CLIENT).expect("client");
        // Revoked before the app's gateway first reads what it serves.
        assert!(egov_gateway::admin::revoke(&app.test_db.db, "test", &service, &client).await.expect("revoke"));
        let browser = portal_browser(&app, CITIZEN).await;
        let (_, html) = page(&app, &browser, FORM).await;
        let (status, html) = post(&app, &browser, &action(&html, FORM), typed(&html, "prefill")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Cơ sở dữ liệu quốc gia về dân cư từ chối cung cấp thông tin"), "{html}");
        assert_eq!(value_of(&html, "applicant_name"), "An");
        assert_eq!(value_of(&html, "phone"), "0912345678");
        assert!(!html.contains(MARK));
        assert!(tracker(&app, CITIZEN).await.is_empty(), "nothing was read");

        // The same over JSON, in English when asked.
        let secret = prepare(&app).await;
        let bearer = token(&app, &secret, CITIZEN).await;
        let response = app
            .server
            .client
            .post(app.server.url(&format!("/api/v1/procedures/{PROCEDURE}/prefill?lang=en")))
            .bearer_auth(&bearer)
            .send()
            .await
            .expect("prefill");
        assert_eq!(response.status().as_u16(), 403);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], "registry_refused", "{body}");
        assert!(body["message"].as_str().is_some_and(|message| message.contains("refused")), "{body}");
    }
}

engine_test! {
    async fn an_api_client_gets_the_citizens_registry_values_with_their_source(test_db: TestDb) {
        let app = spawn_with_registry(test_db).await;
        let secret = prepare(&app).await;
        let prefill = |bearer: Option<String>| {
            let request = app.server.client.post(app.server.url(&format!("/api/v1/procedures/{PROCEDURE}/prefill")));
            async move {
                let response = match bearer {
                    Some(bearer) => request.bearer_auth(bearer),
                    None => request,
                }
                .send()
                .await
                .expect("prefill");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("JSON"))
            }
        };
        let (status, _) = prefill(None).await;
        assert_eq!(status, 401);

        let (status, body) = prefill(Some(token(&app, &secret, CITIZEN).await)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["procedure_code"], PROCEDURE);
        assert_eq!(body["values"]["applicant_name"], "Nguyễn Văn An");
        assert_eq!(body["values"]["applicant_personal_id"], CITIZEN);
        let fields = body["fields"].as_array().expect("fields");
        assert!(fields.iter().all(|field| field["source"] == "population_registry"), "{body}");
        let paths: Vec<&str> = fields.iter().filter_map(|field| field["path"].as_str()).collect();
        assert_eq!(paths, ["applicant_name", "applicant_personal_id", "residence.province", "residence.commune"]);
        let reads = tracker(&app, CITIZEN).await;
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].purpose, "onestop-prefill");

        let (status, body) = prefill(Some(token(&app, &secret, OTHER_CITIZEN).await)).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("registry_record_not_found")), "{body}");
    }
}

engine_test! {
    async fn without_the_setting_the_form_and_the_api_offer_no_prefill(test_db: TestDb) {
        let off = egov::app::AppConfig {
            population: None,
            ..egov::app::AppConfig::for_tests()
        };
        let app = spawn_with(test_db, off).await;
        load_registry(&app.test_db.db, &app.config).await.expect("demo registry");
        load_gateway(&app.test_db.db).await.expect("demo gateway");
        let browser = portal_browser(&app, CITIZEN).await;
        let (_, html) = page(&app, &browser, FORM).await;
        assert!(!html.contains("value=\"prefill\""), "no button when the setting is empty");
        let secret = prepare(&app).await;
        let bearer = token(&app, &secret, CITIZEN).await;
        let response = app
            .server
            .client
            .post(app.server.url(&format!("/api/v1/procedures/{PROCEDURE}/prefill")))
            .bearer_auth(&bearer)
            .send()
            .await
            .expect("prefill");
        assert_eq!(response.status().as_u16(), 404);
        assert_eq!(response.json::<Value>().await.expect("JSON")["code"], "prefill_not_offered");
    }
}

engine_test! {
    async fn a_registry_the_gateway_cannot_reach_is_said_beside_the_button(test_db: TestDb) {
        let elsewhere = egov::app::AppConfig {
            population: Some(egov::app::PopulationSetup {
                client: ClientId::parse(DEMO_ONESTOP_CLIENT).expect("client"),
                service: ServiceId::parse("VN/GOV/000.09.00.H24/registry/population").expect("service"),
            }),
            ..egov::app::AppConfig::for_tests()
        };
        let app = spawn_with(test_db, elsewhere).await;
        load_registry(&app.test_db.db, &app.config).await.expect("demo registry");
        load_gateway(&app.test_db.db).await.expect("demo gateway");
        let browser = portal_browser(&app, CITIZEN).await;
        let (_, html) = page(&app, &browser, &format!("{FORM}?lang=en")).await;
        let (status, html) = post(&app, &browser, &format!("{}&lang=en", action(&html, FORM)), typed(&html, "prefill")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("The national population registry cannot be reached at the moment"), "{html}");
        assert_eq!(value_of(&html, "phone"), "0912345678");
        assert!(tracker(&app, CITIZEN).await.is_empty());
    }
}
