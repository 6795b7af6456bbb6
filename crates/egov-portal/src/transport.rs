//! How the portal reaches the sign-in service: through the network
//! (reqwest, redirects never followed) when it runs elsewhere, or, in the
//! same process, by handing the very same HTTP request to the sign-in
//! service's router. Either way the portal speaks only OpenID Connect: the
//! `openidconnect` crate builds the requests and checks the answers.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tower::ServiceExt as _;

/// The largest answer read from the sign-in service (discovery, JWKS,
/// tokens).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("the sign-in service is unreachable: {0}")]
    Network(#[from] reqwest::Error),
    #[error("{0} is not an address of the sign-in service")]
    Elsewhere(String),
    #[error("the sign-in service's answer could not be read: {0}")]
    Answer(String),
}

#[derive(Clone)]
pub enum Transport {
    /// The sign-in service's router, in this process.
    InProcess {
        issuer: String,
        router: axum::Router,
    },
    Network(reqwest::Client),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::InProcess { issuer, .. } => f.debug_struct("InProcess").field("issuer", issuer).finish(),
            Transport::Network(_) => f.write_str("Network"),
        }
    }
}

pub type HttpFuture = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, TransportError>> + Send>>;

impl Transport {
    /// A network transport with short timeouts and no redirects.
    pub fn network() -> Result<Transport, reqwest::Error> {
        Ok(Transport::Network(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("egov-portal/", env!("CARGO_PKG_VERSION")))
                .build()?,
        ))
    }

    /// openidconnect's HTTP client over this transport.
    pub fn client(&self) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture + use<> {
        let transport = self.clone();
        move |request| {
            let transport = transport.clone();
            Box::pin(async move { transport.send(request).await })
        }
    }

    async fn send(&self, request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, TransportError> {
        match self {
            Transport::InProcess { issuer, router } => {
                let uri = request.uri().to_string();
                // Only the sign-in service's own addresses are answered here:
                // the path alone picks the route, so anything else must fail.
                if !uri.starts_with(&format!("{issuer}/")) {
                    return Err(TransportError::Elsewhere(uri));
                }
                let (parts, body) = request.into_parts();
                let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body));
                let Ok(response) = router.clone().oneshot(request).await;
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, MAX_ANSWER_BYTES)
                    .await
                    .map_err(|error| TransportError::Answer(error.to_string()))?;
                Ok(openidconnect::http::Response::from_parts(parts, bytes.to_vec()))
            }
            Transport::Network(client) => {
                let (parts, body) = request.into_parts();
                let response = client
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await?;
                let mut answer = openidconnect::http::Response::new(Vec::new());
                *answer.status_mut() = response.status();
                *answer.headers_mut() = response.headers().clone();
                let bytes = response.bytes().await?;
                if bytes.len() > MAX_ANSWER_BYTES {
                    return Err(TransportError::Answer("too large".to_owned()));
                }
                *answer.body_mut() = bytes.to_vec();
                Ok(answer)
            }
        }
    }
}
