//! What every page's layout needs: language, title, where the visitor is,
//! and the CSRF token for the forms in the header.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::assets::ASSET_VERSION;
use crate::csrf::CsrfToken;
use crate::i18n::{Lang, ShellText};

/// The layout's data, one per rendered page.
#[derive(Debug, Clone)]
pub struct PageMeta {
    pub lang: Lang,
    pub title: String,
    /// The path and query of this page, for the language switch to return to.
    pub current: String,
    pub csrf_token: String,
    pub asset_version: &'static str,
}

impl PageMeta {
    pub fn new(lang: Lang, title: &str, current: &str) -> PageMeta {
        PageMeta {
            lang,
            title: title.to_owned(),
            current: current.to_owned(),
            csrf_token: String::new(),
            asset_version: ASSET_VERSION,
        }
    }

    #[must_use]
    pub fn with_csrf(mut self, token: Option<&CsrfToken>) -> PageMeta {
        if let Some(token) = token {
            token.0.clone_into(&mut self.csrf_token);
        }
        self
    }

    pub fn shell(&self) -> &'static ShellText {
        self.lang.shell()
    }
}

/// Extracts what a page handler needs to build its [`PageMeta`].
#[derive(Debug, Clone)]
pub struct PageContext {
    pub lang: Lang,
    pub current: String,
    pub csrf_token: Option<CsrfToken>,
}

impl PageContext {
    pub fn meta(&self, title: &str) -> PageMeta {
        PageMeta::new(self.lang, title, &self.current).with_csrf(self.csrf_token.as_ref())
    }

    pub fn shell(&self) -> &'static ShellText {
        self.lang.shell()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_request(parts.uri.query(), &parts.headers);
        let current = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        let csrf_token = parts.extensions.get::<CsrfToken>().cloned();
        Ok(PageContext {
            lang,
            current,
            csrf_token,
        })
    }
}

/// The address of the peer, when the server records it (it does in
/// production and tests; a router called without a socket has none).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let connect = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(ClientAddress(connect.map(|info| info.0.ip())))
    }
}
