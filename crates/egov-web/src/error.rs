//! One error type for every web surface, rendered per surface.
//!
//! Handlers return [`AppError`]. It carries an HTTP status, a stable
//! snake_case `code` and a message in both languages. Turning it into a
//! response only attaches it to an empty response; the [`render_errors`]
//! middleware, which knows the request's language and whether it came to the
//! JSON API, writes the body: `{"code", "message"}` for `/api/`, an error page
//! otherwise. Causes of 5xx errors are logged there and never shown.

use std::borrow::Cow;
use std::sync::Arc;

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::i18n::{Lang, ShellText};
use crate::layout::PageMeta;

/// A message in both UI languages.
#[derive(Debug, Clone)]
pub struct Localized {
    pub vi: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Localized {
    pub fn new(vi: impl Into<Cow<'static, str>>, en: impl Into<Cow<'static, str>>) -> Localized {
        Localized {
            vi: vi.into(),
            en: en.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.vi, &self.en)
    }
}

/// An error a handler returns.
#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    /// Stable, snake_case, documented in the OpenAPI description.
    pub code: &'static str,
    pub message: Localized,
    /// The cause of a server error, for the log only.
    pub cause: Option<Arc<str>>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: Localized) -> AppError {
        AppError {
            status,
            code,
            message,
            cause: None,
        }
    }

    pub fn not_found() -> AppError {
        AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            Localized::new(
                "Không tìm thấy trang bạn yêu cầu.",
                "The page you asked for does not exist.",
            ),
        )
    }

    pub fn method_not_allowed() -> AppError {
        AppError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            Localized::new(
                "Phương thức không được hỗ trợ cho địa chỉ này.",
                "This method is not allowed here.",
            ),
        )
    }

    pub fn bad_request(code: &'static str, message: Localized) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn csrf_failed() -> AppError {
        AppError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            Localized::new(
                "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.",
                "The form has expired or is invalid. Please reload the page and try again.",
            ),
        )
    }

    pub fn payload_too_large() -> AppError {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            Localized::new("Dữ liệu gửi lên quá lớn.", "The request body is too large."),
        )
    }

    pub fn service_unavailable() -> AppError {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            Localized::new(
                "Hệ thống tạm thời không phục vụ được. Vui lòng thử lại sau.",
                "The service is temporarily unavailable. Please try again later.",
            ),
        )
    }

    /// The same error with a cause for the log (never shown to the user).
    #[must_use]
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> AppError {
        self.cause = Some(cause.to_string().into());
        self
    }

    /// An unexpected failure: the cause is logged, the user sees a generic
    /// message.
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            message: Localized::new(
                "Hệ thống gặp sự cố. Vui lòng thử lại sau.",
                "Something went wrong on our side. Please try again later.",
            ),
            cause: Some(cause.to_string().into()),
        }
    }
}

impl From<egov_db::DbError> for AppError {
    fn from(error: egov_db::DbError) -> Self {
        AppError::internal(error_chain(&error))
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> Self {
        AppError::internal(format!("template failed: {error}"))
    }
}

/// The error and its sources on one line, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Marks a response whose error body is already final (an OAuth error in
/// the format its specification demands), so [`render_errors`] leaves it.
#[derive(Debug, Clone, Copy)]
pub struct FinalBody;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// The JSON body of an API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// Stable, snake_case error code.
    pub code: &'a str,
    /// Human-readable message in the requested language.
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: PageMeta,
    shell: &'static ShellText,
    status: u16,
    message: &'a str,
    request_id: &'a str,
}

/// Whether a request belongs to the JSON API rather than to the pages.
fn wants_json(request: &Request) -> bool {
    let path = request.uri().path();
    path.starts_with("/api/") && path != "/api/docs"
}

/// Renders every error response: handler errors, unmatched routes and
/// rejections from extractors and layers, in the request's language.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let lang = Lang::from_request(request.uri().query(), request.headers());
    let json = wants_json(&request);
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<FinalBody>().is_some() {
        return response;
    }
    let error = match response.extensions().get::<Arc<AppError>>() {
        Some(error) => Arc::clone(error),
        // A response without an AppError came from axum itself (no route,
        // wrong method, a rejected body) or from a tower layer; its plain-text
        // body is replaced by one in the user's language.
        None => Arc::new(error_for_status(status)),
    };
    if let Some(cause) = &error.cause {
        tracing::error!(code = error.code, %path, %cause, "Request failed");
    }
    let message = error.message.get(lang);
    let mut out = if json {
        let body = serde_json::to_string(&ErrorBody {
            code: error.code,
            message,
        })
        .unwrap_or_default();
        let mut out = (error.status, body).into_response();
        out.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        out
    } else {
        let page = ErrorPage {
            page: PageMeta::new(lang, lang.shell().error_title, &path),
            shell: lang.shell(),
            status: error.status.as_u16(),
            message,
            request_id: &request_id,
        };
        match page.render() {
            Ok(html) => (error.status, Html(html)).into_response(),
            Err(render_error) => {
                tracing::error!(%render_error, "Error page failed to render");
                (error.status, message.to_owned()).into_response()
            }
        }
    };
    // Keep the headers that layers set for the original response (request
    // id, cookies, allow); replace only the body and its type.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

fn error_for_status(status: StatusCode) -> AppError {
    match status {
        StatusCode::NOT_FOUND => AppError::not_found(),
        StatusCode::METHOD_NOT_ALLOWED => AppError::method_not_allowed(),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::payload_too_large(),
        StatusCode::SERVICE_UNAVAILABLE => AppError::service_unavailable(),
        StatusCode::REQUEST_TIMEOUT => AppError::new(
            status,
            "timeout",
            Localized::new("Yêu cầu xử lý quá lâu.", "The request took too long."),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::new(
            status,
            "unsupported_media_type",
            Localized::new(
                "Kiểu dữ liệu gửi lên không được hỗ trợ.",
                "The request body type is not supported.",
            ),
        ),
        status if status.is_client_error() => AppError::bad_request(
            "bad_request",
            Localized::new("Yêu cầu không hợp lệ.", "The request is not valid."),
        ),
        _ => AppError::internal(format!("unexpected status {status}")),
    }
}
