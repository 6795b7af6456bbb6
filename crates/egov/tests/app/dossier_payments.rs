//! Paying a dossier's fee: through the gateway simulator (signed redirect,
//! IPN and return; replays and forgeries refused), and by bank transfer with
//! the VietQR code, matched from the bank's signed notification or an
//! imported statement; paid fees of a refused dossier are due back.

use egov_testkit::engine_test;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use super::dossier_pages::{action, hidden, page, portal_browser};
use super::id::{CITIZEN, OFFICIAL};
use super::support::{App, spawn_demo};

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

engine_test! {
    async fn a_fee_is_paid_once_through_the_gateway_and_forged_callbacks_are_refused(test_db: TestDb) {
        let app = spawn_demo(test_db).await;
        let citizen = portal_browser(&app, CITIZEN).await;
        let code = submit(&app, &citizen).await;
        let (_, html) = page(&app, &citizen, &format!("/portal/dossiers/{code}")).await;
        assert!(html.contains("2.000") && html.contains("role=\"img\""), "the fee and the VietQR code: {html}");

        // Off to the gateway, which asks the payer, tells us (IPN), and
        // sends the browser back.
        let pay = citizen
            .post(app.server.url(&format!("/portal/dossiers/{code}/pay")))
            .form(&[("csrf_token", hidden(&html, "csrf_token"))])
            .send().await.expect("pay");
        assert_eq!(pay.status().as_u16(), 303);
        let gateway = location(&pay);
        assert!(gateway.starts_with(&app.server.url("/vnpay/pay?")) && gateway.contains("vnp_SecureHash="), "{gateway}");
        let payment_page = citizen.get(&gateway).send().await.expect("gateway page").text().await.expect("page");
        let mut form: Vec<(String, String)> = payment_page
            .split("<input type=\"hidden\" name=\"").skip(1)
            .map(|field| {
                let (name, rest) = field.split_once("\" value=\"").expect("value");
                (name.to_owned(), rest.split('"').next().expect("end").replace("&amp;", "&"))
            })
            .collect();
        form.push(("decision".to_owned(), "pay".to_owned()));
        let confirmed = citizen.post(app.server.url("/vnpay/pay/confirm")).form(&form).send().await.expect("confirm");
        assert_eq!(confirmed.status().as_u16(), 303);
        assert_eq!(confirmed.headers()["x-simulator-ipn-reply"], "00", "the IPN was confirmed");
        let back = location(&confirmed);
        let returned = citizen.get(&back).send().await.expect("return");
        assert_eq!(location(&returned), format!("/portal/dossiers/{code}?paid=1"));
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

        // The desk refuses the first dossier: its fee is due back.
        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{first}")).await;
        let form = Form::new().text("action", "refuse").text("note", "Bản chính không hợp lệ").text("revision", hidden(&html, "revision"));
        let refused = desk.post(app.server.url(&action(&html, &format!("/back-office/dossiers/{first}")))).multipart(form).send().await.expect("refuse");
        assert_eq!(refused.status().as_u16(), 303);
        let status = egov_db::with_pool!(&app.test_db.db, pool => {
            sqlx::query_scalar::<_, String>("SELECT p.status FROM dossier_payments p JOIN dossiers d ON d.id = p.dossier_id WHERE d.code = $1")
                .bind(&first).fetch_one(pool).await.expect("payment")
        });
        assert_eq!(status, "refund_due");

        // The desk records the refund; the fee no longer counts as paid.
        let (_, html) = page(&app, &desk, &format!("/back-office/dossiers/{first}")).await;
        assert!(html.contains("phí đã nộp phải hoàn trả"), "{html}");
        let form = Form::new().text("action", "refund");
        let refunded = desk.post(app.server.url(&action(&html, &format!("/back-office/dossiers/{first}")))).multipart(form).send().await.expect("refund");
        assert_eq!(refunded.status().as_u16(), 303);
        assert_eq!(paid(&app, &first).await, 0);
        let form = Form::new().text("action", "refund");
        let again = desk.post(app.server.url(&action(&html, &format!("/back-office/dossiers/{first}")))).multipart(form).send().await.expect("refund");
        assert_eq!(again.status().as_u16(), 400, "nothing more is due back");
    }
}
