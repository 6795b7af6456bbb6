//! Outgoing e-mail: messages are enqueued as jobs in the same transaction
//! as the change they announce, so a rolled-back change sends nothing and a
//! committed one is delivered even if the SMTP server is down for a while
//! (the job retries with backoff). A worker hands them to SMTP with lettre.
//!
//! [`sink`] is a local SMTP server that keeps what it receives: the demo
//! shows it as a mailbox page, tests read it.

pub mod sink;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use egov_db::jobs::{self, NewJob};
use egov_db::{DbError, Tx};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use serde::{Deserialize, Serialize};

pub use sink::{MailSink, ReceivedMail};

/// Job kind of an outgoing message.
pub const SEND_MAIL: &str = "mail.send";

/// One plain-text message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Queues `mail` for delivery when `tx` commits. With a `dedupe_key`, a
/// second message under the same key is dropped (e.g. one reset link per
/// account per period).
pub async fn enqueue(
    tx: &mut Tx,
    mail: &OutgoingMail,
    dedupe_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    Ok(jobs::enqueue(tx, &job(mail, dedupe_key)?, now).await?.is_some())
}

/// The job that sends `mail`, for callers that enqueue jobs in batches.
pub fn job(mail: &OutgoingMail, dedupe_key: Option<String>) -> Result<NewJob, DbError> {
    let mut job = NewJob::new(SEND_MAIL, serde_json::to_value(mail)?);
    job.dedupe_key = dedupe_key;
    Ok(job)
}

/// Why the mail settings or a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid address {address:?}: {message}")]
    Address { address: String, message: String },
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    #[error("invalid mail job: {0}")]
    Job(String),
}

/// Delivers messages over SMTP.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for an SMTP URL as lettre reads it: `smtp://host:port` (no
    /// TLS), `smtp://host:587?tls=required` (STARTTLS), `smtps://user:pass@host`
    /// (implicit TLS), and `from` as `Name <address>`.
    pub fn new(smtp_url: &str, from: &str) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|error| MailError::Url(error.to_string()))?
            .build();
        Ok(Mailer {
            transport: Arc::new(transport),
            from: parse_mailbox(from)?,
        })
    }

    /// Sends one message now.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(parse_mailbox(&mail.to)?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|error| MailError::Message(error.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|error| MailError::Smtp(error.to_string()))?;
        Ok(())
    }

    /// The job handler: sends the message a [`SEND_MAIL`] job carries.
    pub async fn deliver(&self, payload: &str) -> Result<(), MailError> {
        let mail: OutgoingMail = serde_json::from_str(payload).map_err(|error| MailError::Job(error.to_string()))?;
        self.send(&mail).await?;
        tracing::info!(subject = %mail.subject, "Mail sent");
        Ok(())
    }
}

/// Parses `address` or `Name <address>`.
pub fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .parse()
        .map_err(|error: lettre::address::AddressError| MailError::Address {
            address: address.to_owned(),
            message: error.to_string(),
        })
}

/// Whether `address` is a plausible e-mail address (what registration
/// forms accept).
pub fn is_valid_address(address: &str) -> bool {
    address.len() <= 254 && address.parse::<lettre::Address>().is_ok()
}
