//! Dossiers through the JSON API, with access tokens from the central
//! sign-in: a citizen submits, the agency's desk, specialist and leader move
//! the dossier to its result; bad input, other people's dossiers, refused
//! transitions and races each get their clear answer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use egov_testkit::engine_test;
use serde_json::{Value, json};

use super::id::{CITIZEN, OFFICIAL, PASSWORD, browser, now_unix, query_of, second_factor, sign_in};
use super::support::{App, spawn_demo, spawn_with};

const SPECIALIST: &str = "024088007654";
const LEADER: &str = "024179001122";
const AGENCY_ADMIN: &str = "024080003344";
/// A second specialist of the demo agency's specialist division.
const COLLEAGUE: &str = "024087006677";
/// A second citizen, created by the tests.
pub(super) const OTHER_CITIZEN: &str = "001190000123";
/// An official of another agency (the second commune), with every role.
const OUTSIDER: &str = "024090009999";

const CLIENT: &str = "onestop-test";
const REDIRECT: &str = "https://app.example.gov.vn/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Birth registration, offered by both demo communes.
const PROCEDURE: &str = "1.001193";
const AGENCY: &str = "000.00.01.H24";
const OTHER_AGENCY: &str = "000.00.02.H24";

/// Registers the test client and the extra accounts; returns the secret.
pub(super) async fn prepare(app: &App) -> String {
    let mut client = egov_id::admin::NewClient::web(CLIENT, "Ứng dụng một cửa", REDIRECT);
    client.first_party = true;
    client
        .scopes
        .extend(["email", "personal_id", "agency"].map(str::to_owned));
    let secret = egov_id::admin::add_client(&app.test_db.db, &client, "test", chrono::Utc::now())
        .await
        .expect("client")
        .expect("a confidential client has a secret");
    let accounts = [
        (
            OTHER_CITIZEN,
            "Lý Thị Hoa",
            egov_id::domain::UserKind::Citizen,
            None,
            vec![],
        ),
        (
            OUTSIDER,
            "Đỗ Văn Khoa",
            egov_id::domain::UserKind::Official,
            Some(OTHER_AGENCY),
            vec![
                egov_id::domain::Role::Receiver,
                egov_id::domain::Role::Specialist,
                egov_id::domain::Role::Leader,
            ],
        ),
    ];
    for (personal_id, name, kind, agency, roles) in accounts {
        let user = egov_id::admin::NewUser {
            kind,
            personal_id: personal_id.to_owned(),
            full_name: name.to_owned(),
            email: Some(format!("{personal_id}@example.vn")),
            phone_number: None,
            birthdate: None,
            gender: None,
            agency_code: agency.map(str::to_owned),
            department: None,
            roles,
        };
        egov_id::admin::add_user(
            &app.test_db.db,
            &app.config.hasher,
            &user,
            PASSWORD,
            "test",
            chrono::Utc::now(),
        )
        .await
        .expect("account");
    }
    secret
}

/// Signs `login` in through the authorization code flow (enrolling an
/// authenticator app for officials) and returns an access token.
pub(super) async fn token(app: &App, secret: &str, login: &str) -> String {
    let mut url = url::Url::parse(&app.server.url("/oauth/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email personal_id agency")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let browser = browser();
    let mut response = sign_in(app, &browser, url.as_str(), login, PASSWORD).await;
    if response.status().as_u16() == 200 {
        let html = response.text().await.expect("page");
        let marker = "id=\"totp-secret\">";
        let start = html.find(marker).expect("authenticator enrolment") + marker.len();
        let end = start + html[start..].find('<').expect("end");
        let totp = egov_id::totp::TotpSecret::from_base32(&html[start..end]).expect("secret");
        let code = egov_id::totp::code_at(&totp, now_unix());
        assert_eq!(second_factor(app, &browser, &html, &code).await.status().as_u16(), 200);
        response = browser.get(url.as_str()).send().await.expect("continue");
    }
    assert_eq!(response.status().as_u16(), 303, "signed in");
    let location = response.headers()["location"].to_str().expect("ASCII").to_owned();
    let code = query_of(&location)["code"].clone();
    let tokens: Value = app
        .server
        .client
        .post(app.server.url("/oauth/token"))
        .basic_auth(CLIENT, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("JSON");
    tokens["access_token"].as_str().expect("access token").to_owned()
}

/// The people of the tests, signed in.
struct People {
    citizen: String,
    other_citizen: String,
    receiver: String,
    specialist: String,
    leader: String,
    agency_admin: String,
    outsider: String,
    colleague: String,
}

async fn people(app: &App) -> People {
    let secret = prepare(app).await;
    People {
        citizen: token(app, &secret, CITIZEN).await,
        other_citizen: token(app, &secret, OTHER_CITIZEN).await,
        receiver: token(app, &secret, OFFICIAL).await,
        specialist: token(app, &secret, SPECIALIST).await,
        leader: token(app, &secret, LEADER).await,
        agency_admin: token(app, &secret, AGENCY_ADMIN).await,
        outsider: token(app, &secret, OUTSIDER).await,
        colleague: token(app, &secret, COLLEAGUE).await,
    }
}

async fn call(
    app: &App,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let url = app.server.url(path);
    let mut request = match method {
        "POST" => app.server.client.post(url),
        _ => app.server.client.get(url),
    }
    .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("API call");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn pdf(text: &str) -> String {
    STANDARD.encode(format!("%PDF-1.7\n% {text}\n%%EOF\n"))
}

fn good_dossier() -> Value {
    json!({
        "procedure_code": PROCEDURE,
        "agency_code": AGENCY,
        "values": {
            "applicant_name": "Nguyễn Văn An",
            "applicant_personal_id": CITIZEN,
            "residence": {"province": "24", "commune": "Phường Kinh Bắc", "street": "12 Nguyễn Trãi"},
            "phone": "0912345678",
            "request": "Đăng ký khai sinh cho con",
            "declaration": true
        },
        "documents": [
            {"slot": "document_1", "file_name": "to-khai.pdf", "content_base64": pdf("to khai")},
            {"slot": "document_2", "file_name": "Giấy chứng sinh.pdf", "content_base64": pdf("giay chung sinh")},
            {"slot": "document_3", "file_name": "cccd.pdf", "content_base64": pdf("cccd")}
        ]
    })
}

async fn submit(app: &App, token: &str, key: &str) -> String {
    let (status, body) = call(app, token, "POST", "/api/v1/dossiers", Some(good_dossier()), Some(key)).await;
    assert_eq!(status, 201, "{body}");
    body["code"].as_str().expect("code").to_owned()
}

async fn act(app: &App, token: &str, code: &str, body: Value) -> (u16, Value) {
    call(
        app,
        token,
        "POST",
        &format!("/api/v1/dossiers/{code}/actions"),
        Some(body),
        None,
    )
    .await
}

async fn count(app: &App, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    egov_db::with_pool!(&app.test_db.db, pool => {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.expect("count")
    })
}

engine_test! {
    async fn a_dossier_goes_from_online_submission_to_its_returned_result(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;

        let (status, form) = call(&app, &people.citizen, "GET", &format!("/api/v1/procedures/{PROCEDURE}/form"), None, None).await;
        assert_eq!(status, 200, "{form}");
        assert_eq!(form["version"], 1);
        // The workflow template names each step's department, and hours
        // where it plans them (a one-day procedure: only the desk's 8).
        assert_eq!(
            form["steps"],
            json!([
                {"kind": "receive", "department": "MOT_CUA", "hours": 8},
                {"kind": "review", "department": "CHUYEN_MON"},
                {"kind": "approve"},
                {"kind": "sign"},
                {"kind": "return", "department": "MOT_CUA"},
            ])
        );

        let code = submit(&app, &people.citizen, "first-submission-0001").await;
        assert!(egov_onestop::dossier::DossierCode::parse(&code).is_some(), "{code}");
        assert!(code.starts_with(&format!("{AGENCY}-")), "{code}");
        assert!(code.ends_with("-0001"), "the day's first dossier: {code}");
        // A double submit makes one dossier.
        let (status, again) = call(&app, &people.citizen, "POST", "/api/v1/dossiers", Some(good_dossier()), Some("first-submission-0001")).await;
        assert_eq!((status, again["code"].as_str(), again["created"].as_bool()), (200, Some(code.as_str()), Some(false)));
        assert_eq!(count(&app, "dossiers").await, 1);
        // The same three files are stored once each, however often sent.
        assert_eq!(count(&app, "stored_files").await, 3);

        let (_, mine) = call(&app, &people.citizen, "GET", "/api/v1/dossiers", None, None).await;
        assert_eq!(mine[0]["code"], code.as_str());
        assert_eq!(mine[0]["state"], "submitted");

        let (status, queue) = call(&app, &people.receiver, "GET", "/api/v1/dossiers?queue=new&q=nguyen van an", None, None).await;
        assert_eq!(status, 200, "{queue}");
        assert_eq!(queue.as_array().map(Vec::len), Some(1), "found by the applicant's name without diacritics");
        let today = egov_onestop::dossier::submit::to_vn(chrono::Utc::now()).date();
        let (_, by_day) = call(&app, &people.receiver, "GET", &format!("/api/v1/dossiers?queue=new&from={today}&to={today}"), None, None).await;
        assert_eq!(by_day.as_array().map(Vec::len), Some(1), "submitted today");
        let (_, last_year) = call(&app, &people.receiver, "GET", "/api/v1/dossiers?queue=new&from=2025-01-01&to=2025-12-31", None, None).await;
        assert_eq!(last_year, json!([]), "nothing submitted in 2025");
        let (_, view) = call(&app, &people.receiver, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(view["allowed_actions"], json!(["accept", "request_supplement", "refuse"]), "{view}");

        // A client that needs only the outcome says so (RFC 7240).
        let minimal = app.server.client.post(app.server.url(&format!("/api/v1/dossiers/{code}/actions")))
            .bearer_auth(&people.receiver).header("prefer", "return=minimal")
            .json(&json!({"action": "accept"})).send().await.expect("accept");
        assert_eq!(minimal.headers()["preference-applied"], "return=minimal");
        let outcome: Value = minimal.json().await.expect("JSON");
        assert_eq!((outcome["state"].as_str(), outcome.get("events")), (Some("received"), None), "{outcome}");
        let path: [(&String, Value, &str); 4] = [
            (&people.specialist, json!({"action": "forward", "note": "Hồ sơ đầy đủ"}), "processing"),
            (&people.leader, json!({"action": "approve"}), "approved"),
            (&people.leader, json!({"action": "sign"}), "result_ready"),
            (&people.receiver, json!({"action": "return", "delivery": "online"}), "returned"),
        ];
        for (who, body, state) in path {
            let (status, view) = act(&app, who, &code, body.clone()).await;
            assert_eq!(status, 200, "{body}: {view}");
            assert_eq!(view["state"], state);
        }

        let (_, view) = call(&app, &people.citizen, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(view["state"], "returned");
        assert_eq!(view["timeliness"], "on_time");
        assert!(view["received_at"].is_string() && view["due_at"].is_string());
        let actions: Vec<&str> = view["events"].as_array().expect("events").iter().map(|event| event["action"].as_str().expect("action")).collect();
        assert_eq!(actions, ["submit", "accept", "forward", "approve", "sign", "return"]);
        assert_eq!(view["documents"].as_array().map(Vec::len), Some(3));

        // A document comes back as an attachment that browsers do not sniff.
        let id = view["documents"][1]["id"].as_str().expect("id");
        let response = app.server.client.get(app.server.url(&format!("/api/v1/dossiers/{code}/documents/{id}")))
            .bearer_auth(&people.citizen).send().await.expect("download");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["content-type"], "application/pdf");
        assert!(response.headers()["content-disposition"].to_str().expect("ASCII").starts_with("attachment;"));
        assert!(response.bytes().await.expect("file").starts_with(b"%PDF-"));

        // The applicant heard of every step by e-mail.
        let mail = app.mail_to("an.nguyen@example.vn").await;
        assert_eq!(mail.len(), 6, "one notice per change");
        let audited = egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE subject = $1")
                .bind(format!("dossier:{code}")).fetch_one(pool).await.expect("count")
        });
        assert!(audited >= 7, "the submission, five actions and the officials' reads: {audited}");
    }
}

engine_test! {
    async fn bad_values_and_uploads_are_each_named_and_nothing_is_kept(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let mut dossier = good_dossier();
        dossier["values"]["applicant_personal_id"] = json!("12345");
        dossier["values"]["request"] = json!("");
        dossier["values"]["phone"] = json!("12ab");
        dossier["values"]["residence"]["province"] = json!("99");
        dossier["documents"] = json!([
            {"slot": "document_1", "file_name": "to-khai.pdf", "content_base64": STANDARD.encode("<html><script>alert(1)</script>")},
            {"slot": "document_2", "file_name": "../../etc/passwd", "content_base64": pdf("x")},
            {"slot": "document_9", "file_name": "x.pdf", "content_base64": pdf("x")},
            {"slot": "document_3", "file_name": "bomb.zip", "content_base64": STANDARD.encode(b"PK\x03\x04\x14\x00\x00\x00\x08\x00")}
        ]);
        let (status, body) = call(&app, &people.citizen, "POST", "/api/v1/dossiers?lang=en", Some(dossier), Some("bad-submission-0001")).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "invalid_dossier");
        let paths: Vec<&str> = body["problems"].as_array().expect("problems").iter().map(|problem| problem["path"].as_str().expect("path")).collect();
        assert_eq!(paths, [
            "applicant_personal_id", "residence.province", "phone", "request",
            "documents.document_1", "documents.document_2", "documents.document_9", "documents.document_3",
        ]);
        assert_eq!(body["problems"][4]["message"], "Only PDF, JPEG, PNG files are accepted.");

        // An agency admin publishes a version whose first slot takes 1 KB;
        // the next dossier is held to it, one submitted before keeps its own.
        let earlier = submit(&app, &people.citizen, "bad-submission-0002").await;
        let (_, form) = call(&app, &people.citizen, "GET", &format!("/api/v1/procedures/{PROCEDURE}/form"), None, None).await;
        let mut version = json!({
            "effective_from": (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339(),
            "form": form["form"].clone(),
            "fee_vnd": 0, "online_fee_vnd": 0, "processing_days": 2,
            "steps": ["receive", "review", "review", "approve", "sign", "return"],
        });
        version["form"]["documents"][0]["max_bytes"] = json!(1_000);
        let path = format!("/api/v1/procedures/{PROCEDURE}/versions");
        assert_eq!(call(&app, &people.leader, "POST", &path, Some(version.clone()), None).await.0, 403, "a leader does not publish");
        let (status, body) = call(&app, &people.agency_admin, "POST", &path, Some(version), None).await;
        assert_eq!((status, body["version"].as_i64()), (201, Some(2)), "{body}");
        let mut oversize = good_dossier();
        oversize["documents"][0]["content_base64"] = json!(pdf(&"x".repeat(2_000)));
        let (status, body) = call(&app, &people.citizen, "POST", "/api/v1/dossiers", Some(oversize), Some("bad-submission-0003")).await;
        assert_eq!((status, body["problems"][0]["path"].as_str()), (422, Some("documents.document_1")), "{body}");
        assert_eq!(body["problems"][0]["message"], "Tệp lớn hơn giới hạn 1 KB.");
        let (_, view) = call(&app, &people.citizen, "GET", &format!("/api/v1/dossiers/{earlier}"), None, None).await;
        assert_eq!(view["procedure_version"], 1);

        let (status, _) = call(&app, &people.citizen, "POST", "/api/v1/dossiers", Some(good_dossier()), Some("short")).await;
        assert_eq!(status, 400, "an idempotency key is at least 8 characters");
        let (status, _) = call(&app, &people.citizen, "POST", "/api/v1/dossiers", Some(good_dossier()), None).await;
        assert_eq!(status, 400, "an idempotency key is required");
        let (status, _) = call(&app, "not-a-token", "POST", "/api/v1/dossiers", Some(good_dossier()), Some("bad-submission-0004")).await;
        assert_eq!(status, 401);

        // Only the one good dossier was kept, with its three documents.
        for (table, expected) in [("dossiers", 1), ("stored_files", 3), ("dossier_documents", 3), ("dossier_events", 1)] {
            assert_eq!(count(&app, table).await, expected, "{table}");
        }
    }
}

engine_test! {
    async fn other_citizens_and_other_agencies_cannot_reach_a_dossier(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "idor-submission-0001").await;
        let (_, view) = call(&app, &people.citizen, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        let document = view["documents"][0]["id"].as_str().expect("id").to_owned();

        for stranger in [&people.other_citizen, &people.outsider] {
            let (status, body) = call(&app, stranger, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
            assert_eq!((status, body["code"].as_str()), (404, Some("dossier_not_found")));
            let (status, _) = call(&app, stranger, "GET", &format!("/api/v1/dossiers/{code}/documents/{document}"), None, None).await;
            assert_eq!(status, 404);
            let (status, _) = act(&app, stranger, &code, json!({"action": "accept"})).await;
            assert_eq!(status, 404);
            let (_, list) = call(&app, stranger, "GET", "/api/v1/dossiers", None, None).await;
            assert_eq!(list, json!([]));
        }
        // Inside the agency, each department keeps to its steps (the
        // specialist division does not see a dossier at the desk's step)
        // and each role to its actions (the leader sees it, but the desk
        // accepts).
        let (status, body) = act(&app, &people.specialist, &code, json!({"action": "accept"})).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("dossier_not_found")));
        let (status, body) = act(&app, &people.leader, &code, json!({"action": "accept"})).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
        let (status, _) = act(&app, &people.citizen, &code, json!({"action": "accept"})).await;
        assert_eq!(status, 403, "an applicant does not accept their own dossier");
        let (status, _) = act(&app, &people.receiver, &code, json!({"action": "withdraw"})).await;
        assert_eq!(status, 403, "an official does not withdraw for the applicant");
        assert_eq!(count(&app, "dossier_events").await, 1, "nothing moved");
    }
}

engine_test! {
    async fn refused_transitions_name_the_allowed_ones_and_races_have_one_winner(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "race-submission-0001").await;
        let (status, body) = act(&app, &people.leader, &code, json!({"action": "approve"})).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "transition_not_allowed");
        assert_eq!(body["allowed"], json!(["accept", "request_supplement", "refuse", "withdraw"]));

        let (_, view) = act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        let revision = view["revision"].as_i64().expect("revision");
        // Two actions on the same revision: a forward and a pause.
        let (first, second) = tokio::join!(
            act(&app, &people.specialist, &code, json!({"action": "forward", "revision": revision})),
            act(&app, &people.leader, &code, json!({"action": "pause", "revision": revision, "note": "Chờ xác minh"})),
        );
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
        let loser = if first.0 == 409 { first.1 } else { second.1 };
        assert_eq!(loser["code"], "dossier_changed");
        assert_eq!(count(&app, "dossier_events").await, 3, "submit, accept and the winner");

        // Refusal needs a reason the applicant can read.
        let other = submit(&app, &people.citizen, "race-submission-0002").await;
        let (status, body) = act(&app, &people.receiver, &other, json!({"action": "refuse"})).await;
        assert_eq!((status, body["problems"][0]["path"].as_str()), (422, Some("note")));
        let (status, body) = act(&app, &people.receiver, &other, json!({"action": "refuse", "note": "Thủ tục không thuộc thẩm quyền"})).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("refused")));
        let (status, body) = act(&app, &people.citizen, &other, json!({"action": "withdraw"})).await;
        assert_eq!((status, body["allowed"].clone()), (409, json!([])), "nothing follows a refusal");
    }
}

engine_test! {
    async fn a_supplement_request_pauses_the_dossier_until_the_applicant_answers(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "supplement-0001").await;
        let (status, view) = act(&app, &people.receiver, &code, json!({"action": "request_supplement", "note": "Bổ sung bản sao giấy chứng sinh rõ nét"})).await;
        assert_eq!((status, view["state"].as_str()), (200, Some("supplement")), "{view}");
        let (_, view) = call(&app, &people.citizen, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(view["allowed_actions"], json!(["supplement", "withdraw"]));
        assert!(view["timeliness"].is_null(), "the clock is paused");

        let (status, body) = act(&app, &people.citizen, &code, json!({"action": "supplement"})).await;
        assert_eq!(status, 422, "an empty answer: {body}");
        let answer = json!({"action": "supplement", "note": "Đã bổ sung", "documents": [
            {"slot": "document_2", "file_name": "giay-chung-sinh-ro.pdf", "content_base64": pdf("ro net")}
        ]});
        let (status, view) = act(&app, &people.citizen, &code, answer).await;
        assert_eq!((status, view["state"].as_str()), (200, Some("submitted")), "{view}");
        assert_eq!(view["documents"].as_array().map(Vec::len), Some(4));
        let (status, view) = act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        assert_eq!((status, view["state"].as_str()), (200, Some("received")));

        // Internal notes stay inside the agency; messages reach the applicant.
        let note = json!({"text": "Kiểm tra lại hộ khẩu", "internal": true});
        assert_eq!(call(&app, &people.specialist, "POST", &format!("/api/v1/dossiers/{code}/comments"), Some(note), None).await.0, 204);
        let message = json!({"text": "Xin hỏi khi nào có kết quả?", "internal": true});
        assert_eq!(call(&app, &people.citizen, "POST", &format!("/api/v1/dossiers/{code}/comments"), Some(message), None).await.0, 204);
        let (_, seen_by_citizen) = call(&app, &people.citizen, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        let kinds: Vec<&str> = seen_by_citizen["events"].as_array().expect("events").iter().map(|event| event["action"].as_str().expect("action")).collect();
        assert_eq!(kinds, ["submit", "request_supplement", "supplement", "accept", "message"]);
        let (_, seen_by_agency) = call(&app, &people.receiver, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(seen_by_agency["events"].as_array().map(Vec::len), Some(6));
    }
}

engine_test! {
    async fn a_transferred_dossier_is_processed_by_the_other_agency_and_handed_back(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "transfer-0001").await;
        act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        let (status, body) = act(&app, &people.specialist, &code, json!({"action": "transfer", "transfer_to": "000.00.99.H24"})).await;
        assert_eq!((status, body["problems"][0]["path"].as_str()), (422, Some("transfer_to")));
        let (status, view) = act(&app, &people.specialist, &code, json!({"action": "transfer", "transfer_to": OTHER_AGENCY, "note": "Xác minh nơi cư trú"})).await;
        assert_eq!((status, view["state"].as_str(), view["holder_agency"].as_str()), (200, Some("transferred"), Some(OTHER_AGENCY)));

        // The other agency now holds it: it sees it in its queue and acts.
        let (_, queue) = call(&app, &people.outsider, "GET", "/api/v1/dossiers?queue=processing", None, None).await;
        assert_eq!(queue[0]["code"], code.as_str());
        let (status, _) = act(&app, &people.specialist, &code, json!({"action": "return_transfer"})).await;
        assert_eq!(status, 403, "the sending agency waits while the other holds it");
        let (status, view) = act(&app, &people.outsider, &code, json!({"action": "return_transfer", "note": "Đã xác minh"})).await;
        assert_eq!((status, view["state"].as_str()), (200, Some("processing")), "{view}");
        let (status, view) = act(&app, &people.specialist, &code, json!({"action": "forward"})).await;
        assert_eq!((status, view["step"].as_str()), (200, Some("approve")));
        // Once handed back, the other agency no longer sees it.
        let (status, _) = call(&app, &people.outsider, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(status, 404);
    }
}

engine_test! {
    async fn anyone_with_the_code_and_personal_id_sees_progress_only(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "lookup-0001").await;
        act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        let (status, progress) = app.get_json(&format!("/api/v1/dossier-lookup?code={code}&personal_id={CITIZEN}")).await;
        assert_eq!(status, 200, "{progress}");
        assert_eq!(progress["state"], "received");
        assert!(progress.get("values").is_none() && progress.get("documents").is_none(), "progress only");
        let (status, _) = app.get_json(&format!("/api/v1/dossier-lookup?code={code}&personal_id={OTHER_CITIZEN}")).await;
        assert_eq!(status, 404);
        let (status, _) = app.get_json(&format!("/api/v1/dossier-lookup?code=../../x&personal_id={CITIZEN}")).await;
        assert_eq!(status, 404);

        // Guessing personal IDs stops: after 20 misses from one address,
        // every lookup from it waits, the right one too.
        for guess in 0..18 {
            let (status, _) = app.get_json(&format!("/api/v1/dossier-lookup?code={code}&personal_id=0010900{guess:05}")).await;
            assert_eq!(status, 404);
        }
        let (status, body) = app.get_json(&format!("/api/v1/dossier-lookup?code={code}&personal_id={CITIZEN}")).await;
        assert_eq!((status, body["code"].as_str()), (429, Some("too_many_attempts")));
    }
}

engine_test! {
    async fn the_desk_registers_a_paper_dossier_as_received(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let mut dossier = good_dossier();
        dossier["applicant_name"] = json!("Trần Thị Bé");
        dossier["applicant_personal_id"] = json!(OTHER_CITIZEN);
        let (status, body) = call(&app, &people.receiver, "POST", "/api/v1/counter-dossiers", Some(dossier.clone()), Some("counter-0001")).await;
        assert_eq!(status, 201, "{body}");
        let code = body["code"].as_str().expect("code");
        let (_, view) = call(&app, &people.receiver, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!((view["state"].as_str(), view["channel"].as_str(), view["step"].as_str()), (Some("received"), Some("counter"), Some("review")));
        let (status, _) = call(&app, &people.specialist, "POST", "/api/v1/counter-dossiers", Some(dossier), Some("counter-0002")).await;
        assert_eq!(status, 403, "only the desk registers");
    }
}

engine_test! {
    async fn statistics_count_each_outcome_and_stay_within_the_agency(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let done = submit(&app, &people.citizen, "stats-0001").await;
        for (who, body) in [
            (&people.receiver, json!({"action": "accept"})),
            (&people.specialist, json!({"action": "transfer", "transfer_to": OTHER_AGENCY})),
            (&people.outsider, json!({"action": "return_transfer"})),
            (&people.specialist, json!({"action": "forward"})),
            (&people.leader, json!({"action": "approve"})),
            (&people.leader, json!({"action": "sign"})),
            (&people.receiver, json!({"action": "return", "delivery": "counter"})),
        ] {
            let (status, view) = act(&app, who, &done, body.clone()).await;
            assert_eq!(status, 200, "{body}: {view}");
        }
        let refused = submit(&app, &people.citizen, "stats-0002").await;
        act(&app, &people.receiver, &refused, json!({"action": "request_supplement", "note": "Thiếu giấy tờ"})).await;
        act(&app, &people.citizen, &refused, json!({"action": "supplement", "note": "Đã bổ sung"})).await;
        act(&app, &people.receiver, &refused, json!({"action": "refuse", "note": "Không thuộc thẩm quyền"})).await;
        submit(&app, &people.citizen, "stats-0003").await;
        let mut counter = good_dossier();
        counter["applicant_name"] = json!("Trần Thị Bé");
        counter["applicant_personal_id"] = json!(OTHER_CITIZEN);
        assert_eq!(call(&app, &people.receiver, "POST", "/api/v1/counter-dossiers", Some(counter), Some("stats-0004")).await.0, 201);

        // The applicant rates the finished dossier, and only that one.
        let rating = |comment: &str| json!({"rating": 4, "comment": comment});
        assert_eq!(call(&app, &people.citizen, "POST", &format!("/api/v1/dossiers/{refused}/rating"), Some(rating("x")), None).await.0, 400);
        assert_eq!(call(&app, &people.citizen, "POST", &format!("/api/v1/dossiers/{done}/rating"), Some(rating("Nhanh gọn")), None).await.0, 204);
        assert_eq!(call(&app, &people.other_citizen, "POST", &format!("/api/v1/dossiers/{done}/rating"), Some(rating("x")), None).await.0, 404);

        let (status, report) = call(&app, &people.leader, "GET", "/api/v1/statistics", None, None).await;
        assert_eq!(status, 200, "{report}");
        let totals = &report["totals"];
        assert_eq!(report["agency_code"], AGENCY);
        assert_eq!(
            [&totals["received"], &totals["online"], &totals["done_on_time"], &totals["done_late"], &totals["pending"],
             &totals["supplemented"], &totals["refused"], &totals["transferred"], &totals["ratings"], &totals["rating_sum"]],
            [&json!(4), &json!(3), &json!(1), &json!(0), &json!(2), &json!(1), &json!(1), &json!(1), &json!(1), &json!(4)],
            "{report}"
        );
        assert_eq!(report["online_share"], 75.0);
        assert_eq!(report["average_rating"], 4.0);
        assert_eq!(report["rows"][0]["procedure_code"], PROCEDURE);

        let (status, _) = call(&app, &people.outsider, "GET", &format!("/api/v1/statistics?agency={AGENCY}"), None, None).await;
        assert_eq!(status, 403, "another agency's figures");
        let (_, theirs) = call(&app, &people.outsider, "GET", "/api/v1/statistics", None, None).await;
        assert_eq!(theirs["totals"]["received"], 0);
        let (status, _) = call(&app, &people.leader, "GET", "/api/v1/statistics?from=2026-13-01", None, None).await;
        assert_eq!(status, 400);
    }
}

engine_test! {
    async fn the_govstack_registration_api_runs_the_same_dossiers(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let base = "/api/govstack/registration";
        let (status, services) = call(&app, &people.citizen, "GET", &format!("{base}/services?name=khai%20sinh"), None, None).await;
        assert_eq!(status, 200);
        assert_eq!(services[0]["id"], PROCEDURE, "{services}");
        assert_eq!(services[0]["isExecutable"], true);
        let (_, eforms) = call(&app, &people.citizen, "GET", &format!("{base}/services/{PROCEDURE}/eForms"), None, None).await;
        let eform_id = eforms[0]["eFormId"].as_str().expect("id").to_owned();
        let (_, eform) = call(&app, &people.citizen, "GET", &format!("{base}/eForms/{eform_id}"), None, None).await;
        assert_eq!(eform["schema"]["documents"].as_array().map(Vec::len), Some(4), "{eform}");

        let mut urls = Vec::new();
        for name in ["to-khai", "giay-chung-sinh", "cccd"] {
            let form = reqwest::multipart::Form::new()
                .part("documents.file", reqwest::multipart::Part::bytes(format!("%PDF-1.7 {name}").into_bytes()).file_name(format!("{name}.pdf")));
            let uploaded: Value = app.server.client.post(app.server.url(&format!("{base}/documents"))).bearer_auth(&people.citizen)
                .multipart(form).send().await.expect("upload").json().await.expect("JSON");
            urls.push(uploaded["url"].as_str().expect("url").to_owned());
        }
        let (_, me) = call(&app, &people.citizen, "GET", "/oauth/userinfo", None, None).await;
        let mut values = good_dossier()["values"].clone();
        values["agency_code"] = json!(AGENCY);
        let application = json!({"applicantId": me["sub"], "formData": {"data": values, "eFormId": eform_id}, "documentUrls": urls});
        let (status, _) = call(&app, &people.citizen, "POST", &format!("{base}/services/{PROCEDURE}/applications"),
            Some(json!({"applicantId": "someone-else", "formData": {"data": {}}})), None).await;
        assert_eq!(status, 403, "one applies for oneself");
        let (status, file) = call(&app, &people.citizen, "POST", &format!("{base}/services/{PROCEDURE}/applications"), Some(application), None).await;
        assert_eq!(status, 200, "{file}");
        let code = file["fileId"].as_str().expect("file id").to_owned();
        assert_eq!(file["status"]["code"], "PENDING");
        let (_, files) = call(&app, &people.citizen, "GET", &format!("{base}/applications"), None, None).await;
        assert_eq!(files[0]["fileId"], code.as_str());

        // Each official completes the task at their step.
        for (who, step) in [
            (&people.receiver, "receive"),
            (&people.specialist, "review"),
            (&people.leader, "approve"),
            (&people.leader, "sign"),
            (&people.receiver, "return"),
        ] {
            let (_, tasks) = call(&app, who, "GET", &format!("{base}/tasks"), None, None).await;
            let task = format!("{code}/{step}");
            assert!(tasks.as_array().expect("tasks").iter().any(|t| t["taskId"] == task.as_str()), "{step}: {tasks}");
            let (status, done) = call(&app, who, "POST", &format!("{base}/tasks/{task}/complete"), Some(json!({"data": {"decision": "approve"}})), None).await;
            assert_eq!(status, 200, "{step}: {done}");
        }
        let (_, tasks) = call(&app, &people.specialist, "GET", &format!("{base}/tasks"), None, None).await;
        assert_eq!(tasks, json!([]), "nothing left for the specialist");
        let (_, file) = call(&app, &people.citizen, "GET", &format!("{base}/applications/{code}"), None, None).await;
        assert_eq!((file["status"]["code"].as_str(), file["ended"].as_bool()), (Some("APPROVED"), Some(true)), "{file}");
        let (status, statistics) = call(&app, &people.leader, "GET", &format!("{base}/data/statistics"), None, None).await;
        assert_eq!(status, 200);
        assert_eq!((statistics[0]["processed"].as_i64(), statistics[0]["approved"].as_i64()), (Some(1), Some(1)), "{statistics}");
        let (status, _) = call(&app, &people.outsider, "POST", &format!("{base}/tasks/{code}/return/complete"), Some(json!({"data": {}})), None).await;
        assert_eq!(status, 404, "another agency's task is out of reach");
    }
}

engine_test! {
    async fn officials_take_dossiers_and_only_a_leader_takes_one_from_a_colleague(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "assign-0001").await;
        act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        let assignment = |take: bool| json!({"take": take});
        let path = format!("/api/v1/dossiers/{code}/assignment");

        // The specialist, whose role acts at the review step, takes it.
        assert_eq!(call(&app, &people.specialist, "POST", &path, Some(assignment(true)), None).await.0, 204);
        let (_, view) = call(&app, &people.receiver, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(view["assignee_name"], "Lê Văn Cường", "{view}");
        let (_, mine) = call(&app, &people.specialist, "GET", "/api/v1/dossiers?mine=true", None, None).await;
        assert_eq!(mine[0]["code"], code.as_str());
        let (_, theirs) = call(&app, &people.receiver, "GET", "/api/v1/dossiers?mine=true", None, None).await;
        assert_eq!(theirs, json!([]));

        // The desk cannot take it from the specialist, nor give it back; the
        // leader can take it over; the outsider cannot touch it.
        let (status, body) = call(&app, &people.receiver, "POST", &path, Some(assignment(true)), None).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
        assert_eq!(call(&app, &people.receiver, "POST", &path, Some(assignment(false)), None).await.0, 403);
        assert_eq!(call(&app, &people.outsider, "POST", &path, Some(assignment(true)), None).await.0, 404);
        assert_eq!(call(&app, &people.leader, "POST", &path, Some(assignment(true)), None).await.0, 204);
        let (_, view) = call(&app, &people.citizen, "GET", &format!("/api/v1/dossiers/{code}"), None, None).await;
        assert_eq!(view["assignee_name"], "Phạm Thị Dung");
        let stale = json!({"take": false, "revision": 0});
        assert_eq!(call(&app, &people.leader, "POST", &path, Some(stale), None).await.0, 409, "a stale view");
        assert_eq!(call(&app, &people.leader, "POST", &path, Some(assignment(false)), None).await.0, 204);
        let kinds: Vec<String> = view["events"].as_array().expect("events").iter().map(|event| event["action"].as_str().expect("action").to_owned()).collect();
        assert_eq!(kinds, ["submit", "accept", "assign", "assign"]);
    }
}

/// The subject the sign-in service gives the one-stop shop for `token`.
async fn subject_of(app: &App, token: &str) -> String {
    let (status, claims) = call(app, token, "GET", "/oauth/userinfo", None, None).await;
    assert_eq!(status, 200, "{claims}");
    claims["sub"].as_str().expect("sub").to_owned()
}

async fn listed(app: &App, token: &str, code: &str) -> bool {
    let (status, list) = call(app, token, "GET", "/api/v1/dossiers?queue=all", None, None).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .expect("list")
        .iter()
        .any(|summary| summary["code"] == code)
}

engine_test! {
    async fn departments_split_the_agency_and_a_leader_gives_a_dossier_to_a_named_colleague(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "department-submission-0001").await;
        let path = format!("/api/v1/dossiers/{code}");

        // At the desk's step: the desk's queue has it, the specialist
        // division's does not, and a specialist cannot open it.
        assert!(listed(&app, &people.receiver, &code).await);
        assert!(!listed(&app, &people.specialist, &code).await);
        assert_eq!(call(&app, &people.specialist, "GET", &path, None, None).await.0, 404);
        let (status, body) = act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        assert_eq!(status, 200, "{body}");

        // At the review step it is the specialist division's. The desk that
        // received it still reads it (to print the receipt, to answer the
        // applicant) but no longer acts on it nor queues it.
        assert!(listed(&app, &people.specialist, &code).await);
        assert!(!listed(&app, &people.receiver, &code).await);
        let (status, view) = call(&app, &people.receiver, "GET", &path, None, None).await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["department"], "CHUYEN_MON");
        assert_eq!(view["allowed_actions"], json!([]));
        let (status, _) = act(&app, &people.receiver, &code, json!({"action": "forward"})).await;
        assert_eq!(status, 403, "the desk does not review");
        // The whole agency's leader filters by department.
        let (_, list) = call(&app, &people.leader, "GET", "/api/v1/dossiers?queue=all&department=MOT_CUA", None, None).await;
        assert!(!list.as_array().expect("list").iter().any(|summary| summary["code"] == code));
        let (_, list) = call(&app, &people.leader, "GET", "/api/v1/dossiers?queue=all&department=CHUYEN_MON", None, None).await;
        assert!(list.as_array().expect("list").iter().any(|summary| summary["code"] == code));

        // The leader gives it to a named specialist of that division.
        let (status, assignees) = call(&app, &people.leader, "GET", &format!("{path}/assignees"), None, None).await;
        assert_eq!(status, 200, "{assignees}");
        let names: Vec<&str> = assignees
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|assignee| assignee["name"].as_str())
            .collect();
        assert!(names.contains(&"Lê Văn Cường") && names.contains(&"Đỗ Văn Khoa"), "{names:?}");
        assert!(!names.contains(&"Trần Thị Bình"), "the desk does not review: {names:?}");
        let colleague = subject_of(&app, &people.colleague).await;
        let desk = subject_of(&app, &people.receiver).await;
        let assignment = format!("{path}/assignment");
        let (status, body) = call(&app, &people.leader, "POST", &assignment, Some(json!({"to": desk})), None).await;
        assert_eq!((status, body["problems"][0]["path"].as_str()), (422, Some("to")), "{body}");
        let (status, body) = call(&app, &people.leader, "POST", &assignment, Some(json!({"to": "nobody"})), None).await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = call(&app, &people.specialist, "POST", &assignment, Some(json!({"to": colleague})), None).await;
        assert_eq!(status, 403, "only a leader assigns to someone: {body}");
        let (status, body) = call(&app, &people.leader, "POST", &assignment, Some(json!({"to": colleague})), None).await;
        assert_eq!(status, 204, "{body}");
        let (_, view) = call(&app, &people.colleague, "GET", &path, None, None).await;
        assert_eq!(view["assignee_name"], "Đỗ Văn Khoa");
        let (_, mine) = call(&app, &people.colleague, "GET", "/api/v1/dossiers?queue=all&mine=true", None, None).await;
        assert!(mine.as_array().expect("list").iter().any(|summary| summary["code"] == code));
        // The other specialist cannot take it from them.
        let (status, _) = call(&app, &people.specialist, "POST", &assignment, Some(json!({"take": true})), None).await;
        assert_eq!(status, 403);
        let (status, body) = act(&app, &people.colleague, &code, json!({"action": "forward"})).await;
        assert_eq!(status, 200, "{body}");
        let (_, view) = call(&app, &people.leader, "GET", &path, None, None).await;
        assert_eq!(view["department"], Value::Null, "the leaders' step belongs to no department");
        let events: Vec<&str> = view["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|event| event["action"].as_str())
            .collect();
        assert!(events.contains(&"assign"), "the assignment is in the step log: {events:?}");
    }
}

engine_test! {
    async fn every_change_of_status_reaches_the_national_index_once_through_the_gateway(test_db: TestDb) {
        use egov::demo::{DEMO_NATIONAL_SERVICE, DEMO_ONESTOP_CLIENT};
        let national = egov::app::PopulationSetup {
            client: egov_gateway::id::ClientId::parse(DEMO_ONESTOP_CLIENT).expect("client"),
            service: egov_gateway::id::ServiceId::parse(DEMO_NATIONAL_SERVICE).expect("service"),
        };
        let config = egov::app::AppConfig { national: Some(national.clone()), ..egov::app::AppConfig::for_tests() };
        let app = spawn_with(test_db, config).await;
        egov::demo::load_gateway(&app.test_db.db).await.expect("demo gateway");
        egov::demo::load_national_portal(&app.test_db.db, DEMO_ONESTOP_CLIENT).await.expect("national portal");
        let people = people(&app).await;
        let code = submit(&app, &people.citizen, "national-1").await;
        app.run_jobs().await;
        let index = |code: String| {
            let gateway = egov::app::gateway(&app.test_db.db, &app.config);
            async move {
                let mut headers = axum::http::HeaderMap::new();
                headers.insert("x-road-client", DEMO_ONESTOP_CLIENT.parse().expect("header"));
                let response = gateway
                    .call(egov_gateway::Call {
                        method: axum::http::Method::GET,
                        target: format!("/r1/{DEMO_NATIONAL_SERVICE}/{code}"),
                        headers,
                        body: Vec::new(),
                        caller: egov_gateway::Caller::InProcess,
                    })
                    .await;
                let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
                serde_json::from_slice::<Value>(&body).expect("json")
            }
        };
        let reported = index(format!("dossiers/{code}")).await;
        assert_eq!(reported["state"], "submitted", "{reported}");
        assert_eq!(reported["agency"], AGENCY);
        assert_eq!(reported["channel"], "online");

        let (status, _) = act(&app, &people.receiver, &code, json!({"action": "accept"})).await;
        assert_eq!(status, 200);
        app.run_jobs().await;
        let reported = index(format!("dossiers/{code}")).await;
        assert_eq!(reported["state"], "received", "{reported}");
        assert_eq!(reported["revision"], 1);

        // A report delivered again, or late, changes nothing.
        let stale = json!({"code": code, "agency": AGENCY, "procedure": PROCEDURE, "channel": "online",
                           "state": "submitted", "revision": 0, "at": 0}).to_string();
        egov::app::report_status(&egov::app::gateway(&app.test_db.db, &app.config), &national, &stale)
            .await
            .expect("report");
        assert_eq!(index(format!("dossiers/{code}")).await["state"], "received");

        // The national statistics count the instance's dossiers by state.
        let statistics = index("statistics".to_owned()).await;
        let member = &statistics["members"][0];
        assert_eq!(member["member"], "VN/GOV/000.00.00.H24");
        assert_eq!((member["dossiers"].as_i64(), member["online"].as_i64()), (Some(1), Some(1)));
        assert_eq!(member["by_state"]["received"], 1);
    }
}
