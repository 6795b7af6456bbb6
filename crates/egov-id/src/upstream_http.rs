//! The brokering endpoints: leaving for an upstream provider with the
//! authorization request in hand, and coming back to finish it.

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use egov_web::i18n::cookie_value;
use egov_web::{AppError, PageContext};

use crate::domain::AuthorizeParams;
use crate::http::{Requester, SESSION_COOKIE, complete, message_page, set_cookie, valid_request};
use crate::provider::Provider;
use crate::text::text;
use crate::upstream::UpstreamError;

/// The cookie binding an upstream sign-in to the browser that started it.
const UPSTREAM_COOKIE: &str = "egov_upstream";
/// Its lifetime, in seconds: the state's.
const UPSTREAM_COOKIE_SECONDS: u32 = 600;

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/oauth/upstream/callback", get(callback))
        .route("/oauth/upstream/{id}", get(start))
}

fn failure_page(context: &PageContext, error: &UpstreamError) -> Result<Response, AppError> {
    let t = text(context.lang);
    let message = match error {
        UpstreamError::LevelTooLow => t.upstream_level,
        UpstreamError::NoPersonalId => t.upstream_no_id,
        UpstreamError::Id(inner) => {
            tracing::error!(error = %inner, "Brokered sign-in failed");
            return Err(AppError::internal(inner.to_string()));
        }
        other => {
            tracing::warn!(error = %other, "Brokered sign-in failed");
            t.upstream_failed
        }
    };
    let status = match error {
        UpstreamError::Unknown => StatusCode::NOT_FOUND,
        UpstreamError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    message_page(context, status, t.upstream_failed_title, message)
}

async fn start(
    State(provider): State<Provider>,
    context: PageContext,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, AppError> {
    if id.len() > 64 {
        return failure_page(&context, &UpstreamError::Unknown);
    }
    // The request is checked now, so a bad one is answered before the user
    // leaves, and again on return.
    if let Err(response) = valid_request(&provider, &context, &params).await? {
        return Ok(response);
    }
    match provider.start_upstream(&id, query.as_deref().unwrap_or_default()).await {
        Ok(start) => {
            let mut response = Redirect::to(&start.url).into_response();
            set_cookie(
                &mut response,
                &provider,
                UPSTREAM_COOKIE,
                &start.state,
                Some(UPSTREAM_COOKIE_SECONDS),
            );
            Ok(response)
        }
        Err(error) => failure_page(&context, &error),
    }
}

#[derive(Debug, serde::Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Query(answer): Query<CallbackParams>,
) -> Result<Response, AppError> {
    let (Some(code), Some(state), None) = (answer.code.as_deref(), answer.state.as_deref(), answer.error.as_deref())
    else {
        let reason = answer.error.unwrap_or_else(|| "no code".to_owned());
        let error = UpstreamError::Refused(reason.chars().take(100).collect());
        return failure_page(&context, &error);
    };
    if code.len() > 2048 {
        return failure_page(&context, &UpstreamError::Refused("code too long".to_owned()));
    }
    let origin = requester.origin();
    let done = match provider
        .finish_upstream(
            code,
            state,
            cookie_value(&headers, UPSTREAM_COOKIE),
            origin.ip,
            origin.user_agent,
        )
        .await
    {
        Ok(done) => done,
        Err(error) => return failure_page(&context, &error),
    };
    let uri: Uri = format!("/?{}", done.params)
        .parse()
        .map_err(|_| AppError::internal("stored authorization request"))?;
    let Query(params) =
        Query::<AuthorizeParams>::try_from_uri(&uri).map_err(|_| AppError::internal("stored authorization request"))?;
    let mut response = match valid_request(&provider, &context, &params).await? {
        Ok((client, request)) => complete(&provider, &context, &client, &params, &request, &done.session).await?,
        Err(response) => response,
    };
    set_cookie(&mut response, &provider, SESSION_COOKIE, &done.cookie, None);
    set_cookie(&mut response, &provider, UPSTREAM_COOKIE, "", Some(0));
    Ok(response)
}
