//! The hub's HTTP face: `/hub/v1/join` (a gateway joins with its one-time
//! token), `/hub/v1/subsystems` (a gateway's signed list of the subsystems
//! it serves) and `/hub/v1/configuration` (the signed configuration every
//! gateway downloads). On an instance that is not a hub they answer 404.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use egov_core::clock::Clock;
use egov_db::Db;

use crate::conf::{self, GATEWAY_SIGNATURE_HEADER, HUB_MAC_HEADER, JoinRequest};
use crate::hub::{self, HubError};

#[derive(Clone)]
struct HubState {
    db: Db,
    clock: Arc<dyn Clock>,
}

pub fn router(db: Db, clock: Arc<dyn Clock>) -> Router {
    Router::new()
        .route("/hub/v1/join", post(join))
        .route("/hub/v1/subsystems", post(subsystems))
        .route("/hub/v1/configuration", get(configuration))
        .route("/hub/v1/timestamp", post(timestamp))
        .with_state(HubState { db, clock })
}

fn error(error: &HubError) -> Response {
    let (status, code) = match error {
        HubError::NotAHub => (StatusCode::NOT_FOUND, "not_a_hub"),
        HubError::BadToken => (StatusCode::FORBIDDEN, "bad_token"),
        HubError::NotAuthenticated(_) => (StatusCode::UNAUTHORIZED, "not_authenticated"),
        HubError::Invalid(_) | HubError::Json(_) | HubError::Key(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        HubError::AlreadyAHub(_) => (StatusCode::CONFLICT, "already_a_hub"),
        HubError::Certificate(_) | HubError::Db(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    };
    let message = if status.is_server_error() {
        tracing::error!(%error, "The hub failed");
        "The hub could not answer".to_owned()
    } else {
        error.to_string()
    };
    (
        status,
        axum::Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

async fn join(State(state): State<HubState>, body: Bytes) -> Response {
    let request: JoinRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(json) => return error(&HubError::Json(json)),
    };
    match hub::join(&state.db, &request, state.clock.now()).await {
        Ok(joined) => {
            let body = match serde_json::to_vec(&joined) {
                Ok(body) => body,
                Err(json) => return error(&HubError::Json(json)),
            };
            let mac = conf::join_mac(&request.token, &body);
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(value) = HeaderValue::from_str(&mac) {
                response.headers_mut().insert(HUB_MAC_HEADER, value);
            }
            response
        }
        Err(failure) => error(&failure),
    }
}

async fn subsystems(State(state): State<HubState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(signature) = headers
        .get(GATEWAY_SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
    else {
        return error(&HubError::NotAuthenticated("the request is not signed".to_owned()));
    };
    match hub::set_subsystems(&state.db, &body, signature, state.clock.now()).await {
        Ok(count) => axum::Json(serde_json::json!({ "subsystems": count })).into_response(),
        Err(failure) => error(&failure),
    }
}

async fn configuration(State(state): State<HubState>) -> Response {
    match hub::configuration(&state.db, state.clock.now()).await {
        Ok(signed) => axum::Json(signed).into_response(),
        Err(failure) => error(&failure),
    }
}

#[derive(serde::Deserialize)]
struct TimestampRequest {
    hash: String,
}

async fn timestamp(State(state): State<HubState>, body: Bytes) -> Response {
    let request: TimestampRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(json) => return error(&HubError::Json(json)),
    };
    match hub::timestamp(&state.db, &request.hash, state.clock.now()).await {
        Ok(token) => axum::Json(token).into_response(),
        Err(failure) => error(&failure),
    }
}
