//! `kill -9` during submissions: the real binary serves, citizens submit
//! dossiers with documents, the process is killed mid-burst and started
//! again, and the clients retry what was not acknowledged with the same
//! idempotency keys. Every acknowledged dossier is there exactly once, every
//! dossier has all its documents and its first step-log line, and nothing
//! is half-written.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use egov_testkit::engine_test;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::id::{CITIZEN, PASSWORD, browser, hidden_fields, query_of};

const CLIENT: &str = "crash-test";
const REDIRECT: &str = "https://app.example.gov.vn/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SUBMISSIONS: usize = 120;

fn start(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_egov"))
        .args([
            "--config",
            config.to_str().expect("UTF-8 path"),
            "serve",
            "--with-demo-data",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start egov")
}

async fn ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_mins(1) {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("egov did not become ready at {base}");
}

/// The citizen's access token, through the authorization code flow.
async fn token(base: &str, secret: &str) -> String {
    let mut url = url::Url::parse(&format!("{base}/oauth/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile personal_id")
        .append_pair("state", "s")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let browser = browser();
    let page = browser
        .get(url.as_str())
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("page");
    let mut form = hidden_fields(&page);
    form.insert("login".into(), CITIZEN.into());
    form.insert("password".into(), PASSWORD.into());
    let signed_in = browser
        .post(format!("{base}/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("sign in");
    let location = signed_in.headers()["location"].to_str().expect("ASCII").to_owned();
    let code = query_of(&location)["code"].clone();
    let tokens: Value = browser
        .post(format!("{base}/oauth/token"))
        .basic_auth(CLIENT, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    tokens["access_token"].as_str().expect("access token").to_owned()
}

fn dossier(n: usize) -> Value {
    let pdf = |name: &str| STANDARD.encode(format!("%PDF-1.7 {name} {n}"));
    json!({
        "procedure_code": "1.001193",
        "agency_code": "000.00.01.H24",
        "values": {
            "applicant_name": "Nguyễn Văn An", "applicant_personal_id": CITIZEN,
            "residence": {"province": "24", "commune": "Phường Kinh Bắc", "street": "12 Nguyễn Trãi"},
            "request": format!("Đăng ký khai sinh {n}"), "declaration": true
        },
        "documents": [
            {"slot": "document_1", "file_name": "to-khai.pdf", "content_base64": pdf("to-khai")},
            {"slot": "document_2", "file_name": "giay-chung-sinh.pdf", "content_base64": pdf("giay-chung-sinh")},
            {"slot": "document_3", "file_name": "cccd.pdf", "content_base64": pdf("cccd")}
        ]
    })
}

/// Submits dossier `n`; its code if the server acknowledged it.
async fn submit(client: &reqwest::Client, base: &str, token: &str, n: usize) -> Option<String> {
    let response = client
        .post(format!("{base}/api/v1/dossiers"))
        .bearer_auth(token)
        .header("idempotency-key", format!("crash-test-{n:04}"))
        .json(&dossier(n))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["code"].as_str().map(str::to_owned)
}

async fn scalar(db: &egov_db::Db, sql: &str) -> i64 {
    egov_db::with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(pool).await.expect("count")
    })
}

engine_test! {
    async fn a_killed_server_loses_no_acknowledged_dossier_and_keeps_none_half_written(test_db: TestDb) {
        let mut client = egov_id::admin::NewClient::web(CLIENT, "Crash test", REDIRECT);
        client.first_party = true;
        client.scopes.push("personal_id".to_owned());
        let secret = egov_id::admin::add_client(&test_db.db, &client, "test", chrono::Utc::now())
            .await
            .expect("client")
            .expect("secret");
        let dir = tempfile::tempdir().expect("folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("address").port();
        let base = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("egov.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n[database]\nurl = \"{}\"\n\
                 [security]\nsecret_key = \"crash-test-secret-key-0123456789abcdef\"\n[log]\nlevel = \"error\"\n",
                test_db.url
            ),
        )
        .expect("config");
        let http = reqwest::Client::new();
        let mut server = start(&config);
        ready(&http, &base).await;
        let token = token(&base, &secret).await;

        // A burst of submissions, eight at a time; the server is killed once
        // a third are acknowledged.
        let acknowledged = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut senders = Vec::new();
        for _ in 0..8 {
            let (http, base, token, acknowledged, next) = (http.clone(), base.clone(), token.clone(), Arc::clone(&acknowledged), Arc::clone(&next));
            senders.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= SUBMISSIONS {
                        break;
                    }
                    if let Some(code) = submit(&http, &base, &token, n).await {
                        acknowledged.lock().await.push((n, code));
                    }
                }
            }));
        }
        let started = Instant::now();
        while acknowledged.lock().await.len() < SUBMISSIONS / 3 && started.elapsed() < Duration::from_mins(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill().expect("kill -9");
        server.wait().expect("killed");
        for sender in senders {
            sender.await.expect("sender");
        }
        let before_restart = acknowledged.lock().await.clone();
        assert!(before_restart.len() >= SUBMISSIONS / 3, "acknowledged before the kill: {}", before_restart.len());
        assert!(before_restart.len() < SUBMISSIONS, "the kill interrupted the burst");

        // Started again, the clients retry everything with the same keys.
        let mut server = start(&config);
        ready(&http, &base).await;
        let mut codes = std::collections::BTreeMap::new();
        for n in 0..SUBMISSIONS {
            let code = submit(&http, &base, &token, n).await.expect("the retry is acknowledged");
            codes.insert(n, code);
        }
        server.kill().expect("stop");
        server.wait().expect("stopped");

        for (n, code) in &before_restart {
            assert_eq!(&codes[n], code, "dossier {n} kept its first code");
        }
        let db = &test_db.db;
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM dossiers").await, i64::try_from(SUBMISSIONS).expect("small"));
        assert_eq!(scalar(db, "SELECT COUNT(DISTINCT code) FROM dossiers").await, i64::try_from(SUBMISSIONS).expect("small"));
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM dossiers d WHERE (SELECT COUNT(*) FROM dossier_documents x WHERE x.dossier_id = d.id) <> 3").await,
            0,
            "every dossier has its three documents"
        );
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM dossiers d WHERE NOT EXISTS (SELECT 1 FROM dossier_events e WHERE e.dossier_id = d.id AND e.action = 'submit')").await,
            0,
            "every dossier has its first step-log line"
        );
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM dossier_documents x WHERE NOT EXISTS (SELECT 1 FROM stored_files f WHERE f.sha256 = x.sha256)").await,
            0,
            "every document's content is stored"
        );
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'onestop.dossier_submitted'").await, i64::try_from(SUBMISSIONS).expect("small"));
    }
}
