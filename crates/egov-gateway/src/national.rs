//! The national index of dossiers, kept by the hub as the national public
//! service portal. It owns `hub_dossier_index`.
//!
//! Served as the gateway's own local service `national` (register a
//! service with the target `local:national/national` and grant the
//! instances' one-stop subsystems): each instance reports every change of
//! a dossier's status, and the newest revision of a dossier wins, so a
//! report delivered twice, or after a newer one, changes nothing. The
//! reporting member is the calling subsystem's, as the gateway vouches
//! for it. Statistics per member (instance) and state, and one dossier's
//! status by code, are read from the same router.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use egov_core::clock::Clock;
use egov_db::{Db, with_pool};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::id::ClientId;

/// The name of this router among a gateway's local services.
pub const LOCAL_SERVICE: &str = "national";

#[derive(Clone)]
struct NationalState {
    db: Db,
    clock: Arc<dyn Clock>,
}

pub fn router(db: Db, clock: Arc<dyn Clock>) -> Router {
    Router::new()
        .route("/national/dossiers", post(report))
        .route("/national/dossiers/{code}", get(dossier))
        .route("/national/statistics", get(statistics))
        .with_state(NationalState { db, clock })
}

/// A dossier's status, as an instance reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StatusReport {
    pub code: String,
    pub agency: String,
    #[serde(rename = "procedure")]
    #[sqlx(rename = "procedure_code")]
    pub procedure_code: String,
    pub channel: String,
    pub state: String,
    pub revision: i32,
    #[serde(rename = "at")]
    #[sqlx(rename = "changed_at")]
    pub changed_at: i64,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "code": code, "message": message }))).into_response()
}

fn internal(error_text: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error_text, "The national index failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "The national index could not answer",
    )
}

fn plain(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control)
}

async fn report(State(state): State<NationalState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(member) = headers
        .get("x-road-client")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| ClientId::parse(value).ok())
        .map(|client| client.member().to_string())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_client",
            "Reports come through the gateway",
        );
    };
    let report: StatusReport = match serde_json::from_slice(&body) {
        Ok(report) => report,
        Err(failure) => return error(StatusCode::BAD_REQUEST, "invalid_request", &failure.to_string()),
    };
    let valid = plain(&report.code, 64)
        && plain(&report.agency, 64)
        && plain(&report.procedure_code, 64)
        && plain(&report.channel, 16)
        && plain(&report.state, 32)
        && report.revision >= 0;
    if !valid {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "A field is empty, too long or malformed",
        );
    }
    let now = state.clock.now().timestamp_millis();
    let written = with_pool!(&state.db, pool => {
        sqlx::query(
            "INSERT INTO hub_dossier_index (code, member, agency, procedure_code, channel, state, revision, \
             changed_at, reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (code) DO UPDATE SET agency = excluded.agency, procedure_code = excluded.procedure_code, \
             channel = excluded.channel, state = excluded.state, revision = excluded.revision, \
             changed_at = excluded.changed_at, reported_at = excluded.reported_at \
             WHERE hub_dossier_index.member = excluded.member AND hub_dossier_index.revision < excluded.revision",
        )
        .bind(&report.code)
        .bind(&member)
        .bind(&report.agency)
        .bind(&report.procedure_code)
        .bind(&report.channel)
        .bind(&report.state)
        .bind(report.revision)
        .bind(report.changed_at)
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    });
    match written {
        Ok(rows) => axum::Json(json!({ "code": report.code, "updated": rows > 0 })).into_response(),
        Err(failure) => internal(&failure),
    }
}

async fn dossier(State(state): State<NationalState>, Path(code): Path<String>) -> Response {
    let found: Result<Option<StatusReport>, sqlx::Error> = with_pool!(&state.db, pool => {
        sqlx::query_as(
            "SELECT code, agency, procedure_code, channel, state, revision, changed_at FROM hub_dossier_index \
             WHERE code = $1",
        )
        .bind(&code)
        .fetch_optional(pool)
        .await
    });
    match found {
        Ok(Some(report)) => axum::Json(report).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such dossier in the national index",
        ),
        Err(failure) => internal(&failure),
    }
}

async fn statistics(State(state): State<NationalState>) -> Response {
    let rows: Result<Vec<(String, String, String, i64)>, sqlx::Error> = with_pool!(&state.db, pool => {
        sqlx::query_as(
            "SELECT member, state, channel, COUNT(*) FROM hub_dossier_index GROUP BY member, state, channel \
             ORDER BY member, state, channel",
        )
        .fetch_all(pool)
        .await
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(failure) => return internal(&failure),
    };
    let mut members: std::collections::BTreeMap<String, serde_json::Value> = std::collections::BTreeMap::new();
    for (member, dossier_state, channel, count) in rows {
        let entry = members
            .entry(member.clone())
            .or_insert_with(|| json!({ "member": member, "dossiers": 0, "online": 0, "by_state": {} }));
        entry["dossiers"] = json!(entry["dossiers"].as_i64().unwrap_or(0) + count);
        if channel == "online" {
            entry["online"] = json!(entry["online"].as_i64().unwrap_or(0) + count);
        }
        let by_state = entry["by_state"][&dossier_state].as_i64().unwrap_or(0) + count;
        entry["by_state"][&dossier_state] = json!(by_state);
    }
    axum::Json(json!({ "members": members.into_values().collect::<Vec<_>>() })).into_response()
}
