//! Static assets, embedded in the binary: no CDN, no files beside it.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// Changes whenever the binary's version does, so browsers may cache assets
/// for a year and still fetch new ones after an upgrade.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "egov.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/egov.css"),
    ),
    (
        "form_post.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/form_post.js"),
    ),
    (
        "passkey.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/passkey.js"),
    ),
    ("favicon.svg", "image/svg+xml", include_bytes!("../static/favicon.svg")),
];

/// Serves `/static/{name}`.
pub async fn serve_asset(Path(name): Path<String>) -> Result<Response, AppError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name)
        .ok_or_else(AppError::not_found)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
