//! Paying a dossier's fee: through the gateway simulator (signed redirect,
//! IPN and return; replays and forgeries refused), and by bank transfer with
//! the VietQR code, matched from the bank's signed notification or an
//! imported statement; paid fees of a refused dossier are due back, refunded
//! through the gateway's refund API (once, whatever is retried) or, for a
//! bank transfer, recorded by hand.

use std::sync::{Arc, Mutex};

use egov::app::{AppConfig, GatewaySetup, PaymentSetup};
use egov_payments::gateway::{
    GatewayConfig, HashSecret, MerchantApiClient, NewRefund, RefundKind, RefundOutcome, RefundRequest, RefundResponse,
    refund_code,
};
use egov_payments::simulator::MERCHANT_API_PATH;
use egov_testkit::{TestServer, engine_test};
use reqwest::multipart::{Form, Part};
use serde_json::json;

use super::dossier_pages::{action, hidden, page, portal_browser};
use super::id::{CITIZEN, OFFICIAL};
use super::support::{App, spawn_demo, spawn_with};

/// Chứng thực bản sao từ bản chính: 2,000 đồng, offered by the first commune.
const PROCEDURE: &str = "2.000815";
const SECRET: &[u8] = b"test-bank-notification-secret";

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().expect("ASCII").to_owned()
}

/// Submits a certification dossier through the portal's form; its code.
async fn submit(app: &App, browser: &reqwest::Client) -> String {
    let (_, html) = page(app, browser, &format!("/procedures/{PROCEDURE}/submit")).await;
    let form = Form::new()
        .text("idempotency_key", hidden(&html, "idempotency_key"))
        .text("intent", "submit")
        .text("agency_code", "000.00.01.H24")
        .text("applicant_name", "Nguyễn Văn An")
        .text("applicant_personal_id", CITIZEN)
        .text("residence.province", "24")
        .text("residence.commune", "Phường Kinh Bắc")
        .text("residence.street", "12 Nguyễn Trãi")
        .text("request", "Chứng thực 2 bản sao")
        .text("declaration", "on")
        .part(
            "documents.document_1",
            Part::bytes(b"%PDF-1.7 ban chinh".to_vec()).file_name("ban-chinh.pdf"),
        )
        .part(
            "documents.document_2",
            Part::bytes(b"%PDF-1.7 ban sao".to_vec()).file_name("ban-sao.pdf"),
        );
    let url = action(&html, &format!("/procedures/{PROCEDURE}/submit"));
    let response = browser
        .post(app.server.url(&url))
        .multipart(form)
        .send()
        .await
        .expect("submit");
    assert_eq!(response.status().as_u16(), 303);
    location(&response)
        .trim_start_matches("/portal/dossiers/")
        .trim_end_matches("?submitted=1")
        .to_owned()
}

async fn paid(app: &App, code: &str) -> i64 {
    egov_db::with_pool!(&app.test_db.db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT fee_paid_vnd FROM dossiers WHERE code = $1")
            .bind(code).fetch_one(pool).await.expect("dossier")
    })
}

async fn notify(app: &App, body: &serde_json::Value, secret: &[u8]) -> (u16, serde_json::Value) {
    let body = body.to_string();
    let response = app
        .server
        .client
        .post(app.server.url("/api/v1/payments/bank-notifications"))
        .header(
            egov_payments::bank::SIGNATURE_HEADER,
            egov_payments::bank::sign(secret, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("notification");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Pays the fee through the gateway simulator, as the citizen's browser
/// does; the return URL the gateway sent the browser back to.
async fn pay_through_gateway(app: &App, citizen: &reqwest::Client, code: &str) -> String {
    let (_, html) = page(app, citizen, &format!("/portal/dossiers/{code}")).await;
    let pay = citizen
        .post(app.server.url(&format!("/portal/dossiers/{code}/pay")))
        .form(&[("csrf_token", hidden(&html, "csrf_token"))])
        .send()
        .await
        .expect("pay");
    assert_eq!(pay.status().as_u16(), 303);
    let gateway = location(&pay);
    assert!(
        gateway.starts_with(&app.server.url("/vnpay/pay?")) && gateway.contains("vnp_SecureHash="),
        "{gateway}"
    );
    let payment_page = citizen
        .get(&gateway)
        .send()
        .await
        .expect("gateway page")
        .text()
        .await
        .expect("page");
    let mut form: Vec<(String, String)> = payment_page
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|field| {
            let (name, rest) = field.split_once("\" value=\"").expect("value");
            (
                name.to_owned(),
                rest.split('"').next().expect("end").replace("&amp;", "&"),
            )
        })
        .collect();
    form.push(("decision".to_owned(), "pay".to_owned()));
    let confirmed = citizen
        .post(app.server.url("/vnpay/pay/confirm"))
        .form(&form)
        .send()
        .await
        .expect("confirm");
    assert_eq!(confirmed.status().as_u16(), 303);
    assert_eq!(
        confirmed.headers()["x-simulator-ipn-reply"],
        "00",
        "the IPN was confirmed"
    );
    let back = location(&confirmed);
    let returned = citizen.get(&back).send().await.expect("return");
    assert_eq!(location(&returned), format!("/portal/dossiers/{code}?paid=1"));
    assert_eq!(paid(app, code).await, 2_000);
    back
}

/// The desk refuses the dossier: a paid fee becomes due back.
async fn refuse(app: &App, desk: &reqwest::Client, code: &str) {
    let path = format!("/back-office/dossiers/{code}");
    let (_, html) = page(app, desk, &path).await;
    let form = Form::new()
        .text("action", "refuse")
        .text("note", "Bản chính không hợp lệ")
        .text("revision", hidden(&html, "revision"));
    let refused = desk
        .post(app.server.url(&action(&html, &path)))
        .multipart(form)
        .send()
        .await
        .expect("refuse");
    assert_eq!(refused.status().as_u16(), 303);
    assert_eq!(payment(app, code).await.status, "refund_due");
}

/// The desk presses the refund button of the dossier page: the status and
/// the page (or redirect) that comes back.
async fn record_refund(app: &App, desk: &reqwest::Client, code: &str) -> (u16, String) {
    record_refund_in(app, desk, code, "vi").await
}

async fn record_refund_in(app: &App, desk: &reqwest::Client, code: &str, lang: &str) -> (u16, String) {
    let path = format!("/back-office/dossiers/{code}");
    // Any form of the page carries the token, whether a refund is still due or not.
    let (_, html) = page(app, desk, &path).await;
    let token = hidden(&html, "csrf_token");
    let form = Form::new().text("action", "refund");
    let response = desk
        .post(app.server.url(&path))
        .query(&[("csrf_token", token.as_str()), ("lang", lang)])
        .multipart(form)
        .send()
        .await
        .expect("refund");
    (response.status().as_u16(), response.text().await.expect("body"))
}

/// The dossier's (only) payment as stored.
#[derive(Debug, sqlx::FromRow)]
struct StoredPayment {
    id: uuid::Uuid,
    reference: String,
    status: String,
    gateway_transaction: Option<String>,
    created_at: i64,
}

async fn payment(app: &App, code: &str) -> StoredPayment {
    egov_db::with_pool!(&app.test_db.db, pool => {
        sqlx::query_as::<_, StoredPayment>(
            "SELECT p.id, p.reference, p.status, p.gateway_transaction, p.created_at \
             FROM dossier_payments p JOIN dossiers d ON d.id = p.dossier_id WHERE d.code = $1",
        )
        .bind(code).fetch_one(pool).await.expect("payment")
    })
}

/// The refund requests made for the dossier's payment: request id, status,
/// response code and the gateway's refund number, oldest first.
async fn refund_requests(app: &App, code: &str) -> Vec<(String, String, Option<String>, Option<String>)> {
    egov_db::with_pool!(&app.test_db.db, pool => {
        sqlx::query_as(
            "SELECT r.request_id, r.status, r.response_code, r.gateway_transaction FROM dossier_payment_refunds r \
             JOIN dossier_payments p ON p.id = r.payment_id JOIN dossiers d ON d.id = p.dossier_id \
             WHERE d.code = $1 ORDER BY r.created_at, r.id",
        )
        .bind(code).fetch_all(pool).await.expect("refund requests")
    })
}

/// The audit records of `action` about the dossier, their details.
async fn audited(app: &App, action: &str, code: &str) -> Vec<serde_json::Value> {
    let details: Vec<String> = egov_db::with_pool!(&app.test_db.db, pool => {
        sqlx::query_scalar(
            "SELECT CAST(detail AS TEXT) FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY at",
        )
        .bind(action).bind(format!("dossier:{code}")).fetch_all(pool).await.expect("audit")
    });
    details
        .iter()
        .map(|detail| serde_json::from_str(detail).expect("JSON detail"))
        .collect()
}

/// The simulator as the merchant knows it, to ask it for refunds directly.
fn simulator_config(app: &App) -> GatewayConfig {
    GatewayConfig {
        terminal_code: "EGOVDEMO".to_owned(),
        hash_secret: HashSecret::new(egov_portal::derived_secret_for(
            &app.config.secret_key,
            b"egov payment simulator",
        )),
        payment_endpoint: app.server.url("/vnpay/pay"),
        return_url: app.server.url("/portal/payments/return"),
        api_endpoint: app.server.url(MERCHANT_API_PATH),
    }
}

/// A full refund of the dossier's payment under `request_id`, asked of the
/// simulator directly.
async fn ask_simulator(app: &App, code: &str, request_id: &str) -> RefundOutcome {
    let stored = payment(app, code).await;
    let request = RefundRequest::try_from(NewRefund {
        request_id: request_id.to_owned(),
        kind: RefundKind::Full,
        payment_reference: stored.reference,
        amount_vnd: 2_000,
        order_info: format!("Hoan phi ho so {code}"),
        gateway_transaction_no: stored.gateway_transaction,
        payment_created_at: chrono::DateTime::from_timestamp_millis(stored.created_at).expect("a time"),
        created_by: "Kiem thu".to_owned(),
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        created_at: chrono::Utc::now(),
    })
    .expect("a valid refund");
    MerchantApiClient::new()
        .expect("a client")
        .refund(&simulator_config(app), &request)
        .await
        .expect("a signed answer")
}

engine_test! {
    async fn a_fee_is_paid_once_through_the_gateway_and_forged_callbacks_are_refused(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let code = submit(&app, &citizen).await;
        let (_, html) = page(&app, &citizen, &format!("/portal/dossiers/{code}")).await;
        assert!(html.contains("2.000") && html.contains("role=\"img\""), "the fee and the VietQR code: {html}");

        // Off to the gateway, which asks the payer, tells us (IPN), and
        // sends the browser back.
        let back = pay_through_gateway(&app, &citizen, &code).await;
        assert_eq!(paid(&app, &code).await, 2_000);

        // The same notification again changes nothing; forged ones are refused and audited.
        let query = back.split_once('?').expect("query").1;
        let replay = app.get_json(&format!("/api/v1/payments/vnpay/ipn?{query}")).await;
        assert_eq!(replay.1["RspCode"], "02");
        let forged = query.replace("vnp_Amount=200000", "vnp_Amount=100");
        assert_ne!(forged, query);
        assert_eq!(app.get_json(&format!("/api/v1/payments/vnpay/ipn?{forged}")).await.1["RspCode"], "97");
        assert_eq!(app.get_json("/api/v1/payments/vnpay/ipn?vnp_TxnRef=x").await.1["RspCode"], "97");
        assert_eq!(citizen.get(app.server.url(&format!("/portal/payments/return?{forged}"))).send().await.expect("return").status().as_u16(), 400);
        assert_eq!(paid(&app, &code).await, 2_000, "paid once");
        let rejected = egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log WHERE action = 'onestop.payment_callback_rejected'")
                .fetch_one(pool).await.expect("count")
        });
        assert_eq!(rejected, 3);
        let (_, html) = page(&app, &citizen, &format!("/portal/dossiers/{code}")).await;
        assert!(!html.contains("payment-title"), "nothing is due any more");
    }
}

engine_test! {
    async fn bank_transfers_pay_the_dossier_their_note_names(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let first = submit(&app, &citizen).await;
        let second = submit(&app, &citizen).await;
        let third = submit(&app, &citizen).await;

        let transfer = json!({"bank_reference": "FT26331000001", "value_date": "2026-11-27", "amount_vnd": 2000, "note": format!("{first} NGUYEN VAN AN")});
        assert_eq!(notify(&app, &transfer, SECRET).await, (200, json!({"result": "paid", "dossier": first})));
        assert_eq!(notify(&app, &transfer, SECRET).await.1["result"], "duplicate");
        assert_eq!(notify(&app, &transfer, b"not the secret").await.0, 401);
        let short = json!({"bank_reference": "FT26331000002", "value_date": "2026-11-27", "amount_vnd": 1000, "note": second});
        assert_eq!(notify(&app, &short, SECRET).await.1["result"], "unmatched", "not the amount due");
        assert_eq!((paid(&app, &first).await, paid(&app, &second).await), (2_000, 0));

        // The desk imports the statement: the new line pays the third
        // dossier, the known ones are not counted twice.
        let desk = portal_browser(&app, OFFICIAL).await;
        let (_, html) = page(&app, &desk, "/back-office/payments/import").await;
        let statement = format!(
            "value_date,amount_vnd,note,bank_reference\n2026-11-27,2000,{first},FT26331000001\n2026-11-27,2.000,\"Nop phi, {third}\",FT26331000003\n"
        );
        let form = Form::new().part("documents.statement", Part::bytes(statement.into_bytes()).file_name("saoke.csv"));
        let imported = desk.post(app.server.url(&action(&html, "/back-office/payments/import"))).multipart(form).send().await.expect("import");
        assert_eq!(imported.status().as_u16(), 200);
        let result = imported.text().await.expect("page");
        assert!(result.contains("Đã nhập trước đó") && result.contains("Đã khớp"), "{result}");
        assert_eq!(paid(&app, &third).await, 2_000);
        let (status, _) = page(&app, &citizen, "/back-office/payments/import").await;
        assert_eq!(status, 403, "a citizen imports nothing");

        // The desk refuses the first dossier: its fee is due back, and a
        // bank transfer is not refunded through the gateway.
        refuse(&app, &desk, &first).await;

        // The desk transfers it back and records the refund; the fee no
        // longer counts as paid.
        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{first}")).await;
        assert!(html.contains("phí đã nộp phải hoàn trả") && html.contains("không hoàn được qua cổng thanh toán"), "{html}");
        assert!(html.contains(">Ghi nhận đã hoàn trả phí</button>"), "{html}");
        let (status, _) = record_refund(&app, &desk, &first).await;
        assert_eq!(status, 303, "back to the dossier page");
        assert_eq!(paid(&app, &first).await, 0);
        assert_eq!(payment(&app, &first).await.status, "refunded");
        assert!(refund_requests(&app, &first).await.is_empty(), "nothing was asked of the gateway");
        assert_eq!(audited(&app, "onestop.fee_refunded", &first).await, [json!({"amount_vnd": 2000, "method": "by_hand"})]);
        assert_eq!(record_refund(&app, &desk, &first).await.0, 400, "nothing more is due back");
    }
}

engine_test! {
    async fn a_fee_paid_through_the_gateway_is_refunded_through_it_once(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let desk = portal_browser(&app, OFFICIAL).await;
        let code = submit(&app, &citizen).await;
        pay_through_gateway(&app, &citizen, &code).await;
        refuse(&app, &desk, &code).await;

        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{code}")).await;
        assert!(html.contains("được hoàn qua cổng") && html.contains(">Hoàn phí qua cổng thanh toán</button>"), "{html}");
        assert!(!html.contains("không hoàn được qua cổng"), "no bank transfer to refund by hand: {html}");

        let (status, _) = record_refund(&app, &desk, &code).await;
        assert_eq!(status, 303, "back to the dossier page");
        assert_eq!(payment(&app, &code).await.status, "refunded");
        assert_eq!(paid(&app, &code).await, 0);
        let requests = refund_requests(&app, &code).await;
        assert_eq!(requests.len(), 1, "{requests:?}");
        let (request_id, status, response_code, refund_number) = &requests[0];
        assert_eq!((status.as_str(), response_code.as_deref()), ("refunded", Some("00")));
        let refund_number = refund_number.clone().expect("the gateway's refund number");
        let audit = audited(&app, "onestop.fee_refunded", &code).await;
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (&audit[0]["method"], &audit[0]["gateway_transaction"], &audit[0]["request_id"], &audit[0]["amount_vnd"]),
            (&json!("gateway"), &json!(refund_number), &json!(request_id), &json!(2000))
        );
        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{code}")).await;
        assert!(html.contains(&format!("mã giao dịch hoàn tiền {refund_number}")), "the step log keeps it: {html}");
        assert!(!html.contains("value=\"refund\""), "nothing is due back any more");

        // Pressing again refunds nothing; the gateway answers the same
        // request with its first answer, and refuses a second refund.
        let (status, _) = record_refund(&app, &desk, &code).await;
        assert_eq!(status, 400, "nothing more is due back");
        assert_eq!(
            ask_simulator(&app, &code, request_id).await,
            RefundOutcome::Refunded { transaction_no: refund_number }
        );
        assert!(matches!(
            ask_simulator(&app, &code, "another1").await,
            RefundOutcome::Refused { response_code, .. } if response_code == refund_code::AMOUNT_INVALID
        ));
        assert_eq!(paid(&app, &code).await, 0);
        assert_eq!(refund_requests(&app, &code).await.len(), 1);
    }
}

engine_test! {
    async fn a_refund_whose_answer_was_lost_is_asked_again_and_not_made_twice(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let desk = portal_browser(&app, OFFICIAL).await;
        let code = submit(&app, &citizen).await;
        pay_through_gateway(&app, &citizen, &code).await;
        refuse(&app, &desk, &code).await;

        // An earlier attempt was stored and reached the gateway, which
        // refunded; its answer never came back.
        let stored = payment(&app, &code).await;
        egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query(
                "INSERT INTO dossier_payment_refunds (id, payment_id, request_id, amount_vnd, status, requested_by, created_at) \
                 VALUES ($1, $2, 'lostanswer01', 2000, 'sent', 'official', 0)",
            )
            .bind(egov_core::id::new_id()).bind(stored.id).execute(pool).await.expect("an attempt in flight").rows_affected()
        });
        let RefundOutcome::Refunded { transaction_no } = ask_simulator(&app, &code, "lostanswer01").await else {
            panic!("the gateway refunds the first time");
        };
        assert_eq!(payment(&app, &code).await.status, "refund_due", "we never heard");

        // The official tries again: the same request goes out, the gateway
        // gives its first answer, and the fee is refunded once.
        let (status, _) = record_refund(&app, &desk, &code).await;
        assert_eq!(status, 303);
        assert_eq!(payment(&app, &code).await.status, "refunded");
        assert_eq!(paid(&app, &code).await, 0);
        assert_eq!(
            refund_requests(&app, &code).await,
            [("lostanswer01".to_owned(), "refunded".to_owned(), Some("00".to_owned()), Some(transaction_no))]
        );
        assert!(matches!(
            ask_simulator(&app, &code, "another1").await,
            RefundOutcome::Refused { response_code, .. } if response_code == refund_code::AMOUNT_INVALID
        ), "the money moved once");
    }
}

engine_test! {
    async fn a_refund_the_gateway_refuses_leaves_the_fee_due_and_can_be_tried_again(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let desk = portal_browser(&app, OFFICIAL).await;
        let code = submit(&app, &citizen).await;
        pay_through_gateway(&app, &citizen, &code).await;
        refuse(&app, &desk, &code).await;

        // The gateway finds no such transaction (a wrong number on our side).
        let genuine = payment(&app, &code).await.gateway_transaction;
        let set_number = |number: Option<String>| {
            let db = app.test_db.db.clone();
            let code = code.clone();
            async move {
                egov_db::with_pool!(&db, pool => {
                    sqlx::query("UPDATE dossier_payments SET gateway_transaction = $1 WHERE dossier_id = (SELECT id FROM dossiers WHERE code = $2)")
                        .bind(number).bind(code).execute(pool).await.expect("update").rows_affected()
                });
            }
        };
        set_number(Some("99999999".to_owned())).await;
        let (status, html) = record_refund(&app, &desk, &code).await;
        assert_eq!(status, 409);
        assert!(html.contains("role=\"alert\"") && html.contains("Cổng thanh toán từ chối hoàn phí") && html.contains("mã 91"), "{html}");
        assert!(html.contains(">Hoàn phí qua cổng thanh toán</button>"), "still due back: {html}");
        assert_eq!(payment(&app, &code).await.status, "refund_due");
        assert_eq!(paid(&app, &code).await, 2_000);
        let failed = audited(&app, "onestop.fee_refund_failed", &code).await;
        assert_eq!(failed.len(), 1);
        assert_eq!((&failed[0]["reason"], &failed[0]["response_code"]), (&json!("refused"), &json!("91")));
        assert!(audited(&app, "onestop.fee_refunded", &code).await.is_empty());

        // In English too.
        let (status, html) = record_refund_in(&app, &desk, &code, "en").await;
        assert_eq!(status, 409);
        assert!(html.contains("The payment gateway refused the refund") && html.contains("code 91"), "{html}");

        // A signed refusal closed each request: once the number is right, a
        // new request refunds the fee.
        set_number(genuine).await;
        let (status, _) = record_refund(&app, &desk, &code).await;
        assert_eq!(status, 303);
        assert_eq!(payment(&app, &code).await.status, "refunded");
        assert_eq!(paid(&app, &code).await, 0);
        let requests = refund_requests(&app, &code).await;
        let states: Vec<(&str, Option<&str>)> = requests.iter().map(|request| (request.1.as_str(), request.2.as_deref())).collect();
        assert_eq!(states, [("failed", Some("91")), ("failed", Some("91")), ("refunded", Some("00"))]);
        assert_ne!(requests[0].0, requests[2].0, "a new request after a refusal");
    }
}

engine_test! {
    async fn a_forged_answer_from_the_gateway_refunds_nothing_and_the_retry_sends_the_same_request(test_db: TestDb) {
        // A gateway that answers every refund with a success it did not
        // sign with the merchant's secret.
        let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let log = Arc::clone(&received);
        let forger = axum::Router::new().route(
            "/merchant_webapi/api/transaction",
            axum::routing::post(move |body: String| {
                let log = Arc::clone(&log);
                async move {
                    let request: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                    log.lock().expect("not poisoned").push(request.clone());
                    let field = |name: &str| request[name].as_str().unwrap_or_default().to_owned();
                    RefundResponse {
                        response_id: "FORGED".to_owned(),
                        command: field("vnp_Command"),
                        response_code: "00".to_owned(),
                        message: "Refund success".to_owned(),
                        terminal_code: field("vnp_TmnCode"),
                        payment_reference: field("vnp_TxnRef"),
                        amount: field("vnp_Amount"),
                        transaction_no: "66666666".to_owned(),
                        transaction_type: field("vnp_TransactionType"),
                        order_info: field("vnp_OrderInfo"),
                        ..RefundResponse::default()
                    }
                    .to_json(&HashSecret::new("not the merchant's secret"))
                }
            }),
        );
        let gateway = TestServer::serve(forger).await;
        let config = AppConfig {
            payments: PaymentSetup {
                simulator: false,
                gateway: Some(GatewaySetup {
                    terminal_code: "EGOVTEST".to_owned(),
                    hash_secret: HashSecret::new("the merchant's secret"),
                    payment_endpoint: gateway.url("/paymentv2/vpcpay.html"),
                    api_endpoint: gateway.url("/merchant_webapi/api/transaction"),
                }),
                ..AppConfig::for_tests().payments
            },
            ..AppConfig::for_tests()
        };
        let app = spawn_with(test_db, config).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let desk = portal_browser(&app, OFFICIAL).await;
        let code = submit(&app, &citizen).await;
        // The fee was paid through that gateway (its IPN is not what this
        // test is about).
        egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query(
                "INSERT INTO dossier_payments (id, dossier_id, reference, method, amount_vnd, status, gateway_transaction, created_at, settled_at) \
                 SELECT $1, id, $2, 'gateway', 2000, 'paid', '14271027', $3, $3 FROM dossiers WHERE code = $4",
            )
            .bind(egov_core::id::new_id()).bind(format!("{code}-1")).bind(chrono::Utc::now().timestamp_millis()).bind(&code)
            .execute(pool).await.expect("a paid payment");
            sqlx::query("UPDATE dossiers SET fee_paid_vnd = 2000 WHERE code = $1").bind(&code).execute(pool).await.expect("paid").rows_affected()
        });
        refuse(&app, &desk, &code).await;

        for attempt in 1..=2 {
            let (status, html) = record_refund(&app, &desk, &code).await;
            assert_eq!(status, 409, "attempt {attempt}");
            assert!(html.contains("Không nhận được trả lời hợp lệ từ cổng thanh toán"), "{html}");
            assert_eq!(payment(&app, &code).await.status, "refund_due");
            assert_eq!(paid(&app, &code).await, 2_000);
        }
        let requests = refund_requests(&app, &code).await;
        assert_eq!(requests.len(), 1, "one request, still in flight: {requests:?}");
        assert_eq!((requests[0].1.as_str(), requests[0].3.as_deref()), ("sent", None));
        let sent: Vec<String> = received
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|request| request["vnp_RequestId"].as_str().expect("a request id").to_owned())
            .collect();
        assert_eq!(sent, [requests[0].0.clone(), requests[0].0.clone()], "the retry is the same request");
        let failed = audited(&app, "onestop.fee_refund_failed", &code).await;
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0]["reason"], "no_trusted_answer");
        assert!(audited(&app, "onestop.fee_refunded", &code).await.is_empty());
    }
}
