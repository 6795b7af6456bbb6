//! The provider's operations: signing in, sessions, codes, tokens, keys.
//!
//! The HTTP layer parses and authenticates requests and calls these; they
//! hold the rules of OpenID Connect Core and the OAuth 2.0 Security BCP:
//! single-use codes that revoke their issue when replayed, PKCE S256,
//! rotating refresh tokens with reuse detection, throttled sign-in that
//! answers alike for known and unknown accounts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use egov_core::clock::Clock;
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::domain::{self, ACR_LEVEL_1, AuthorizeRequest, Scopes};
use crate::grant_writer::{self, GrantWrite, GrantWriter, Issued, Written};
use crate::keys::{Algorithm, KeyError, PublicKeySet, SigningKey};
use crate::password::PasswordHasher;
use crate::store::{self, AccessRow, ClientRow, CodeRow, CodeUse, RefreshRow, SessionRow, UserRow};

/// Lifetimes and limits of the provider.
#[derive(Debug, Clone)]
pub struct IdConfig {
    /// The issuer identifier: the instance's public URL.
    pub issuer: String,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub code_ttl: Duration,
    /// Absolute lifetime of a refresh-token family.
    pub refresh_family_ttl: Duration,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Failed sign-ins allowed per account, and per IP address, in a window.
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    pub failure_window: Duration,
    pub secure_cookies: bool,
}

impl IdConfig {
    pub fn new(issuer: &str) -> IdConfig {
        IdConfig {
            issuer: issuer.trim_end_matches('/').to_owned(),
            access_token_ttl: Duration::from_mins(10),
            id_token_ttl: Duration::from_mins(10),
            code_ttl: Duration::from_mins(1),
            refresh_family_ttl: Duration::from_hours(24 * 30),
            session_idle: Duration::from_mins(30),
            session_absolute: Duration::from_hours(12),
            max_failures_per_account: 5,
            max_failures_per_ip: 100,
            failure_window: Duration::from_mins(15),
            secure_cookies: issuer.starts_with("https://"),
        }
    }
}

/// Why an operation failed, as the protocol reports it.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("{1}")]
    OAuth(domain::OAuthErrorCode, &'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("signing failed: {0}")]
    Key(#[from] KeyError),
    #[error("password hashing failed: {0}")]
    Password(String),
}

fn oauth(code: domain::OAuthErrorCode, description: &'static str) -> IdError {
    IdError::OAuth(code, description)
}

fn replayed() -> IdError {
    oauth(
        domain::OAuthErrorCode::InvalidGrant,
        "the refresh token was already used; its family is revoked",
    )
}

/// What one grant issues.
struct Grant<'a> {
    user: Option<&'a UserRow>,
    scopes: &'a Scopes,
    /// The refresh-token family and its absolute end, when refresh tokens
    /// are issued.
    family: Option<(Uuid, i64)>,
    code_hash: Option<&'a str>,
    session: Option<&'a SessionRow>,
}

/// Tokens made and signed, waiting to be recorded.
struct PreparedTokens {
    response: TokenResponse,
    issued: Issued,
}

/// Why a password sign-in failed. Unknown account and wrong password are
/// one variant on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    BadCredentials,
    TooManyAttempts,
}

struct KeyCache {
    loaded_at: Instant,
    active: HashMap<Algorithm, Arc<SigningKey>>,
    jwks: Arc<Value>,
    public: Arc<PublicKeySet>,
}

const KEY_CACHE_TTL: Duration = Duration::from_secs(10);

/// How long a node trusts its copy of a client's registration: a change
/// (a rotated secret, a removed redirect URI) reaches every node within it.
const CLIENT_CACHE_TTL: Duration = Duration::from_secs(10);
/// Registrations kept at most; past it the cache starts over.
const CLIENT_CACHE_SIZE: usize = 4096;

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    config: IdConfig,
    keys: RwLock<Option<Arc<KeyCache>>>,
    /// The instance secret behind pairwise `sub` values, read once.
    pairwise_key: tokio::sync::OnceCell<zeroize::Zeroizing<Vec<u8>>>,
    /// Records refresh and client_credentials grants, many per commit;
    /// started by the first such grant.
    grant_writer: std::sync::OnceLock<GrantWriter>,
    /// Client registrations by id, with when they were read. Only clients
    /// that exist are kept, so unknown ids cannot fill it.
    clients: RwLock<HashMap<String, (Instant, Arc<ClientRow>)>>,
    /// The WebAuthn relying party, when the issuer's address allows one.
    webauthn: std::sync::OnceLock<Option<webauthn_rs::Webauthn>>,
    /// Upstream providers' discovery documents, and the client that asks.
    upstream_metadata: crate::upstream::MetadataCache,
    upstream_http: std::sync::OnceLock<reqwest::Client>,
    /// The upstream providers, read at most every 10 s: the sign-in page
    /// lists them.
    upstream_list: RwLock<Option<(Instant, Arc<Vec<store::UpstreamRow>>)>>,
}

/// The OpenID provider of one instance.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.inner.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Tokens answered by the token endpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// The claims of our access tokens (RFC 9068 style).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub client_id: String,
    pub scope: String,
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Provider {
    pub fn new(db: Db, clock: Arc<dyn Clock>, hasher: PasswordHasher, config: IdConfig) -> Provider {
        Provider {
            inner: Arc::new(Inner {
                db,
                clock,
                hasher,
                config,
                keys: RwLock::new(None),
                pairwise_key: tokio::sync::OnceCell::new(),
                grant_writer: std::sync::OnceLock::new(),
                clients: RwLock::new(HashMap::new()),
                webauthn: std::sync::OnceLock::new(),
                upstream_metadata: crate::upstream::MetadataCache::default(),
                upstream_http: std::sync::OnceLock::new(),
                upstream_list: RwLock::new(None),
            }),
        }
    }

    pub fn config(&self) -> &IdConfig {
        &self.inner.config
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    // ------------------------------------------------------------ keys

    /// Makes sure every algorithm has an active key; run at start-up.
    pub async fn ensure_keys(&self) -> Result<(), IdError> {
        let existing = store::keys(&self.inner.db).await?;
        for alg in Algorithm::ALL {
            if existing
                .iter()
                .any(|key| key.alg == alg.as_str() && key.status == "active")
            {
                continue;
            }
            let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
                .await
                .map_err(|error| IdError::Password(error.to_string()))??;
            let mut tx = self.inner.db.begin().await?;
            store::insert_key(&mut tx, &key_row(&key, "active", self.now_ms())).await?;
            tx.commit().await?;
        }
        self.forget_keys();
        Ok(())
    }

    /// One step of key rotation for `alg`: publish a new key as `next`
    /// (verifiers learn it from the JWKS before it signs anything), or, if
    /// one is published already, make it active and keep the old one in the
    /// JWKS until every token it signed has expired.
    pub async fn rotate_key(&self, alg: Algorithm) -> Result<String, IdError> {
        let existing = store::keys(&self.inner.db).await?;
        let mut tx = self.inner.db.begin().await?;
        let message = if let Some(next) = existing
            .iter()
            .find(|key| key.alg == alg.as_str() && key.status == "next")
        {
            let longest = self.inner.config.access_token_ttl.max(self.inner.config.id_token_ttl);
            store::promote_next_key(&mut tx, alg.as_str(), self.now_ms() + millis(longest)).await?;
            format!("{} is now the active {} key", next.kid, alg.as_str())
        } else {
            let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
                .await
                .map_err(|error| IdError::Password(error.to_string()))??;
            store::insert_key(&mut tx, &key_row(&key, "next", self.now_ms())).await?;
            format!(
                "{} is published as the next {} key; rotate again to activate it",
                key.kid(),
                alg.as_str()
            )
        };
        let entry = AuditEntry {
            actor: "system",
            action: "id.key.rotate",
            subject: "id:keys",
            detail: json!({ "message": message }),
            ip: None,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        self.forget_keys();
        Ok(message)
    }

    fn forget_keys(&self) {
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    async fn key_cache(&self) -> Result<Arc<KeyCache>, IdError> {
        if let Some(cache) = self
            .inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && cache.loaded_at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Arc::clone(cache));
        }
        let now_ms = self.now_ms();
        let rows = store::keys(&self.inner.db).await?;
        let mut active = HashMap::new();
        let mut published = Vec::new();
        for row in rows {
            let Some(alg) = Algorithm::parse(&row.alg) else {
                continue;
            };
            if row.status == "retired" && row.retire_after.is_some_and(|after| after < now_ms) {
                continue;
            }
            let key = SigningKey::from_pkcs8_pem(&row.kid, alg, &row.private_pem)?;
            published.push(key.public_jwk());
            if row.status == "active" {
                active.insert(alg, Arc::new(key));
            }
        }
        let public = Arc::new(PublicKeySet::from_jwks(&published)?);
        let cache = Arc::new(KeyCache {
            loaded_at: Instant::now(),
            active,
            jwks: Arc::new(json!({ "keys": published })),
            public,
        });
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&cache));
        Ok(cache)
    }

    /// The public keys, as the JWKS endpoint serves them.
    pub async fn jwks(&self) -> Result<Arc<Value>, IdError> {
        Ok(Arc::clone(&self.key_cache().await?.jwks))
    }

    async fn sign<T: serde::Serialize>(&self, alg: Algorithm, claims: &T) -> Result<String, IdError> {
        self.sign_typed(alg, "JWT", claims).await
    }

    pub(crate) async fn sign_typed<T: serde::Serialize>(
        &self,
        alg: Algorithm,
        typ: &str,
        claims: &T,
    ) -> Result<String, IdError> {
        let cache = self.key_cache().await?;
        let key = cache
            .active
            .get(&alg)
            .ok_or(oauth(domain::OAuthErrorCode::ServerError, "no active signing key"))?;
        Ok(key.sign_typed(typ, claims)?)
    }

    pub(crate) fn webauthn(&self) -> Option<&webauthn_rs::Webauthn> {
        self.inner
            .webauthn
            .get_or_init(|| crate::passkey::relying_party(&self.inner.config.issuer))
            .as_ref()
    }

    pub(crate) fn upstream_metadata_cache(&self) -> &crate::upstream::MetadataCache {
        &self.inner.upstream_metadata
    }

    /// Every upstream provider, from this node's copy when it is fresh.
    pub(crate) async fn upstream_list(&self) -> Result<Arc<Vec<store::UpstreamRow>>, IdError> {
        if let Some((read_at, list)) = self
            .inner
            .upstream_list
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && read_at.elapsed() < CLIENT_CACHE_TTL
        {
            return Ok(Arc::clone(list));
        }
        let list = Arc::new(store::upstreams(&self.inner.db).await?);
        *self
            .inner
            .upstream_list
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), Arc::clone(&list)));
        Ok(list)
    }

    pub(crate) fn upstream_http(&self) -> &reqwest::Client {
        self.inner
            .upstream_http
            .get_or_init(|| crate::upstream::new_http_client().unwrap_or_default())
    }

    fn address_key(ip: Option<&str>) -> String {
        format!("ip:{}", ip.unwrap_or("unknown"))
    }

    /// Whether too many sign-ins failed from this address lately.
    pub(crate) async fn address_throttled(&self, ip: Option<&str>) -> Result<bool, IdError> {
        let window = millis(self.inner.config.failure_window);
        let failures = store::failures(&self.inner.db, &Self::address_key(ip), window, self.now_ms()).await?;
        Ok(failures >= self.inner.config.max_failures_per_ip)
    }

    /// Counts a failed sign-in against the address.
    pub(crate) async fn count_address_failure(&self, ip: Option<&str>) -> Result<(), IdError> {
        let window = millis(self.inner.config.failure_window);
        store::count_failure(&self.inner.db, &Self::address_key(ip), window, self.now_ms()).await?;
        Ok(())
    }

    // ------------------------------------------------------------ clients

    /// A client's registration, from this node's cache when it is fresh.
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientRow>>, IdError> {
        if let Some((read_at, client)) = self
            .inner
            .clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client_id)
            && read_at.elapsed() < CLIENT_CACHE_TTL
        {
            return Ok(Some(Arc::clone(client)));
        }
        let Some(client) = store::client(&self.inner.db, client_id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        let mut clients = self
            .inner
            .clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if clients.len() >= CLIENT_CACHE_SIZE {
            clients.clear();
        }
        clients.insert(client_id.to_owned(), (Instant::now(), Arc::clone(&client)));
        Ok(Some(client))
    }

    /// Drops this node's copy of the upstream providers (after a change).
    pub fn forget_upstreams(&self) {
        *self
            .inner
            .upstream_list
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Drops this node's copy of a client's registration (after a change).
    pub fn forget_client(&self, client_id: &str) {
        self.inner
            .clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(client_id);
    }

    // ------------------------------------------------------------ subjects

    /// The `sub` under which `client` knows the user: the account id, or a
    /// pairwise identifier of the client's sector.
    pub async fn subject(&self, client: &ClientRow, user_id: Uuid) -> Result<String, IdError> {
        if client.subject_type != "pairwise" {
            return Ok(user_id.to_string());
        }
        let key = self
            .inner
            .pairwise_key
            .get_or_try_init(|| async {
                let fresh = domain::new_token();
                let stored =
                    store::instance_secret(&self.inner.db, crate::pairwise::SECRET_NAME, &fresh, self.now_ms()).await?;
                Ok::<_, IdError>(zeroize::Zeroizing::new(stored.into_bytes()))
            })
            .await?;
        let sector = client.sector_identifier.as_deref().unwrap_or(&client.client_id);
        Ok(crate::pairwise::subject(key, sector, user_id))
    }

    // ------------------------------------------------------------ sign-in

    /// Checks a password sign-in, throttled per account and per address.
    /// Unknown accounts cost the same time and get the same answer as
    /// wrong passwords.
    pub async fn sign_in_with_password(
        &self,
        login: &str,
        password: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Result<UserRow, SignInFailure>, IdError> {
        let db = &self.inner.db;
        let now_ms = self.now_ms();
        let window = millis(self.inner.config.failure_window);
        let login = login.trim();
        let account_key = format!("account:{}", login.to_lowercase());
        let ip_key = Self::address_key(ip);
        let account_failures = store::failures(db, &account_key, window, now_ms).await?;
        let throttled = account_failures >= self.inner.config.max_failures_per_account
            || store::failures(db, &ip_key, window, now_ms).await? >= self.inner.config.max_failures_per_ip;

        let user = store::user_by_login(db, login).await?;
        let verified = if let Some(hash) = user.as_ref().and_then(|user| user.password_hash.as_deref()) {
            Some(
                self.inner
                    .hasher
                    .verify(password, hash)
                    .await
                    .map_err(|error| IdError::Password(error.to_string()))?,
            )
        } else {
            self.inner.hasher.verify_dummy(password).await;
            None
        };
        let valid = verified.as_ref().is_some_and(|verification| verification.valid);
        let outcome = match (user, valid, throttled) {
            (_, _, true) => Err(SignInFailure::TooManyAttempts),
            (Some(user), true, false) if !user.locked => Ok(user),
            _ => Err(SignInFailure::BadCredentials),
        };
        if let Ok(user) = &outcome {
            if account_failures > 0 {
                store::clear_failures(db, &account_key).await?;
            }
            if verified.is_some_and(|verification| verification.needs_rehash) {
                let hash = self
                    .inner
                    .hasher
                    .hash(password)
                    .await
                    .map_err(|error| IdError::Password(error.to_string()))?;
                store::set_password_hash(db, user.id, &hash, now_ms).await?;
            }
        } else {
            store::count_failure(db, &account_key, window, now_ms).await?;
            store::count_failure(db, &ip_key, window, now_ms).await?;
        }
        let (action, subject) = match &outcome {
            Ok(user) => ("id.sign_in.success", format!("user:{}", user.id)),
            Err(SignInFailure::BadCredentials) => ("id.sign_in.failure", format!("login:{login}")),
            Err(SignInFailure::TooManyAttempts) => ("id.sign_in.throttled", format!("login:{login}")),
        };
        let mut tx = db.begin().await?;
        let entry = AuditEntry {
            actor: "anonymous",
            action,
            subject: &subject,
            detail: json!({ "user_agent": user_agent, "method": "password" }),
            ip,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Opens a browser session; returns the cookie value.
    pub async fn create_session(
        &self,
        user: &UserRow,
        acr: &str,
        amr: &[&str],
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(String, SessionRow), IdError> {
        let token = domain::new_token();
        let now_ms = self.now_ms();
        let session = SessionRow {
            id: domain::token_hash(&token),
            user_id: user.id,
            acr: acr.to_owned(),
            amr: amr.join(" "),
            auth_time: now_ms / 1000,
            last_seen_at: now_ms,
            expires_at: now_ms + millis(self.inner.config.session_absolute),
            revoked: false,
        };
        store::insert_session(&self.inner.db, &session, ip, user_agent).await?;
        Ok((token, session))
    }

    /// The live session behind a cookie value, touched; `None` if it is
    /// unknown, revoked, idle too long or past its absolute lifetime.
    pub async fn session(&self, cookie: &str) -> Result<Option<SessionRow>, IdError> {
        if cookie.len() != 43 {
            return Ok(None);
        }
        let now_ms = self.now_ms();
        let Some(session) = store::session(&self.inner.db, &domain::token_hash(cookie)).await? else {
            return Ok(None);
        };
        let idle = now_ms - session.last_seen_at > millis(self.inner.config.session_idle);
        if session.revoked || idle || session.expires_at <= now_ms {
            return Ok(None);
        }
        store::touch_session(&self.inner.db, &session.id, now_ms).await?;
        Ok(Some(session))
    }

    pub async fn end_session(&self, session: &SessionRow, ip: Option<&str>) -> Result<(), IdError> {
        let mut tx = self.inner.db.begin().await?;
        store::revoke_session(&mut tx, &session.id, self.now()).await?;
        let subject = format!("user:{}", session.user_id);
        let entry = AuditEntry {
            actor: &subject,
            action: "id.session.end",
            subject: &subject,
            detail: json!({}),
            ip,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    // ------------------------------------------------------------ codes

    /// Issues a single-use authorization code for a signed-in session.
    pub async fn issue_code(&self, request: &AuthorizeRequest, session: &SessionRow) -> Result<String, IdError> {
        let code = domain::new_token();
        let row = CodeRow {
            code_hash: domain::token_hash(&code),
            client_id: request.client_id.clone(),
            user_id: session.user_id,
            session_id: session.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scopes.to_string(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            expires_at: self.now_ms() + millis(self.inner.config.code_ttl),
            used_at: None,
        };
        store::insert_code(&self.inner.db, &row).await?;
        Ok(code)
    }

    /// The authorization_code grant.
    ///
    /// Everything that reads or computes happens first; the transaction
    /// then only spends the code (atomically: of two concurrent exchanges
    /// one wins) and records what was issued. No transaction waits on
    /// another connection or on signing.
    pub async fn exchange_code(
        &self,
        client: &ClientRow,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, IdError> {
        let invalid_grant = |description| oauth(domain::OAuthErrorCode::InvalidGrant, description);
        let now_ms = self.now_ms();
        let code_hash = domain::token_hash(code);
        let Some(row) = store::code_by_hash(&self.inner.db, &code_hash).await? else {
            return Err(invalid_grant("unknown authorization code"));
        };
        if row.used_at.is_some() {
            return self.code_replayed(&code_hash, &row).await;
        }
        let refusal = if row.client_id != client.client_id {
            Some("the code was issued to another client")
        } else if row.expires_at <= now_ms {
            Some("the authorization code has expired")
        } else if row.redirect_uri != redirect_uri {
            Some("redirect_uri differs from the authorization request")
        } else if !domain::pkce_s256_matches(code_verifier, &row.code_challenge) {
            Some("the PKCE code_verifier does not match")
        } else {
            None
        };
        let session = store::session(&self.inner.db, &row.session_id)
            .await?
            .filter(|session| !session.revoked);
        let user = store::user_by_id(&self.inner.db, row.user_id).await?;
        let prepared = match (refusal, session, user) {
            (None, Some(session), Some(user)) => {
                let scopes = Scopes::parse(&row.scope);
                let family = client_allows(client, "refresh_token").then(|| {
                    (
                        egov_core::id::new_id(),
                        now_ms + millis(self.inner.config.refresh_family_ttl),
                    )
                });
                let grant = Grant {
                    user: Some(&user),
                    scopes: &scopes,
                    family,
                    code_hash: Some(&code_hash),
                    session: Some(&session),
                };
                Ok((self.prepare_tokens(client, &grant).await?, user, session, scopes))
            }
            (Some(description), _, _) => Err(description),
            _ => Err("the sign-in session has ended"),
        };
        let mut tx = self.inner.db.begin().await?;
        match store::use_code(&mut tx, &code_hash, now_ms).await? {
            CodeUse::First(_) => {}
            CodeUse::Replayed(row) => {
                drop(tx);
                return self.code_replayed(&code_hash, &row).await;
            }
            CodeUse::Unknown => return Err(invalid_grant("unknown authorization code")),
        }
        match prepared {
            Ok((prepared, user, session, scopes)) => {
                tx.defer_flush().await?;
                grant_writer::record(&mut tx, &prepared.issued).await?;
                tx.commit().await?;
                let id_token = if scopes.contains("openid") {
                    Some(
                        self.id_token(client, &user, &scopes, &session, row.nonce.as_deref())
                            .await?,
                    )
                } else {
                    None
                };
                Ok(TokenResponse {
                    id_token,
                    ..prepared.response
                })
            }
            Err(description) => {
                // The code stays spent: a failed exchange does not free it
                // for another try.
                tx.commit().await?;
                Err(invalid_grant(description))
            }
        }
    }

    /// A code used twice may have been stolen: whatever its first use
    /// issued is revoked (RFC 6749 §4.1.2).
    async fn code_replayed(&self, code_hash: &str, row: &CodeRow) -> Result<TokenResponse, IdError> {
        let mut tx = self.inner.db.begin().await?;
        store::revoke_issued_from_code(&mut tx, code_hash).await?;
        let entry = AuditEntry {
            actor: &row.client_id,
            action: "id.code.replay",
            subject: &format!("user:{}", row.user_id),
            detail: json!({ "client_id": row.client_id }),
            ip: None,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        Err(oauth(
            domain::OAuthErrorCode::InvalidGrant,
            "the authorization code was already used",
        ))
    }

    /// The refresh_token grant: rotates the token; a replayed token revokes
    /// its whole family. Reads and signing first, then one transaction.
    pub async fn refresh(&self, client: &ClientRow, refresh_token: &str) -> Result<TokenResponse, IdError> {
        let invalid_grant = |description| oauth(domain::OAuthErrorCode::InvalidGrant, description);
        let now_ms = self.now_ms();
        let token_hash = domain::token_hash(refresh_token);
        let Some(context) = store::refresh_context(&self.inner.db, &token_hash).await? else {
            return Err(invalid_grant("unknown refresh token"));
        };
        let row = context.refresh;
        if row.client_id != client.client_id {
            // Not this client's token: leave it untouched for its owner.
            return Err(invalid_grant("the refresh token was issued to another client"));
        }
        if row.used_at.is_some() || row.revoked {
            return self.refresh_replayed(&row).await;
        }
        if row.family_expires_at <= now_ms {
            return Err(invalid_grant("the refresh token has expired"));
        }
        let user = context.user;
        let Some(session) = context.session.filter(|session| !session.revoked) else {
            return Err(invalid_grant("the sign-in session has ended"));
        };
        let scopes = Scopes::parse(&row.scope);
        // The new token keeps the family's absolute end: rotation never
        // extends a family's life.
        let grant = Grant {
            user: Some(&user),
            scopes: &scopes,
            family: Some((row.family_id, row.family_expires_at)),
            code_hash: row.code_hash.as_deref(),
            session: Some(&session),
        };
        let prepared = self.prepare_tokens(client, &grant).await?;
        let write = GrantWrite::Rotate {
            spent_hash: token_hash,
            issued: prepared.issued,
        };
        match self.grant_writer().write(write).await? {
            Written::Recorded => Ok(prepared.response),
            Written::Replayed => Err(replayed()),
            Written::Unknown => Err(invalid_grant("unknown refresh token")),
        }
    }

    async fn refresh_replayed(&self, row: &RefreshRow) -> Result<TokenResponse, IdError> {
        let mut tx = self.inner.db.begin().await?;
        grant_writer::revoke_replayed(&mut tx, row, self.now()).await?;
        tx.commit().await?;
        Err(replayed())
    }

    fn grant_writer(&self) -> &GrantWriter {
        self.inner
            .grant_writer
            .get_or_init(|| GrantWriter::start(self.inner.db.clone()))
    }

    /// The client_credentials grant, for machine clients.
    pub async fn client_credentials(&self, client: &ClientRow, scope: Option<&str>) -> Result<TokenResponse, IdError> {
        let allowed = Scopes::parse(&client.scopes);
        let requested = scope.map_or_else(|| allowed.clone(), Scopes::parse);
        if requested.outside(&allowed).next().is_some() {
            return Err(oauth(
                domain::OAuthErrorCode::InvalidScope,
                "a requested scope is not allowed for this client",
            ));
        }
        let grant = Grant {
            user: None,
            scopes: &requested,
            family: None,
            code_hash: None,
            session: None,
        };
        let prepared = self.prepare_tokens(client, &grant).await?;
        self.grant_writer().write(GrantWrite::Issue(prepared.issued)).await?;
        Ok(prepared.response)
    }

    /// Makes and signs the tokens of a grant, without touching the database.
    async fn prepare_tokens(&self, client: &ClientRow, grant: &Grant<'_>) -> Result<PreparedTokens, IdError> {
        let now = self.now();
        let now_ms = now.timestamp_millis();
        let config = &self.inner.config;
        let jti = egov_core::id::new_id();
        let subject = match grant.user {
            Some(user) => self.subject(client, user.id).await?,
            None => client.client_id.clone(),
        };
        let access_claims = AccessClaims {
            iss: config.issuer.clone(),
            sub: subject.clone(),
            aud: client.client_id.clone(),
            exp: now.timestamp() + seconds(config.access_token_ttl),
            iat: now.timestamp(),
            jti,
            client_id: client.client_id.clone(),
            scope: grant.scopes.to_string(),
        };
        // Access tokens are EdDSA (Ed25519): signing one costs tens of
        // microseconds where RS256 and ES256 cost hundreds, and the grant
        // rates depend on it. Resource servers verify it with the JWKS.
        let access_token = self.sign(Algorithm::EdDsa, &access_claims).await?;
        let access_row = AccessRow {
            jti,
            client_id: client.client_id.clone(),
            user_id: grant.user.map(|user| user.id),
            family_id: grant.family.map(|(family_id, _)| family_id),
            code_hash: grant.code_hash.map(str::to_owned),
            scope: grant.scopes.to_string(),
            expires_at: now_ms + millis(config.access_token_ttl),
            revoked: false,
        };
        let refresh = match (grant.family, grant.user, grant.session) {
            (Some((family_id, family_expires_at)), Some(user), Some(session)) => {
                let token = domain::new_token();
                let row = RefreshRow {
                    token_hash: domain::token_hash(&token),
                    family_id,
                    client_id: client.client_id.clone(),
                    user_id: user.id,
                    session_id: session.id.clone(),
                    scope: grant.scopes.to_string(),
                    code_hash: grant.code_hash.map(str::to_owned),
                    family_expires_at,
                    used_at: None,
                    revoked: false,
                };
                Some((token, row))
            }
            _ => None,
        };
        // The audit names the account, never a client's pairwise alias.
        let audit_subject = grant
            .user
            .map_or_else(|| format!("client:{subject}"), |user| format!("user:{}", user.id));
        let response = TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: config.access_token_ttl.as_secs(),
            refresh_token: refresh.as_ref().map(|(token, _)| token.clone()),
            id_token: None,
            scope: grant.scopes.to_string(),
        };
        Ok(PreparedTokens {
            response,
            issued: Issued {
                access_row,
                refresh_row: refresh.map(|(_, row)| row),
                audit_subject,
                at: now,
            },
        })
    }

    async fn id_token(
        &self,
        client: &ClientRow,
        user: &UserRow,
        scopes: &Scopes,
        session: &SessionRow,
        nonce: Option<&str>,
    ) -> Result<String, IdError> {
        let now = self.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.inner.config.issuer));
        claims.insert("sub".into(), json!(self.subject(client, user.id).await?));
        claims.insert("aud".into(), json!(client.client_id));
        claims.insert("azp".into(), json!(client.client_id));
        claims.insert("iat".into(), json!(now.timestamp()));
        claims.insert(
            "exp".into(),
            json!(now.timestamp() + seconds(self.inner.config.id_token_ttl)),
        );
        claims.insert("auth_time".into(), json!(session.auth_time));
        claims.insert("acr".into(), json!(session.acr));
        claims.insert("amr".into(), json!(session.amr.split_whitespace().collect::<Vec<_>>()));
        claims.insert("sid".into(), json!(domain::session_sid(&session.id)));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        claims.extend(user_claims(user, scopes));
        let alg = Algorithm::parse(&client.signing_alg).unwrap_or(Algorithm::Rs256);
        self.sign(alg, &Value::Object(claims)).await
    }

    // ------------------------------------------------------------ tokens in use

    /// Verifies one of our access tokens and its record: signature, issuer,
    /// expiry, and not revoked.
    pub async fn check_access_token(&self, token: &str) -> Result<(AccessClaims, AccessRow), IdError> {
        let claims = self.verify_access_token(token).await?;
        let row = store::access(&self.inner.db, claims.jti)
            .await?
            .filter(|row| self.live(row))
            .ok_or_else(invalid_access_token)?;
        Ok((claims, row))
    }

    /// The claims of an access token whose signature, issuer and expiry
    /// check out (its record is not read).
    async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, IdError> {
        let cache = self.key_cache().await?;
        cache
            .public
            .verify_at(token, &self.inner.config.issuer, None, self.now())
            .map_err(|_| invalid_access_token())
    }

    fn live(&self, row: &AccessRow) -> bool {
        !row.revoked && row.expires_at > self.now_ms()
    }

    /// The userinfo response for an access token. The token's record and
    /// its user are read in one query: every API call of a resource
    /// server in this process asks this.
    pub async fn userinfo(&self, token: &str) -> Result<Value, IdError> {
        let claims = self.verify_access_token(token).await?;
        let scopes = Scopes::parse(&claims.scope);
        let invalid = || {
            oauth(
                domain::OAuthErrorCode::InvalidToken,
                "the access token is not for a user",
            )
        };
        if !scopes.contains("openid") {
            return Err(invalid());
        }
        let (row, user) = store::access_with_user(&self.inner.db, claims.jti)
            .await?
            .ok_or_else(invalid)?;
        if !self.live(&row) {
            return Err(invalid_access_token());
        }
        let client = self.client(&row.client_id).await?.ok_or_else(invalid)?;
        let mut body = Map::new();
        body.insert("sub".into(), json!(self.subject(&client, user.id).await?));
        body.extend(user_claims(&user, &scopes));
        Ok(Value::Object(body))
    }

    /// RFC 7662 introspection, for the client that asks.
    pub async fn introspect(&self, client: &ClientRow, token: &str) -> Result<Value, IdError> {
        if let Ok((claims, _)) = self.check_access_token(token).await {
            return Ok(json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            }));
        }
        let now_ms = self.now_ms();
        if let Some(row) = store::refresh_by_hash(&self.inner.db, &domain::token_hash(token)).await? {
            let live = !row.revoked && row.used_at.is_none() && row.family_expires_at > now_ms;
            if live && row.client_id == client.client_id {
                return Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": row.scope,
                    "client_id": row.client_id,
                    "sub": self.subject(client, row.user_id).await?,
                    "exp": row.family_expires_at / 1000,
                }));
            }
        }
        Ok(json!({ "active": false }))
    }

    /// RFC 7009 revocation. Unknown tokens are not an error.
    pub async fn revoke(&self, client: &ClientRow, token: &str) -> Result<(), IdError> {
        if let Ok((claims, row)) = self.check_access_token(token).await {
            if claims.client_id == client.client_id {
                store::revoke_access(&self.inner.db, row.jti).await?;
                self.audit_revocation(client, &format!("token:{}", row.jti)).await?;
            }
            return Ok(());
        }
        if let Some(row) = store::refresh_by_hash(&self.inner.db, &domain::token_hash(token)).await?
            && row.client_id == client.client_id
        {
            let mut tx = self.inner.db.begin().await?;
            store::revoke_family(&mut tx, row.family_id).await?;
            tx.commit().await?;
            self.audit_revocation(client, &format!("family:{}", row.family_id))
                .await?;
        }
        Ok(())
    }

    async fn audit_revocation(&self, client: &ClientRow, subject: &str) -> Result<(), IdError> {
        let mut tx = self.inner.db.begin().await?;
        let entry = AuditEntry {
            actor: &client.client_id,
            action: "id.token.revoke",
            subject,
            detail: json!({}),
            ip: None,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The client an ID token we signed was issued to, for logout hints.
    pub async fn id_token_hint_client(&self, id_token: &str) -> Option<String> {
        let cache = self.key_cache().await.ok()?;
        let claims: Value = cache
            .public
            .verify_at(id_token, &self.inner.config.issuer, None, self.now())
            .ok()?;
        claims.get("aud").and_then(Value::as_str).map(str::to_owned)
    }
}

fn client_allows(client: &ClientRow, grant: &str) -> bool {
    client.grant_types.split_whitespace().any(|allowed| allowed == grant)
}

fn key_row(key: &SigningKey, status: &str, now_ms: i64) -> store::KeyRow {
    store::KeyRow {
        kid: key.kid().to_owned(),
        alg: key.algorithm().as_str().to_owned(),
        private_pem: key.private_pkcs8_pem().to_owned(),
        status: status.to_owned(),
        created_at: now_ms,
        retire_after: None,
    }
}

/// The claims about `user` that `scopes` release.
pub fn user_claims(user: &UserRow, scopes: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    if scopes.contains("profile") {
        claims.insert("name".into(), json!(user.full_name));
        if let Some(birthdate) = &user.birthdate {
            claims.insert("birthdate".into(), json!(birthdate));
        }
        if let Some(gender) = &user.gender {
            claims.insert("gender".into(), json!(gender));
        }
    }
    if scopes.contains("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if scopes.contains("phone")
        && let Some(phone) = &user.phone_number
    {
        claims.insert("phone_number".into(), json!(phone));
    }
    if scopes.contains("personal_id") {
        claims.insert("personal_id".into(), json!(user.personal_id));
    }
    if scopes.contains("agency") && user.kind == "official" {
        claims.insert("agency".into(), json!(user.agency_code));
        if let Some(department) = &user.department {
            claims.insert("department".into(), json!(department));
        }
        claims.insert("roles".into(), json!(user.roles.split_whitespace().collect::<Vec<_>>()));
    }
    claims
}

fn invalid_access_token() -> IdError {
    oauth(domain::OAuthErrorCode::InvalidToken, "the access token is not valid")
}

/// The level a password-only sign-in reaches.
pub const PASSWORD_ACR: &str = ACR_LEVEL_1;

/// Attempts allowed on one pending second-factor step.
pub const MAX_SECOND_FACTOR_ATTEMPTS: i32 = 5;
/// How long the second-factor step may take.
const PENDING_TTL: Duration = Duration::from_mins(5);

/// What follows a correct password.
#[derive(Debug)]
pub enum AfterPassword {
    /// Signed in at level 1: the cookie value and the session.
    Session(String, SessionRow),
    /// A second factor is needed; `enrol` is set when the account must first
    /// enrol one (officials always, citizens when a client asks for level 2).
    SecondFactor {
        pending: String,
        enrol: Option<crate::totp::TotpSecret>,
    },
}

/// What a second-factor attempt led to.
#[derive(Debug)]
pub enum SecondFactorOutcome {
    /// Signed in at level 2; `recovery_codes` is non-empty right after
    /// enrolment, to be shown once.
    Done {
        cookie: String,
        session: SessionRow,
        recovery_codes: Vec<String>,
    },
    /// The code was wrong; the step may be tried again.
    Wrong { enrol: Option<crate::totp::TotpSecret> },
    /// The step expired or was tried too often: start again.
    Expired,
}

impl Provider {
    /// Decides what a correct password leads to.
    pub async fn after_password(
        &self,
        user: &UserRow,
        wants_level_2: bool,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<AfterPassword, IdError> {
        let factors = self.second_factors(user.id).await?;
        let has_factor = factors.totp || factors.passkey;
        // A second factor the user set up is always asked for; without one,
        // officials and level-2 requests must enrol an authenticator app.
        let must_enrol = !has_factor && (user.kind == "official" || wants_level_2);
        if !has_factor && !must_enrol {
            let (cookie, session) = self
                .create_session(user, PASSWORD_ACR, &["pwd"], ip, user_agent)
                .await?;
            return Ok(AfterPassword::Session(cookie, session));
        }
        let enrol = must_enrol.then(crate::totp::TotpSecret::generate);
        let pending = domain::new_token();
        store::insert_pending(
            &self.inner.db,
            &store::PendingRow {
                id: domain::token_hash(&pending),
                user_id: user.id,
                totp_secret: enrol.as_ref().map(crate::totp::TotpSecret::to_base32),
                attempts: 0,
                expires_at: self.now_ms() + millis(PENDING_TTL),
            },
        )
        .await?;
        Ok(AfterPassword::SecondFactor { pending, enrol })
    }

    async fn finish_enrolment(
        &self,
        user: &UserRow,
        secret_text: &str,
        pending_id: &str,
        code: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<SecondFactorOutcome, IdError> {
        let db = &self.inner.db;
        let now = self.now();
        let unix_time = u64::try_from(now.timestamp()).unwrap_or_default();
        let subject = format!("user:{}", user.id);
        let secret =
            crate::totp::TotpSecret::from_base32(secret_text).map_err(|error| IdError::Password(error.to_string()))?;
        let Some(step) = crate::totp::verify(&secret, code, unix_time, None) else {
            return Ok(SecondFactorOutcome::Wrong { enrol: Some(secret) });
        };
        let recovery_codes = crate::totp::generate_recovery_codes(10);
        let hashes: Vec<String> = recovery_codes
            .iter()
            .map(|code| crate::totp::recovery_code_hash(code))
            .collect();
        let mut tx = db.begin().await?;
        store::enrol_totp(
            &mut tx,
            user.id,
            secret_text,
            i64::try_from(step).unwrap_or(i64::MAX),
            &hashes,
        )
        .await?;
        let entry = AuditEntry {
            actor: &subject,
            action: "id.factor.enrol",
            subject: &subject,
            detail: json!({ "factor": "totp" }),
            ip,
        };
        audit::record(&mut tx, &entry, now).await?;
        tx.commit().await?;
        store::delete_pending(db, pending_id).await?;
        let (cookie, session) = self
            .create_session(user, domain::ACR_LEVEL_2, &["pwd", "otp"], ip, user_agent)
            .await?;
        Ok(SecondFactorOutcome::Done {
            cookie,
            session,
            recovery_codes,
        })
    }

    /// Checks a TOTP or recovery code for a pending sign-in.
    pub async fn second_factor(
        &self,
        pending_cookie: &str,
        code: &str,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<SecondFactorOutcome, IdError> {
        let db = &self.inner.db;
        let now = self.now();
        let unix_time = u64::try_from(now.timestamp()).unwrap_or_default();
        let pending_id = domain::token_hash(pending_cookie);
        let Some(pending) = store::attempt_pending(db, &pending_id, now.timestamp_millis()).await? else {
            return Ok(SecondFactorOutcome::Expired);
        };
        if pending.attempts > MAX_SECOND_FACTOR_ATTEMPTS {
            store::delete_pending(db, &pending_id).await?;
            return Ok(SecondFactorOutcome::Expired);
        }
        let user = store::user_by_id(db, pending.user_id)
            .await?
            .ok_or(oauth(domain::OAuthErrorCode::AccessDenied, "the account is gone"))?;
        let subject = format!("user:{}", user.id);
        // Enrolment: the code proves the authenticator holds the new secret.
        if let Some(secret_text) = &pending.totp_secret {
            return self
                .finish_enrolment(&user, secret_text, &pending_id, code, ip, user_agent)
                .await;
        }
        let totp = store::totp(db, user.id).await?;
        let Some(secret_text) = totp.totp_secret else {
            return Ok(SecondFactorOutcome::Expired);
        };
        let secret =
            crate::totp::TotpSecret::from_base32(&secret_text).map_err(|error| IdError::Password(error.to_string()))?;
        let last_step = totp.totp_last_step.and_then(|step| u64::try_from(step).ok());
        let method = if let Some(step) = crate::totp::verify(&secret, code, unix_time, last_step) {
            store::advance_totp_step(db, user.id, i64::try_from(step).unwrap_or(i64::MAX))
                .await?
                .then_some("otp")
        } else if let Some(normalised) = crate::totp::normalise_recovery_code(code) {
            let hash = crate::totp::recovery_code_hash(&normalised);
            store::use_recovery_code(db, user.id, &hash, now.timestamp_millis())
                .await?
                .then_some("recovery_code")
        } else {
            None
        };
        let mut tx = db.begin().await?;
        let action = if method.is_some() {
            "id.second_factor.success"
        } else {
            "id.second_factor.failure"
        };
        let entry = AuditEntry {
            actor: &subject,
            action,
            subject: &subject,
            detail: json!({ "method": method, "user_agent": user_agent }),
            ip,
        };
        audit::record(&mut tx, &entry, now).await?;
        tx.commit().await?;
        let Some(method) = method else {
            return Ok(SecondFactorOutcome::Wrong { enrol: None });
        };
        store::delete_pending(db, &pending_id).await?;
        let amr = if method == "otp" { ["pwd", "otp"] } else { ["pwd", "rc"] };
        let (cookie, session) = self
            .create_session(&user, domain::ACR_LEVEL_2, &amr, ip, user_agent)
            .await?;
        Ok(SecondFactorOutcome::Done {
            cookie,
            session,
            recovery_codes: Vec::new(),
        })
    }
}
