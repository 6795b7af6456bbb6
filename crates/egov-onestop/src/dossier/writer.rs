//! Group commit for dossier submissions and actions.
//!
//! A submission must take the day's next number of the agency's codes,
//! insert the dossier with its documents, and an action must move the
//! dossier (a compare-and-set on its revision); each with its step-log
//! line, audit record and notices, atomically, before it answers. One transaction per action makes the
//! database's commit path the limit: SQLite has one writer and every
//! statement is a hand-over to its connection thread; PostgreSQL pays a
//! round trip per statement and a WAL flush per commit. Here every action
//! hands its writes to one writer task per node, which takes all the
//! writes waiting, files and moves dossiers in arrival order, writes the
//! step-log lines, audit records and jobs of all of them in three
//! multi-row statements, commits once, and only then answers each: the
//! same guarantees, one commit for many. Under light load a batch
//! holds one action; under load batches grow while the previous commit is
//! in flight.
//!
//! A writer runs on a thread of its own, with its own connection: its
//! statements follow each other without waiting in the request handlers'
//! run queue between them. SQLite has one writer at a time, so a node has
//! one writer. PostgreSQL takes writers in parallel, and each statement
//! waits a round trip: there a node has one writer for submissions (they
//! take the agency's next number, one row all of them lock) and
//! [`POSTGRES_ACTION_WRITERS`] for actions, each action going to the writer
//! its dossier's id picks, so one dossier's actions keep their order.
//!
//! Two actions on one dossier in a batch behave as they would one after
//! the other: the first moves the revision, so the second is a conflict.
//! Two submissions with one idempotency key make one dossier, in one batch
//! as across batches.
//! If a batch fails as a whole, each of its actions is tried again alone,
//! so that one bad action fails only itself.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use egov_db::audit::{self, AuditEntry};
use egov_db::jobs::{self, NewJob};
use egov_db::{Db, DbError};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::domain::DossierCode;
use super::store::{self, Change, DossierRow, EventRow};
use super::submit::{self, CheckedDocument};

/// Action writers of a node on PostgreSQL. More did not help on two cores
/// (BENCHMARKS.md): PostgreSQL's CPU is the limit there, and more writers
/// mean smaller batches, so more statements and commits per action.
const POSTGRES_ACTION_WRITERS: usize = 1;
/// The most actions one transaction applies.
const MAX_BATCH: usize = 128;
/// Actions waiting for the writer before callers wait to hand theirs over.
const QUEUE_DEPTH: usize = 4096;

/// The audit record of an action, owned so it can cross to the writer.
#[derive(Debug)]
pub(crate) struct AuditRecord {
    pub(crate) actor: String,
    pub(crate) action: &'static str,
    pub(crate) subject: String,
    pub(crate) detail: serde_json::Value,
}

/// Documents an action adds to the dossier.
#[derive(Debug)]
pub(crate) struct AddedDocuments {
    pub(crate) documents: Vec<CheckedDocument>,
    pub(crate) added_by: String,
    pub(crate) internal: bool,
}

/// Everything one action writes.
#[derive(Debug)]
pub(crate) struct ActionWrite {
    pub(crate) dossier_id: Uuid,
    /// The revision the action was decided on.
    pub(crate) revision: i32,
    pub(crate) change: Change,
    pub(crate) event: EventRow,
    pub(crate) audit: AuditRecord,
    /// Notices and follow-up work (the result document).
    pub(crate) jobs: Vec<NewJob>,
    /// A paid fee becomes due for refund (a refusal or a stop).
    pub(crate) refund_due: bool,
    pub(crate) documents: Option<AddedDocuments>,
    pub(crate) at: DateTime<Utc>,
}

/// What a submission writes once its code is known.
#[derive(Debug)]
pub(crate) struct FiledRows {
    pub(crate) dossier: DossierRow,
    pub(crate) event: EventRow,
    pub(crate) audit: AuditRecord,
    pub(crate) jobs: Vec<NewJob>,
}

/// Builds a submission's rows for the code it was given.
pub(crate) type FileRows = Box<dyn Fn(&DossierCode) -> Result<FiledRows, DbError> + Send + Sync>;

/// Everything one submission writes.
pub(crate) struct SubmitWrite {
    pub(crate) applicant_subject: String,
    pub(crate) idempotency_key: String,
    pub(crate) agency_code: String,
    pub(crate) procedure_code: String,
    /// The day of the code's sequence, in Vietnam.
    pub(crate) date: NaiveDate,
    pub(crate) documents: AddedDocuments,
    pub(crate) rows: FileRows,
    pub(crate) at: DateTime<Utc>,
}

impl std::fmt::Debug for SubmitWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmitWrite")
            .field("applicant_subject", &self.applicant_subject)
            .field("idempotency_key", &self.idempotency_key)
            .field("agency_code", &self.agency_code)
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

/// What became of a submission, once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filed {
    New(DossierCode),
    /// The idempotency key named an earlier submission: this one.
    Existing(DossierCode),
}

/// A write the writer takes.
#[derive(Debug)]
enum Write {
    Act(Box<ActionWrite>),
    File(SubmitWrite),
}

/// What became of a write.
#[derive(Debug, Clone)]
enum Outcome {
    Act(Applied),
    File(Filed),
}

/// What became of an action, once committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Moved,
    /// Another action changed the dossier first.
    Conflict,
}

type Reply = oneshot::Sender<Result<Outcome, Arc<DbError>>>;

/// The handle actions send their writes through.
#[derive(Debug)]
pub(crate) struct ActionWriter {
    /// The submissions' writer first, then the actions' (none apart on
    /// SQLite: the one writer takes both).
    senders: Vec<mpsc::Sender<(Write, Reply)>>,
}

impl ActionWriter {
    /// Starts the writers, each on a thread of its own; they stop when the
    /// last handle is dropped.
    pub(crate) fn start(db: &Db) -> ActionWriter {
        let writers = match db.engine() {
            egov_db::Engine::Sqlite => 1,
            egov_db::Engine::Postgres => 1 + POSTGRES_ACTION_WRITERS,
        };
        let senders = (0..writers)
            .map(|index| {
                let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
                let db = db.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("dossier-writer-{index}"))
                    .spawn(
                        move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(runtime) => runtime.block_on(run(db, receiver)),
                            Err(error) => tracing::error!(%error, "Could not start a dossier writer's runtime"),
                        },
                    );
                if let Err(error) = spawned {
                    // Its writes then fail with "the writer has stopped"
                    // rather than hang.
                    tracing::error!(%error, "Could not start a dossier writer's thread");
                }
                sender
            })
            .collect();
        ActionWriter { senders }
    }

    /// Applies an action and waits for its commit.
    pub(crate) async fn act(&self, write: ActionWrite) -> Result<Applied, DbError> {
        let actions = self.senders.len().saturating_sub(1);
        let writer = if actions == 0 {
            0
        } else {
            // The id's random bits pick the writer.
            1 + usize::from(write.dossier_id.as_bytes()[15]) % actions
        };
        match self.write(writer, Write::Act(Box::new(write))).await? {
            Outcome::Act(applied) => Ok(applied),
            Outcome::File(_) => Err(DbError::Unavailable(
                "the dossier writer mixed up its answers".to_owned(),
            )),
        }
    }

    /// Files a submission and waits for its commit.
    pub(crate) async fn file(&self, write: SubmitWrite) -> Result<Filed, DbError> {
        match self.write(0, Write::File(write)).await? {
            Outcome::File(filed) => Ok(filed),
            Outcome::Act(_) => Err(DbError::Unavailable(
                "the dossier writer mixed up its answers".to_owned(),
            )),
        }
    }

    async fn write(&self, writer: usize, write: Write) -> Result<Outcome, DbError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || DbError::Unavailable("the dossier writer has stopped".to_owned());
        let sender = self.senders.get(writer).ok_or_else(stopped)?;
        sender.send((write, reply)).await.map_err(|_| stopped())?;
        match answer.await {
            Ok(result) => result.map_err(|error| match Arc::try_unwrap(error) {
                Ok(error) => error,
                Err(shared) => DbError::Unavailable(shared.to_string()),
            }),
            Err(_) => Err(stopped()),
        }
    }
}

/// The writer: one batch at a time until every handle is gone, on its own
/// connection to the node's database (opened, again if need be, when a
/// batch comes).
async fn run(shared: Db, mut receiver: mpsc::Receiver<(Write, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut own: Option<Db> = None;
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, replies): (Vec<Write>, Vec<Reply>) = batch.drain(..).unzip();
        if own.is_none() {
            match shared.sibling(1).await {
                Ok(db) => own = Some(db),
                Err(error) => {
                    tracing::error!(%error, "The dossier writer cannot connect to the database");
                    let error = Arc::new(error);
                    for reply in replies {
                        let _ = reply.send(Err(Arc::clone(&error)));
                    }
                    continue;
                }
            }
        }
        let Some(db) = &own else { continue };
        match apply(db, &writes).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) if writes.len() == 1 => {
                tracing::error!(%error, cause = ?std::error::Error::source(&error), "Could not apply a dossier action");
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(Arc::new(error)));
                }
            }
            Err(error) => {
                tracing::warn!(%error, actions = writes.len(), "A batch of dossier actions failed; applying each alone");
                for (write, reply) in writes.into_iter().zip(replies) {
                    let outcome = apply(db, std::slice::from_ref(&write)).await;
                    let _ = reply.send(match outcome.map(|outcomes| outcomes.into_iter().next()) {
                        Ok(Some(outcome)) => Ok(outcome),
                        Ok(None) => Err(Arc::new(DbError::Unavailable("no outcome".to_owned()))),
                        Err(error) => {
                            tracing::error!(%error, "Could not apply a dossier write");
                            Err(Arc::new(error))
                        }
                    });
                }
            }
        }
    }
    if let Some(db) = own {
        db.close().await;
    }
}

/// Applies a batch in one transaction: dossiers are filed and moved one by
/// one in arrival order; the step-log lines, audit records and jobs of all
/// of them follow in one statement each.
async fn apply(db: &Db, writes: &[Write]) -> Result<Vec<Outcome>, DbError> {
    let mut tx = db.begin().await?;
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut events: Vec<EventRow> = Vec::with_capacity(writes.len());
    let mut audits: Vec<(&AuditRecord, DateTime<Utc>)> = Vec::with_capacity(writes.len());
    let mut filed_audits: Vec<(AuditRecord, DateTime<Utc>)> = Vec::new();
    let mut jobs: Vec<(NewJob, DateTime<Utc>)> = Vec::with_capacity(writes.len());
    let mut keys: HashMap<(&str, &str), DossierCode> = HashMap::new();
    for write in writes {
        let outcome = match write {
            Write::Act(write) => {
                if !store::update_situation(&mut tx, write.dossier_id, write.revision, &write.change).await? {
                    outcomes.push(Outcome::Act(Applied::Conflict));
                    continue;
                }
                if write.refund_due {
                    store::mark_refund_due(&mut tx, write.dossier_id).await?;
                }
                if let Some(added) = &write.documents {
                    let at = write.at.timestamp_millis();
                    submit::store_documents(
                        &mut tx,
                        write.dossier_id,
                        &added.documents,
                        &added.added_by,
                        added.internal,
                        at,
                    )
                    .await?;
                }
                events.push(write.event.clone());
                audits.push((&write.audit, write.at));
                jobs.extend(write.jobs.iter().map(|job| (job.clone(), write.at)));
                Outcome::Act(Applied::Moved)
            }
            Write::File(write) => {
                let key = (write.applicant_subject.as_str(), write.idempotency_key.as_str());
                let earlier = match keys.get(&key) {
                    Some(code) => Some(code.clone()),
                    None => store::by_idempotency_key(&mut tx, key.0, key.1)
                        .await?
                        .as_deref()
                        .and_then(DossierCode::parse),
                };
                if let Some(code) = earlier {
                    outcomes.push(Outcome::File(Filed::Existing(code)));
                    continue;
                }
                let day = write.date.format("%y%m%d").to_string();
                let sequence = store::next_sequence(&mut tx, &write.agency_code, &day).await?;
                let code = DossierCode::new(
                    &write.agency_code,
                    write.date,
                    u32::try_from(sequence).unwrap_or(u32::MAX),
                );
                let rows = (write.rows)(&code)?;
                store::insert_dossier(&mut tx, &rows.dossier).await?;
                let added = &write.documents;
                let at = write.at.timestamp_millis();
                submit::store_documents(
                    &mut tx,
                    rows.dossier.id,
                    &added.documents,
                    &added.added_by,
                    added.internal,
                    at,
                )
                .await?;
                store::delete_draft(&mut tx, &write.applicant_subject, &write.procedure_code).await?;
                keys.insert(key, code.clone());
                events.push(rows.event);
                filed_audits.push((rows.audit, write.at));
                jobs.extend(rows.jobs.into_iter().map(|job| (job, write.at)));
                Outcome::File(Filed::New(code))
            }
        };
        outcomes.push(outcome);
    }
    let events: Vec<&EventRow> = events.iter().collect();
    store::insert_events(&mut tx, &events).await?;
    let entries: Vec<(AuditEntry<'_>, DateTime<Utc>)> = audits
        .into_iter()
        .chain(filed_audits.iter().map(|(record, at)| (record, *at)))
        .map(|(record, at)| {
            let entry = AuditEntry {
                actor: &record.actor,
                action: record.action,
                subject: &record.subject,
                detail: record.detail.clone(),
                ip: None,
            };
            (entry, at)
        })
        .collect();
    audit::record_many(&mut tx, &entries).await?;
    let jobs: Vec<(&NewJob, DateTime<Utc>)> = jobs.iter().map(|(job, at)| (job, *at)).collect();
    jobs::enqueue_many(&mut tx, &jobs).await?;
    tx.commit().await?;
    Ok(outcomes)
}
