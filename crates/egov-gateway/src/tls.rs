//! Mutual TLS between gateways, with the certificates the hub's CA
//! issued: the provider side's listener (every client must present a
//! certificate of the federation's CA), the consumer side's client (it
//! presents its own and trusts only that CA), and the signed messages they
//! carry.
//!
//! Handshakes run in tasks of their own, so one slow or hostile client
//! cannot hold the listener; finished connections are handed to the
//! server with the peer's certificate, which handlers read as
//! `ConnectInfo<TlsPeer>` to know which gateway is calling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::XRoadError;
use crate::gateway::{Gateway, SignedRequest, SignedResponse};

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest exchange the provider side reads.
pub const MAX_EXCHANGE_BYTES: usize = 24 * 1024 * 1024;
/// The provider side's path.
pub const EXCHANGE_PATH: &str = "/gateway/v1/exchange";

/// A signed request as it crosses between gateways.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Base64.
    pub body: String,
    pub key_id: String,
    pub signature: String,
}

/// A signed response as it crosses back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub key_id: String,
    pub signature: String,
}

impl WireRequest {
    pub fn from_signed(request: &SignedRequest) -> WireRequest {
        WireRequest {
            method: request.method.as_str().to_owned(),
            target: request.target.clone(),
            headers: request.headers.clone(),
            body: STANDARD.encode(&request.body),
            key_id: request.key_id.clone(),
            signature: request.signature.clone(),
        }
    }

    pub fn into_signed(self) -> Result<SignedRequest, XRoadError> {
        let bad = |what: &str| {
            XRoadError::new(
                "Server.ServerProxy.InvalidMessage",
                format!("The request's {what} is malformed"),
            )
        };
        Ok(SignedRequest {
            method: Method::from_bytes(self.method.as_bytes()).map_err(|_| bad("method"))?,
            target: self.target,
            headers: self.headers,
            body: STANDARD.decode(self.body).map_err(|_| bad("body"))?,
            key_id: self.key_id,
            signature: self.signature,
        })
    }
}

impl WireResponse {
    pub fn from_signed(response: &SignedResponse) -> WireResponse {
        WireResponse {
            status: response.status,
            headers: response.headers.clone(),
            body: STANDARD.encode(&response.body),
            key_id: response.key_id.clone(),
            signature: response.signature.clone(),
        }
    }

    pub fn into_signed(self) -> Result<SignedResponse, XRoadError> {
        Ok(SignedResponse {
            status: self.status,
            headers: self.headers,
            body: STANDARD.decode(self.body).map_err(|_| {
                XRoadError::new(
                    "Server.ClientProxy.InvalidMessage",
                    "The provider gateway's answer is malformed",
                )
            })?,
            key_id: self.key_id,
            signature: self.signature,
        })
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(pub String);

fn tls_error(error: impl std::fmt::Display) -> TlsError {
    TlsError(error.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider side's TLS configuration: this gateway's certificate, and
/// client certificates required, issued by the federation's CA.
pub fn server_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(tls_error)?)
        .map_err(tls_error)?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(tls_error)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(tls_error)?],
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(tls_error)?,
        )
        .map_err(tls_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The consumer side's client: it presents this gateway's certificate and
/// trusts only the federation's CA.
pub fn client(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<reqwest::Client, TlsError> {
    let identity = reqwest::Identity::from_pem(format!("{cert_pem}\n{key_pem}").as_bytes()).map_err(tls_error)?;
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(tls_error)?;
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(identity)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_mins(1))
        .pool_max_idle_per_host(64)
        .build()
        .map_err(tls_error)
}

/// Who connected: their address and their certificate (DER).
#[derive(Debug, Clone)]
pub struct TlsPeer {
    pub address: SocketAddr,
    pub certificate: Option<Vec<u8>>,
}

/// A listener whose connections are TLS streams with a verified client.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
}

impl TlsListener {
    pub async fn bind(address: SocketAddr, config: rustls::ServerConfig) -> std::io::Result<TlsListener> {
        let tcp = TcpListener::bind(address).await?;
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (sender, ready) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let (stream, address) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "The gateway's TLS listener could not accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if sender.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let certificate = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|certificates| certificates.first())
                                .map(|certificate| certificate.as_ref().to_vec());
                            let _ = sender.send((tls, TlsPeer { address, certificate })).await;
                        }
                        Ok(Err(error)) => tracing::info!(%error, %address, "A TLS handshake with the gateway failed"),
                        Err(_) => tracing::info!(%address, "A TLS handshake with the gateway timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The acceptor task only stops with the listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(TlsPeer {
            address: self.local,
            certificate: None,
        })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> TlsPeer {
        stream.remote_addr().clone()
    }
}

/// The provider side's router, served on the TLS listener only.
pub fn provider_router(gateway: Gateway) -> Router {
    Router::new()
        .route(EXCHANGE_PATH, post(exchange))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_EXCHANGE_BYTES))
        .with_state(gateway)
}

async fn exchange(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<TlsPeer>,
    body: axum::body::Bytes,
) -> Response {
    let request = match serde_json::from_slice::<WireRequest>(&body) {
        Ok(request) => request,
        Err(error) => {
            return XRoadError::new(
                "Server.ServerProxy.InvalidMessage",
                format!("The request is malformed: {error}"),
            )
            .into_response();
        }
    };
    let started = std::time::Instant::now();
    let client = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-road-client"))
        .map(|(_, value)| value.clone());
    let service = match crate::id::parse_r1(&request.target) {
        Ok(crate::id::R1Target::Service { service, .. }) => Some(service),
        _ => None,
    };
    match gateway.provide_remote(peer.certificate.as_deref(), request).await {
        Ok(response) => {
            // Counted as what the provider side answered, not as the
            // transport's 200.
            let mut counted = Response::new(axum::body::Body::empty());
            *counted.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
            if let Some((_, kind)) = response
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(crate::error::ERROR_HEADER))
                && let Ok(value) = axum::http::HeaderValue::from_str(kind)
            {
                counted.headers_mut().insert(crate::error::ERROR_HEADER, value);
            }
            gateway.observe("provider", client, service, &counted, started);
            (StatusCode::OK, axum::Json(WireResponse::from_signed(&response))).into_response()
        }
        Err(error) => {
            let response = error.into_response();
            gateway.observe("provider", None, None, &response, started);
            response
        }
    }
}

/// Serves the provider side until `shutdown` turns true.
pub async fn serve(
    gateway: Gateway,
    listener: TlsListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        provider_router(gateway).into_make_service_with_connect_info::<TlsPeer>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    })
    .await
}
