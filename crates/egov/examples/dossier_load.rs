//! Load generator for complete dossiers through the JSON API against a
//! running node (`egov serve --with-demo-data`): a citizen submits with one
//! 100 KB attachment, the desk accepts, a specialist forwards, the leader
//! approves and signs, the desk returns the result. Six requests per
//! dossier, each a real state change with its audit record and notice.
//! Actions ask for a minimal answer (`Prefer: return=minimal`).
//!
//! Usage: `dossier_load BASE_URL SECONDS CONCURRENCY`. It signs the demo
//! people in once (authorization code with PKCE through `demo-rp`,
//! enrolling an authenticator app for officials), has the agency admin
//! publish a version of 1.000656 with one document slot, then runs.
//! Prints `dossiers_per_s=… p50_ms=… p99_ms=… errors=…`.

// Rates and percentiles are printed as floating point from counts far below 2^52.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

const CALLBACK: &str = "http://127.0.0.1:8400/callback";
const PASSWORD: &str = "Hoa-sen-no-2026";
const PROCEDURE: &str = "1.000656";
const AGENCY: &str = "000.00.01.H24";

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for input in html.split("<input").skip(1) {
        let input = input.split('>').next().unwrap_or_default();
        if !input.contains("type=\"hidden\"") {
            continue;
        }
        let attribute = |name: &str| {
            let marker = format!("{name}=\"");
            input.find(&marker).map(|start| {
                let rest = &input[start + marker.len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].replace("&amp;", "&")
            })
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            fields.push((name, value));
        }
    }
    fields
}

/// Signs `login` in through `demo-rp` and returns an access token.
async fn access_token(base: &str, login: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| error.to_string())?;
    let text = |error: reqwest::Error| error.to_string();
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().as_bytes().repeat(2));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&format!("{base}/oauth/authorize")).map_err(|error| error.to_string())?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "demo-rp")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid profile email personal_id agency")
        .append_pair("state", "load")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let page = client
        .get(authorize.as_str())
        .send()
        .await
        .map_err(text)?
        .text()
        .await
        .map_err(text)?;
    let mut form = hidden_fields(&page);
    form.push(("login".into(), login.into()));
    form.push(("password".into(), PASSWORD.into()));
    let mut response = client
        .post(format!("{base}/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .map_err(text)?;
    for _ in 0..3 {
        if response.status() != reqwest::StatusCode::OK {
            break;
        }
        let page = response.text().await.map_err(text)?;
        response = if let Some(start) = page.find("id=\"totp-secret\">") {
            let start = start + "id=\"totp-secret\">".len();
            let end = start + page[start..].find('<').ok_or("no secret")?;
            let secret =
                egov_id::totp::TotpSecret::from_base32(&page[start..end]).map_err(|error| error.to_string())?;
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            let mut form = hidden_fields(&page);
            form.push(("code".into(), egov_id::totp::code_at(&secret, now)));
            client
                .post(format!("{base}/oauth/authorize/second-factor"))
                .form(&form)
                .send()
                .await
                .map_err(text)?;
            client.get(authorize.as_str()).send().await.map_err(text)?
        } else {
            let mut form = hidden_fields(&page);
            form.push(("decision".into(), "allow".into()));
            client
                .post(format!("{base}/oauth/authorize/consent"))
                .form(&form)
                .send()
                .await
                .map_err(text)?
        };
    }
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .ok_or(format!("{login}: no redirect after sign-in"))?
        .to_owned();
    let code = url::Url::parse(&location)
        .map_err(|error| error.to_string())?
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .ok_or("no code")?;
    let tokens: Value = client
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", "demo-rp"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(text)?
        .json()
        .await
        .map_err(text)?;
    tokens["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("{login}: no access token: {tokens}"))
}

struct People {
    citizen: String,
    receiver: String,
    specialist: String,
    leader: String,
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> Result<Value, String> {
    let mut request = client.post(url).bearer_auth(token).json(body);
    match key {
        Some(key) => request = request.header("idempotency-key", key),
        // An official's client moves on to the next dossier; it needs only
        // the outcome (RFC 7240).
        None => request = request.header("prefer", "return=minimal"),
    }
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|error| error.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// One complete dossier: submitted, received, reviewed, approved, signed,
/// returned.
async fn one_dossier(client: &reqwest::Client, base: &str, people: &People, attachment: &str) -> Result<(), String> {
    let key = uuid::Uuid::now_v7().to_string();
    let dossier = json!({
        "procedure_code": PROCEDURE,
        "agency_code": AGENCY,
        "values": {
            "applicant_name": "Nguyễn Văn An", "applicant_personal_id": "001090012345",
            "residence": {"province": "24", "commune": "Phường Kinh Bắc", "street": "12 Nguyễn Trãi"},
            "request": "Đăng ký khai tử", "declaration": true
        },
        "documents": [{"slot": "document_1", "file_name": "giay-bao-tu.pdf", "content_base64": attachment}]
    });
    let submitted = post(
        client,
        format!("{base}/api/v1/dossiers"),
        &people.citizen,
        &dossier,
        Some(&key),
    )
    .await?;
    let code = submitted["code"].as_str().ok_or("no code")?.to_owned();
    let actions = [
        (&people.receiver, json!({"action": "accept"})),
        (&people.specialist, json!({"action": "forward"})),
        (&people.leader, json!({"action": "approve"})),
        (&people.leader, json!({"action": "sign"})),
        (&people.receiver, json!({"action": "return", "delivery": "online"})),
    ];
    for (token, body) in actions {
        post(
            client,
            format!("{base}/api/v1/dossiers/{code}/actions"),
            token,
            &body,
            None,
        )
        .await?;
    }
    Ok(())
}

/// A 100 KB PDF-looking attachment, different for every dossier (so the
/// content-addressed store keeps each).
fn attachment(seed: u64) -> String {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < 100_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn prepare(base: &str) -> Result<People, String> {
    let admin = access_token(base, "024080003344").await?;
    let client = reqwest::Client::new();
    let form: Value = client
        .get(format!("{base}/api/v1/procedures/{PROCEDURE}/form"))
        .bearer_auth(&admin)
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())?;
    let mut schema = form["form"].clone();
    if let Some(documents) = schema["documents"].as_array_mut() {
        documents.truncate(1);
        documents[0]["max_bytes"] = json!(200_000);
    }
    let version = json!({
        "effective_from": (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339(),
        "form": schema, "fee_vnd": 0, "online_fee_vnd": 0, "processing_days": 1,
        "steps": [
            {"kind": "receive", "department": "MOT_CUA"},
            {"kind": "review", "department": "CHUYEN_MON"},
            "approve", "sign",
            {"kind": "return", "department": "MOT_CUA"},
        ],
    });
    post(
        &client,
        format!("{base}/api/v1/procedures/{PROCEDURE}/versions"),
        &admin,
        &version,
        None,
    )
    .await?;
    Ok(People {
        citizen: access_token(base, "001090012345").await?,
        receiver: access_token(base, "024185004321").await?,
        specialist: access_token(base, "024088007654").await?,
        leader: access_token(base, "024179001122").await?,
    })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "http://127.0.0.1:8097".to_owned());
    let seconds: u64 = args.next().and_then(|text| text.parse().ok()).unwrap_or(10);
    let concurrency: u64 = args.next().and_then(|text| text.parse().ok()).unwrap_or(16);
    let people = match prepare(&base).await {
        Ok(people) => Arc::new(people),
        Err(error) => {
            eprintln!("set-up failed: {error}");
            std::process::exit(1);
        }
    };
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (client, base, people, done, errors) = (
            client.clone(),
            base.clone(),
            Arc::clone(&people),
            Arc::clone(&done),
            Arc::clone(&errors),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0_u64;
            while Instant::now() < deadline {
                let attachment = attachment(worker * 1_000_000 + n);
                n += 1;
                let begun = Instant::now();
                match one_dossier(&client, &base, &people, &attachment).await {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        latencies.push(begun.elapsed());
                    }
                    Err(error) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("dossier failed: {error}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    println!(
        "dossiers_per_s={:.1} p50_ms={:.1} p99_ms={:.1} errors={}",
        done.load(Ordering::Relaxed) as f64 / elapsed,
        percentile(0.5),
        percentile(0.99),
        errors.load(Ordering::Relaxed)
    );
}
