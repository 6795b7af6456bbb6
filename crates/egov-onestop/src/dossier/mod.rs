//! Dossiers (hồ sơ): submitted online by citizens or registered at the
//! counter, moved through the procedure's workflow by officials, and
//! returned with a result.
//!
//! [`Dossiers`] is the service the pages and the JSON API call: `submit`
//! ([`submit`]), `act` ([`transition`]), and the reads in [`read`]. Every
//! change writes its step-log line, an audit record and the applicant's
//! notice in one transaction; a change races others through the row's
//! `revision`, so of two concurrent actions one wins and the other gets
//! [`DossierError::Conflict`].

pub mod api;
pub mod back_office;
pub mod counter;
pub mod domain;
pub mod eform;
pub mod form_view;
pub mod govstack;
pub mod identity;
pub mod pages;
pub mod payment;
pub mod payment_http;
pub mod population;
pub mod read;
pub mod result;
pub mod result_http;
pub mod statistics;
pub mod status_sync;
pub mod store;
pub mod submit;
mod text;
pub mod transition;
pub mod upload;
pub mod versions;
mod writer;

use std::sync::Arc;

use egov_core::calendar::HolidayCalendar;
use egov_core::clock::Clock;
use egov_db::{Db, DbError};

use crate::catalogue::Catalogue;
pub use domain::{Action, DossierCode, Role, State};

/// Every dossier route: the JSON API, the portal's pages and the back office.
pub fn router(state: api::DossierState) -> axum::Router {
    api::router(state.clone())
        .merge(pages::router(state.clone()))
        .merge(back_office::router(state.clone()))
        .merge(counter::router(state.clone()))
        .merge(statistics::router(state.clone()))
        .merge(payment_http::router(state.clone()))
        .merge(result_http::router(state.clone()))
        .merge(govstack::router(state))
}

/// The one-stop dossier service of a node.
#[derive(Debug, Clone)]
pub struct Dossiers {
    db: Db,
    clock: Arc<dyn Clock>,
    calendar: Arc<HolidayCalendar>,
    catalogue: Catalogue,
    payments: Arc<payment::PaymentSettings>,
    /// The instance's public URL, for addresses printed on documents.
    public_url: Arc<str>,
    /// Failed public lookups per client address, to stop guessing.
    lookups: Arc<read::LookupLimiter>,
    /// Procedure versions read so far (they never change once published).
    versions: Arc<std::sync::RwLock<std::collections::HashMap<(String, i32), versions::ProcedureVersion>>>,
    /// Each procedure's versions with their dates, as read (and when).
    schedules: Arc<std::sync::RwLock<std::collections::HashMap<String, versions::Schedule>>>,
    /// The group-commit writer of submissions and actions, started on
    /// first use.
    writer: Arc<std::sync::OnceLock<writer::ActionWriter>>,
    /// The population registry, for prefilling forms; none: not offered.
    population: Option<Arc<dyn population::PopulationLookup>>,
    /// Signs which form values came from the registry.
    prefill_key: Arc<[u8]>,
    /// Report each change of status to the national portal.
    status_sync: bool,
}

impl Dossiers {
    pub fn new(db: Db, clock: Arc<dyn Clock>, calendar: Arc<HolidayCalendar>, catalogue: Catalogue) -> Dossiers {
        Dossiers {
            db,
            clock,
            calendar,
            catalogue,
            payments: Arc::default(),
            public_url: Arc::from("http://localhost"),
            versions: Arc::default(),
            lookups: Arc::default(),
            writer: Arc::default(),
            schedules: Arc::default(),
            population: None,
            prefill_key: Arc::from(&[][..]),
            status_sync: false,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// A citizen (or business) acting on their own dossiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applicant {
    /// The sign-in service's `sub` for this portal.
    pub subject: String,
    pub name: String,
    pub personal_id: Option<String>,
    pub email: Option<String>,
}

/// An official of an agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Official {
    pub subject: String,
    pub name: String,
    pub agency_code: String,
    /// Their department in the agency; none: they see the whole agency
    /// (leaders, agency admins).
    pub department: Option<String>,
    pub roles: Vec<Role>,
}

impl Official {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether a dossier at `department`'s step, assigned to `assignee`, is
    /// within this official's part of the agency: theirs if they belong to
    /// no department, if the step belongs to none or to theirs, or if it is
    /// assigned to them.
    pub fn covers(&self, department: Option<&str>, assignee: Option<&str>) -> bool {
        match (self.department.as_deref(), department) {
            (None, _) | (_, None) => true,
            (Some(mine), Some(step)) => mine == step || assignee == Some(self.subject.as_str()),
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Applicant(Applicant),
    Official(Official),
}

impl Actor {
    pub fn subject(&self) -> &str {
        match self {
            Actor::Applicant(applicant) => &applicant.subject,
            Actor::Official(official) => &official.subject,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::Applicant(applicant) => &applicant.name,
            Actor::Official(official) => &official.name,
        }
    }

    fn agency(&self) -> Option<&str> {
        match self {
            Actor::Applicant(_) => None,
            Actor::Official(official) => Some(&official.agency_code),
        }
    }
}

/// Why a dossier operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DossierError {
    /// No such dossier, or not one this actor may see (the two are not told
    /// apart, so codes cannot be probed).
    #[error("no such dossier")]
    NotFound,
    /// Seen, but this actor may not do that.
    #[error("not permitted: {0}")]
    Forbidden(&'static str),
    #[error("no such procedure, or not offered by that agency")]
    UnknownProcedure,
    #[error("the procedure has no version in force")]
    NoVersion,
    /// Form values or documents are wrong; each problem names its field.
    #[error("the dossier has {} problem(s)", .0.len())]
    Invalid(Vec<eform::Problem>),
    #[error(transparent)]
    NotAllowed(#[from] domain::NotAllowed),
    /// Another action changed the dossier first.
    #[error("the dossier was changed by someone else")]
    Conflict,
    #[error("{0}")]
    BadRequest(&'static str),
    /// Too many failed lookups from this address; try again later.
    #[error("too many attempts")]
    TooManyAttempts,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl DossierError {
    fn invalid(path: &str, vi: impl Into<String>, en: impl Into<String>) -> DossierError {
        DossierError::Invalid(vec![eform::Problem {
            path: path.to_owned(),
            vi: vi.into(),
            en: en.into(),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::{Official, Role};

    fn official(department: Option<&str>) -> Official {
        Official {
            subject: "official-1".to_owned(),
            name: "Lê Văn Cường".to_owned(),
            agency_code: "000.00.01.H24".to_owned(),
            department: department.map(str::to_owned),
            roles: vec![Role::Specialist],
        }
    }

    #[test]
    fn an_official_of_a_department_covers_its_steps_the_unowned_ones_and_what_they_were_given() {
        let specialist = official(Some("CHUYEN_MON"));
        assert!(specialist.covers(Some("CHUYEN_MON"), None));
        assert!(
            specialist.covers(None, None),
            "a step of no department is the whole agency's"
        );
        assert!(!specialist.covers(Some("MOT_CUA"), None));
        assert!(!specialist.covers(Some("MOT_CUA"), Some("someone-else")));
        assert!(
            specialist.covers(Some("MOT_CUA"), Some("official-1")),
            "assigned to them"
        );
        let leader = official(None);
        assert!(leader.covers(Some("MOT_CUA"), None), "no department: the whole agency");
    }
}
