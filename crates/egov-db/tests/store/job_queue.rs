//! The durable job queue: exactly-once claiming across nodes, retries with
//! backoff, dead-lettering, leases, deduplication and the outbox property.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use egov_core::clock::{Clock, FixedClock};
use egov_db::Db;
use egov_db::jobs::{self, DEFAULT_QUEUE, JobStatus, NewJob, Worker};
use egov_testkit::engine_test;
use serde_json::json;
use uuid::Uuid;

use crate::{counts, enqueue_committed, fixed_clock, job_view};

/// The job kind the tests' handlers are registered for.
const KIND: &str = "test.record";

/// Every run of a job as `(node, job id)`, in the order the runs happened.
type Runs = Arc<Mutex<Vec<(usize, Uuid)>>>;

/// A worker on `db` that records which node ran which job.
///
/// Its first job waits at `both_started` until the other node's first job
/// gets there too, so both nodes are guaranteed to hold claims at the same
/// time instead of one draining the queue before the other starts.
fn recording_worker(
    db: Db,
    clock: &Arc<FixedClock>,
    node: usize,
    runs: &Runs,
    both_started: &Arc<tokio::sync::Barrier>,
) -> Worker {
    let runs = Arc::clone(runs);
    let both_started = Arc::clone(both_started);
    let first_job_done = Arc::new(AtomicBool::new(false));
    Worker::new(db, clock.clone(), format!("node-{node}")).handle(KIND, move |job| {
        let runs = Arc::clone(&runs);
        let both_started = Arc::clone(&both_started);
        let is_first_job = !first_job_done.swap(true, Ordering::SeqCst);
        async move {
            if is_first_job {
                both_started.wait().await;
            }
            // Give the other node's task a chance to claim between runs.
            tokio::task::yield_now().await;
            runs.lock()
                .expect("no handler panics while holding the lock")
                .push((node, job.id));
            tokio::task::yield_now().await;
            Ok(())
        }
    })
}

/// Runs batches until a poll finds nothing and every job is done.
async fn drain(worker: Worker, db: Db) {
    loop {
        let n_jobs = worker.run_once().await.expect("run a batch");
        if n_jobs == 0 {
            let statuses = counts(&db).await;
            if statuses.iter().all(|(status, _)| status == "done") {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
}

engine_test! {
    async fn two_nodes_never_run_the_same_job(test_db: TestDb) {
        const N_JOBS: usize = 200;
        let db = &test_db.db;
        let clock = fixed_clock();
        let mut tx = db.begin().await.expect("begin a transaction");
        let mut enqueued = Vec::with_capacity(N_JOBS);
        for index in 0..N_JOBS {
            let job = NewJob::new(KIND, json!({ "index": index }));
            let job_id = jobs::enqueue(&mut tx, &job, clock.now())
                .await
                .expect("enqueue a job")
                .expect("a job without a dedupe key is always created");
            enqueued.push(job_id);
        }
        tx.commit().await.expect("commit the jobs");

        let runs = Runs::default();
        let both_started = Arc::new(tokio::sync::Barrier::new(2));
        let nodes = [db.clone(), test_db.another_node().await];
        let tasks: Vec<_> = nodes
            .into_iter()
            .enumerate()
            .map(|(node, node_db)| {
                let worker = recording_worker(node_db.clone(), &clock, node, &runs, &both_started);
                tokio::spawn(drain(worker, node_db))
            })
            .collect();
        // A guard against a hang, not a wait for ordering: a queue that
        // loses a job would otherwise keep both workers polling for ever.
        tokio::time::timeout(Duration::from_mins(2), async {
            for task in tasks {
                task.await.expect("the worker task did not panic");
            }
        })
        .await
        .expect("the two nodes drained the queue within two minutes");

        let runs = runs.lock().expect("the workers are finished").clone();
        let mut seen = HashSet::new();
        let run_twice: Vec<Uuid> = runs
            .iter()
            .filter(|(_, job_id)| !seen.insert(*job_id))
            .map(|(_, job_id)| *job_id)
            .collect();
        assert!(run_twice.is_empty(), "jobs that ran more than once: {run_twice:?}");
        let mut ran: Vec<Uuid> = runs.iter().map(|(_, job_id)| *job_id).collect();
        ran.sort_unstable();
        enqueued.sort_unstable();
        assert_eq!(ran, enqueued, "every enqueued job ran, and nothing else");
        let per_node = [0, 1].map(|node| runs.iter().filter(|(by, _)| *by == node).count());
        assert!(per_node.iter().all(|&n_runs| n_runs > 0), "jobs run per node: {per_node:?}");
        assert_eq!(counts(db).await, vec![("done".to_owned(), 200)]);
    }
}

engine_test! {
    async fn a_failed_job_is_retried_only_after_its_backoff(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let handler_calls = Arc::clone(&calls);
        let worker = Worker::new(db.clone(), clock.clone(), "worker").handle(KIND, move |_job| {
            let call = handler_calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if call == 0 {
                    Err("the civil registry did not answer".to_owned())
                } else {
                    Ok(())
                }
            }
        });
        let job_id = enqueue_committed(db, &NewJob::new(KIND, json!({})), clock.now())
            .await
            .expect("the job is created");

        assert_eq!(worker.run_once().await.expect("run a batch"), 1);
        let job = job_view(db, job_id).await;
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.last_error.as_deref(), Some("the civil registry did not answer"));

        assert_eq!(worker.run_once().await.expect("poll"), 0, "retried with no time passing");
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(worker.run_once().await.expect("poll"), 0, "retried before the 2 s backoff");

        clock.advance(TimeDelta::minutes(10));
        assert_eq!(worker.run_once().await.expect("run a batch"), 1);
        let job = job_view(db, job_id).await;
        assert_eq!(job.status, JobStatus::Done);
        assert_eq!(job.attempts, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}

engine_test! {
    async fn a_job_that_fails_every_attempt_is_dead_lettered_until_requeued(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let failing = Arc::new(AtomicBool::new(true));
        let handler_failing = Arc::clone(&failing);
        let worker = Worker::new(db.clone(), clock.clone(), "worker").handle(KIND, move |_job| {
            let fail = handler_failing.load(Ordering::SeqCst);
            async move { if fail { Err("still broken".to_owned()) } else { Ok(()) } }
        });
        let mut job = NewJob::new(KIND, json!({}));
        job.max_attempts = 3;
        let job_id = enqueue_committed(db, &job, clock.now()).await.expect("the job is created");

        for attempt in 1..=3 {
            assert_eq!(worker.run_once().await.expect("run a batch"), 1, "attempt {attempt}");
            let job = job_view(db, job_id).await;
            let expected = if attempt < 3 { JobStatus::Pending } else { JobStatus::Dead };
            assert_eq!(job.status, expected, "after attempt {attempt}");
            assert_eq!(job.attempts, attempt);
            // Well past any backoff of the first attempts.
            clock.advance(TimeDelta::hours(2));
        }
        assert_eq!(job_view(db, job_id).await.last_error.as_deref(), Some("still broken"));

        clock.advance(TimeDelta::days(365));
        assert_eq!(worker.run_once().await.expect("poll"), 0, "a dead job was claimed");
        assert_eq!(job_view(db, job_id).await.status, JobStatus::Dead);

        assert!(jobs::requeue_dead(db, job_id, clock.now()).await.expect("requeue"));
        assert!(
            !jobs::requeue_dead(db, job_id, clock.now()).await.expect("requeue again"),
            "a job that is no longer dead was requeued"
        );
        let job = job_view(db, job_id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Pending, 0));

        failing.store(false, Ordering::SeqCst);
        assert_eq!(worker.run_once().await.expect("run a batch"), 1);
        let job = job_view(db, job_id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Done, 1));
    }
}

engine_test! {
    async fn a_job_of_a_kind_without_a_handler_fails_naming_the_kind(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let worker = Worker::new(db.clone(), clock.clone(), "worker")
            .handle(KIND, |_job| async { Ok(()) });
        let job_id = enqueue_committed(db, &NewJob::new("nobody.handles.this", json!({})), clock.now())
            .await
            .expect("the job is created");

        assert_eq!(worker.run_once().await.expect("run a batch"), 1);
        let job = job_view(db, job_id).await;
        assert_eq!((job.status, job.attempts), (JobStatus::Pending, 1));
        let last_error = job.last_error.expect("the failure is recorded");
        assert!(last_error.contains("nobody.handles.this"), "last error: {last_error}");
    }
}

engine_test! {
    async fn a_panicking_handler_fails_its_job_and_the_worker_carries_on(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let handler_calls = Arc::clone(&calls);
        let worker = Worker::new(db.clone(), clock.clone(), "worker").handle(KIND, move |job| {
            handler_calls.fetch_add(1, Ordering::SeqCst);
            let payload: serde_json::Value =
                serde_json::from_str(&job.payload).expect("the payload is JSON");
            let must_panic = payload["panic"] == json!(true);
            async move {
                assert!(!must_panic, "the handler was told to panic");
                Ok(())
            }
        });
        let panicking_id = enqueue_committed(db, &NewJob::new(KIND, json!({ "panic": true })), clock.now())
            .await
            .expect("the job is created");
        let healthy_id = enqueue_committed(db, &NewJob::new(KIND, json!({ "panic": false })), clock.now())
            .await
            .expect("the job is created");

        assert_eq!(worker.run_once().await.expect("the worker survives the panic"), 2);
        let panicked = job_view(db, panicking_id).await;
        assert_eq!((panicked.status, panicked.attempts), (JobStatus::Pending, 1));
        let last_error = panicked.last_error.expect("the failure is recorded");
        assert!(last_error.contains("panicked"), "last error: {last_error}");
        assert_eq!(job_view(db, healthy_id).await.status, JobStatus::Done);

        clock.advance(TimeDelta::minutes(10));
        assert_eq!(worker.run_once().await.expect("the same worker runs again"), 1);
        assert_eq!(job_view(db, panicking_id).await.attempts, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

engine_test! {
    async fn enqueueing_twice_with_one_dedupe_key_makes_one_job(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let keyed = |key: &str, payload| {
            let mut job = NewJob::new(KIND, payload);
            job.dedupe_key = Some(key.to_owned());
            job
        };
        let first = enqueue_committed(db, &keyed("housekeeping:2026-03-02", json!({ "n": 1 })), clock.now()).await;
        let second = enqueue_committed(db, &keyed("housekeeping:2026-03-02", json!({ "n": 2 })), clock.now()).await;
        assert!(first.is_some(), "the first enqueue creates the job");
        assert_eq!(second, None, "the second enqueue with the same key creates nothing");
        assert_eq!(counts(db).await, vec![("pending".to_owned(), 1)]);

        // Another key, and jobs without any key, are not deduplicated.
        assert!(enqueue_committed(db, &keyed("housekeeping:2026-03-03", json!({})), clock.now()).await.is_some());
        for _ in 0..2 {
            assert!(enqueue_committed(db, &NewJob::new(KIND, json!({})), clock.now()).await.is_some());
        }
        assert_eq!(counts(db).await, vec![("pending".to_owned(), 4)]);
    }
}

engine_test! {
    async fn a_job_exists_only_if_its_transaction_commits(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();

        let mut tx = db.begin().await.expect("begin a transaction");
        let rolled_back_id = jobs::enqueue(&mut tx, &NewJob::new(KIND, json!({})), clock.now())
            .await
            .expect("enqueue")
            .expect("the job is created in the transaction");
        tx.rollback().await.expect("roll back");
        assert!(jobs::get(db, rolled_back_id).await.expect("read the job").is_none());
        assert_eq!(counts(db).await, Vec::new());

        let mut tx = db.begin().await.expect("begin a transaction");
        let committed_id = jobs::enqueue(&mut tx, &NewJob::new(KIND, json!({})), clock.now())
            .await
            .expect("enqueue")
            .expect("the job is created in the transaction");
        assert!(
            jobs::get(db, committed_id).await.expect("read the job").is_none(),
            "a job is visible before its transaction commits"
        );
        tx.commit().await.expect("commit");
        let job = job_view(db, committed_id).await;
        assert_eq!((job.kind.as_str(), job.status), (KIND, JobStatus::Pending));
    }
}

engine_test! {
    async fn an_expired_lease_hands_the_job_to_another_worker(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let lease = Duration::from_secs(30);
        let job_id = enqueue_committed(db, &NewJob::new(KIND, json!({})), clock.now())
            .await
            .expect("the job is created");

        let claimed = jobs::claim(db, DEFAULT_QUEUE, "node-a", 8, lease, clock.now())
            .await
            .expect("claim");
        assert_eq!(claimed.iter().map(|job| (job.id, job.attempts)).collect::<Vec<_>>(), vec![(job_id, 1)]);
        let stolen = jobs::claim(db, DEFAULT_QUEUE, "node-b", 8, lease, clock.now()).await.expect("claim");
        assert!(stolen.is_empty(), "a leased job was claimed twice: {stolen:?}");
        clock.advance(TimeDelta::seconds(29));
        let stolen = jobs::claim(db, DEFAULT_QUEUE, "node-b", 8, lease, clock.now()).await.expect("claim");
        assert!(stolen.is_empty(), "a job was claimed before its lease ran out: {stolen:?}");

        clock.advance(TimeDelta::seconds(2));
        let taken_over = jobs::claim(db, DEFAULT_QUEUE, "node-b", 8, lease, clock.now())
            .await
            .expect("claim");
        assert_eq!(taken_over.iter().map(|job| (job.id, job.attempts)).collect::<Vec<_>>(), vec![(job_id, 2)]);

        assert!(
            !jobs::complete(db, job_id, "node-a", clock.now()).await.expect("complete"),
            "the worker that lost the lease completed the job"
        );
        assert_eq!(job_view(db, job_id).await.status, JobStatus::Running);
        assert!(jobs::complete(db, job_id, "node-b", clock.now()).await.expect("complete"));
        assert_eq!(job_view(db, job_id).await.status, JobStatus::Done);
    }
}

engine_test! {
    async fn a_job_whose_worker_dies_on_its_last_attempt_is_dead_lettered(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let lease = Duration::from_secs(30);
        let mut job = NewJob::new(KIND, json!({}));
        job.max_attempts = 1;
        let job_id = enqueue_committed(db, &job, clock.now()).await.expect("the job is created");
        let claimed = jobs::claim(db, DEFAULT_QUEUE, "node-a", 8, lease, clock.now()).await.expect("claim");
        assert_eq!(claimed.len(), 1);

        // node-a dies without recording anything; its lease runs out.
        clock.advance(TimeDelta::seconds(31));
        let reclaimed = jobs::claim(db, DEFAULT_QUEUE, "node-b", 8, lease, clock.now()).await.expect("claim");
        assert!(reclaimed.is_empty(), "a job past its last attempt ran again: {reclaimed:?}");
        let view = job_view(db, job_id).await;
        assert_eq!(view.status, JobStatus::Dead);
        assert!(view.last_error.is_some_and(|error| error.contains("lease expired")));
    }
}

engine_test! {
    async fn a_worker_that_lost_its_lease_records_no_failure(test_db: TestDb) {
        let db = &test_db.db;
        let clock = fixed_clock();
        let lease = Duration::from_secs(30);
        let job_id = enqueue_committed(db, &NewJob::new(KIND, json!({})), clock.now()).await.expect("created");
        let first = jobs::claim(db, DEFAULT_QUEUE, "node-a", 8, lease, clock.now()).await.expect("claim");
        clock.advance(TimeDelta::seconds(31));
        let second = jobs::claim(db, DEFAULT_QUEUE, "node-b", 8, lease, clock.now()).await.expect("claim");
        assert_eq!(second.len(), 1);
        let recorded = jobs::fail(db, &first[0], "node-a", "too late", clock.now()).await.expect("fail");
        assert_eq!(recorded, None);
        let view = job_view(db, job_id).await;
        assert_eq!((view.status, view.last_error), (JobStatus::Running, None));
    }
}
