//! The public procedure catalogue: what a citizen searches on the portal's
//! first page, and the JSON API over the same data.

pub mod domain;
pub mod http;
pub mod import;
pub mod search;
pub mod store;
mod text;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use egov_core::calendar::HolidayCalendar;
use egov_core::clock::Clock;
use egov_db::{Db, DbError};

use crate::directory::{self, Agency};
use search::SearchIndex;
use store::FieldView;

/// One revision of the catalogue as a node serves it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub index: SearchIndex,
    pub agencies: Vec<Agency>,
    pub fields: Vec<FieldView>,
}

impl Snapshot {
    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.agencies.iter().find(|agency| agency.code == code)
    }

    pub fn field(&self, code: &str) -> Option<&FieldView> {
        self.fields.iter().find(|field| field.code == code)
    }
}

/// How long a node serves its index before it checks the database for a
/// newer revision. Bounds how stale another node's view can be after an
/// import; the node that imports refreshes at once.
const REVISION_CHECK_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Cached {
    revision: i64,
    snapshot: Arc<Snapshot>,
    checked_at: Instant,
}

/// The catalogue as one node serves it: the database plus an index of the
/// current revision.
#[derive(Debug, Clone)]
pub struct Catalogue {
    db: Db,
    clock: Arc<dyn Clock>,
    calendar: Arc<HolidayCalendar>,
    cached: Arc<RwLock<Option<Cached>>>,
    reload: Arc<tokio::sync::Mutex<()>>,
}

impl Catalogue {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Arc<HolidayCalendar>) -> Catalogue {
        Catalogue {
            db,
            clock,
            calendar,
            cached: Arc::default(),
            reload: Arc::default(),
        }
    }

    /// The date a result is due if a complete dossier for `procedure` is
    /// received today (Vietnam time): a dossier that arrives on a day off
    /// counts as received on the next working day.
    pub fn due_if_received_today(&self, procedure: &domain::Procedure) -> chrono::NaiveDate {
        let today = egov_core::clock::vn_now(self.clock.as_ref()).date();
        let received = if self.calendar.is_working_day(today) {
            today
        } else {
            self.calendar.add_working_days(today, 0)
        };
        self.calendar.add_working_days(received, procedure.processing_days)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn fresh_snapshot(&self) -> Option<Arc<Snapshot>> {
        let cached = self.cached.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|cached| cached.checked_at.elapsed() < REVISION_CHECK_INTERVAL)
            .map(|cached| Arc::clone(&cached.snapshot))
    }

    /// The current revision, rebuilt if the database moved on.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, DbError> {
        if let Some(snapshot) = self.fresh_snapshot() {
            return Ok(snapshot);
        }
        // One task per node checks and rebuilds; the others wait for it and
        // then find a fresh index.
        let _guard = self.reload.lock().await;
        if let Some(snapshot) = self.fresh_snapshot() {
            return Ok(snapshot);
        }
        let revision = store::revision(&self.db).await?;
        let current = {
            let mut cached = self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            match cached.as_mut() {
                Some(cached) if cached.revision == revision => {
                    cached.checked_at = Instant::now();
                    Some(Arc::clone(&cached.snapshot))
                }
                _ => None,
            }
        };
        if let Some(snapshot) = current {
            return Ok(snapshot);
        }
        let (revision, procedures) = store::load_all(&self.db).await?;
        let agencies = directory::store::agencies(&self.db).await?;
        let fields = store::fields(&self.db).await?;
        let snapshot = Arc::new(Snapshot {
            index: SearchIndex::build(procedures),
            agencies,
            fields,
        });
        tracing::info!(revision, n_procedures = snapshot.index.len(), "Catalogue index rebuilt");
        let mut cached = self.cached.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *cached = Some(Cached {
            revision,
            snapshot: Arc::clone(&snapshot),
            checked_at: Instant::now(),
        });
        Ok(snapshot)
    }
}
