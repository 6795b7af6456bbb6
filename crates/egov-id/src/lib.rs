//! Central sign-in (xác thực điện tử tập trung): an OpenID Connect provider
//! for every portal and agency system of the instance, egov's own portal
//! and back office included.
//!
//! `domain` holds the protocol's rules without IO, `store` its SQL,
//! `provider` the operations, `http` the endpoints and pages; `admin` the
//! operations behind the CLI (clients, users).

pub mod account;
mod account_http;
mod account_text;
pub mod account_totp;
mod account_totp_http;
pub mod admin;
mod assertion;
pub mod backchannel;
pub mod domain;
mod grant_writer;
pub mod http;
pub mod keys;
pub mod manage;
pub mod manage_http;
mod pairwise;
pub mod passkey;
mod passkey_http;
pub mod password;
pub mod password_policy;
pub mod platform_http;
mod platform_pages;
pub mod provider;
pub mod store;
mod text;
pub mod totp;
pub mod upstream;
mod upstream_http;

pub use provider::{IdConfig, Provider};

/// The sign-in service's routes.
pub fn router(provider: Provider) -> axum::Router {
    http::router(provider)
}
