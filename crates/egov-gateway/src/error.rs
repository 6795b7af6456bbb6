//! The protocol's errors: `X-Road-Error` with the error's type, and a JSON
//! body `{"type", "message", "detail"}` whose detail is an id to find the
//! error in this gateway's log. Types start with `Client` (the calling
//! system sent something wrong: 400), `Server.ClientProxy` (the consumer
//! gateway failed: 500) or `Server.ServerProxy` (the provider gateway
//! failed or refused: 500), as X-Road's do.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The `X-Road-Error` header.
pub const ERROR_HEADER: &str = "x-road-error";

/// An error of the gateway itself, never of the service behind it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct XRoadError {
    /// `Client.BadRequest`, `Server.ServerProxy.AccessDenied`, …
    pub kind: &'static str,
    pub message: String,
}

impl XRoadError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> XRoadError {
        XRoadError {
            kind,
            message: message.into(),
        }
    }

    /// The request does not follow the protocol.
    pub fn bad_request(message: impl Into<String>) -> XRoadError {
        XRoadError::new("Client.BadRequest", message)
    }

    pub fn status(&self) -> StatusCode {
        if self.kind.starts_with("Client.") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The error types a gateway of this federation answers with, so that one
/// passed on from the provider's gateway keeps its type.
const KNOWN_KINDS: &[&str] = &[
    "Client.BadRequest",
    "Server.ServerProxy.AccessDenied",
    "Server.ServerProxy.UnknownService",
    "Server.ServerProxy.ServiceFailed",
    "Server.ServerProxy.NetworkError",
    "Server.ServerProxy.InvalidSignatureValue",
    "Server.ServerProxy.SslAuthenticationFailed",
    "Server.ServerProxy.InvalidMessage",
    "Server.ServerProxy.MessageLogFailure",
    "Server.ServerProxy.DatabaseError",
    "Server.ServerProxy.InternalError",
];

/// The static name of a known error type.
pub fn known_kind(kind: &str) -> Option<&'static str> {
    KNOWN_KINDS.iter().copied().find(|known| *known == kind)
}

impl IntoResponse for XRoadError {
    fn into_response(self) -> Response {
        let detail = egov_core::id::new_id();
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(kind = self.kind, message = %self.message, %detail, "X-Road error");
        } else {
            tracing::info!(kind = self.kind, message = %self.message, %detail, "X-Road request refused");
        }
        let body = serde_json::json!({
            "type": self.kind,
            "message": self.message,
            "detail": detail.to_string(),
        });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        );
        if let Ok(value) = HeaderValue::from_str(self.kind) {
            headers.insert(ERROR_HEADER, value);
        }
        response
    }
}
