//! The shell's own routes: health, readiness, metrics, assets, the language
//! switch and the OpenAPI description with its page.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};

use crate::api_docs::{ApiDocsPage, operations};
use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::layout::PageContext;
use crate::{ShellState, assets};

pub(crate) fn router(state: ShellState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/static/{name}", get(assets::serve_asset))
        .route("/lang", post(switch_language))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(api_docs))
        .with_state(state)
}

/// The process is alive; says nothing about its dependencies.
async fn healthz() -> &'static str {
    "ok"
}

/// The instance can serve: its database answers.
async fn readyz(State(state): State<ShellState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            tracing::warn!(error = %crate::error::error_chain(&error), "Readiness check failed");
            AppError::service_unavailable().into_response()
        }
    }
}

async fn metrics(State(state): State<ShellState>) -> Response {
    match egov_db::jobs::count_by_status(&state.db).await {
        Ok(counts) => state.metrics.set_job_counts(&counts),
        Err(error) => {
            tracing::warn!(error = %crate::error::error_chain(&error), "Could not count jobs for metrics");
        }
    }
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

#[derive(serde::Deserialize)]
struct LanguageForm {
    lang: String,
    next: Option<String>,
}

/// Only paths on this site are followed after the switch, never another
/// origin (`//host` or `/\host` would be one).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") && path.len() <= 2048 =>
        {
            path
        }
        _ => "/",
    }
}

/// Removes a `lang=` query parameter, so the cookie decides from now on.
fn without_lang_parameter(path: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query.split('&').filter(|pair| !pair.starts_with("lang=")).collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

async fn switch_language(State(state): State<ShellState>, Form(form): Form<LanguageForm>) -> Response {
    let lang = Lang::parse(&form.lang).unwrap_or_default();
    let target = without_lang_parameter(local_path(form.next.as_deref()));
    let secure = if state.https { "; Secure" } else { "" };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        lang.code()
    );
    let mut response = Redirect::to(&target).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn openapi_json(State(state): State<ShellState>) -> Json<Arc<utoipa::openapi::OpenApi>> {
    Json(Arc::clone(&state.openapi))
}

async fn api_docs(State(state): State<ShellState>, context: PageContext) -> Result<Html<String>, AppError> {
    let shell = context.shell();
    let page = ApiDocsPage {
        page: context.meta(shell.api_docs_title),
        shell,
        operations: operations(&state.openapi),
    };
    Ok(Html(page.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_switch_returns_only_to_local_paths() {
        assert_eq!(local_path(Some("/procedures?q=a")), "/procedures?q=a");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn the_language_switch_drops_the_lang_parameter() {
        assert_eq!(without_lang_parameter("/p?lang=en&q=x"), "/p?q=x");
        assert_eq!(without_lang_parameter("/p?lang=en"), "/p");
        assert_eq!(without_lang_parameter("/p"), "/p");
    }
}
