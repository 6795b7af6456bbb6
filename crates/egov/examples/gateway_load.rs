//! Load generator for the integration gateway (issue 5), run by
//! `bench/gateway.sh` against running nodes. Three measurements:
//!
//! - `exchange DIRECT_URL GATEWAY_URL CLIENT SECONDS CONCURRENCY`: in one
//!   run, `GET DIRECT_URL` (the service called directly), then `GET
//!   GATEWAY_URL` with `X-Road-Client: CLIENT` (the same service through
//!   the consumer's and the provider's gateways: each exchange signed,
//!   verified and logged on both sides), then the raw Ed25519 rate of
//!   ed25519-dalek, which the gateway signs with: sign and verify a SHA-512
//!   digest, on one core, for SECONDS. CONCURRENCY keep-alive clients loop
//!   for SECONDS on each URL.
//! - `registry URL CLIENT CSV SECONDS CONCURRENCY`: `POST URL` (a registry's
//!   `…/read`) for personal IDs drawn at random from the CSV that
//!   `egov registry generate` wrote and `egov registry import` loaded, with
//!   a purpose and an end user, as the one-stop shop reads.
//! - `outbox DATABASE_URL CLIENT ROOM MESSAGES MAX_SECONDS`: queues
//!   MESSAGES events to ROOM in the sender's outbox (its database, in one
//!   transaction), then counts the receipts until all are there or
//!   MAX_SECONDS pass: durable asynchronous delivery through both gateways.
//!
//! Each prints one line of `name=value` pairs: requests (or messages) per
//! second, latency p50/p99/max in ms, errors.

// Rates and percentiles are printed as floating point from counts far below 2^52.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::Digest as _;

/// What one kind of request needs to be sent again and again.
#[derive(Clone)]
enum Request {
    Get {
        url: String,
        headers: Vec<(String, String)>,
    },
    RegistryRead {
        url: String,
        client: String,
        personal_ids: Arc<Vec<String>>,
    },
}

/// A tiny xorshift generator: the choice of personal IDs needs no quality.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn send(client: &reqwest::Client, request: &Request, random: &mut u64) -> Result<(), String> {
    let builder = match request {
        Request::Get { url, headers } => {
            let mut builder = client.get(url);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder
        }
        Request::RegistryRead {
            url,
            client: caller,
            personal_ids,
        } => {
            let personal_id = &personal_ids[(next_random(random) % personal_ids.len() as u64) as usize];
            client
                .post(url)
                .header("x-road-client", caller)
                .header("x-road-userid", "VN024185004321")
                .header("x-road-issue", "onestop-verify:000.00.01.H24-261127-0001")
                .json(&serde_json::json!({ "query": { "content": { "personal_id": personal_id } } }))
        }
    };
    let response = builder.send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|error| error.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
    }
}

/// CONCURRENCY clients, each with its own keep-alive connection, send
/// `request` for SECONDS; prints the rate and the latencies.
async fn load(label: &'static str, request: Request, seconds: u64, concurrency: u64) {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (request, done, errors) = (request.clone(), Arc::clone(&done), Arc::clone(&errors));
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let mut random = 0x2545_F491_4F6C_DD1D ^ (worker + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let begun = Instant::now();
                match send(&client, &request, &mut random).await {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        latencies.push(begun.elapsed());
                    }
                    Err(error) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("{label}: request failed: {error}");
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
        "{label} requests_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.1} errors={}",
        done.load(Ordering::Relaxed) as f64 / elapsed,
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
        errors.load(Ordering::Relaxed)
    );
}

/// Signs and verifies a SHA-512 digest, as the gateway does for each
/// message, on this thread for SECONDS; prints the pairs per second.
fn ed25519_rate(seconds: u64) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let verifying_key = key.verifying_key();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut pairs = 0_u64;
    let mut failures = 0_u64;
    while Instant::now() < deadline {
        for _ in 0..100 {
            let digest = sha2::Sha512::digest(pairs.to_le_bytes());
            let signature = key.sign(&digest);
            if verifying_key.verify(&digest, &signature).is_err() {
                failures += 1;
            }
            pairs += 1;
        }
    }
    let per_second = pairs as f64 / started.elapsed().as_secs_f64();
    // An exchange is two signatures and two verifications: two pairs.
    println!(
        "ed25519 sign_verify_pairs_per_s_one_core={per_second:.0} exchanges_per_s_one_core_ceiling={:.0} failures={failures}",
        per_second / 2.0
    );
}

/// Queues MESSAGES events in the sender's outbox and waits for their
/// receipts.
async fn outbox(database_url: &str, client: &str, room: &str, messages: usize, max_seconds: u64) -> Result<(), String> {
    let text = |error: &dyn std::fmt::Display| error.to_string();
    let db = egov_db::Db::connect(database_url, &egov_db::PoolSettings::default())
        .await
        .map_err(|error| text(&error))?;
    let before = egov_gateway::outbox::delivered_count(&db)
        .await
        .map_err(|error| text(&error))?;
    let run = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    let queueing = Instant::now();
    let mut tx = db.begin().await.map_err(|error| text(&error))?;
    for index in 0..messages {
        let message = egov_gateway::outbox::Message {
            client: client.to_owned(),
            method: "POST".to_owned(),
            target: format!("/r1/{room}/pub/v1/dossierStatus"),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: serde_json::json!({ "event": { "dossier": format!("000.00.01.H26-261127-{index:06}"), "status": "received" } })
                .to_string(),
            message_id: format!("bench-{run}-{index}"),
        };
        egov_gateway::outbox::enqueue(&mut tx, &message, now)
            .await
            .map_err(|error| text(&error))?;
    }
    tx.commit().await.map_err(|error| text(&error))?;
    let queued_in = queueing.elapsed().as_secs_f64();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(max_seconds);
    let target = before + i64::try_from(messages).map_err(|error| text(&error))?;
    let mut delivered = before;
    while delivered < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        delivered = egov_gateway::outbox::delivered_count(&db)
            .await
            .map_err(|error| text(&error))?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "outbox messages={messages} queued_s={queued_in:.2} delivered={} delivery_s={elapsed:.2} messages_per_s={:.0}",
        delivered - before,
        (delivered - before) as f64 / elapsed
    );
    db.close().await;
    Ok(())
}

fn personal_ids(csv: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::Reader::from_path(csv).map_err(|error| error.to_string())?;
    let mut ids = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| error.to_string())?;
        if let Some(id) = record.get(0) {
            ids.push(id.to_owned());
        }
    }
    if ids.is_empty() {
        return Err(format!("{csv} holds no person"));
    }
    Ok(ids)
}

fn usage() -> ! {
    eprintln!(
        "usage: gateway_load exchange DIRECT_URL GATEWAY_URL CLIENT SECONDS CONCURRENCY\n       \
         gateway_load registry URL CLIENT CSV SECONDS CONCURRENCY\n       \
         gateway_load outbox DATABASE_URL CLIENT ROOM MESSAGES MAX_SECONDS"
    );
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize| -> u64 {
        args.get(index)
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args.first().map(String::as_str) {
        Some("exchange") if args.len() == 6 => {
            let (seconds, concurrency) = (number(4), number(5));
            let direct = Request::Get {
                url: args[1].clone(),
                headers: Vec::new(),
            };
            load("direct", direct, seconds, concurrency).await;
            let through = Request::Get {
                url: args[2].clone(),
                headers: vec![("x-road-client".to_owned(), args[3].clone())],
            };
            load("gateway", through, seconds, concurrency).await;
            ed25519_rate(seconds);
        }
        Some("registry") if args.len() == 6 => {
            let ids = match personal_ids(&args[3]) {
                Ok(ids) => Arc::new(ids),
                Err(error) => {
                    eprintln!("{error}");
                    std::process::exit(1);
                }
            };
            let read = Request::RegistryRead {
                url: args[1].clone(),
                client: args[2].clone(),
                personal_ids: ids,
            };
            load("registry", read, number(4), number(5)).await;
        }
        Some("outbox") if args.len() == 6 => {
            let messages = usize::try_from(number(4)).unwrap_or_else(|_| usage());
            if let Err(error) = outbox(&args[1], &args[2], &args[3], messages, number(5)).await {
                eprintln!("outbox: {error}");
                std::process::exit(1);
            }
        }
        _ => usage(),
    }
}
