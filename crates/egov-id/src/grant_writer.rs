//! Group commit for the high-rate grants (refresh_token and
//! client_credentials).
//!
//! Each grant must spend its refresh token, record the tokens it issued and
//! write an audit record, atomically, before it answers. Done one
//! transaction per grant, the database's commit rate caps the grant rate
//! (SQLite has one writer; PostgreSQL pays several round trips). Here every
//! grant hands its writes to one writer task per provider, which takes all
//! the grants waiting, applies them in a single transaction, commits, and
//! only then answers each one: the same guarantees, one commit for many
//! grants. Under light load a batch holds one grant and costs what the
//! direct transaction did; under load batches grow on their own while the
//! previous commit is in flight.
//!
//! Grants in one batch are applied in arrival order, so two grants racing
//! with the same refresh token still end with exactly one winner and the
//! other seen as a replay (which revokes the family in the same commit).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError, Tx};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::store::{self, AccessRow, RefreshRow, RefreshUse};

/// The most grants one transaction applies.
const MAX_BATCH: usize = 256;
/// Grants waiting for the writer before callers wait to hand theirs over.
const QUEUE_DEPTH: usize = 4096;

/// Tokens a grant issued, to record.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) access_row: AccessRow,
    pub(crate) refresh_row: Option<RefreshRow>,
    pub(crate) audit_subject: String,
    pub(crate) at: DateTime<Utc>,
}

/// One grant's writes.
#[derive(Debug)]
pub(crate) enum GrantWrite {
    /// Record the tokens.
    Issue(Issued),
    /// Spend the refresh token with this hash, then record the tokens; a
    /// token already spent revokes its family instead.
    Rotate { spent_hash: String, issued: Issued },
}

/// What became of a grant's writes, once committed.
#[derive(Debug)]
pub(crate) enum Written {
    Recorded,
    /// The refresh token was spent already: its family is now revoked.
    Replayed,
    /// No such refresh token.
    Unknown,
}

type Reply = oneshot::Sender<Result<Written, Arc<DbError>>>;

/// The handle grants send their writes through.
#[derive(Debug)]
pub(crate) struct GrantWriter {
    sender: mpsc::Sender<(GrantWrite, Reply)>,
}

impl GrantWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn start(db: Db) -> GrantWriter {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(db, receiver));
        GrantWriter { sender }
    }

    /// Applies `write` and waits for its commit.
    pub(crate) async fn write(&self, write: GrantWrite) -> Result<Written, DbError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((write, reply))
            .await
            .map_err(|_| DbError::Unavailable("the grant writer has stopped".to_owned()))?;
        match answer.await {
            Ok(result) => result.map_err(|error| DbError::Unavailable(error.to_string())),
            Err(_) => Err(DbError::Unavailable("the grant writer has stopped".to_owned())),
        }
    }
}

/// The writer task: one batch at a time until every handle is gone.
async fn run(db: Db, mut receiver: mpsc::Receiver<(GrantWrite, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, replies): (Vec<GrantWrite>, Vec<Reply>) = batch.drain(..).unzip();
        match apply(&db, &writes).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    cause = ?std::error::Error::source(&error),
                    grants = writes.len(),
                    "Could not record a batch of grants"
                );
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(Arc::clone(&error)));
                }
            }
        }
    }
}

/// Applies a batch in one transaction: refresh tokens are spent one by one
/// in arrival order, then everything issued is written in three
/// multi-row statements (access tokens, refresh tokens, audit records),
/// then the families of replayed tokens are revoked.
async fn apply(db: &Db, writes: &[GrantWrite]) -> Result<Vec<Written>, DbError> {
    let mut tx = db.begin().await?;
    // Losing the last milliseconds of grants in a crash is safe: their
    // tokens would not exist, and a rotated refresh token would be refused,
    // sending the user to sign in again.
    tx.defer_flush().await?;
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut issued = Vec::with_capacity(writes.len());
    let mut replays = Vec::new();
    for write in writes {
        let outcome = match write {
            GrantWrite::Issue(tokens) => {
                issued.push(tokens);
                Written::Recorded
            }
            GrantWrite::Rotate {
                spent_hash,
                issued: tokens,
            } => match store::use_refresh(&mut tx, spent_hash, tokens.at.timestamp_millis()).await? {
                RefreshUse::Rotated(_) => {
                    issued.push(tokens);
                    Written::Recorded
                }
                RefreshUse::Replayed(row) => {
                    replays.push((row, tokens.at));
                    Written::Replayed
                }
                RefreshUse::Unknown => Written::Unknown,
            },
        };
        outcomes.push(outcome);
    }
    let access: Vec<&AccessRow> = issued.iter().map(|tokens| &tokens.access_row).collect();
    let refresh: Vec<&RefreshRow> = issued.iter().filter_map(|tokens| tokens.refresh_row.as_ref()).collect();
    store::insert_tokens(&mut tx, &access, &refresh).await?;
    let entries: Vec<(AuditEntry<'_>, DateTime<Utc>)> =
        issued.iter().map(|tokens| (audit_entry(tokens), tokens.at)).collect();
    audit::record_many(&mut tx, &entries).await?;
    // Families are revoked after the inserts, so a replay also revokes what
    // an earlier grant of this batch just issued in the same family.
    for (row, at) in &replays {
        revoke_replayed(&mut tx, row, *at).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn audit_entry(issued: &Issued) -> AuditEntry<'_> {
    AuditEntry {
        actor: &issued.access_row.client_id,
        action: "id.token.issue",
        subject: &issued.audit_subject,
        detail: json!({
            "jti": issued.access_row.jti,
            "scope": issued.access_row.scope,
            "refresh": issued.refresh_row.is_some(),
        }),
        ip: None,
    }
}

/// Records issued tokens and their audit record.
pub(crate) async fn record(tx: &mut Tx, issued: &Issued) -> Result<(), DbError> {
    store::insert_access(tx, &issued.access_row).await?;
    if let Some(row) = &issued.refresh_row {
        store::insert_refresh(tx, row).await?;
    }
    audit::record(tx, &audit_entry(issued), issued.at).await?;
    Ok(())
}

/// A spent refresh token came back: revoke its whole family, audited.
pub(crate) async fn revoke_replayed(tx: &mut Tx, row: &RefreshRow, at: DateTime<Utc>) -> Result<(), DbError> {
    store::revoke_family(tx, row.family_id).await?;
    let entry = AuditEntry {
        actor: &row.client_id,
        action: "id.refresh.replay",
        subject: &format!("user:{}", row.user_id),
        detail: json!({ "family_id": row.family_id }),
        ip: None,
    };
    audit::record(tx, &entry, at).await?;
    Ok(())
}
