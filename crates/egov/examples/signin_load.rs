//! Load generator for complete password sign-ins against a running node:
//! authorize (sign-in page), sign-in form post, code exchange, as a browser
//! and a relying party do. Measures, in the same run, how many argon2id
//! hashes per second this machine does at the OWASP parameters, since a
//! sign-in cannot be cheaper than one hash.
//!
//! Usage: `signin_load BASE_URL SECONDS CONCURRENCY [tokens]` against
//! `egov demo` or `egov serve --with-demo-data` (uses the demo citizen and
//! `demo-rp`). With `tokens`, it signs in CONCURRENCY times and prints the
//! refresh tokens, for the refresh-grant load that wrk drives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

const CALLBACK: &str = "http://127.0.0.1:8400/callback";

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
                rest[..rest.find('"').unwrap_or(rest.len())]
                    .replace("&quot;", "\"")
                    .replace("&#x27;", "'")
                    .replace("&#x2f;", "/")
                    .replace("&amp;", "&")
            })
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            fields.push((name, value));
        }
    }
    fields
}

/// A virtual browser: one keep-alive HTTP client, and the cookies of the
/// current sign-in (kept by hand, so they can be dropped between sign-ins
/// while the connections stay open, as a browser's would).
struct Browser {
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new() -> Result<Browser, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Browser {
            client,
            cookies: Vec::new(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all("set-cookie") {
            let Some((name, value)) = header
                .to_str()
                .ok()
                .and_then(|text| text.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            self.cookies.retain(|(known, _)| known != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("cookie", self.cookie_header())
        };
        let response = request.send().await.map_err(|error| error.to_string())?;
        self.keep_cookies(&response);
        Ok(response)
    }
}

/// Signs in once, as a new visitor; returns the refresh token issued.
async fn one_sign_in(browser: &mut Browser, base: &str) -> Result<String, String> {
    browser.cookies.clear();
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().as_bytes().repeat(2));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let request = browser.client.get(format!("{base}/oauth/authorize")).query(&[
        ("response_type", "code"),
        ("client_id", "demo-rp"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid profile"),
        ("state", "load"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let page = browser
        .send(request)
        .await?
        .text()
        .await
        .map_err(|error| error.to_string())?;
    let mut form = hidden_fields(&page);
    form.push(("login".into(), "001090012345".into()));
    form.push(("password".into(), "Hoa-sen-no-2026".into()));
    let request = browser.client.post(format!("{base}/oauth/authorize")).form(&form);
    let mut response = browser.send(request).await?;
    if response.status() == reqwest::StatusCode::OK {
        // `demo-rp` is a third-party client: the first sign-in asks the
        // citizen's consent, which is remembered afterwards.
        let page = response.text().await.map_err(|error| error.to_string())?;
        let mut form = hidden_fields(&page);
        form.push(("decision".into(), "allow".into()));
        let request = browser
            .client
            .post(format!("{base}/oauth/authorize/consent"))
            .form(&form);
        response = browser.send(request).await?;
    }
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .ok_or("no redirect")?
        .to_owned();
    let code = url::Url::parse(&location)
        .map_err(|error| error.to_string())?
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .ok_or("no code")?;
    let tokens = browser
        .client
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
        .map_err(|error| error.to_string())?;
    if !tokens.status().is_success() {
        return Err(format!("token endpoint said {}", tokens.status()));
    }
    let body: serde_json::Value = tokens.json().await.map_err(|error| error.to_string())?;
    Ok(body["refresh_token"].as_str().unwrap_or_default().to_owned())
}

/// Prints `count` fresh refresh tokens, one per line, for the refresh
/// load (`bench/refresh.lua` rotates them with wrk).
async fn print_tokens(base: &str, count: usize) -> Result<(), String> {
    let mut browser = Browser::new()?;
    for _ in 0..count {
        println!("{}", one_sign_in(&mut browser, base).await?);
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "http://127.0.0.1:8098".to_owned());
    let seconds: u64 = args.next().and_then(|text| text.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.next().and_then(|text| text.parse().ok()).unwrap_or(8);
    if args.next().as_deref() == Some("tokens") {
        if let Err(error) = print_tokens(&base, concurrency).await {
            eprintln!("sign-in failed: {error}");
            std::process::exit(1);
        }
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);

    // The ceiling: argon2id hashes per second at the OWASP parameters, with
    // as many at once as the server allows (one per core).
    let hasher = egov_id::password::PasswordHasher::new(cores);
    let n_hashes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..cores {
        let hasher = hasher.clone();
        let n_hashes = Arc::clone(&n_hashes);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let _ = hasher.hash("a password of usual length").await;
                n_hashes.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    let hash_rate = n_hashes.load(Ordering::Relaxed) as f64 / seconds as f64;

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut users = Vec::new();
    for _ in 0..concurrency {
        let base = base.clone();
        let done = Arc::clone(&done);
        let failed = Arc::clone(&failed);
        users.push(tokio::spawn(async move {
            let Ok(mut browser) = Browser::new() else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            while Instant::now() < deadline {
                match one_sign_in(&mut browser, &base).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        eprintln!("sign-in failed: {error}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for user in users {
        let _ = user.await;
    }
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    let sign_in_rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "argon2id_hashes_per_s={hash_rate:.1} sign_ins_per_s={sign_in_rate:.1} ratio={:.2} failed={}",
        sign_in_rate / hash_rate,
        failed.load(Ordering::Relaxed)
    );
}
