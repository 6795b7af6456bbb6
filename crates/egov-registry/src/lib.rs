//! Base registries (cơ sở dữ liệu dùng chung): datasets defined by a
//! schema and served after the GovStack Digital Registries API, with the
//! citizen's data tracker.
//!
//! - `domain`: schemas, record validation, the shipped population and
//!   enterprise schemas, purposes (pure).
//! - `generate`: deterministic demo persons (pure).
//! - `store`: the `registry_*` tables.
//! - `service`: [`Registry`], the service the HTTP layers and the CLI call.
//! - `http`: [`service_router`], the Data and Database APIs under
//!   `/registry/`, for the gateway to call as a provider service. It is
//!   not part of the public app.
//! - `openapi`: the reading service's description, which the gateway
//!   publishes and enforces.
//! - `portal`: the citizen's page "Ai đã xem dữ liệu của tôi", and the
//!   [`Citizen`] trait through which the composition says who is signed in.
//!
//! It owns only the `registry_*` tables and reaches no other subsystem.

pub mod domain;
pub mod generate;
pub mod http;
pub mod openapi;
pub mod portal;
pub mod service;
pub mod store;

pub use http::service_router;
pub use portal::{Citizen, CitizenFuture, DataUsageApi, SignedInCitizen, portal_router};
pub use service::{ImportReport, Reader, Record, Registry, RegistryError, SearchQuery};
