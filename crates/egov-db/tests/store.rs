//! Integration tests of the store layer, on SQLite and on PostgreSQL.
//!
//! One test binary for the crate keeps link time down; each submodule covers
//! one part of the store: the job queue, the audit log, migrations and
//! connecting. Every test that touches a database runs on both engines
//! through `engine_test!`, each with a database of its own. Time moves only
//! through a `FixedClock`, never by sleeping.

// A test file is a crate root, whose modules would otherwise be looked up
// next to it in `tests/`, where each would become a test binary of its own.
#[path = "store/audit_log.rs"]
mod audit_log;
#[path = "store/connecting.rs"]
mod connecting;
#[path = "store/job_queue.rs"]
mod job_queue;
#[path = "store/migrations.rs"]
mod migrations;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use egov_core::clock::FixedClock;
use egov_db::Db;
use egov_db::jobs::{self, JobView, NewJob};
use uuid::Uuid;

/// The instant every test's clock starts at.
fn fixed_clock() -> Arc<FixedClock> {
    let start = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .expect("the start instant is valid RFC 3339")
        .with_timezone(&Utc);
    Arc::new(FixedClock::new(start))
}

/// Enqueues `job` in a transaction of its own and commits it; `None` when
/// the dedupe key was taken.
async fn enqueue_committed(db: &Db, job: &NewJob, now: DateTime<Utc>) -> Option<Uuid> {
    let mut tx = db.begin().await.expect("begin a transaction");
    let job_id = jobs::enqueue(&mut tx, job, now).await.expect("enqueue the job");
    tx.commit().await.expect("commit the enqueue");
    job_id
}

/// Reads a job that must exist.
async fn job_view(db: &Db, job_id: Uuid) -> JobView {
    jobs::get(db, job_id)
        .await
        .expect("read the job")
        .expect("the job exists")
}

/// How many jobs are in each status, as `(status, count)` sorted by status.
async fn counts(db: &Db) -> Vec<(String, i64)> {
    jobs::count_by_status(db).await.expect("count jobs by status")
}
