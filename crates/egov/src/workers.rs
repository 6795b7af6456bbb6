//! Background work of a node: the job worker and the housekeeping
//! schedule that feeds it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Days;
use egov_core::clock::Clock;
use egov_db::Db;
use egov_db::jobs::{self, NewJob, Worker};
use egov_id::backchannel::{BACKCHANNEL_LOGOUT, LogoutSender};
use egov_mail::Mailer;

/// Job kind: delete finished jobs older than a week.
pub const PURGE_DONE_JOBS: &str = "jobs.purge_done";
/// Job kind: remove archived message-log records past the retention.
pub const GATEWAY_LOG_RETENTION: &str = "gateway.log_retention";

/// The services the job handlers use.
#[derive(Debug, Clone)]
pub struct Handlers {
    /// Without a mailer, mail jobs fail and retry, so nothing is lost until
    /// SMTP is configured.
    pub mailer: Option<Mailer>,
    pub logouts: LogoutSender,
    /// Renders and signs dossiers' results.
    pub dossiers: egov_onestop::dossier::Dossiers,
    /// Sends the outbox's messages and pushes rooms' events.
    pub gateway: egov_gateway::Gateway,
    /// Where dossier statuses are reported, if anywhere.
    pub national: Option<crate::app::PopulationSetup>,
}

/// The worker with every handler this node runs.
pub fn worker(db: &Db, clock: Arc<dyn Clock>, node_id: &str, poll_interval: Duration, handlers: Handlers) -> Worker {
    let Handlers {
        mailer,
        logouts,
        dossiers,
        gateway,
        national,
    } = handlers;
    let status_gateway = gateway.clone();
    let push_gateway = gateway.clone();
    let retention_db = db.clone();
    let purge_db = db.clone();
    let purge_clock = Arc::clone(&clock);
    Worker::new(db.clone(), clock, node_id)
        .poll_interval(poll_interval)
        .handle(PURGE_DONE_JOBS, move |_job| {
            let db = purge_db.clone();
            let clock = Arc::clone(&purge_clock);
            async move {
                let before = clock
                    .now()
                    .checked_sub_days(Days::new(7))
                    .unwrap_or_else(|| clock.now());
                let purged = jobs::purge_done(&db, before).await.map_err(|error| error.to_string())?;
                tracing::info!(purged, "Purged finished jobs");
                Ok(())
            }
        })
        .handle(egov_mail::SEND_MAIL, move |job| {
            let mailer = mailer.clone();
            async move {
                let Some(mailer) = mailer else {
                    return Err("mail.smtp_url is not set".to_owned());
                };
                mailer.deliver(&job.payload).await.map_err(|error| error.to_string())
            }
        })
        .handle(BACKCHANNEL_LOGOUT, move |job| {
            let logouts = logouts.clone();
            async move { logouts.deliver(&job.payload).await }
        })
        .handle(egov_onestop::dossier::result::PRODUCE_RESULT, move |job| {
            let dossiers = dossiers.clone();
            async move {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).map_err(|error| error.to_string())?;
                dossiers.produce_result(&payload).await
            }
        })
        .handle(egov_onestop::dossier::status_sync::STATUS_SYNC, move |job| {
            let (gateway, national) = (status_gateway.clone(), national.clone());
            async move {
                match &national {
                    Some(national) => crate::app::report_status(&gateway, national, &job.payload).await,
                    // Reports were turned off since: nothing to send.
                    None => Ok(()),
                }
            }
        })
        .handle(GATEWAY_LOG_RETENTION, move |job| {
            let db = retention_db.clone();
            async move {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).map_err(|error| error.to_string())?;
                let before = payload["before"].as_i64().ok_or("no `before` in the job")?;
                let removed = egov_gateway::log::purge_archived(&db, before)
                    .await
                    .map_err(|error| error.to_string())?;
                tracing::info!(removed, "Removed archived message-log records past the retention");
                Ok(())
            }
        })
        .handle(egov_gateway::outbox::SEND_MESSAGE, move |job| {
            let gateway = gateway.clone();
            async move { egov_gateway::outbox::deliver(&gateway, &job.payload).await }
        })
        .handle(egov_gateway::pubsub::PUSH_EVENT, move |job| {
            let gateway = push_gateway.clone();
            async move { egov_gateway::pubsub::push(&gateway, &job.payload).await }
        })
}

/// Enqueues today's housekeeping once per day across all nodes: the dedupe
/// key makes every node's attempt after the first a no-op.
pub async fn schedule_housekeeping(
    db: &Db,
    clock: &dyn Clock,
    log_retention_days: u32,
) -> Result<(), egov_db::DbError> {
    let now = clock.now();
    let day = now.format("%Y-%m-%d");
    let mut job = NewJob::new(PURGE_DONE_JOBS, serde_json::json!({}));
    job.dedupe_key = Some(format!("{PURGE_DONE_JOBS}:{day}"));
    let mut tx = db.begin().await?;
    jobs::enqueue(&mut tx, &job, now).await?;
    if log_retention_days > 0 {
        let before = now - chrono::TimeDelta::days(i64::from(log_retention_days));
        let mut job = NewJob::new(
            GATEWAY_LOG_RETENTION,
            serde_json::json!({ "before": before.timestamp_millis() }),
        );
        job.dedupe_key = Some(format!("{GATEWAY_LOG_RETENTION}:{day}"));
        jobs::enqueue(&mut tx, &job, now).await?;
    }
    tx.commit().await
}
