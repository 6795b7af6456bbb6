//! The gateway service: an r1 call from an agency system, through the
//! consumer side (who calls, which provider, sign, log) and the provider
//! side (verify, access right, call the service, sign, log) and back.
//!
//! Both sides do their whole work even when this gateway serves both the
//! caller and the provider, as in one instance: the request is signed by
//! the consumer side and verified by the provider side, the response the
//! other way round, and each side logs the exchange. Reaching a provider
//! behind another gateway is the hub's work (the federation's
//! configuration and mutual TLS); until this gateway knows one, such a
//! call gets `Server.ClientProxy.UnknownMember`.
//!
//! What the gateway serves (subsystems, services, access rights) is read
//! from the database into a snapshot that each node refreshes every
//! [`DIRECTORY_TTL`], and at once on the node that changes it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse as _, Response};
use egov_core::clock::Clock;
use egov_db::{Db, DbError};
use rustls::pki_types::pem::PemObject as _;
use tower::ServiceExt as _;

use crate::conf::GlobalConf;
use crate::error::XRoadError;
use crate::federation;
use crate::id::{self, ClientId, MetaService, R1Target, ServiceId};
use crate::log::{Exchange, LoggedMessage, MessageLog, Side};
use crate::message::{self, GatewayKey, Kind, TrustedKeys};
use crate::store::{self, Endpoint, ServiceRow};

/// How long a node serves from its snapshot of subsystems, services and
/// access rights before reading them again.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(5);
/// The most header bytes a call may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The longest `X-Road-Id`, `X-Road-UserId` or `X-Road-Represented-Party`.
const MAX_ID_HEADER: usize = 255;
/// The longest `X-Road-Issue`.
const MAX_ISSUE: usize = 1024;
/// The largest response body read from a service.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Who is on the other end of a call to `/r1/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A system of this instance, in the same process.
    InProcess,
    Network(SocketAddr),
    /// The address is not known: treated as a remote system.
    Unknown,
}

impl Caller {
    fn is_local(self) -> bool {
        match self {
            Caller::InProcess => true,
            Caller::Network(address) => address.ip().is_loopback(),
            Caller::Unknown => false,
        }
    }
}

/// A call as it reached the gateway.
#[derive(Debug)]
pub struct Call {
    pub method: Method,
    /// Path and query, still encoded.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub caller: Caller,
}

/// A request signed by a consumer gateway, as it crosses to the provider.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub key_id: String,
    pub signature: String,
}

/// A response signed by the provider gateway.
#[derive(Debug, Clone)]
pub struct SignedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub key_id: String,
    pub signature: String,
}

/// What an in-process service is: a router that receives the call as an
/// HTTP request, with the X-Road headers the provider gateway sets.
pub type LocalServices = HashMap<String, Router>;

/// What one node knows of what the gateway serves.
#[derive(Debug, Default)]
struct Directory {
    subsystems: BTreeMap<String, store::SubsystemRow>,
    services: HashMap<(String, String), ServiceRow>,
    /// Each service's endpoints: the calls it takes.
    endpoints: HashMap<(String, String), Vec<Endpoint>>,
    /// (provider subsystem, service code) → clients.
    rights: HashMap<(String, String), HashSet<String>>,
    /// The federation this gateway joined, with its last configuration.
    federation: Option<Arc<Federated>>,
    /// In a federation: when the oldest record of the message log that the
    /// hub has not time-stamped yet was written (epoch milliseconds).
    oldest_unstamped: Option<i64>,
}

/// What a node knows of its federation.
#[derive(Debug)]
struct Federated {
    conf: GlobalConf,
    /// The message-signing keys of every gateway that is not revoked.
    trusted: TrustedKeys,
    /// When the configuration was downloaded (epoch milliseconds).
    fetched_at: i64,
    /// Membership's TLS material, for the client.
    tls: (String, String, String),
}

impl Directory {
    async fn load(db: &Db) -> Result<Directory, DbError> {
        let subsystems = store::subsystems(db)
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        let services: HashMap<(String, String), ServiceRow> = store::services(db)
            .await?
            .into_iter()
            .map(|row| ((row.subsystem_id.clone(), row.service_code.clone()), row))
            .collect();
        let endpoints = services
            .iter()
            .map(|(key, row)| (key.clone(), row.endpoints()))
            .collect();
        let mut rights: HashMap<(String, String), HashSet<String>> = HashMap::new();
        for (subsystem, service, client) in store::access_rights(db).await? {
            rights.entry((subsystem, service)).or_default().insert(client);
        }
        Ok(Directory {
            subsystems,
            services,
            endpoints,
            rights,
            oldest_unstamped: crate::log::oldest_unstamped(db).await?,
            federation: federated(db).await,
        })
    }

    fn allowed(&self, service: &ServiceId, client: &ClientId) -> bool {
        let key = (service.provider.to_string(), service.service_code.clone());
        let (client, member) = (client.to_string(), client.member().to_string());
        self.rights.get(&key).is_some_and(|clients| {
            clients.contains(&client)
                || clients.contains(&member)
                || self.federation.as_ref().is_some_and(|federated| {
                    federated
                        .conf
                        .groups_of(&client, &member)
                        .iter()
                        .any(|group| clients.contains(group))
                })
        })
    }
}

/// The federation, if this gateway joined one and holds a configuration
/// that still verifies; a broken one is logged and treated as none.
async fn federated(db: &Db) -> Option<Arc<Federated>> {
    let membership = match federation::membership(db).await {
        Ok(membership) => membership?,
        Err(error) => {
            tracing::error!(%error, "The gateway's federation could not be read");
            return None;
        }
    };
    let loaded = membership.configuration().and_then(|conf| {
        let conf = conf.ok_or(federation::FederationError::NotJoined)?;
        let trusted = conf.trusted_keys()?;
        Ok((conf, trusted))
    });
    match loaded {
        Ok((conf, trusted)) => Some(Arc::new(Federated {
            conf,
            trusted,
            fetched_at: membership.conf_fetched_at.unwrap_or_default(),
            tls: (membership.ca_cert_pem, membership.tls_cert_pem, membership.tls_key_pem),
        })),
        Err(federation::FederationError::NotJoined) => None,
        Err(error) => {
            tracing::error!(%error, "The gateway's stored configuration does not verify; remote providers are unreachable");
            None
        }
    }
}

struct Snapshot {
    directory: Arc<Directory>,
    /// None until first read.
    loaded: Option<Instant>,
}

impl Snapshot {
    fn fresh(&self) -> Option<Arc<Directory>> {
        self.loaded
            .filter(|loaded| loaded.elapsed() < DIRECTORY_TTL)
            .map(|_| Arc::clone(&self.directory))
    }
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    log: MessageLog,
    keys: tokio::sync::OnceCell<(GatewayKey, TrustedKeys)>,
    snapshot: Mutex<Snapshot>,
    reload: tokio::sync::Mutex<()>,
    local_services: LocalServices,
    http: Option<reqwest::Client>,
    /// The mutual-TLS client to other gateways, for the certificate it was
    /// made with.
    tls_client: Mutex<Option<(String, reqwest::Client)>>,
    /// How long the last configuration may be used.
    conf_max_age: Duration,
    /// How long a logged exchange may wait for the hub's time-stamp before
    /// the gateway refuses new calls.
    timestamp_limit: Duration,
    monitor: crate::monitor::Monitor,
}

/// How long a logged exchange may wait for its time-stamp by default.
pub const DEFAULT_TIMESTAMP_LIMIT: Duration = Duration::from_mins(30);

/// How long a gateway works on its last configuration by default.
pub const DEFAULT_CONF_MAX_AGE: Duration = Duration::from_mins(10);

/// The gateway of this instance.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Key(#[from] message::KeyError),
}

/// The gateway's signing key and the keys it trusts; a new key is made on
/// first use.
pub async fn keys(db: &Db) -> Result<(GatewayKey, TrustedKeys), GatewayError> {
    let mut rows = store::keys(db).await?;
    if rows.iter().all(|row| row.retired_at.is_some()) {
        let key = GatewayKey::generate(format!("gw-{}", egov_core::id::new_id().simple()));
        match store::insert_key(db, &key.key_id, &key.private_pem()?, &key.public_pem()?).await {
            Ok(()) => {}
            // Another node made one at the same moment: use whichever is first.
            Err(error) if error.is_unique_violation() => {}
            Err(error) => return Err(error.into()),
        }
        rows = store::keys(db).await?;
    }
    let mut trusted = TrustedKeys::default();
    for row in &rows {
        trusted.insert_pem(&row.key_id, &row.public_pem)?;
    }
    let current = rows
        .iter()
        .rev()
        .find(|row| row.retired_at.is_none())
        .ok_or_else(|| message::KeyError::Unknown("current".to_owned()))?;
    let key = GatewayKey::from_pem(current.key_id.clone(), &current.private_pem)?;
    Ok((key, trusted))
}

/// Every key the message log's signatures may be made with: this
/// gateway's, and those of every gateway of its federation, revoked ones
/// included (their old records still verify).
pub async fn log_keys(db: &Db) -> Result<TrustedKeys, GatewayError> {
    let (_, mut keys) = keys(db).await?;
    if let Some(membership) = federation::membership(db).await?
        && let Ok(Some(conf)) = membership.configuration()
    {
        for gateway in &conf.gateways {
            keys.insert_pem(&gateway.signing_key_id, &gateway.signing_public_pem)?;
        }
    }
    Ok(keys)
}

impl Gateway {
    /// The gateway of a node. Its keys (made on first use) and what it
    /// serves are read at its first call; its message log's writer starts
    /// now.
    pub fn new(db: Db, clock: Arc<dyn Clock>, mut local_services: LocalServices) -> Gateway {
        // Rooms are the gateway's own service.
        local_services
            .entry(crate::pubsub::LOCAL_SERVICE.to_owned())
            .or_insert_with(|| crate::pubsub::router(db.clone(), Arc::clone(&clock)));
        local_services
            .entry(crate::national::LOCAL_SERVICE.to_owned())
            .or_insert_with(|| crate::national::router(db.clone(), Arc::clone(&clock)));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .inspect_err(|error| tracing::error!(%error, "The gateway's HTTP client cannot be set up"))
            .ok();
        Gateway {
            inner: Arc::new(Inner {
                log: MessageLog::start(&db),
                db,
                clock,
                keys: tokio::sync::OnceCell::new(),
                snapshot: Mutex::new(Snapshot {
                    directory: Arc::new(Directory::default()),
                    loaded: None,
                }),
                reload: tokio::sync::Mutex::new(()),
                local_services,
                http,
                tls_client: Mutex::new(None),
                conf_max_age: DEFAULT_CONF_MAX_AGE,
                timestamp_limit: DEFAULT_TIMESTAMP_LIMIT,
                monitor: crate::monitor::Monitor::default(),
            }),
        }
    }

    pub fn monitor(&self) -> &crate::monitor::Monitor {
        &self.inner.monitor
    }

    /// The labels an exchange is counted under: the client and service when
    /// this gateway knows them, `-` otherwise (so that made-up identifiers
    /// cannot multiply the metrics).
    fn labels(&self, client: Option<String>, service: Option<ServiceId>) -> (String, String) {
        let snapshot = self.lock_snapshot();
        let directory = &snapshot.directory;
        let client = client
            .filter(|client| directory.subsystems.contains_key(client))
            .unwrap_or_else(|| "-".to_owned());
        let service = service
            .filter(|service| {
                let provider = service.provider.to_string();
                directory
                    .services
                    .contains_key(&(provider.clone(), service.service_code.clone()))
                    || directory
                        .federation
                        .as_ref()
                        .is_some_and(|federated| federated.conf.gateway_of(&provider).is_some())
            })
            .map_or_else(|| "-".to_owned(), |service| service.to_string());
        (client, service)
    }

    /// Counts an exchange this gateway took part in.
    pub fn observe(
        &self,
        side: &'static str,
        client: Option<String>,
        service: Option<ServiceId>,
        response: &Response,
        started: Instant,
    ) {
        let (client, service) = self.labels(client, service);
        let xroad_error = response
            .headers()
            .get(crate::error::ERROR_HEADER)
            .and_then(|value| value.to_str().ok());
        self.inner.monitor.observe(&crate::monitor::Observation {
            side,
            client: &client,
            service: &service,
            status: response.status().as_u16(),
            xroad_error,
            elapsed: started.elapsed(),
        });
    }

    /// The same gateway, refusing calls once a logged exchange has waited
    /// this long for the hub's time-stamp.
    #[must_use]
    pub fn with_timestamp_limit(self, limit: Duration) -> Gateway {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.timestamp_limit = limit;
                Gateway { inner: Arc::new(inner) }
            }
            Err(inner) => Gateway { inner },
        }
    }

    /// In a federation, the message log must be time-stamped by the hub
    /// within the limit; past it, the gateway fails closed.
    fn check_log(&self, directory: &Directory, side: &'static str) -> Result<(), XRoadError> {
        let (Some(_), Some(oldest)) = (&directory.federation, directory.oldest_unstamped) else {
            return Ok(());
        };
        let waited = self.inner.clock.now().timestamp_millis() - oldest;
        if u128::try_from(waited).unwrap_or(0) > self.inner.timestamp_limit.as_millis() {
            return Err(XRoadError::new(
                side,
                format!(
                    "The message log has waited {} min for the hub's time-stamp (the limit is {} min): \
                     calls are refused until the hub's time-stamping service answers again",
                    waited / 60_000,
                    self.inner.timestamp_limit.as_secs() / 60
                ),
            ));
        }
        Ok(())
    }

    /// The same gateway, working on its last configuration at most this
    /// long before it refuses calls to other gateways.
    #[must_use]
    pub fn with_conf_max_age(self, max_age: Duration) -> Gateway {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.conf_max_age = max_age;
                Gateway { inner: Arc::new(inner) }
            }
            // Already shared: keep it as it is.
            Err(inner) => Gateway { inner },
        }
    }

    /// The gateway's signing key and the keys it trusts.
    pub async fn keys(&self) -> Result<&(GatewayKey, TrustedKeys), GatewayError> {
        self.inner.keys.get_or_try_init(|| keys(&self.inner.db)).await
    }

    /// Every key the message log's signatures may be made with: this
    /// gateway's, and those of every gateway of its federation, revoked
    /// ones included (their old records still verify).
    pub async fn log_keys(&self) -> Result<TrustedKeys, GatewayError> {
        log_keys(&self.inner.db).await
    }

    async fn signing(&self) -> Result<&(GatewayKey, TrustedKeys), XRoadError> {
        self.keys().await.map_err(|error| {
            XRoadError::new(
                "Server.ClientProxy.InternalError",
                format!("The gateway's keys cannot be read: {error}"),
            )
        })
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    async fn directory(&self) -> Result<Arc<Directory>, XRoadError> {
        if let Some(directory) = self.lock_snapshot().fresh() {
            return Ok(directory);
        }
        let _reloading = self.inner.reload.lock().await;
        if let Some(directory) = self.lock_snapshot().fresh() {
            return Ok(directory);
        }
        self.reload()
            .await
            .map_err(|error| XRoadError::new("Server.ClientProxy.DatabaseError", error.to_string()))
    }

    /// Reads what the gateway serves again, now (after a change on this node).
    pub async fn refresh(&self) -> Result<(), DbError> {
        self.reload().await.map(drop)
    }

    async fn reload(&self) -> Result<Arc<Directory>, DbError> {
        let directory = Arc::new(Directory::load(&self.inner.db).await?);
        let mut snapshot = self.lock_snapshot();
        snapshot.directory = Arc::clone(&directory);
        snapshot.loaded = Some(Instant::now());
        Ok(directory)
    }

    fn lock_snapshot(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        // A panic while holding the lock leaves a snapshot that is still whole.
        self.inner
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Handles one r1 call: the consumer gateway's work, and the provider's
    /// when this gateway serves the provider.
    pub async fn call(&self, call: Call) -> Response {
        let started = Instant::now();
        let client = call
            .headers
            .get("x-road-client")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| ClientId::parse_header(value).ok())
            .map(|client| client.to_string());
        let service = match id::parse_r1(&call.target) {
            Ok(R1Target::Service { service, .. }) => Some(service),
            _ => None,
        };
        let response = match self.consume(call).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
        self.observe("consumer", client, service, &response, started);
        response
    }

    async fn consume(&self, call: Call) -> Result<Response, XRoadError> {
        let header_bytes: usize = call
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if header_bytes > MAX_HEADER_BYTES {
            return Err(XRoadError::bad_request(format!(
                "The request's headers are larger than {MAX_HEADER_BYTES} bytes"
            )));
        }
        let target = id::parse_r1(&call.target).map_err(|error| XRoadError::bad_request(error.to_string()))?;
        let client = client_of(&call.headers)?;
        let message_id = single_header(&call.headers, "x-road-id", MAX_ID_HEADER)?;
        for (name, limit) in [
            ("x-road-userid", MAX_ID_HEADER),
            ("x-road-issue", MAX_ISSUE),
            ("x-road-represented-party", MAX_ID_HEADER),
        ] {
            single_header(&call.headers, name, limit)?;
        }
        let directory = self.directory().await?;
        let client_key = client.to_string();
        let Some(registered) = directory
            .subsystems
            .get(&client_key)
            .filter(|_| client.subsystem.is_some())
        else {
            return Err(XRoadError::new(
                "Server.ClientProxy.UnknownMember",
                format!("The client {client_key} is not a subsystem of this gateway"),
            ));
        };
        self.check_log(&directory, "Server.ClientProxy.MessageLogFailure")?;
        if registered.connection == "loopback" && !call.caller.is_local() {
            return Err(XRoadError::new(
                "Server.ClientProxy.SslAuthenticationFailed",
                format!("The client {client_key} may call only from the gateway's own host"),
            ));
        }
        match target {
            R1Target::Meta { provider, meta, query } => {
                if directory.subsystems.contains_key(&provider.to_string()) {
                    return metadata(&directory, &client, &provider, meta, query.as_deref());
                }
                // A provider behind another gateway: that gateway answers,
                // in a signed and logged exchange like any other.
                let service = ServiceId::new(provider, meta.code())
                    .map_err(|error| XRoadError::bad_request(error.to_string()))?;
                let message_id = message_id.unwrap_or_else(|| egov_core::id::new_id().to_string());
                self.exchange(&directory, call, &client, &service, message_id).await
            }
            R1Target::Service { service, .. } => {
                let message_id = message_id.unwrap_or_else(|| egov_core::id::new_id().to_string());
                self.exchange(&directory, call, &client, &service, message_id).await
            }
        }
    }

    /// The consumer side of an exchange with a provider this gateway serves.
    async fn exchange(
        &self,
        directory: &Directory,
        call: Call,
        client: &ClientId,
        service: &ServiceId,
        message_id: String,
    ) -> Result<Response, XRoadError> {
        let local = directory.subsystems.contains_key(&service.provider.to_string());
        let remote = if local {
            None
        } else {
            Some(self.remote_gateway(directory, &service.provider)?)
        };
        let mut headers: Vec<(String, String)> = Vec::with_capacity(call.headers.len() + 1);
        for (name, value) in &call.headers {
            if !message::crosses(name.as_str()) {
                continue;
            }
            let value = value
                .to_str()
                .map_err(|_| XRoadError::bad_request(format!("The header {name} is not visible ASCII")))?;
            headers.push((name.as_str().to_owned(), value.to_owned()));
        }
        if !headers.iter().any(|(name, _)| name == "x-road-id") {
            headers.push(("x-road-id".to_owned(), message_id.clone()));
        }
        let (key, trusted) = self.signing().await?;
        let head = message::request_head(call.method.as_str(), &call.target, &headers);
        let request_hash = message::message_hash(&head, &call.body);
        let signed = SignedRequest {
            method: call.method,
            target: call.target,
            headers,
            key_id: key.key_id.clone(),
            signature: key.sign(Kind::Request, &request_hash),
            body: call.body,
        };
        let request_log = LoggedMessage {
            head,
            body: signed.body.clone(),
            hash: message::encode_hash(&request_hash),
            key_id: signed.key_id.clone(),
            signature: signed.signature.clone(),
        };
        let user_id = header_value(&signed.headers, "x-road-userid");
        let issue = header_value(&signed.headers, "x-road-issue");
        let response = match &remote {
            // The provider gateway is this one.
            None => self.provide(signed, trusted).await?,
            // Across instances the signed request crosses over mutual TLS.
            Some((federated, address, key_id)) => {
                let response = self.send(federated, address, &signed).await?;
                if response.key_id != *key_id {
                    return Err(XRoadError::new(
                        "Server.ClientProxy.InvalidSignatureValue",
                        "The response is not signed by the provider's gateway",
                    ));
                }
                response
            }
        };
        let trusted = match &remote {
            None => trusted,
            Some((federated, _, _)) => &federated.trusted,
        };
        let response_head = message::response_head(response.status, &response.headers);
        let response_hash = message::message_hash(&response_head, &response.body);
        trusted
            .verify(&response.key_id, Kind::Response, &response_hash, &response.signature)
            .map_err(|error| {
                XRoadError::new(
                    "Server.ClientProxy.InvalidSignatureValue",
                    format!("The provider gateway's response signature does not hold: {error}"),
                )
            })?;
        if header_value(&response.headers, "x-road-request-hash").as_deref() != Some(request_log.hash.as_str()) {
            return Err(XRoadError::new(
                "Server.ClientProxy.InvalidRequestHash",
                "The provider gateway's response is not for this request",
            ));
        }
        self.inner
            .log
            .append(Exchange {
                side: Side::Consumer,
                message_id,
                client_id: client.to_string(),
                service_id: service.to_string(),
                user_id,
                issue,
                request: request_log,
                status: response.status,
                response: LoggedMessage {
                    head: response_head,
                    body: response.body.clone(),
                    hash: message::encode_hash(&response_hash),
                    key_id: response.key_id.clone(),
                    signature: response.signature.clone(),
                },
                at: self.inner.clock.now(),
            })
            .await
            .map_err(|error| XRoadError::new("Server.ClientProxy.MessageLogFailure", error.to_string()))?;
        Ok(into_response(response))
    }

    /// The provider side: verify, check the access right, call the service,
    /// sign and log. Refusals after the signature held are signed and
    /// logged like answers.
    pub async fn provide(&self, request: SignedRequest, trusted: &TrustedKeys) -> Result<SignedResponse, XRoadError> {
        let head = message::request_head(request.method.as_str(), &request.target, &request.headers);
        let request_hash = message::message_hash(&head, &request.body);
        let (key, _) = self.signing().await?;
        trusted
            .verify(&request.key_id, Kind::Request, &request_hash, &request.signature)
            .map_err(|error| {
                XRoadError::new(
                    "Server.ServerProxy.InvalidSignatureValue",
                    format!("The consumer gateway's signature does not hold: {error}"),
                )
            })?;
        let encoded_request_hash = message::encode_hash(&request_hash);
        let client_value = header_value(&request.headers, "x-road-client").unwrap_or_default();
        let message_id = header_value(&request.headers, "x-road-id").unwrap_or_default();
        let (service_id, outcome) = match self.serve(&request, &client_value).await {
            Ok((service, response)) => (service.to_string(), Ok(response)),
            Err((service, error)) => (service, Err(error)),
        };
        let (status, mut headers, body) = match outcome {
            Ok(answer) => answer,
            Err(error) => error_answer(&error),
        };
        headers.retain(|(name, _)| {
            !name.to_ascii_lowercase().starts_with("x-road-") || name.eq_ignore_ascii_case("x-road-error")
        });
        headers.push(("x-road-client".to_owned(), client_value.clone()));
        headers.push(("x-road-service".to_owned(), service_id.clone()));
        headers.push(("x-road-id".to_owned(), message_id.clone()));
        headers.push(("x-road-request-id".to_owned(), egov_core::id::new_id().to_string()));
        headers.push(("x-road-request-hash".to_owned(), encoded_request_hash.clone()));
        let response_head = message::response_head(status, &headers);
        let response_hash = message::message_hash(&response_head, &body);
        let signature = key.sign(Kind::Response, &response_hash);
        self.inner
            .log
            .append(Exchange {
                side: Side::Provider,
                message_id,
                client_id: client_value,
                service_id,
                user_id: header_value(&request.headers, "x-road-userid"),
                issue: header_value(&request.headers, "x-road-issue"),
                request: LoggedMessage {
                    head,
                    body: request.body,
                    hash: encoded_request_hash,
                    key_id: request.key_id,
                    signature: request.signature,
                },
                status,
                response: LoggedMessage {
                    head: response_head,
                    body: body.clone(),
                    hash: message::encode_hash(&response_hash),
                    key_id: key.key_id.clone(),
                    signature: signature.clone(),
                },
                at: self.inner.clock.now(),
            })
            .await
            .map_err(|error| XRoadError::new("Server.ServerProxy.MessageLogFailure", error.to_string()))?;
        Ok(SignedResponse {
            status,
            headers,
            body,
            key_id: key.key_id.clone(),
            signature,
        })
    }

    /// The gateway that serves a provider of another instance's member:
    /// the federation, the gateway's address and its signing key id.
    fn remote_gateway(
        &self,
        directory: &Directory,
        provider: &ClientId,
    ) -> Result<(Arc<Federated>, String, String), XRoadError> {
        let unknown = || {
            XRoadError::new(
                "Server.ClientProxy.UnknownMember",
                format!("No gateway known to this one serves {provider}"),
            )
        };
        let federated = directory.federation.as_ref().ok_or_else(unknown)?;
        let age = self.inner.clock.now().timestamp_millis() - federated.fetched_at;
        if u128::try_from(age).unwrap_or(u128::MAX) > self.inner.conf_max_age.as_millis() {
            return Err(XRoadError::new(
                "Server.ClientProxy.OutdatedGlobalConf",
                "The federation's configuration is out of date: the hub has not been reached for too long",
            ));
        }
        let gateway = federated.conf.gateway_of(&provider.to_string()).ok_or_else(unknown)?;
        if gateway.revoked {
            return Err(XRoadError::new(
                "Server.ClientProxy.SslAuthenticationFailed",
                format!("The gateway of {provider} was revoked by the hub"),
            ));
        }
        Ok((
            Arc::clone(federated),
            gateway.address.clone(),
            gateway.signing_key_id.clone(),
        ))
    }

    fn tls_client(&self, federated: &Federated) -> Result<reqwest::Client, XRoadError> {
        let mut cached = self
            .inner
            .tls_client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (ca, cert, key) = &federated.tls;
        if let Some((for_cert, client)) = cached.as_ref()
            && for_cert == cert
        {
            return Ok(client.clone());
        }
        let client = crate::tls::client(ca, cert, key)
            .map_err(|error| XRoadError::new("Server.ClientProxy.InternalError", error.to_string()))?;
        *cached = Some((cert.clone(), client.clone()));
        Ok(client)
    }

    /// Sends a signed request to another gateway over mutual TLS.
    async fn send(
        &self,
        federated: &Federated,
        address: &str,
        request: &SignedRequest,
    ) -> Result<SignedResponse, XRoadError> {
        let client = self.tls_client(federated)?;
        let url = format!("{}{}", address.trim_end_matches('/'), crate::tls::EXCHANGE_PATH);
        let response = client
            .post(url)
            .json(&crate::tls::WireRequest::from_signed(request))
            .send()
            .await
            .map_err(|error| {
                XRoadError::new(
                    "Server.ClientProxy.NetworkError",
                    format!("The provider's gateway could not be reached: {}", error.without_url()),
                )
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| XRoadError::new("Server.ClientProxy.NetworkError", error.without_url().to_string()))?;
        if !status.is_success() {
            // An unsigned refusal of the provider gateway (it could not
            // check the request): its X-Road error, passed on.
            let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let kind = error["type"].as_str().unwrap_or_default();
            return Err(XRoadError::new(
                crate::error::known_kind(kind).unwrap_or("Server.ServerProxy.ServiceFailed"),
                format!(
                    "The provider's gateway refused the request: {}",
                    error["message"].as_str().unwrap_or(kind)
                ),
            ));
        }
        let wire: crate::tls::WireResponse = serde_json::from_slice(&body).map_err(|_| {
            XRoadError::new(
                "Server.ClientProxy.InvalidMessage",
                "The provider gateway's answer is malformed",
            )
        })?;
        wire.into_signed()
    }

    /// The provider side for a request from another gateway: the caller's
    /// certificate must be a gateway's of the configuration, not revoked,
    /// and the calling client one of the subsystems that gateway serves.
    pub async fn provide_remote(
        &self,
        certificate: Option<&[u8]>,
        request: crate::tls::WireRequest,
    ) -> Result<SignedResponse, XRoadError> {
        let directory = self.directory().await?;
        let refused = |message: String| XRoadError::new("Server.ServerProxy.SslAuthenticationFailed", message);
        let federated = directory
            .federation
            .as_ref()
            .ok_or_else(|| refused("This gateway has no federation configuration".to_owned()))?;
        self.check_log(&directory, "Server.ServerProxy.MessageLogFailure")?;
        let certificate = certificate.ok_or_else(|| refused("No client certificate".to_owned()))?;
        let caller = federated
            .conf
            .gateways
            .iter()
            .find(|gateway| {
                rustls::pki_types::CertificateDer::from_pem_slice(gateway.tls_cert_pem.as_bytes())
                    .is_ok_and(|der| der.as_ref() == certificate)
            })
            .ok_or_else(|| refused("The client certificate is not a gateway's of this federation".to_owned()))?;
        if caller.revoked {
            return Err(refused(format!("The gateway {} was revoked by the hub", caller.id)));
        }
        let request = request.into_signed()?;
        let client = header_value(&request.headers, "x-road-client").unwrap_or_default();
        let client_id = ClientId::parse(&client).map_err(|error| XRoadError::bad_request(error.to_string()))?;
        let serving = federated
            .conf
            .gateway_of(&client_id.to_string())
            .is_some_and(|gateway| gateway.id == caller.id);
        if !serving {
            return Err(refused(format!(
                "The client {client} is not served by the calling gateway {}",
                caller.id
            )));
        }
        if request.key_id != caller.signing_key_id {
            return Err(XRoadError::new(
                "Server.ServerProxy.InvalidSignatureValue",
                "The request is not signed with the calling gateway's key",
            ));
        }
        let trusted = federated.trusted.clone();
        self.provide(request, &trusted).await
    }

    /// Finds the service, checks the right, calls it.
    async fn serve(
        &self,
        request: &SignedRequest,
        client_value: &str,
    ) -> Result<(ServiceId, Answer), (String, XRoadError)> {
        let bad = |error: id::BadIdentifier| (String::new(), XRoadError::bad_request(error.to_string()));
        let (service, path, query) = match id::parse_r1(&request.target).map_err(bad)? {
            R1Target::Service { service, path, query } => (service, path, query),
            R1Target::Meta { provider, meta, query } => {
                let service = ServiceId::new(provider.clone(), meta.code()).map_err(bad)?;
                let client = ClientId::parse_header(client_value).map_err(bad)?;
                let directory = self.directory().await.map_err(|error| (service.to_string(), error))?;
                let response = metadata(&directory, &client, &provider, meta, query.as_deref())
                    .map_err(|error| (service.to_string(), error))?;
                let status = response.status().as_u16();
                let headers = crossing_headers(response.headers());
                let body = axum::body::to_bytes(response.into_body(), MAX_RESPONSE_BYTES)
                    .await
                    .map_err(|error| {
                        (
                            service.to_string(),
                            XRoadError::new("Server.ServerProxy.InternalError", error.to_string()),
                        )
                    })?;
                return Ok((service, (status, headers, body.to_vec())));
            }
        };
        let service_key = service.to_string();
        let client = ClientId::parse_header(client_value)
            .map_err(|error| (service_key.clone(), XRoadError::bad_request(error.to_string())))?;
        let directory = self.directory().await.map_err(|error| (service_key.clone(), error))?;
        let Some(row) = directory
            .services
            .get(&(service.provider.to_string(), service.service_code.clone()))
        else {
            return Err((
                service_key,
                XRoadError::new(
                    "Server.ServerProxy.UnknownService",
                    format!("The provider has no service {}", service.service_code),
                ),
            ));
        };
        if !directory.allowed(&service, &client) {
            return Err((
                service_key,
                XRoadError::new(
                    "Server.ServerProxy.AccessDenied",
                    format!("The client {client} has no access right to {service}"),
                ),
            ));
        }
        let call_path = path.split('?').next().unwrap_or_default();
        let endpoints = directory
            .endpoints
            .get(&(service.provider.to_string(), service.service_code.clone()));
        if !endpoints.is_some_and(|endpoints| endpoints.iter().any(|e| e.matches(request.method.as_str(), call_path))) {
            return Err((
                service_key,
                XRoadError::new(
                    "Server.ServerProxy.AccessDenied",
                    format!(
                        "The service {} has no endpoint {} {}",
                        service.service_code,
                        request.method,
                        if call_path.is_empty() { "/" } else { call_path }
                    ),
                ),
            ));
        }
        let answer = self
            .call_service(row, request, &path, query.as_deref())
            .await
            .map_err(|error| (service_key, error))?;
        Ok((service, answer))
    }

    async fn call_service(
        &self,
        row: &ServiceRow,
        request: &SignedRequest,
        path: &str,
        query: Option<&str>,
    ) -> Result<Answer, XRoadError> {
        let timeout = Duration::from_millis(u64::try_from(row.timeout_ms).unwrap_or(30_000));
        let path_and_query = match query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        if let Some(local) = row.target.strip_prefix("local:") {
            let (name, base) = local.split_once('/').map_or((local, ""), |(name, base)| (name, base));
            let router = self.inner.local_services.get(name).ok_or_else(|| {
                XRoadError::new(
                    "Server.ServerProxy.ServiceFailed",
                    format!("This instance has no local service {name}"),
                )
            })?;
            let uri = match (base, path_and_query.as_str()) {
                ("", "") => "/".to_owned(),
                ("", _) => path_and_query,
                _ => format!("/{base}{path_and_query}"),
            };
            let mut builder = Request::builder().method(request.method.clone()).uri(uri);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let http_request = builder
                .body(Body::from(request.body.clone()))
                .map_err(|error| XRoadError::new("Server.ServerProxy.ServiceFailed", error.to_string()))?;
            let response = tokio::time::timeout(timeout, router.clone().oneshot(http_request))
                .await
                .map_err(|_| XRoadError::new("Server.ServerProxy.NetworkError", "The service did not answer in time"))?
                .map_err(|error: std::convert::Infallible| match error {})?;
            let status = response.status().as_u16();
            let headers = crossing_headers(response.headers());
            let body = axum::body::to_bytes(response.into_body(), MAX_RESPONSE_BYTES)
                .await
                .map_err(|error| XRoadError::new("Server.ServerProxy.ServiceFailed", error.to_string()))?;
            return Ok((status, headers, body.to_vec()));
        }
        let url = service_url(&row.target, &path_and_query)?;
        let Some(client) = &self.inner.http else {
            return Err(XRoadError::new(
                "Server.ServerProxy.ServiceFailed",
                "The gateway's HTTP client is not available",
            ));
        };
        let mut outgoing = client
            .request(request.method.clone(), url)
            .timeout(timeout)
            .body(request.body.clone());
        for (name, value) in &request.headers {
            outgoing = outgoing.header(name.as_str(), value.as_str());
        }
        let response = outgoing.send().await.map_err(|error| {
            XRoadError::new(
                "Server.ServerProxy.NetworkError",
                format!("The service could not be reached: {}", error.without_url()),
            )
        })?;
        let status = response.status().as_u16();
        let headers = crossing_headers(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|error| XRoadError::new("Server.ServerProxy.ServiceFailed", error.without_url().to_string()))?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(XRoadError::new(
                "Server.ServerProxy.ServiceFailed",
                "The service's response is too large",
            ));
        }
        Ok((status, headers, body.to_vec()))
    }

    /// listClients: the members and subsystems this gateway knows, as
    /// X-Road lists them.
    pub async fn list_clients(&self, instance: Option<&str>) -> Response {
        let directory = match self.directory().await {
            Ok(directory) => directory,
            Err(error) => return error.into_response(),
        };
        // This gateway's subsystems, and the federation's.
        let mut named: Vec<(String, String)> = directory
            .subsystems
            .values()
            .map(|row| (row.id.clone(), row.name.clone()))
            .collect();
        let mut member_names: BTreeMap<String, String> = BTreeMap::new();
        if let Some(federated) = &directory.federation {
            named.extend(
                federated
                    .conf
                    .subsystems
                    .iter()
                    .map(|entry| (entry.id.clone(), entry.name.clone())),
            );
            member_names.extend(
                federated
                    .conf
                    .members
                    .iter()
                    .map(|entry| (entry.id.clone(), entry.name.clone())),
            );
        }
        let mut members: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for (id, name) in named {
            let Ok(subsystem) = ClientId::parse(&id) else {
                continue;
            };
            if instance.is_some_and(|instance| instance != subsystem.instance) {
                continue;
            }
            let member = subsystem.member();
            let member_id = member.to_string();
            members.entry(member_id.clone()).or_insert_with(|| {
                serde_json::json!({
                    "id": {
                        "member_class": member.member_class,
                        "member_code": member.member_code,
                        "object_type": "MEMBER",
                        "xroad_instance": member.instance,
                    },
                    "name": member_names.get(&member_id).cloned().unwrap_or_else(|| member.member_code.clone()),
                })
            });
            members.entry(id).or_insert_with(|| {
                serde_json::json!({
                    "id": {
                        "member_class": subsystem.member_class,
                        "member_code": subsystem.member_code,
                        "object_type": "SUBSYSTEM",
                        "subsystem_code": subsystem.subsystem,
                        "xroad_instance": subsystem.instance,
                    },
                    "name": name,
                })
            });
        }
        let member: Vec<serde_json::Value> = members.into_values().collect();
        axum::Json(serde_json::json!({ "member": member })).into_response()
    }
}

/// listMethods, allowedMethods and getOpenAPI of a provider this
/// gateway serves.
fn metadata(
    directory: &Directory,
    client: &ClientId,
    provider: &ClientId,
    meta: MetaService,
    query: Option<&str>,
) -> Result<Response, XRoadError> {
    let provider_key = provider.to_string();
    if !directory.subsystems.contains_key(&provider_key) {
        return Err(XRoadError::new(
            "Server.ClientProxy.UnknownMember",
            format!("No gateway known to this one serves {provider_key}"),
        ));
    }
    let services = directory
        .services
        .values()
        .filter(|row| row.subsystem_id == provider_key);
    match meta {
        MetaService::ListMethods | MetaService::AllowedMethods => {
            let mut listed: Vec<serde_json::Value> = services
                .filter(|row| {
                    meta == MetaService::ListMethods
                        || ServiceId::new(provider.clone(), &row.service_code)
                            .is_ok_and(|service| directory.allowed(&service, client))
                })
                .map(|row| service_entry(provider, row))
                .collect();
            listed.sort_by(|a, b| a["service_code"].as_str().cmp(&b["service_code"].as_str()));
            Ok(axum::Json(serde_json::json!({ "service": listed })).into_response())
        }
        MetaService::GetOpenApi => {
            let code = id::single_query_value(query, "serviceCode")
                .map_err(|error| XRoadError::bad_request(error.to_string()))?
                .ok_or_else(|| XRoadError::bad_request("getOpenAPI needs the query parameter serviceCode"))?;
            let row = directory
                .services
                .get(&(provider_key, code.clone()))
                .ok_or_else(|| XRoadError::new("Server.ServerProxy.UnknownService", format!("No service {code}")))?;
            let description = row.openapi.as_deref().ok_or_else(|| {
                XRoadError::new(
                    "Server.ServerProxy.OpenApiNotFound",
                    format!("The service {code} is a REST service without an OpenAPI description"),
                )
            })?;
            let content_type = if description.trim_start().starts_with('{') {
                "application/json"
            } else {
                "text/yaml"
            };
            Ok((
                [(axum::http::header::CONTENT_TYPE, content_type)],
                description.to_owned(),
            )
                .into_response())
        }
    }
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn service_entry(provider: &ClientId, row: &ServiceRow) -> serde_json::Value {
    let endpoints: Vec<Endpoint> = row.endpoints();
    serde_json::json!({
        "member_class": provider.member_class,
        "member_code": provider.member_code,
        "object_type": "SERVICE",
        "service_code": row.service_code,
        "service_type": if row.openapi.is_some() { "OPENAPI" } else { "REST" },
        "subsystem_code": provider.subsystem,
        "xroad_instance": provider.instance,
        "endpoint_list": endpoints,
    })
}

/// A refusal as the provider gateway answers it: the protocol's error body.
fn error_answer(error: &XRoadError) -> Answer {
    let detail = egov_core::id::new_id();
    tracing::info!(kind = error.kind, message = %error.message, %detail, "X-Road call refused by the provider gateway");
    let body = serde_json::json!({ "type": error.kind, "message": error.message, "detail": detail.to_string() });
    (
        error.status().as_u16(),
        vec![
            ("content-type".to_owned(), "application/json;charset=utf-8".to_owned()),
            ("x-road-error".to_owned(), error.kind.to_owned()),
        ],
        body.to_string().into_bytes(),
    )
}

fn into_response(signed: SignedResponse) -> Response {
    let mut response = Response::new(Body::from(signed.body));
    *response.status_mut() = StatusCode::from_u16(signed.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in signed.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(name, value);
        }
    }
    response
}

fn crossing_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| message::crosses(name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
}

/// A header that may appear at most once, within a length.
fn single_header(headers: &HeaderMap, name: &str, limit: usize) -> Result<Option<String>, XRoadError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(XRoadError::bad_request(format!(
            "The header {name} is given more than once"
        )));
    }
    let value = value
        .to_str()
        .map_err(|_| XRoadError::bad_request(format!("The header {name} is not visible ASCII")))?;
    if value.len() > limit || value.is_empty() {
        return Err(XRoadError::bad_request(format!(
            "The header {name} must have 1 to {limit} characters"
        )));
    }
    Ok(Some(value.to_owned()))
}

fn client_of(headers: &HeaderMap) -> Result<ClientId, XRoadError> {
    let value = single_header(headers, "x-road-client", 4 * (3 * id::MAX_PART + 1))?
        .ok_or_else(|| XRoadError::bad_request("The X-Road-Client header is missing"))?;
    ClientId::parse_header(&value).map_err(|error| XRoadError::bad_request(error.to_string()))
}

/// The URL of a call to an HTTP service: the registered base URL and the
/// call's path, which must stay on the base's origin and under its path.
fn service_url(base: &str, path_and_query: &str) -> Result<reqwest::Url, XRoadError> {
    let misconfigured = || XRoadError::new("Server.ServerProxy.ServiceFailed", "The service's address is not valid");
    let base_url = reqwest::Url::parse(base).map_err(|_| misconfigured())?;
    let joined = format!("{}{}", base.trim_end_matches('/'), path_and_query);
    let url = reqwest::Url::parse(&joined).map_err(|_| XRoadError::bad_request("The service path is not valid"))?;
    let base_path = base_url.path().trim_end_matches('/');
    let under_base = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    if url.origin() != base_url.origin() || !under_base {
        return Err(XRoadError::bad_request("The service path leaves the service"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_url_stays_on_the_services_origin_and_path() {
        assert_eq!(
            service_url("https://registry.example/api/", "/v1/persons/1?x=2")
                .expect("url")
                .as_str(),
            "https://registry.example/api/v1/persons/1?x=2"
        );
        assert!(service_url("https://registry.example/api", "@evil.example/x").is_err());
        assert!(service_url("https://registry.example", ".evil.example/x").is_err());
    }
}
