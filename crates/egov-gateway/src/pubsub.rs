//! Publish/subscribe through the gateway, after the GovStack Information
//! Mediator PubSub API. It owns the `gateway_event_types`,
//! `gateway_subscriptions`, `gateway_events` and `gateway_event_deliveries`
//! tables.
//!
//! A room is a subsystem of this gateway. Its three services, `pub`,
//! `api` and `pull`, are ordinary gateway services whose target is this
//! module's router (`local:pubsub/rooms/{room}/…`), so every call to a room
//! is an r1 exchange: signed, logged, under access rights, and possible
//! from any gateway of the federation. The caller is the `X-Road-Client`
//! the gateway passes on.
//!
//! - Event types: `api/v1/eventType` (created and deleted by the room's
//!   own member).
//! - Publishing: `pub/v1/{eventType}` stores the event once per publisher
//!   and `X-Road-Id` (a retry finds the first), and in the same
//!   transaction a delivery per subscription; push deliveries are jobs of
//!   the durable queue, so none is lost if the node dies.
//! - Subscribing: `api/v1/subs/{eventType}`, delivery `PUSH` (to a service
//!   of the subscriber, through the gateway, the room calling as client)
//!   or `PULL` (`pull/v1/{eventType}` gives the oldest event not yet
//!   acknowledged; `DELETE pull/v1/{eventType}/{id}` acknowledges it).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use egov_core::clock::Clock;
use egov_db::jobs::{self, NewJob};
use egov_db::{Db, DbError, with_pool, with_tx};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::gateway::{Call, Caller, Gateway};
use crate::id::ClientId;

/// Job kind: push one event to one subscriber.
pub const PUSH_EVENT: &str = "gateway.push_event";
/// The name of this router among a gateway's local services.
pub const LOCAL_SERVICE: &str = "pubsub";
/// The largest event accepted.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct PubSubState {
    db: Db,
    clock: Arc<dyn Clock>,
}

/// The router rooms' services point at.
pub fn router(db: Db, clock: Arc<dyn Clock>) -> Router {
    let room = "/rooms/{instance}/{class}/{member}/{subsystem}";
    Router::new()
        .route(
            &format!("{room}/api/v1/eventType"),
            get(list_event_types).post(create_event_type),
        )
        .route(
            &format!("{room}/api/v1/eventType/{{event_type}}"),
            get(get_event_type).delete(delete_event_type),
        )
        .route(&format!("{room}/pub/v1/{{event_type}}"), post(publish))
        .route(&format!("{room}/pub/v1/{{event_type}}/{{event_id}}"), get(event_status))
        .route(&format!("{room}/api/v1/subs"), get(list_subscriptions))
        .route(
            &format!("{room}/api/v1/subs/{{event_type}}"),
            post(subscribe).get(get_subscription).delete(unsubscribe),
        )
        .route(&format!("{room}/pull/v1/{{event_type}}"), get(pull))
        .route(
            &format!("{room}/pull/v1/{{event_type}}/{{event_id}}"),
            delete(acknowledge),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_EVENT_BYTES))
        .with_state(PubSubState { db, clock })
}

/// The local target of a room's service (`pub`, `api` or `pull`).
pub fn room_target(room: &ClientId, service: &str) -> String {
    format!(
        "local:{LOCAL_SERVICE}/rooms/{}/{}/{}/{}/{service}",
        room.instance,
        room.member_class,
        room.member_code,
        room.subsystem.as_deref().unwrap_or_default()
    )
}

#[derive(Debug, Deserialize)]
struct RoomPath {
    instance: String,
    class: String,
    member: String,
    subsystem: String,
}

impl RoomPath {
    fn room(&self) -> Result<String, ApiError> {
        ClientId::subsystem(&self.instance, &self.class, &self.member, &self.subsystem)
            .map(|id| id.to_string())
            .map_err(|error| ApiError::bad(error.0))
    }
}

#[derive(Debug, Deserialize)]
struct TypePath {
    #[serde(flatten)]
    room: RoomPath,
    event_type: String,
}

#[derive(Debug, Deserialize)]
struct EventPath {
    #[serde(flatten)]
    room: RoomPath,
    event_type: String,
    event_id: String,
}

/// An error of the room: JSON `{"code", "message"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
        }
    }

    fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: message.into(),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> ApiError {
        tracing::error!(%error, "A room's database call failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            message: "The room could not answer".to_owned(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        ApiError::from(DbError::from(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

/// The calling subsystem, as the gateway passed it on.
fn caller(headers: &HeaderMap) -> Result<ClientId, ApiError> {
    let value = headers
        .get("x-road-client")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::bad("No X-Road-Client: rooms are reached through the gateway"))?;
    let client = ClientId::parse(value).map_err(|error| ApiError::bad(error.0))?;
    if client.subsystem.is_none() {
        return Err(ApiError::bad("The client must be a subsystem"));
    }
    Ok(client)
}

fn check_event_type(event_type: &str) -> Result<(), ApiError> {
    let valid = !event_type.is_empty()
        && event_type.len() <= 100
        && event_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad(
            "An event type is 1 to 100 letters, digits, '-', '_' or '.'",
        ))
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| ApiError::bad(format!("The body is not valid: {error}")))
}

/// The id as the identifier objects of the API show it.
fn id_object(id: &str) -> Value {
    match ClientId::parse(id) {
        Ok(id) => json!({
            "instanceId": id.instance,
            "memberClass": id.member_class,
            "memberCode": id.member_code,
            "applicationCode": id.subsystem,
        }),
        Err(_) => json!({}),
    }
}

async fn event_type_exists(db: &Db, room: &str, event_type: &str) -> Result<bool, DbError> {
    let found: Option<String> = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT event_type FROM gateway_event_types WHERE room = $1 AND event_type = $2")
            .bind(room)
            .bind(event_type)
            .fetch_optional(pool)
            .await?
    });
    Ok(found.is_some())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventTypeBody {
    event_type: String,
    schema: Value,
}

async fn create_event_type(
    State(state): State<PubSubState>,
    Path(path): Path<RoomPath>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let room = path.room()?;
    let client = caller(&headers)?;
    if client.member().to_string()
        != ClientId::parse(&room)
            .map(|id| id.member().to_string())
            .unwrap_or_default()
    {
        return Err(ApiError::forbidden(
            "Only the room's own member creates its event types",
        ));
    }
    let body: EventTypeBody = json_body(&body)?;
    check_event_type(&body.event_type)?;
    if !body.schema.is_object() {
        return Err(ApiError::bad("The schema is a JSON Schema object"));
    }
    let now = state.clock.now().timestamp_millis();
    let inserted = with_pool!(&state.db, pool => {
        sqlx::query(
            "INSERT INTO gateway_event_types (room, event_type, schema, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&room)
        .bind(&body.event_type)
        .bind(body.schema.to_string())
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        return Err(ApiError::conflict("exists", "The event type exists"));
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "eventType": body.event_type, "schema": body.schema })),
    )
        .into_response())
}

async fn list_event_types(State(state): State<PubSubState>, Path(path): Path<RoomPath>) -> Result<Response, ApiError> {
    let room = path.room()?;
    let types: Vec<(String, String)> = with_pool!(&state.db, pool => {
        sqlx::query_as("SELECT event_type, schema FROM gateway_event_types WHERE room = $1 ORDER BY event_type")
            .bind(&room)
            .fetch_all(pool)
            .await?
    });
    let types: Vec<Value> = types
        .into_iter()
        .map(|(event_type, schema)| {
            json!({ "eventType": event_type, "schema": serde_json::from_str::<Value>(&schema).unwrap_or_default() })
        })
        .collect();
    Ok(axum::Json(types).into_response())
}

async fn get_event_type(State(state): State<PubSubState>, Path(path): Path<TypePath>) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let schema: Option<String> = with_pool!(&state.db, pool => {
        sqlx::query_scalar("SELECT schema FROM gateway_event_types WHERE room = $1 AND event_type = $2")
            .bind(&room)
            .bind(&path.event_type)
            .fetch_optional(pool)
            .await?
    });
    let schema = schema.ok_or_else(|| ApiError::not_found("No such event type"))?;
    Ok(axum::Json(json!({
        "eventType": path.event_type,
        "schema": serde_json::from_str::<Value>(&schema).unwrap_or_default(),
    }))
    .into_response())
}

async fn delete_event_type(
    State(state): State<PubSubState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let client = caller(&headers)?;
    if client.member().to_string()
        != ClientId::parse(&room)
            .map(|id| id.member().to_string())
            .unwrap_or_default()
    {
        return Err(ApiError::forbidden(
            "Only the room's own member deletes its event types",
        ));
    }
    let deleted = with_pool!(&state.db, pool => {
        sqlx::query("DELETE FROM gateway_event_types WHERE room = $1 AND event_type = $2")
            .bind(&room)
            .bind(&path.event_type)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if deleted == 0 {
        return Err(ApiError::not_found("No such event type"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublishBody {
    event_type: Option<String>,
    event: Value,
}

async fn publish(
    State(state): State<PubSubState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let publisher = caller(&headers)?.to_string();
    let body: PublishBody = json_body(&body)?;
    if body
        .event_type
        .as_deref()
        .is_some_and(|event_type| event_type != path.event_type)
    {
        return Err(ApiError::bad("The body's eventType differs from the path's"));
    }
    if !body.event.is_object() {
        return Err(ApiError::bad("The event is a JSON object"));
    }
    if !event_type_exists(&state.db, &room, &path.event_type).await? {
        return Err(ApiError::not_found("Unknown event type"));
    }
    // The message id makes a retried publication find its event.
    let message_id = headers
        .get("x-road-id")
        .and_then(|value| value.to_str().ok())
        .map_or_else(|| egov_core::id::new_id().to_string(), str::to_owned);
    let now = state.clock.now();
    let (id, created) = publish_event(
        &state.db,
        &room,
        &path.event_type,
        &publisher,
        &message_id,
        &body.event,
        now,
    )
    .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(json!({ "id": id.to_string() }))).into_response())
}

/// Stores an event (once per publisher and message id) and its deliveries,
/// with a push job per push subscription, in one transaction.
async fn publish_event(
    db: &Db,
    room: &str,
    event_type: &str,
    publisher: &str,
    message_id: &str,
    event: &Value,
    now: DateTime<Utc>,
) -> Result<(Uuid, bool), DbError> {
    let mut tx = db.begin().await?;
    let id = egov_core::id::new_id();
    let inserted = with_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO gateway_events (id, room, event_type, publisher, message_id, payload, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (room, publisher, message_id) DO NOTHING",
        )
        .bind(id)
        .bind(room)
        .bind(event_type)
        .bind(publisher)
        .bind(message_id)
        .bind(event.to_string())
        .bind(now.timestamp_millis())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }) > 0;
    if !inserted {
        let existing: Uuid = with_tx!(&mut tx, conn => {
            sqlx::query_scalar("SELECT id FROM gateway_events WHERE room = $1 AND publisher = $2 AND message_id = $3")
                .bind(room)
                .bind(publisher)
                .bind(message_id)
                .fetch_one(&mut *conn)
                .await?
        });
        tx.rollback().await?;
        return Ok((existing, false));
    }
    let subscriptions: Vec<(Uuid, String)> = with_tx!(&mut tx, conn => {
        sqlx::query_as("SELECT id, delivery FROM gateway_subscriptions WHERE room = $1 AND event_type = $2")
            .bind(room)
            .bind(event_type)
            .fetch_all(&mut *conn)
            .await?
    });
    for (subscription, delivery) in &subscriptions {
        with_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO gateway_event_deliveries (event_id, subscription_id, status) VALUES ($1, $2, 'pending')",
            )
            .bind(id)
            .bind(subscription)
            .execute(&mut *conn)
            .await?;
        });
        if delivery == "push" {
            let job = NewJob::new(PUSH_EVENT, json!({ "event": id, "subscription": subscription }));
            jobs::enqueue(&mut tx, &job, now).await?;
        }
    }
    tx.commit().await?;
    Ok((id, true))
}

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    event_type: String,
    publisher: String,
    payload: String,
    published_at: i64,
}

fn event_item(row: &EventRow) -> Value {
    json!({
        "id": row.id.to_string(),
        "sequence": row.published_at,
        "publisherId": id_object(&row.publisher),
        "eventType": row.event_type,
        "event": serde_json::from_str::<Value>(&row.payload).unwrap_or_default(),
    })
}

async fn event_status(
    State(state): State<PubSubState>,
    Path(path): Path<EventPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let publisher = caller(&headers)?.to_string();
    let id = Uuid::parse_str(&path.event_id).map_err(|_| ApiError::not_found("No such event"))?;
    let row: Option<EventRow> = with_pool!(&state.db, pool => {
        sqlx::query_as(
            "SELECT id, event_type, publisher, payload, published_at FROM gateway_events \
             WHERE id = $1 AND room = $2 AND event_type = $3 AND publisher = $4",
        )
        .bind(id)
        .bind(&room)
        .bind(&path.event_type)
        .bind(&publisher)
        .fetch_optional(pool)
        .await?
    });
    let row = row.ok_or_else(|| ApiError::not_found("No such event of yours"))?;
    let counts: Vec<(String, i64)> = with_pool!(&state.db, pool => {
        sqlx::query_as("SELECT status, COUNT(*) FROM gateway_event_deliveries WHERE event_id = $1 GROUP BY status")
            .bind(id)
            .fetch_all(pool)
            .await?
    });
    let mut item = event_item(&row);
    item["deliveries"] = counts
        .into_iter()
        .map(|(status, count)| (status, json!(count)))
        .collect();
    Ok(axum::Json(item).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionBody {
    #[serde(default)]
    delivery: Option<String>,
    #[serde(default)]
    options: Option<SubscriptionOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionOptions {
    /// For push: the subscriber's service events are posted to.
    push_service: Option<String>,
}

async fn subscribe(
    State(state): State<PubSubState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let subscriber = caller(&headers)?;
    if !event_type_exists(&state.db, &room, &path.event_type).await? {
        return Err(ApiError::not_found("Unknown event type"));
    }
    let body: SubscriptionBody = if body.is_empty() {
        SubscriptionBody {
            delivery: None,
            options: None,
        }
    } else {
        json_body(&body)?
    };
    let delivery = match body.delivery.as_deref().unwrap_or("PUSH") {
        "PUSH" => "push",
        "PULL" => "pull",
        _ => return Err(ApiError::bad("delivery is PUSH or PULL")),
    };
    let push_service = body.options.and_then(|options| options.push_service);
    if delivery == "push" {
        let service = push_service.as_deref().ok_or_else(|| {
            ApiError::bad("A PUSH subscription names options.pushService, a service of the subscriber")
        })?;
        crate::id::check_part(service, "push service").map_err(|error| ApiError::bad(error.0))?;
    }
    let id = egov_core::id::new_id();
    let inserted = with_pool!(&state.db, pool => {
        sqlx::query(
            "INSERT INTO gateway_subscriptions (id, room, event_type, subscriber, delivery, push_service, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (room, event_type, subscriber) DO NOTHING",
        )
        .bind(id)
        .bind(&room)
        .bind(&path.event_type)
        .bind(subscriber.to_string())
        .bind(delivery)
        .bind(push_service.as_deref().filter(|_| delivery == "push"))
        .bind(state.clock.now().timestamp_millis())
        .execute(pool)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        return Err(ApiError::conflict("exists", "Already subscribed"));
    }
    Ok(axum::Json(json!({
        "id": id.to_string(),
        "subscriberId": id_object(&subscriber.to_string()),
        "eventType": path.event_type,
        "delivery": delivery.to_ascii_uppercase(),
    }))
    .into_response())
}

#[derive(Debug, sqlx::FromRow)]
struct SubscriptionRow {
    id: Uuid,
    event_type: String,
    delivery: String,
    push_service: Option<String>,
}

fn subscription_item(subscriber: &str, row: &SubscriptionRow) -> Value {
    json!({
        "id": row.id.to_string(),
        "subscriberId": id_object(subscriber),
        "eventType": row.event_type,
        "delivery": row.delivery.to_ascii_uppercase(),
        "options": { "pushService": row.push_service },
    })
}

async fn subscription(
    db: &Db,
    room: &str,
    event_type: &str,
    subscriber: &str,
) -> Result<Option<SubscriptionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, event_type, delivery, push_service FROM gateway_subscriptions \
             WHERE room = $1 AND event_type = $2 AND subscriber = $3",
        )
        .bind(room)
        .bind(event_type)
        .bind(subscriber)
        .fetch_optional(pool)
        .await?
    }))
}

async fn get_subscription(
    State(state): State<PubSubState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let subscriber = caller(&headers)?.to_string();
    let row = subscription(&state.db, &room, &path.event_type, &subscriber)
        .await?
        .ok_or_else(|| ApiError::not_found("No such subscription"))?;
    Ok(axum::Json(subscription_item(&subscriber, &row)).into_response())
}

async fn list_subscriptions(
    State(state): State<PubSubState>,
    Path(path): Path<RoomPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room()?;
    let subscriber = caller(&headers)?.to_string();
    let rows: Vec<SubscriptionRow> = with_pool!(&state.db, pool => {
        sqlx::query_as(
            "SELECT id, event_type, delivery, push_service FROM gateway_subscriptions \
             WHERE room = $1 AND subscriber = $2 ORDER BY event_type",
        )
        .bind(&room)
        .bind(&subscriber)
        .fetch_all(pool)
        .await?
    });
    Ok(axum::Json(
        rows.iter()
            .map(|row| subscription_item(&subscriber, row))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn unsubscribe(
    State(state): State<PubSubState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let subscriber = caller(&headers)?.to_string();
    let deleted = with_pool!(&state.db, pool => {
        sqlx::query("DELETE FROM gateway_subscriptions WHERE room = $1 AND event_type = $2 AND subscriber = $3")
            .bind(&room)
            .bind(&path.event_type)
            .bind(&subscriber)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if deleted == 0 {
        return Err(ApiError::not_found("No such subscription"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn pull(
    State(state): State<PubSubState>,
    Path(path): Path<TypePath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let subscriber = caller(&headers)?.to_string();
    let row = subscription(&state.db, &room, &path.event_type, &subscriber)
        .await?
        .filter(|row| row.delivery == "pull")
        .ok_or_else(|| ApiError::conflict("not_subscribed", "No PULL subscription to this event type"))?;
    let event: Option<EventRow> = with_pool!(&state.db, pool => {
        sqlx::query_as(
            "SELECT e.id, e.event_type, e.publisher, e.payload, e.published_at FROM gateway_event_deliveries d \
             JOIN gateway_events e ON e.id = d.event_id \
             WHERE d.subscription_id = $1 AND d.status <> 'acknowledged' ORDER BY d.event_id LIMIT 1",
        )
        .bind(row.id)
        .fetch_optional(pool)
        .await?
    });
    let event = event.ok_or_else(|| ApiError::not_found("No event available"))?;
    with_pool!(&state.db, pool => {
        sqlx::query(
            "UPDATE gateway_event_deliveries SET status = 'delivered', delivered_at = $1 \
             WHERE subscription_id = $2 AND event_id = $3 AND status = 'pending'",
        )
        .bind(state.clock.now().timestamp_millis())
        .bind(row.id)
        .bind(event.id)
        .execute(pool)
        .await?;
    });
    Ok(axum::Json(event_item(&event)).into_response())
}

async fn acknowledge(
    State(state): State<PubSubState>,
    Path(path): Path<EventPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = path.room.room()?;
    let subscriber = caller(&headers)?.to_string();
    let row = subscription(&state.db, &room, &path.event_type, &subscriber)
        .await?
        .ok_or_else(|| ApiError::conflict("not_subscribed", "No subscription to this event type"))?;
    let id = Uuid::parse_str(&path.event_id).map_err(|_| ApiError::not_found("No such event"))?;
    let acknowledged = with_pool!(&state.db, pool => {
        sqlx::query(
            "UPDATE gateway_event_deliveries SET status = 'acknowledged', \
             delivered_at = COALESCE(delivered_at, $1) WHERE subscription_id = $2 AND event_id = $3",
        )
        .bind(state.clock.now().timestamp_millis())
        .bind(row.id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if acknowledged == 0 {
        return Err(ApiError::not_found("No such event for this subscription"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Pushes one event to one subscriber (the job [`PUSH_EVENT`]): the room
/// calls the subscriber's push service through the gateway, with the
/// delivery's own message id, so the subscriber can tell a retry from a
/// new event. Done when the subscriber answers 2xx; otherwise the job is
/// retried with backoff.
pub async fn push(gateway: &Gateway, payload: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Job {
        event: Uuid,
        subscription: Uuid,
    }
    let job: Job = serde_json::from_str(payload).map_err(|error| error.to_string())?;
    let db = gateway.db();
    let found: Option<(String, String, Option<String>, String)> = with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT s.room, s.subscriber, s.push_service, d.status FROM gateway_event_deliveries d \
             JOIN gateway_subscriptions s ON s.id = d.subscription_id WHERE d.event_id = $1 AND d.subscription_id = $2",
        )
        .bind(job.event)
        .bind(job.subscription)
        .fetch_optional(pool)
        .await
        .map_err(|error| error.to_string())?
    });
    // Unsubscribed since, or delivered already: nothing to do.
    let Some((room, subscriber, Some(service), status)) = found else {
        return Ok(());
    };
    if status != "pending" {
        return Ok(());
    }
    let event: EventRow = with_pool!(db, pool => {
        sqlx::query_as("SELECT id, event_type, publisher, payload, published_at FROM gateway_events WHERE id = $1")
            .bind(job.event)
            .fetch_one(pool)
            .await
            .map_err(|error| error.to_string())?
    });
    let subscriber_id = ClientId::parse(&subscriber).map_err(|error| error.0)?;
    let target = format!("/r1/{subscriber_id}/{}", crate::id::encode_part(&service));
    let mut headers = HeaderMap::new();
    let header = |value: &str| value.parse().map_err(|_| "a header value is not ASCII".to_owned());
    headers.insert("x-road-client", header(&room)?);
    headers.insert("x-road-id", header(&format!("{}:{}", job.event, job.subscription))?);
    headers.insert("content-type", header("application/json")?);
    let response = gateway
        .call(Call {
            method: Method::POST,
            target,
            headers,
            body: event_item(&event).to_string().into_bytes(),
            caller: Caller::InProcess,
        })
        .await;
    if !response.status().is_success() {
        return Err(format!("the subscriber answered {}", response.status()));
    }
    with_pool!(db, pool => {
        sqlx::query(
            "UPDATE gateway_event_deliveries SET status = 'delivered', delivered_at = $1 \
             WHERE event_id = $2 AND subscription_id = $3 AND status = 'pending'",
        )
        .bind(Utc::now().timestamp_millis())
        .bind(job.event)
        .bind(job.subscription)
        .execute(pool)
        .await
        .map_err(|error| error.to_string())?;
    });
    Ok(())
}
