//! Who is calling, as the one-stop shop needs to know it. The composition
//! supplies an [`Identify`]: bearer access tokens of the central sign-in
//! for the JSON API, the portal's session for pages. The one-stop shop
//! itself knows neither the sign-in service nor the portal.

use std::future::Future;
use std::pin::Pin;

use axum::http::{HeaderMap, header};
use egov_web::AppError;

use super::{Actor, Applicant, Official, Role};

/// A signed-in user with the claims the sign-in service gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub name: String,
    pub personal_id: Option<String>,
    pub email: Option<String>,
    /// For officials: their agency's code and roles as the sign-in service
    /// names them (`receiver`, `leader`, `agency_admin`, …).
    pub agency: Option<String>,
    /// For officials: their department in the agency, if any.
    pub department: Option<String>,
    pub roles: Vec<String>,
}

impl Identity {
    pub fn applicant(&self) -> Applicant {
        Applicant {
            subject: self.subject.clone(),
            name: self.name.clone(),
            personal_id: self.personal_id.clone(),
            email: self.email.clone(),
        }
    }

    /// The official behind this identity, if it has a one-stop role.
    pub fn official(&self) -> Option<Official> {
        let agency = self.agency.as_ref()?;
        let roles: Vec<Role> = self.roles.iter().filter_map(|role| Role::parse(role)).collect();
        (!roles.is_empty()).then(|| Official {
            subject: self.subject.clone(),
            name: self.name.clone(),
            agency_code: agency.clone(),
            department: self.department.clone(),
            roles,
        })
    }

    /// An official acts as one; everyone else as an applicant.
    pub fn actor(&self) -> Actor {
        self.official()
            .map_or_else(|| Actor::Applicant(self.applicant()), Actor::Official)
    }

    /// Whether this user may publish procedure versions: an agency admin
    /// (of an agency that offers the procedure) or a platform admin.
    pub fn administers(&self, agency_codes: &[String]) -> bool {
        let has = |role: &str| self.roles.iter().any(|held| held == role);
        has("platform_admin")
            || (has("agency_admin") && self.agency.as_ref().is_some_and(|agency| agency_codes.contains(agency)))
    }
}

/// A boxed future, so that [`Identify`] can be a trait object.
pub type IdentifyFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Identity>, AppError>> + Send + 'a>>;

/// A boxed future of an agency's officials.
pub type OfficialsFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Official>, AppError>> + Send + 'a>>;

/// How the composition tells the one-stop shop who is calling, and who
/// works at an agency.
pub trait Identify: Send + Sync + std::fmt::Debug {
    /// The user behind a bearer access token; `None` if it is not valid.
    fn bearer<'a>(&'a self, token: &'a str) -> IdentifyFuture<'a>;
    /// The user signed in to the portal in this browser.
    fn session<'a>(&'a self, headers: &'a HeaderMap) -> IdentifyFuture<'a>;
    /// The officials of `agency` with a one-stop role who may sign in now
    /// (not locked), by name: whom a leader can assign a dossier to. Their
    /// subjects are those the one-stop shop sees when they sign in.
    fn officials<'a>(&'a self, agency: &'a str) -> OfficialsFuture<'a>;
}

/// The bearer token of a request, if it carries one of a sane length.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.len() < 8192)
}
