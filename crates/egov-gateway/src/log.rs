//! The message log: every exchange, on each side that took part, as it
//! crossed, in an append-only hash chain, and its verification.
//!
//! A record holds the request and the response (canonical head, body,
//! hash, signature and signing key) and the hash of the record before it;
//! its own hash (SHA-256) covers all of that. Changing, removing or
//! reordering a record breaks the chain from there on, and
//! [`verify`] names the first record that does not hold.
//!
//! Appending is a serial stage, so it is a group commit, as the dossier
//! writer is: each exchange hands its record to the log's writer thread,
//! which reads the chain's head, chains and inserts every record waiting in
//! one transaction, and answers after the commit. An exchange is answered
//! only once it is logged; if the log cannot be written, the exchange
//! fails (fails closed). Two nodes appending at once take the same next
//! sequence number; one commit fails on the key and that batch is chained
//! again on the new head.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use egov_db::{Db, DbError, with_pool, with_tx};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::message::{self, Kind, TrustedKeys};

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The most records one transaction appends.
const MAX_BATCH: usize = 256;
const QUEUE_DEPTH: usize = 8192;
/// How often a batch is chained again on a new head after another node
/// took the next sequence number first.
const HEAD_RACE_RETRIES: usize = 8;

/// Which gateway of an exchange wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Consumer,
    Provider,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Consumer => "consumer",
            Side::Provider => "provider",
        }
    }
}

/// One message as it crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedMessage {
    pub head: String,
    pub body: Vec<u8>,
    /// Base64 of the message hash.
    pub hash: String,
    pub key_id: String,
    pub signature: String,
}

/// What the gateway logs of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub side: Side,
    pub message_id: String,
    pub client_id: String,
    pub service_id: String,
    pub user_id: Option<String>,
    pub issue: Option<String>,
    pub request: LoggedMessage,
    pub status: u16,
    pub response: LoggedMessage,
    pub at: DateTime<Utc>,
}

/// A record as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRecord {
    pub seq: i64,
    pub id: Uuid,
    pub at: i64,
    pub side: String,
    pub message_id: String,
    pub client_id: String,
    pub service_id: String,
    pub user_id: Option<String>,
    pub issue: Option<String>,
    pub request_head: String,
    pub request_body: Vec<u8>,
    pub request_hash: String,
    pub request_key: String,
    pub request_signature: String,
    pub status: i32,
    pub response_head: String,
    pub response_body: Vec<u8>,
    pub response_hash: String,
    pub response_key: String,
    pub response_signature: String,
    pub prev_hash: String,
    pub hash: String,
}

impl LogRecord {
    fn chained(seq: i64, prev_hash: &str, exchange: &Exchange) -> LogRecord {
        let mut record = LogRecord {
            seq,
            id: egov_core::id::new_id(),
            at: exchange.at.timestamp_millis(),
            side: exchange.side.as_str().to_owned(),
            message_id: exchange.message_id.clone(),
            client_id: exchange.client_id.clone(),
            service_id: exchange.service_id.clone(),
            user_id: exchange.user_id.clone(),
            issue: exchange.issue.clone(),
            request_head: exchange.request.head.clone(),
            request_body: exchange.request.body.clone(),
            request_hash: exchange.request.hash.clone(),
            request_key: exchange.request.key_id.clone(),
            request_signature: exchange.request.signature.clone(),
            status: i32::from(exchange.status),
            response_head: exchange.response.head.clone(),
            response_body: exchange.response.body.clone(),
            response_hash: exchange.response.hash.clone(),
            response_key: exchange.response.key_id.clone(),
            response_signature: exchange.response.signature.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// SHA-256 over every field, each length-prefixed so no two records
    /// share an encoding, and the previous record's hash.
    pub fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        field(&self.seq.to_be_bytes());
        field(self.id.as_bytes());
        field(&self.at.to_be_bytes());
        field(self.side.as_bytes());
        field(self.message_id.as_bytes());
        field(self.client_id.as_bytes());
        field(self.service_id.as_bytes());
        field(self.user_id.as_deref().unwrap_or("\u{0}none").as_bytes());
        field(self.issue.as_deref().unwrap_or("\u{0}none").as_bytes());
        field(self.request_head.as_bytes());
        field(&self.request_body);
        field(self.request_hash.as_bytes());
        field(self.request_key.as_bytes());
        field(self.request_signature.as_bytes());
        field(&self.status.to_be_bytes());
        field(self.response_head.as_bytes());
        field(&self.response_body);
        field(self.response_hash.as_bytes());
        field(self.response_key.as_bytes());
        field(self.response_signature.as_bytes());
        field(self.prev_hash.as_bytes());
        hex(&hasher.finalize())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Why an exchange could not be logged.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the message log is unavailable: {0}")]
    Unavailable(String),
}

type Reply = oneshot::Sender<Result<(), Arc<DbError>>>;

/// The handle exchanges append through.
#[derive(Debug, Clone)]
pub struct MessageLog {
    sender: mpsc::Sender<(Exchange, Reply)>,
}

impl MessageLog {
    /// Starts the log's writer on a thread of its own, with its own
    /// connection; it stops when the last handle is dropped.
    pub fn start(db: &Db) -> MessageLog {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let db = db.clone();
        let spawned = std::thread::Builder::new()
            .name("message-log".to_owned())
            .spawn(
                move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(run(db, receiver)),
                    Err(error) => tracing::error!(%error, "Could not start the message log's runtime"),
                },
            );
        if let Err(error) = spawned {
            // Appends then fail, and the gateway with them: it fails closed.
            tracing::error!(%error, "Could not start the message log's thread");
        }
        MessageLog { sender }
    }

    /// Appends an exchange and waits for its commit.
    pub async fn append(&self, exchange: Exchange) -> Result<(), LogError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || LogError::Unavailable("the log writer has stopped".to_owned());
        self.sender.send((exchange, reply)).await.map_err(|_| stopped())?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(LogError::Unavailable(error.to_string())),
            Err(_) => Err(stopped()),
        }
    }
}

async fn run(shared: Db, mut receiver: mpsc::Receiver<(Exchange, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut own: Option<Db> = None;
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (exchanges, replies): (Vec<Exchange>, Vec<Reply>) = batch.drain(..).unzip();
        if own.is_none() {
            match shared.sibling(1).await {
                Ok(db) => own = Some(db),
                Err(error) => {
                    tracing::error!(%error, "The message log cannot connect to the database");
                    let error = Arc::new(error);
                    for reply in replies {
                        let _ = reply.send(Err(Arc::clone(&error)));
                    }
                    continue;
                }
            }
        }
        let Some(db) = &own else { continue };
        // A batch that lost the race for the next sequence number to another
        // node is chained again on the new head.
        let mut result = append_batch(db, &exchanges).await;
        for _ in 0..HEAD_RACE_RETRIES {
            if !matches!(&result, Err(error) if error.is_unique_violation()) {
                break;
            }
            result = append_batch(db, &exchanges).await;
        }
        match result {
            Ok(()) => {
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(error) => {
                tracing::error!(%error, records = exchanges.len(), "Could not append to the message log");
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(Arc::clone(&error)));
                }
            }
        }
    }
    if let Some(db) = own {
        db.close().await;
    }
}

async fn append_batch(db: &Db, exchanges: &[Exchange]) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    let head: Option<(i64, String)> = with_tx!(&mut tx, conn => {
        sqlx::query_as("SELECT seq, hash FROM gateway_message_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?
    });
    let (mut seq, mut prev) = head.unwrap_or_else(|| (0, GENESIS.to_owned()));
    let mut records = Vec::with_capacity(exchanges.len());
    for exchange in exchanges {
        seq += 1;
        let record = LogRecord::chained(seq, &prev, exchange);
        prev.clone_from(&record.hash);
        records.push(record);
    }
    with_tx!(&mut tx, conn => {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO gateway_message_log (seq, id, at, side, message_id, client_id, service_id, user_id, issue, \
             request_head, request_body, request_hash, request_key, request_signature, status, response_head, \
             response_body, response_hash, response_key, response_signature, prev_hash, hash) ",
        );
        insert.push_values(&records, |mut values, record| {
            values
                .push_bind(record.seq)
                .push_bind(record.id)
                .push_bind(record.at)
                .push_bind(record.side.as_str())
                .push_bind(record.message_id.as_str())
                .push_bind(record.client_id.as_str())
                .push_bind(record.service_id.as_str())
                .push_bind(record.user_id.as_deref())
                .push_bind(record.issue.as_deref())
                .push_bind(record.request_head.as_str())
                .push_bind(record.request_body.as_slice())
                .push_bind(record.request_hash.as_str())
                .push_bind(record.request_key.as_str())
                .push_bind(record.request_signature.as_str())
                .push_bind(record.status)
                .push_bind(record.response_head.as_str())
                .push_bind(record.response_body.as_slice())
                .push_bind(record.response_hash.as_str())
                .push_bind(record.response_key.as_str())
                .push_bind(record.response_signature.as_str())
                .push_bind(record.prev_hash.as_str())
                .push_bind(record.hash.as_str());
        });
        insert.build().execute(&mut *conn).await?;
    });
    tx.commit().await
}

/// What verifying the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked, up to and including the first bad one.
    pub records: u64,
    /// The sequence number of the first record kept (earlier ones were
    /// removed by retention after archiving), if any.
    pub first_seq: Option<i64>,
    /// The first record that does not hold, and why.
    pub first_bad: Option<(i64, String)>,
}

/// Checks the whole chain: each record's hash, its link to the one before,
/// each message's hash against its head and body, and each signature
/// against the keys the gateway trusts.
pub async fn verify(db: &Db, trusted: &TrustedKeys) -> Result<VerifyReport, DbError> {
    const PAGE: i64 = 500;
    let mut report = VerifyReport {
        records: 0,
        first_seq: None,
        first_bad: None,
    };
    let mut after = 0_i64;
    let mut expected_prev: Option<String> = None;
    loop {
        let page: Vec<LogRecord> = with_pool!(db, pool => {
            sqlx::query_as("SELECT * FROM gateway_message_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(PAGE)
                .fetch_all(pool)
                .await?
        });
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            report.records += 1;
            report.first_seq.get_or_insert(record.seq);
            let expected = match &expected_prev {
                Some(hash) => Some(hash.as_str()),
                // The chain starts at the genesis hash; a log cut by
                // retention starts wherever its first kept record points.
                None if record.seq == 1 => Some(GENESIS),
                None => None,
            };
            if let Err(reason) = check_record(record, expected, trusted) {
                report.first_bad = Some((record.seq, reason));
                return Ok(report);
            }
            expected_prev = Some(record.hash.clone());
        }
    }
    Ok(report)
}

fn check_record(record: &LogRecord, expected_prev: Option<&str>, trusted: &TrustedKeys) -> Result<(), String> {
    if let Some(expected) = expected_prev
        && record.prev_hash != expected
    {
        return Err("it does not follow the record before it (a record was removed, added or reordered)".to_owned());
    }
    if record.compute_hash() != record.hash {
        return Err("its content does not match its hash (the record was changed)".to_owned());
    }
    for (kind, head, body, hash, key, signature) in [
        (
            Kind::Request,
            &record.request_head,
            &record.request_body,
            &record.request_hash,
            &record.request_key,
            &record.request_signature,
        ),
        (
            Kind::Response,
            &record.response_head,
            &record.response_body,
            &record.response_hash,
            &record.response_key,
            &record.response_signature,
        ),
    ] {
        let what = if kind == Kind::Request { "request" } else { "response" };
        let computed = message::message_hash(head, body);
        if message::encode_hash(&computed) != *hash {
            return Err(format!("the {what}'s hash does not match its head and body"));
        }
        trusted
            .verify(key, kind, &computed, signature)
            .map_err(|error| format!("the {what}'s signature does not hold: {error}"))?;
    }
    Ok(())
}

/// The newest record: its sequence number and hash.
pub async fn head(db: &Db) -> Result<Option<(i64, String)>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT seq, hash FROM gateway_message_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(pool)
            .await?
    }))
}

/// How far the log is time-stamped.
pub async fn stamped_up_to(db: &Db) -> Result<Option<i64>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar("SELECT MAX(seq) FROM gateway_log_timestamps").fetch_one(pool).await?
    }))
}

pub async fn store_timestamp(db: &Db, seq: i64, token: &crate::conf::TimestampToken) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO gateway_log_timestamps (seq, hash, stamped_at, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(seq)
        .bind(&token.hash)
        .bind(token.time)
        .bind(&token.key_id)
        .bind(&token.signature)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// When the oldest record not yet time-stamped was written, if any.
pub async fn oldest_unstamped(db: &Db) -> Result<Option<i64>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT MIN(at) FROM gateway_message_log \
             WHERE seq > COALESCE((SELECT MAX(seq) FROM gateway_log_timestamps), 0)",
        )
        .fetch_one(pool)
        .await?
    }))
}

/// Checks each time-stamp against the record it dates and the hub's key;
/// the first that does not hold, and why.
pub async fn verify_timestamps(db: &Db, anchor: &TrustedKeys) -> Result<Result<usize, (i64, String)>, DbError> {
    let stamps: Vec<(i64, String, i64, String, String, Option<String>)> = with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT t.seq, t.hash, t.stamped_at, t.key_id, t.signature, l.hash FROM gateway_log_timestamps t \
             LEFT JOIN gateway_message_log l ON l.seq = t.seq ORDER BY t.seq",
        )
        .fetch_all(pool)
        .await?
    });
    for (seq, hash, time, key_id, signature, record_hash) in &stamps {
        let token = crate::conf::TimestampToken {
            hash: hash.clone(),
            time: *time,
            key_id: key_id.clone(),
            signature: signature.clone(),
        };
        if let Err(error) = token.verify(anchor) {
            return Ok(Err((*seq, format!("its time-stamp does not verify: {error}"))));
        }
        // A record removed by retention leaves its time-stamp unchecked
        // against it; its archive holds it.
        if record_hash.as_ref().is_some_and(|record_hash| record_hash != hash) {
            return Ok(Err((
                *seq,
                "its time-stamp is for another hash (the record was changed)".to_owned(),
            )));
        }
    }
    Ok(Ok(stamps.len()))
}

/// What an archive holds, in its last line, signed by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveManifest {
    pub first_seq: i64,
    pub last_seq: i64,
    pub records: u64,
    /// The hash of the last record: where the chain stands.
    pub last_hash: String,
    /// SHA-256 (hex) of every line before the manifest.
    pub sha256: String,
    pub key_id: String,
    pub signature: String,
}

impl ArchiveManifest {
    fn signed_hash(&self) -> [u8; 64] {
        message::document_hash(
            format!(
                "{}\n{}\n{}\n{}\n{}",
                self.first_seq, self.last_seq, self.records, self.last_hash, self.sha256
            )
            .as_bytes(),
        )
    }
}

/// One record as an archive line: bodies in base64.
fn archive_line(record: &LogRecord) -> serde_json::Value {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    serde_json::json!({
        "seq": record.seq, "id": record.id, "at": record.at, "side": record.side,
        "message_id": record.message_id, "client_id": record.client_id, "service_id": record.service_id,
        "user_id": record.user_id, "issue": record.issue,
        "request_head": record.request_head, "request_body": b64(&record.request_body),
        "request_hash": record.request_hash, "request_key": record.request_key,
        "request_signature": record.request_signature, "status": record.status,
        "response_head": record.response_head, "response_body": b64(&record.response_body),
        "response_hash": record.response_hash, "response_key": record.response_key,
        "response_signature": record.response_signature, "prev_hash": record.prev_hash, "hash": record.hash,
    })
}

/// Writes the records logged in `[from, to)` (epoch milliseconds) as an
/// archive: one JSON line per record, the time-stamps that date them, and
/// a manifest signed with the gateway's key; records the export, so that
/// retention may remove those records later. None if nothing was logged
/// then.
pub async fn export(
    db: &Db,
    from: i64,
    to: i64,
    key: &message::GatewayKey,
    out: &mut impl std::io::Write,
    now: DateTime<Utc>,
) -> Result<Option<ArchiveManifest>, ArchiveError> {
    const PAGE: i64 = 500;
    let mut hasher = Sha256::new();
    let mut first: Option<LogRecord> = None;
    let mut last: Option<LogRecord> = None;
    let mut records = 0_u64;
    let mut after = 0_i64;
    loop {
        let page: Vec<LogRecord> = with_pool!(db, pool => {
            sqlx::query_as(
                "SELECT * FROM gateway_message_log WHERE seq > $1 AND at >= $2 AND at < $3 ORDER BY seq LIMIT $4",
            )
            .bind(after)
            .bind(from)
            .bind(to)
            .bind(PAGE)
            .fetch_all(pool)
            .await?
        });
        let Some(tail) = page.last() else { break };
        after = tail.seq;
        for record in page {
            let mut line = archive_line(&record).to_string();
            line.push('\n');
            hasher.update(line.as_bytes());
            out.write_all(line.as_bytes())?;
            records += 1;
            if first.is_none() {
                first = Some(record.clone());
            }
            last = Some(record);
        }
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(None);
    };
    let stamps: Vec<(i64, String, i64, String, String)> = with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT seq, hash, stamped_at, key_id, signature FROM gateway_log_timestamps \
             WHERE seq >= $1 ORDER BY seq LIMIT 1000",
        )
        .bind(first.seq)
        .fetch_all(pool)
        .await?
    });
    for (seq, hash, time, key_id, signature) in stamps {
        let mut line = serde_json::json!({ "timestamp": { "seq": seq, "hash": hash, "time": time, "key_id": key_id, "signature": signature } }).to_string();
        line.push('\n');
        hasher.update(line.as_bytes());
        out.write_all(line.as_bytes())?;
        if seq >= last.seq {
            break;
        }
    }
    let mut manifest = ArchiveManifest {
        first_seq: first.seq,
        last_seq: last.seq,
        records,
        last_hash: last.hash.clone(),
        sha256: hex(&hasher.finalize()),
        key_id: key.key_id.clone(),
        signature: String::new(),
    };
    manifest.signature = key.sign(Kind::Archive, &manifest.signed_hash());
    writeln!(out, "{}", serde_json::json!({ "manifest": manifest }))?;
    with_pool!(db, pool => {
        sqlx::query("INSERT INTO gateway_log_archives (id, first_seq, last_seq, sha256, exported_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(egov_core::id::new_id())
            .bind(manifest.first_seq)
            .bind(manifest.last_seq)
            .bind(&manifest.sha256)
            .bind(now.timestamp_millis())
            .execute(pool)
            .await?;
    });
    Ok(Some(manifest))
}

/// Why an archive could not be written or does not hold.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the archive could not be written: {0}")]
    Io(#[from] std::io::Error),
    #[error("the archive does not hold: {0}")]
    Broken(String),
}

impl From<sqlx::Error> for ArchiveError {
    fn from(error: sqlx::Error) -> ArchiveError {
        ArchiveError::Db(DbError::from(error))
    }
}

/// Checks an archive: every line against the manifest's digest and
/// signature, and the records' chain within it.
pub fn verify_archive(text: &str, keys: &TrustedKeys) -> Result<ArchiveManifest, ArchiveError> {
    let broken = |message: String| ArchiveError::Broken(message);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let manifest_line = lines.pop().ok_or_else(|| broken("it is empty".to_owned()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(manifest_line).map_err(|_| broken("its last line is not a manifest".to_owned()))?;
    let manifest: ArchiveManifest = serde_json::from_value(manifest["manifest"].clone())
        .map_err(|_| broken("its last line is not a manifest".to_owned()))?;
    keys.verify(
        &manifest.key_id,
        Kind::Archive,
        &manifest.signed_hash(),
        &manifest.signature,
    )
    .map_err(|error| broken(format!("the manifest's signature does not hold: {error}")))?;
    let mut hasher = Sha256::new();
    let mut prev: Option<String> = None;
    let mut count = 0_u64;
    for (number, line) in lines.iter().enumerate() {
        hasher.update(line.as_bytes());
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|_| broken(format!("line {} is not JSON", number + 1)))?;
        if value.get("timestamp").is_some() {
            continue;
        }
        count += 1;
        let hash = value["hash"].as_str().unwrap_or_default().to_owned();
        if let Some(prev) = &prev
            && value["prev_hash"].as_str() != Some(prev.as_str())
        {
            return Err(broken(format!(
                "record #{} does not follow the one before it",
                value["seq"]
            )));
        }
        prev = Some(hash);
    }
    if hex(&hasher.finalize()) != manifest.sha256 || count != manifest.records {
        return Err(broken("its lines do not match the manifest".to_owned()));
    }
    if prev.as_deref() != Some(manifest.last_hash.as_str()) {
        return Err(broken("its last record is not the manifest's".to_owned()));
    }
    Ok(manifest)
}

/// Removes the records written before `before` (epoch milliseconds) that
/// an exported archive holds: retention never removes what was not
/// archived.
pub async fn purge_archived(db: &Db, before: i64) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query(
            "DELETE FROM gateway_message_log WHERE at < $1 \
             AND seq <= COALESCE((SELECT MAX(last_seq) FROM gateway_log_archives), 0)",
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()
    }))
}

/// The newest records, newest first, for the operator's pages.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<LogRecord>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT * FROM gateway_message_log ORDER BY seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}
