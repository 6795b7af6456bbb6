//! Reporting each dossier's status to the national public service portal
//! (the federation's hub keeps the national index of dossiers and the
//! statistics per instance). The one-stop shop only queues a job,
//! [`STATUS_SYNC`], in the transaction of each submission and action, so a
//! report exists if and only if the change committed and is never lost;
//! the composition delivers it through the gateway, again until the hub
//! answers, with one message id per dossier revision, so the hub counts
//! each change once. Off unless the composition turns it on.

use egov_db::jobs::NewJob;
use serde_json::json;

use super::Dossiers;

/// Job kind: report a dossier's new status to the national portal.
pub const STATUS_SYNC: &str = "onestop.status_sync";

/// The report of a dossier's status after a change.
pub(crate) fn job(
    code: &str,
    agency: &str,
    procedure: &str,
    channel: &str,
    state: &str,
    revision: i32,
    at_ms: i64,
) -> NewJob {
    let mut job = NewJob::new(
        STATUS_SYNC,
        json!({
            "code": code,
            "agency": agency,
            "procedure": procedure,
            "channel": channel,
            "state": state,
            "revision": revision,
            "at": at_ms,
        }),
    );
    // Reporting goes on for days if the hub is away; a later change
    // supersedes an earlier report, so nothing is lost by giving up.
    job.max_attempts = 20;
    job
}

impl Dossiers {
    /// The same service, reporting every change of a dossier's status to
    /// the national portal.
    #[must_use]
    pub fn with_status_sync(mut self, on: bool) -> Dossiers {
        self.status_sync = on;
        self
    }

    pub(crate) fn status_sync(&self) -> bool {
        self.status_sync
    }
}
