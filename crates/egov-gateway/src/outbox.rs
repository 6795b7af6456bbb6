//! Guaranteed delivery of a message through the gateway, for the sending
//! system. It owns `gateway_outbox_receipts`.
//!
//! The sender puts the message in its outbox ([`enqueue`]) in the same
//! transaction as the change it announces: a job of the durable queue,
//! which exists if and only if the change committed. The node's worker
//! sends it ([`deliver`]) as an ordinary r1 call with the message's own
//! `X-Road-Id`, again after a failure, with backoff, until the receiver
//! answers; a node that dies mid-send loses its lease and another sends it
//! again. So a message may arrive more than once, and the receiver
//! de-duplicates by message id (a room does: one event per publisher and
//! message id). The receiver's answer is the delivery receipt, kept here.
//!
//! A 2xx answer is a delivery; so is a 4xx, which the receiver will give
//! again to the same message (its receipt says what was refused); a 5xx,
//! an X-Road error or no answer is retried.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use chrono::{DateTime, Utc};
use egov_db::jobs::{self, NewJob};
use egov_db::{Db, DbError, Tx, with_pool};
use serde::{Deserialize, Serialize};

use crate::gateway::{Call, Caller, Gateway};
use crate::id::{self, ClientId};

/// Job kind: send one message of the outbox.
pub const SEND_MESSAGE: &str = "gateway.send_message";
/// How often a message is tried before it is dead-lettered (about two
/// days with the queue's backoff).
const MAX_ATTEMPTS: u32 = 24;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sending subsystem (`X-Road-Client`).
    pub client: String,
    pub method: String,
    /// The r1 target: `/r1/{service}[/path][?query]`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Unique per message: the receiver de-duplicates by it.
    pub message_id: String,
}

/// Why a message was refused before it was queued.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Queues a message in the caller's transaction. Queueing the same message
/// id twice queues it once.
pub async fn enqueue(tx: &mut Tx, message: &Message, now: DateTime<Utc>) -> Result<(), OutboxError> {
    let client = ClientId::parse(&message.client).map_err(|error| OutboxError::Invalid(error.0))?;
    if client.subsystem.is_none() {
        return Err(OutboxError::Invalid("The sender is a subsystem".to_owned()));
    }
    id::parse_r1(&message.target).map_err(|error| OutboxError::Invalid(error.0))?;
    Method::from_bytes(message.method.as_bytes()).map_err(|_| OutboxError::Invalid("Bad method".to_owned()))?;
    if message.message_id.is_empty() || message.message_id.len() > 255 {
        return Err(OutboxError::Invalid("A message id has 1 to 255 characters".to_owned()));
    }
    let payload = serde_json::to_value(message).map_err(DbError::from)?;
    let mut job = NewJob::new(SEND_MESSAGE, payload);
    job.max_attempts = MAX_ATTEMPTS;
    job.dedupe_key = Some(format!("{SEND_MESSAGE}:{}", message.message_id));
    jobs::enqueue(tx, &job, now).await?;
    Ok(())
}

/// Sends one queued message (the job [`SEND_MESSAGE`]); an error makes
/// the queue try again later.
pub async fn deliver(gateway: &Gateway, payload: &str) -> Result<(), String> {
    let message: Message = serde_json::from_str(payload).map_err(|error| error.to_string())?;
    let mut headers = HeaderMap::new();
    for (name, value) in &message.headers {
        let name = HeaderName::try_from(name.as_str()).map_err(|error| error.to_string())?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|error| error.to_string())?;
        headers.append(name, value);
    }
    let ascii = |value: &str| HeaderValue::try_from(value).map_err(|error| error.to_string());
    headers.insert("x-road-client", ascii(&message.client)?);
    headers.insert("x-road-id", ascii(&message.message_id)?);
    let method = Method::from_bytes(message.method.as_bytes()).map_err(|error| error.to_string())?;
    let response = gateway
        .call(Call {
            method,
            target: message.target.clone(),
            headers,
            body: message.body.clone().into_bytes(),
            caller: Caller::InProcess,
        })
        .await;
    let status = response.status();
    let xroad_error = response.headers().contains_key(crate::error::ERROR_HEADER);
    let answer = axum::body::to_bytes(response.into_body(), 1024 * 1024)
        .await
        .map(|body| String::from_utf8_lossy(&body).into_owned())
        .unwrap_or_default();
    if status.is_server_error() || xroad_error {
        return Err(format!("{status}: {}", answer.chars().take(300).collect::<String>()));
    }
    record_receipt(gateway.db(), &message, status.as_u16(), &answer, Utc::now())
        .await
        .map_err(|error| error.to_string())
}

async fn record_receipt(
    db: &Db,
    message: &Message,
    status: u16,
    answer: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO gateway_outbox_receipts (message_id, target, status, answer, delivered_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(&message.message_id)
        .bind(&message.target)
        .bind(i32::from(status))
        .bind(answer)
        .bind(now.timestamp_millis())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// A message's delivery receipt: the receiver's status and answer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Receipt {
    pub message_id: String,
    pub target: String,
    pub status: i32,
    pub answer: String,
    pub delivered_at: i64,
}

pub async fn receipt(db: &Db, message_id: &str) -> Result<Option<Receipt>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT message_id, target, status, answer, delivered_at FROM gateway_outbox_receipts WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(pool)
        .await?
    }))
}

/// How many messages have a receipt.
pub async fn delivered_count(db: &Db) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM gateway_outbox_receipts").fetch_one(pool).await?
    }))
}
