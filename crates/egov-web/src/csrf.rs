//! Cross-site request forgery protection for every form.
//!
//! A signed double-submit token: the middleware gives each browser a random
//! token in the `egov_csrf` cookie, signed with HMAC-SHA256 under the
//! instance's secret key, and pages put the same token in a hidden
//! `csrf_token` field. An unsafe request whose body a browser could send
//! cross-site without a preflight (a form or plain text) must carry a field or
//! `X-CSRF-Token` header equal to a validly signed cookie, compared in
//! constant time. Requests that a browser marks as cross-site
//! (`Sec-Fetch-Site: cross-site`) are refused outright. JSON requests need no
//! token: a cross-site JSON request cannot be sent without CORS approval,
//! which egov never grants.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng as _;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::i18n::cookie_value;

/// The cookie holding the signed token.
pub const CSRF_COOKIE: &str = "egov_csrf";
/// The form field holding the token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The header an API client may use instead of the field.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form body the check reads; forms are small.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The request's token, put in request extensions for pages to embed.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The key and cookie settings of the check.
#[derive(Clone)]
pub struct CsrfConfig {
    key: Vec<u8>,
    secure_cookie: bool,
    exempt_prefixes: Vec<&'static str>,
}

impl std::fmt::Debug for CsrfConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfConfig")
            .field("secure_cookie", &self.secure_cookie)
            .finish_non_exhaustive()
    }
}

impl CsrfConfig {
    pub fn new(secret_key: &[u8], secure_cookie: bool) -> CsrfConfig {
        CsrfConfig {
            key: secret_key.to_vec(),
            secure_cookie,
            exempt_prefixes: Vec::new(),
        }
    }

    /// Paths under these prefixes take no token: endpoints for servers, not
    /// browsers (OAuth token, introspection, revocation), which authenticate
    /// the caller themselves and never act on cookies.
    #[must_use]
    pub fn exempt(mut self, prefixes: &[&'static str]) -> CsrfConfig {
        self.exempt_prefixes.extend_from_slice(prefixes);
        self
    }

    fn signature(&self, nonce: &str) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(b"egov-csrf-v1:");
        mac.update(nonce.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A fresh token: `nonce.signature`, both base64url.
    pub fn issue(&self) -> String {
        let mut nonce = [0_u8; 32];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let signature = URL_SAFE_NO_PAD.encode(self.signature(&nonce));
        format!("{nonce}.{signature}")
    }

    /// Whether `token` was signed with this instance's key.
    pub fn is_genuine(&self, token: &str) -> bool {
        let Some((nonce, signature)) = token.split_once('.') else {
            return false;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.signature(nonce).ct_eq(&signature).into()
    }
}

fn needs_token(request: &Request) -> bool {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return false;
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // These are the body types a cross-site form or fetch may send without
    // a CORS preflight; anything else is stopped by the browser itself.
    content_type.is_empty()
        || content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("multipart/form-data")
        || content_type.starts_with("text/plain")
}

/// Checks unsafe requests and hands every request its token.
pub async fn csrf_layer(State(config): State<CsrfConfig>, request: Request, next: Next) -> Response {
    let cookie_token = cookie_value(request.headers(), CSRF_COOKIE)
        .filter(|token| config.is_genuine(token))
        .map(str::to_owned);

    let mut request = request;
    let exempt = config
        .exempt_prefixes
        .iter()
        .any(|prefix| request.uri().path().starts_with(prefix));
    if !exempt && needs_token(&request) {
        let cross_site = request
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|value| value.as_bytes() == b"cross-site");
        let Some(expected) = cookie_token.as_deref().filter(|_| !cross_site) else {
            return AppError::csrf_failed().into_response();
        };
        let header_token = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let submitted = if let Some(token) = header_token {
            Some(token)
        } else {
            let is_form = request
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
            if is_form {
                let (parts, body) = request.into_parts();
                let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
                    return AppError::payload_too_large().into_response();
                };
                let token = form_urlencoded::parse(&bytes)
                    .find(|(key, _)| key == CSRF_FIELD)
                    .map(|(_, value)| value.into_owned());
                request = Request::from_parts(parts, Body::from(bytes));
                token
            } else {
                // A multipart body (a form with files) is not read here: its
                // form carries the token in its action URL instead. The
                // referrer policy keeps that URL on this site.
                request
                    .uri()
                    .query()
                    .and_then(|query| {
                        form_urlencoded::parse(query.as_bytes())
                            .find(|(key, _)| key == CSRF_FIELD)
                            .map(|(_, value)| value.into_owned())
                    })
                    .filter(|_| {
                        request
                            .headers()
                            .get(header::CONTENT_TYPE)
                            .is_some_and(|value| value.as_bytes().starts_with(b"multipart/form-data"))
                    })
            }
        };
        let matches = submitted.is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected.as_bytes())));
        if !matches {
            return AppError::csrf_failed().into_response();
        }
    }

    let (token, is_new) = match cookie_token {
        Some(token) => (token, false),
        None => (config.issue(), true),
    };
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if is_new {
        let secure = if config.secure_cookie { "; Secure" } else { "" };
        let cookie = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_is_genuine_and_a_tampered_one_is_not() {
        let config = CsrfConfig::new(b"a secret key of enough length....", false);
        let token = config.issue();
        assert!(config.is_genuine(&token));
        let (nonce, _) = token.split_once('.').expect("token has two parts");
        assert!(!config.is_genuine(&format!("{nonce}.AAAA")));
        assert!(!config.is_genuine("no-dot-here"));
        let other_instance = CsrfConfig::new(b"another secret key of enough len", false);
        assert!(!other_instance.is_genuine(&token));
    }
}
