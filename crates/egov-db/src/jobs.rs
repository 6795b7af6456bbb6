//! The durable job queue and outbox.
//!
//! A job is a row in `jobs`. Business code enqueues it in the same
//! transaction as the change that calls for it ([`enqueue`]), which makes the
//! table an outbox: the job exists if and only if the change committed.
//! Workers on any number of nodes claim due jobs, run them and record the
//! outcome. A claim is a lease: a node that dies mid-job loses the lease when
//! `locked_until` passes and another node takes the job over.
//!
//! Claiming is the one place the engines differ. PostgreSQL uses
//! `FOR UPDATE SKIP LOCKED`, so concurrent claimers pass over each other's
//! rows instead of waiting or double-claiming. SQLite has a single writer:
//! the claim is one `UPDATE … RETURNING` statement inside `BEGIN IMMEDIATE`,
//! so no two claimers can see the same pending row.
//!
//! A failed job is retried with exponential backoff; after `max_attempts` it
//! moves to the dead-letter state `dead`, where an operator can requeue it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use egov_core::clock::Clock;
use rand::RngExt as _;
use uuid::Uuid;

use crate::{Db, DbError, Tx, epoch_millis, with_pool, with_tx};

/// The queue that every job goes to unless it asks for another.
pub const DEFAULT_QUEUE: &str = "default";

/// A job to be enqueued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub queue: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    /// When the job becomes due; `None` means now.
    pub run_at: Option<DateTime<Utc>>,
    /// A key that makes enqueueing idempotent: a second job with the same key
    /// is not created.
    pub dedupe_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> NewJob {
        NewJob {
            queue: DEFAULT_QUEUE.to_owned(),
            kind: kind.into(),
            payload,
            max_attempts: 8,
            run_at: None,
            dedupe_key: None,
        }
    }
}

/// The lifecycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    /// Dead-lettered: it failed `max_attempts` times.
    Dead,
}

impl JobStatus {
    fn parse(value: &str) -> Option<JobStatus> {
        Some(match value {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "dead" => JobStatus::Dead,
            _ => return None,
        })
    }
}

/// A job that this worker holds the lease on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// A read view of a job, for operators and tests.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    pub status: JobStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Enqueues a job inside the caller's transaction (the outbox write).
///
/// Returns `None` when a job with the same dedupe key already exists.
#[tracing::instrument(skip_all, fields(kind = %job.kind))]
pub async fn enqueue(tx: &mut Tx, job: &NewJob, now: DateTime<Utc>) -> Result<Option<Uuid>, DbError> {
    let id = egov_core::id::new_id();
    let now_ms = epoch_millis(now);
    let run_at = epoch_millis(job.run_at.unwrap_or(now));
    let payload = job.payload.to_string();
    let max_attempts = i32::try_from(job.max_attempts).unwrap_or(i32::MAX);
    let inserted = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, dedupe_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8, $8) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(id)
        .bind(&job.queue)
        .bind(&job.kind)
        .bind(&payload)
        .bind(max_attempts)
        .bind(run_at)
        .bind(job.dedupe_key.as_deref())
        .bind(now_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok((inserted == 1).then_some(id))
}

/// Enqueues many jobs in one statement, in the caller's transaction: for
/// writers that commit a batch of changes at once. Jobs whose dedupe key is
/// taken are skipped, as [`enqueue`] skips them.
pub async fn enqueue_many(tx: &mut Tx, jobs: &[(&NewJob, DateTime<Utc>)]) -> Result<(), DbError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let rows: Vec<(Uuid, &NewJob, String, i32, i64, i64)> = jobs
        .iter()
        .map(|(job, now)| {
            (
                egov_core::id::new_id(),
                *job,
                job.payload.to_string(),
                i32::try_from(job.max_attempts).unwrap_or(i32::MAX),
                epoch_millis(job.run_at.unwrap_or(*now)),
                epoch_millis(*now),
            )
        })
        .collect();
    with_tx!(tx, conn => {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, dedupe_key, created_at, updated_at) ",
        );
        insert.push_values(&rows, |mut values, (id, job, payload, max_attempts, run_at, now_ms)| {
            values
                .push_bind(*id)
                .push_bind(job.queue.as_str())
                .push_bind(job.kind.as_str())
                .push_bind(payload.as_str())
                .push_bind("pending")
                .push_bind(0_i32)
                .push_bind(*max_attempts)
                .push_bind(*run_at)
                .push_bind(job.dedupe_key.as_deref())
                .push_bind(*now_ms)
                .push_bind(*now_ms);
        });
        insert.push(" ON CONFLICT (dedupe_key) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    });
    Ok(())
}

/// Claims up to `limit` due jobs of `queue` for `worker_id`, leasing them for
/// `lease`. Jobs whose lease ran out are claimable again.
#[tracing::instrument(skip(db))]
pub async fn claim(
    db: &Db,
    queue: &str,
    worker_id: &str,
    limit: u32,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<ClaimedJob>, DbError> {
    let now_ms = epoch_millis(now);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let locked_until = now_ms.saturating_add(lease_ms);
    let limit = i64::from(limit);
    // One write transaction (on SQLite, in this process's queue of writers,
    // so the claim never waits in SQLite's busy handler behind them).
    let mut tx = db.begin().await?;
    // A job whose worker died on its last attempt never reached `fail`, so
    // its expired lease is the failure: dead-letter it rather than run it
    // again, or a job that kills its worker would loop forever.
    with_tx!(&mut tx, conn => {
        sqlx::query(
            "UPDATE jobs SET status = 'dead', locked_by = NULL, locked_until = NULL, updated_at = $1, \
                 last_error = 'the worker stopped during the last attempt (lease expired)' \
             WHERE queue = $2 AND status = 'running' AND locked_until < $1 AND attempts >= max_attempts",
        )
        .bind(now_ms)
        .bind(queue)
        .execute(&mut *conn)
        .await?;
    });
    // SQLite's write lock already serialises claims; PostgreSQL workers
    // skip each other's rows.
    let lock = match db {
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Db::Sqlite(..) => "",
    };
    let claim = sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, updated_at = $3 \
         WHERE id IN ( \
             SELECT id FROM jobs \
             WHERE queue = $4 AND ((status = 'pending' AND run_at <= $3) \
                 OR (status = 'running' AND locked_until < $3)) \
             ORDER BY run_at \
             LIMIT $5{lock}) \
         RETURNING id, kind, payload, attempts, max_attempts"
    ));
    let jobs = with_tx!(&mut tx, conn => {
        sqlx::query_as::<_, ClaimedJob>(claim)
            .bind(worker_id)
            .bind(locked_until)
            .bind(now_ms)
            .bind(queue)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
    });
    tx.commit().await?;
    Ok(jobs)
}

/// Marks a claimed job done. Does nothing if the lease was lost meanwhile.
#[tracing::instrument(skip(db))]
pub async fn complete(db: &Db, job_id: Uuid, worker_id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    let now_ms = epoch_millis(now);
    let updated = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, updated_at = $1 \
             WHERE id = $2 AND locked_by = $3 AND status = 'running'",
        )
        .bind(now_ms)
        .bind(job_id)
        .bind(worker_id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// Records a failed run: back to pending with a backoff, or dead-lettered
/// once the job has used all its attempts. `None` when this worker had lost
/// the lease meanwhile, so nothing was recorded.
#[tracing::instrument(skip(db, error))]
pub async fn fail(
    db: &Db,
    job: &ClaimedJob,
    worker_id: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Option<JobStatus>, DbError> {
    let now_ms = epoch_millis(now);
    let status = if job.attempts >= job.max_attempts {
        JobStatus::Dead
    } else {
        JobStatus::Pending
    };
    let retry_at = now_ms.saturating_add(backoff_millis(job.attempts, &mut rand::rng()));
    let status_text = if status == JobStatus::Dead { "dead" } else { "pending" };
    let updated = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE jobs SET status = $1, run_at = $2, last_error = $3, locked_by = NULL, \
                 locked_until = NULL, updated_at = $4 \
             WHERE id = $5 AND locked_by = $6 AND status = 'running'",
        )
        .bind(status_text)
        .bind(retry_at)
        .bind(truncate(error, 2000))
        .bind(now_ms)
        .bind(job.id)
        .bind(worker_id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok((updated == 1).then_some(status))
}

/// Puts a dead-lettered job back in the queue with fresh attempts.
pub async fn requeue_dead(db: &Db, job_id: Uuid, now: DateTime<Utc>) -> Result<bool, DbError> {
    let now_ms = epoch_millis(now);
    let updated = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $1, updated_at = $1 \
             WHERE id = $2 AND status = 'dead'",
        )
        .bind(now_ms)
        .bind(job_id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// Reads one job, for operators and tests.
pub async fn get(db: &Db, job_id: Uuid) -> Result<Option<JobView>, DbError> {
    type Row = (Uuid, String, String, i32, Option<String>);
    let row: Option<Row> = with_pool!(db, pool => {
        sqlx::query_as("SELECT id, kind, status, attempts, last_error FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(id, kind, status, attempts, last_error)| JobView {
        id,
        kind,
        // The CHECK constraint on the column admits only the four names.
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Pending),
        attempts,
        last_error,
    }))
}

/// Counts jobs per status, for `/metrics` and the operator pages.
pub async fn count_by_status(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await?
    }))
}

/// Deletes finished jobs older than `before`; returns how many went.
pub async fn purge_done(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let before_ms = epoch_millis(before);
    Ok(with_pool!(db, pool => {
        sqlx::query("DELETE FROM jobs WHERE status = 'done' AND updated_at < $1")
            .bind(before_ms)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// Exponential backoff: 2 s, 4 s, 8 s … capped at one hour, with up to 20 %
/// random jitter so that jobs failing together do not retry together.
fn backoff_millis(attempts: i32, rng: &mut impl rand::Rng) -> i64 {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let base = 2_000_i64.saturating_mul(1_i64 << exponent).min(3_600_000);
    let jitter = rng.random_range(0..=base / 5);
    base + jitter
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// The future a job handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// A job handler: takes the job, succeeds or says why it failed.
pub type Handler = Arc<dyn Fn(ClaimedJob) -> HandlerFuture + Send + Sync>;

/// Polls one queue and runs the jobs it claims with the registered handlers.
#[derive(Clone)]
#[allow(clippy::struct_field_names)] // `worker_id` is the name the queue's rows and logs use.
pub struct Worker {
    db: Db,
    clock: Arc<dyn Clock>,
    worker_id: String,
    queue: String,
    handlers: HashMap<String, Handler>,
    poll_interval: Duration,
    lease: Duration,
    batch: u32,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("worker_id", &self.worker_id)
            .field("queue", &self.queue)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(db: Db, clock: Arc<dyn Clock>, worker_id: impl Into<String>) -> Worker {
        Worker {
            db,
            clock,
            worker_id: worker_id.into(),
            queue: DEFAULT_QUEUE.to_owned(),
            handlers: HashMap::new(),
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_mins(5),
            batch: 32,
        }
    }

    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Worker {
        self.poll_interval = interval;
        self
    }

    #[must_use]
    pub fn handle<F, Fut>(mut self, kind: &str, handler: F) -> Worker
    where
        F: Fn(ClaimedJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.handlers
            .insert(kind.to_owned(), Arc::new(move |job| Box::pin(handler(job))));
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Claims and runs one batch; returns how many jobs it ran.
    pub async fn run_once(&self) -> Result<usize, DbError> {
        let jobs = claim(
            &self.db,
            &self.queue,
            &self.worker_id,
            self.batch,
            self.lease,
            self.clock.now(),
        )
        .await?;
        let n_jobs = jobs.len();
        // The batch's handlers run at once, each in its own task (so that a
        // panic in one is caught as a failed run instead of killing the
        // worker): a batch of jobs that each wait on the network (mail,
        // messages through the gateway) takes as long as its slowest.
        let running: Vec<_> = jobs
            .iter()
            .map(|job| {
                self.handlers
                    .get(&job.kind)
                    .map(|handler| tokio::spawn(handler(job.clone())))
            })
            .collect();
        for (job, task) in jobs.into_iter().zip(running) {
            let outcome = match task {
                Some(task) => match task.await {
                    Ok(result) => result,
                    Err(join_error) => Err(format!("handler panicked: {join_error}")),
                },
                None => Err(format!("no handler for job kind `{}`", job.kind)),
            };
            let now = self.clock.now();
            match outcome {
                Ok(()) => {
                    complete(&self.db, job.id, &self.worker_id, now).await?;
                }
                Err(error) => {
                    let status = fail(&self.db, &job, &self.worker_id, &error, now).await?;
                    tracing::warn!(job_id = %job.id, kind = %job.kind, attempts = job.attempts, ?status, %error, "Job failed");
                }
            }
        }
        Ok(n_jobs)
    }

    /// Runs until `shutdown` turns true, polling when the queue is empty.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let idle = match self.run_once().await {
                Ok(n_jobs) => n_jobs == 0,
                Err(error) => {
                    tracing::error!(error = %error, "Job worker could not poll the queue");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = tokio::time::sleep(self.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_at_an_hour() {
        let mut rng = rand::rng();
        for attempts in 1..30 {
            let delay = backoff_millis(attempts, &mut rng);
            let exponent = u32::try_from(attempts.min(20) - 1).unwrap_or(0);
            let base = (2_000_i64 << exponent).min(3_600_000);
            assert!(delay >= base && delay <= base + base / 5, "attempt {attempts}: {delay}");
        }
    }

    #[test]
    fn truncate_cuts_on_a_character_boundary() {
        assert_eq!(truncate("Đăng ký", 3), "Đăn");
        assert_eq!(truncate("ok", 10), "ok");
    }
}
