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
        if matches!(&result, Err(error) if error.is_unique_violation()) {
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

/// The newest records, newest first, for the operator's pages.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<LogRecord>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT * FROM gateway_message_log ORDER BY seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}
