//! The web shell that every subsystem's pages and APIs are served in.
//!
//! Owns the layout and its two languages, error rendering, CSRF protection,
//! security headers, static assets, request ids, request metrics, the health
//! endpoints and the API documentation page. It owns no business rules and
//! no tables: subsystems hand it their routers and it wraps them.

pub mod api_docs;
pub mod assets;
pub mod csrf;
pub mod error;
pub mod i18n;
pub mod layout;
pub mod observability;
pub mod security;
mod shell_routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use egov_db::Db;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::{AppError, Localized};
pub use i18n::Lang;
pub use layout::{PageContext, PageMeta};
pub use observability::Metrics;

/// Settings of the shell.
#[derive(Clone)]
pub struct ShellConfig {
    /// Key for signing CSRF tokens; at least 32 bytes.
    pub secret_key: Vec<u8>,
    /// Whether users reach the instance over TLS (sets HSTS and Secure cookies).
    pub https: bool,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// Path prefixes of server-to-server endpoints that take no CSRF token.
    pub csrf_exempt: Vec<&'static str>,
}

impl std::fmt::Debug for ShellConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellConfig")
            .field("https", &self.https)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// What the shell's own routes need.
#[derive(Clone)]
pub struct ShellState {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    pub https: bool,
}

impl std::fmt::Debug for ShellState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellState")
            .field("db", &self.db)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the subsystems' routes in the shell: adds the shell's routes, a
/// not-found fallback, and every layer, outermost last.
pub fn shell(app: Router, config: &ShellConfig, state: ShellState) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let csrf = csrf::CsrfConfig::new(&config.secret_key, config.https).exempt(&config.csrf_exempt);
    let router = app
        .merge(shell_routes::router(state))
        .fallback(|| async { AppError::not_found() })
        .layer(from_fn_with_state(metrics, observability::track_requests))
        .layer(CatchPanicLayer::new())
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(from_fn_with_state(csrf, csrf::csrf_layer))
        .layer(from_fn(error::render_errors));
    security::with_security_headers(router, config.https)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
