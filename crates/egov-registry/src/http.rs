//! The registry as a provider service: the GovStack Data API
//! (`/registry/data/{registry}/{version}/…`) and Database API
//! (`/registry/databases`, `/registry/database/…`) over [`Registry`].
//!
//! The gateway calls this router in process and has already checked the
//! caller's access right to the service; this layer trusts the headers it
//! passes on: `X-Road-Client` (the calling subsystem), `X-Road-UserId`,
//! `X-Road-Issue` (`{purpose}` or `{purpose}:{reference}`) and `X-Road-Id`.
//! Reads, exists and searches need all of the first three; the purpose must
//! be granted to the client for the dataset. Errors are JSON
//! `{"code","message"}` written here, since the router is served outside
//! the web shell.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::domain::{DatasetSchema, Purpose};
use crate::service::{Reader, Record, Registry, RegistryError, SearchQuery};

pub const CLIENT_HEADER: &str = "x-road-client";
pub const USER_HEADER: &str = "x-road-userid";
pub const ISSUE_HEADER: &str = "x-road-issue";
pub const MESSAGE_ID_HEADER: &str = "x-road-id";

/// The Data and Database APIs, under `/registry/`.
pub fn service_router(registry: Registry) -> Router {
    Router::new()
        .route("/registry/databases", get(databases))
        .route("/registry/database/modify", post(modify_database))
        .route("/registry/database/{id}", get(database))
        .route("/registry/data/{registry}/{version}", get(search))
        .route("/registry/data/{registry}/{version}/create", post(create))
        .route("/registry/data/{registry}/{version}/read", post(read))
        .route("/registry/data/{registry}/{version}/exists", post(exists))
        .route("/registry/data/{registry}/{version}/update", put(update))
        .route("/registry/data/{registry}/{version}/{id}/delete", delete(remove))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such registry operation") })
        .with_state(registry)
}

// ---------------------------------------------------------------- errors

/// An error answered as `{"code","message"}` (plus `errors` for a record
/// that does not validate).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if !self.errors.is_empty() {
            body["errors"] = Value::Array(self.errors);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> ApiError {
        let message = error.to_string();
        match error {
            RegistryError::UnknownDataset(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_dataset", message),
            RegistryError::UnknownVersion { .. } => ApiError::new(StatusCode::NOT_FOUND, "unknown_version", message),
            RegistryError::Invalid(errors) => ApiError {
                errors: errors
                    .iter()
                    .map(|error| {
                        json!({
                            "field": error.field,
                            "code": error.problem.code(),
                            "message": error.problem.to_string(),
                        })
                    })
                    .collect(),
                ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_record", message)
            },
            RegistryError::BadSchema(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_schema", message),
            RegistryError::BadQuery(_) | RegistryError::Csv { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message)
            }
            RegistryError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no record found"),
            RegistryError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "exists", message),
            RegistryError::KeyChange => ApiError::new(StatusCode::CONFLICT, "key_change", message),
            RegistryError::PurposeNotAllowed { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "purpose_not_allowed", message)
            }
            RegistryError::Db(_) | RegistryError::StoredSchema(_) => {
                tracing::error!(cause = %egov_web::error::error_chain(&error), "Registry request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on our side",
                )
            }
        }
    }
}

fn bad_body(rejection: &JsonRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", rejection.body_text())
}

// --------------------------------------------------------------- headers

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty() && value.len() <= 512)
}

/// The calling subsystem, `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
fn client(headers: &HeaderMap) -> Result<&str, ApiError> {
    header(headers, CLIENT_HEADER)
        .filter(|client| client.split('/').count() == 4 && client.split('/').all(|part| !part.is_empty()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_client",
                "X-Road-Client must name the calling subsystem (INSTANCE/CLASS/MEMBER/SUBSYSTEM)",
            )
        })
}

/// Who reads and why; both are required for every read.
fn reader(headers: &HeaderMap) -> Result<Reader, ApiError> {
    let client = client(headers)?;
    let (Some(user_id), Some(issue)) = (header(headers, USER_HEADER), header(headers, ISSUE_HEADER)) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_purpose",
            "a read must state who reads (X-Road-UserId) and why (X-Road-Issue: purpose or purpose:reference)",
        ));
    };
    let purpose = Purpose::parse(issue)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "bad_purpose", error.to_string()))?;
    Ok(Reader {
        client: client.to_owned(),
        user_id: user_id.to_owned(),
        purpose,
        message_id: header(headers, MESSAGE_ID_HEADER).map(str::to_owned),
    })
}

/// Who writes, for the audit log: the subsystem and its user.
fn writer(headers: &HeaderMap) -> Result<String, ApiError> {
    let client = client(headers)?;
    let user = header(headers, USER_HEADER).unwrap_or("-");
    Ok(format!("xroad:{client}:{user}"))
}

// ---------------------------------------------------------------- bodies

#[derive(Debug, Deserialize)]
struct Content {
    content: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WriteBody {
    write: Content,
}

#[derive(Debug, Deserialize)]
struct QueryBody {
    query: Content,
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    query: Content,
    write: Content,
}

fn content_body(record: &Record) -> Json<Value> {
    Json(json!({ "content": record.content }))
}

// -------------------------------------------------------------- Data API

async fn create(
    State(registry): State<Registry>,
    Path((dataset, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<WriteBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let actor = writer(&headers)?;
    let Json(body) = body.map_err(|rejection| bad_body(&rejection))?;
    let record = registry.create(&dataset, &version, body.write.content, &actor).await?;
    Ok(content_body(&record))
}

async fn read(
    State(registry): State<Registry>,
    Path((dataset, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<QueryBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let reader = reader(&headers)?;
    let Json(body) = body.map_err(|rejection| bad_body(&rejection))?;
    let record = registry.read(&dataset, &version, &body.query.content, &reader).await?;
    Ok(content_body(&record))
}

async fn exists(
    State(registry): State<Registry>,
    Path((dataset, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<QueryBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let reader = reader(&headers)?;
    let Json(body) = body.map_err(|rejection| bad_body(&rejection))?;
    let found = registry
        .exists(&dataset, &version, &body.query.content, &reader)
        .await?;
    let message = if found {
        "Object found from database"
    } else {
        "Object not found from database"
    };
    Ok(Json(json!({ "answer": { "status": found, "message": message } })))
}

async fn search(
    State(registry): State<Registry>,
    Path((dataset, version)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let reader = reader(&headers)?;
    let Query(pairs) =
        query.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", rejection.body_text()))?;
    let mut search = SearchQuery {
        page: 1,
        page_size: 20,
        ..SearchQuery::default()
    };
    let number = |name: &str, value: &str| {
        value
            .parse::<u32>()
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("{name} must be a number")))
    };
    for (name, value) in pairs {
        match name.as_str() {
            "search" => search.text = Some(value),
            "page" => search.page = number("page", &value)?,
            "pageSize" => search.page_size = number("pageSize", &value)?,
            other => match other.strip_prefix("query.") {
                Some(field) => search.fields.push((field.to_owned(), value)),
                None => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_query",
                        format!("unknown parameter `{other}`"),
                    ));
                }
            },
        }
    }
    let page = registry.search(&dataset, &version, &search, &reader).await?;
    let results: Vec<&Map<String, Value>> = page.records.iter().map(|record| &record.content).collect();
    Ok(Json(
        json!({ "count": page.count, "next": null, "previous": null, "results": results }),
    ))
}

async fn update(
    State(registry): State<Registry>,
    Path((dataset, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<UpdateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let actor = writer(&headers)?;
    let Json(body) = body.map_err(|rejection| bad_body(&rejection))?;
    let record = registry
        .update(&dataset, &version, &body.query.content, body.write.content, &actor)
        .await?;
    Ok(content_body(&record))
}

async fn remove(
    State(registry): State<Registry>,
    Path((dataset, version, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let actor = writer(&headers)?;
    registry.delete(&dataset, &version, &id, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------- Database API

fn database_body(schema: &DatasetSchema) -> Value {
    json!({
        "id": schema.name,
        "name": schema.name,
        "version": schema.version,
        "description": schema.labels.en,
        "schema": schema,
    })
}

async fn databases(State(registry): State<Registry>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    client(&headers)?;
    let schemas = registry.schemas().await?;
    Ok(Json(Value::Array(schemas.iter().map(database_body).collect())))
}

async fn database(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    client(&headers)?;
    Ok(Json(database_body(&registry.schema(&id).await?)))
}

#[derive(Debug, Deserialize)]
struct ModifyBody {
    schema: DatasetSchema,
}

async fn modify_database(
    State(registry): State<Registry>,
    headers: HeaderMap,
    body: Result<Json<ModifyBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let actor = writer(&headers)?;
    let Json(body) = body.map_err(|rejection| bad_body(&rejection))?;
    registry.modify_schema(&body.schema, &actor).await?;
    Ok(Json(database_body(&body.schema)))
}
