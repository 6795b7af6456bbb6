//! The gateway's HTTP face on the instance's port: `/r1/…`, where agency
//! systems call services with the X-Road REST protocol, and `/listClients`.
//! The handlers only turn requests into [`Call`]s; the gateway does the rest.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, get};
use serde::Deserialize;

use crate::error::XRoadError;
use crate::gateway::{Call, Caller, Gateway};

/// The largest request body the gateway relays.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/r1/{*rest}", any(relay))
        .route("/listClients", get(list_clients))
        .with_state(gateway)
}

async fn relay(State(gateway): State<Gateway>, request: Request) -> Response {
    let caller = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(Caller::Unknown, |ConnectInfo(address)| Caller::Network(*address));
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body.to_vec(),
        Err(_) => {
            return XRoadError::bad_request(format!("The request body is larger than {MAX_REQUEST_BYTES} bytes"))
                .into_response();
        }
    };
    gateway
        .call(Call {
            method: parts.method,
            target,
            headers: parts.headers,
            body,
            caller,
        })
        .await
}

#[derive(Debug, Deserialize)]
struct ListClientsQuery {
    #[serde(rename = "xRoadInstance")]
    instance: Option<String>,
}

async fn list_clients(
    State(gateway): State<Gateway>,
    query: Result<Query<ListClientsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(query)) => gateway.list_clients(query.instance.as_deref()).await,
        Err(rejection) => XRoadError::bad_request(rejection.body_text()).into_response(),
    }
}
