//! The citizen portal's sign-in. The portal is an ordinary OpenID Connect
//! client (`egov-portal`) of the central sign-in service, even when both run
//! in one process: it sends the browser to the authorization endpoint with
//! PKCE, `state` and `nonce`, redeems the code at the token endpoint with
//! its client secret, and accepts the ID token only after the
//! `openidconnect` crate has checked it against the published keys. It then
//! keeps its own session (`portal_sessions`), which ends with the portal's
//! sign-out (RP-initiated logout at the sign-in service too) or when the
//! sign-in service sends a back-channel logout token for that session.
//!
//! [`transport`] decides how requests reach the sign-in service; [`http`]
//! holds the pages and endpoints; [`store`] the table.

pub mod http;
pub mod logout;
pub mod store;
pub mod transport;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use egov_core::clock::Clock;
use egov_db::{Db, DbError};
use hmac::{KeyInit as _, Mac as _};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse as _,
};
use sha2::{Digest as _, Sha256};

pub use http::router;
pub use transport::Transport;

/// The portal's client id at the sign-in service.
pub const PORTAL_CLIENT: &str = "egov-portal";
/// How long a portal session lasts, at most.
const SESSION_TTL: Duration = Duration::from_hours(8);
/// How long the discovery document and keys are trusted before reading
/// them again (a key rotation publishes the new key well before it signs).
const METADATA_TTL: Duration = Duration::from_mins(5);

/// Where the sign-in service is and who the portal is there.
#[derive(Clone)]
pub struct PortalConfig {
    /// The sign-in service's issuer URL.
    pub issuer: String,
    /// The portal's own public URL (its redirect URI is `{public_url}/portal/callback`).
    pub public_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub secure_cookies: bool,
}

impl std::fmt::Debug for PortalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl PortalConfig {
    /// The portal of this instance: same public URL as the sign-in service,
    /// its client secret derived from the instance's secret key (so neither
    /// side stores it; the sign-in service keeps only its hash).
    pub fn same_instance(public_url: &str, secret_key: &[u8], secure_cookies: bool) -> PortalConfig {
        PortalConfig {
            issuer: public_url.trim_end_matches('/').to_owned(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            client_id: PORTAL_CLIENT.to_owned(),
            client_secret: derived_secret(secret_key),
            secure_cookies,
        }
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/portal/callback", self.public_url)
    }

    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}/portal", self.public_url)
    }

    pub fn backchannel_logout_uri(&self) -> String {
        format!("{}/portal/backchannel-logout", self.public_url)
    }
}

/// HMAC-SHA256 of a fixed label under the instance's secret key.
pub fn derived_secret(secret_key: &[u8]) -> String {
    derived_secret_for(secret_key, b"egov-portal client secret")
}

/// HMAC-SHA256 of `label` under the instance's secret key: a secret for one
/// purpose that neither side needs to store.
pub fn derived_secret_for(secret_key: &[u8], label: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC takes keys of any length");
    mac.update(label);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Why a sign-in to the portal did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The browser came back without the flow it started (a forged or
    /// replayed callback, or one from another browser).
    #[error("the sign-in was not started by this browser, or has expired")]
    Unbound,
    /// The sign-in service refused (an error in the callback, a refused
    /// code, an ID token that does not check out).
    #[error("the sign-in service refused: {0}")]
    Refused(String),
    #[error("the sign-in service is unreachable: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A signed-in portal user.
#[derive(Debug, Clone)]
pub struct PortalUser {
    pub subject: String,
    pub name: String,
    /// The level reached at sign-in: `1` or `2`.
    pub acr: String,
    pub expires_at: i64,
    /// The 12-digit personal ID number (scope `personal_id`).
    pub personal_id: Option<String>,
    pub email: Option<String>,
    /// An official's agency code and one-stop roles (scope `agency`).
    pub agency: Option<String>,
    /// An official's department in the agency (scope `agency`), if any.
    pub department: Option<String>,
    pub roles: Vec<String>,
}

/// A sign-in being started: where to send the browser and what the flow
/// cookie keeps (state, PKCE verifier, nonce and where to return).
#[derive(Debug)]
pub struct Start {
    pub url: String,
    pub flow: String,
}

/// A finished sign-in: the session cookie's value and where to go.
#[derive(Debug)]
pub struct Done {
    pub cookie: String,
    pub next: String,
}

type PortalClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The portal's sign-in, shared by its handlers.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("config", &self.inner.config)
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

struct Inner {
    db: Db,
    clock: Arc<dyn Clock>,
    config: PortalConfig,
    transport: Transport,
    metadata: Mutex<Option<(Instant, Arc<ProviderMetadataWithLogout>)>>,
}

impl Portal {
    pub fn new(db: Db, clock: Arc<dyn Clock>, config: PortalConfig, transport: Transport) -> Portal {
        Portal {
            inner: Arc::new(Inner {
                db,
                clock,
                config,
                transport,
                metadata: Mutex::new(None),
            }),
        }
    }

    pub fn config(&self) -> &PortalConfig {
        &self.inner.config
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now().timestamp_millis()
    }

    /// The sign-in service's discovery document and keys; `fresh` reads
    /// them again (a token signed by a key not seen yet).
    async fn metadata(&self, fresh: bool) -> Result<Arc<ProviderMetadataWithLogout>, PortalError> {
        if !fresh
            && let Some((fetched_at, metadata)) = &*self.inner.metadata.lock().unwrap_or_else(PoisonError::into_inner)
            && fetched_at.elapsed() < METADATA_TTL
        {
            return Ok(Arc::clone(metadata));
        }
        let issuer = IssuerUrl::new(self.inner.config.issuer.clone()).map_err(unreachable)?;
        let metadata = Arc::new(
            ProviderMetadataWithLogout::discover_async(issuer, &self.inner.transport.client())
                .await
                .map_err(unreachable)?,
        );
        *self.inner.metadata.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&metadata)));
        Ok(metadata)
    }

    fn client(&self, metadata: &ProviderMetadataWithLogout) -> Result<PortalClient, PortalError> {
        let config = &self.inner.config;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(config.redirect_uri()).map_err(unreachable)?))
    }

    /// Starts a sign-in that returns to `next` (a path on this site).
    pub async fn start(&self, next: &str) -> Result<Start, PortalError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("personal_id".to_owned()))
            .add_scope(Scope::new("agency".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let next = URL_SAFE_NO_PAD.encode(local_path(next));
        Ok(Start {
            url: url.to_string(),
            flow: format!("{}.{}.{}.{next}", state.secret(), verifier.secret(), nonce.secret()),
        })
    }

    /// Finishes a sign-in: `flow` is the flow cookie, `state` and `code`
    /// the callback's parameters.
    pub async fn finish(&self, flow: Option<&str>, state: &str, code: &str) -> Result<Done, PortalError> {
        let mut parts = flow.unwrap_or_default().split('.');
        let (Some(expected), Some(verifier), Some(nonce), Some(next)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PortalError::Unbound);
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), state.as_bytes())) {
            return Err(PortalError::Unbound);
        }
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(unreachable)?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.inner.transport.client())
            .await
            .map_err(|error| PortalError::Refused(error.to_string()))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| PortalError::Refused("no ID token".to_owned()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
            .map_err(|error| PortalError::Refused(error.to_string()))?;
        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map_or_else(String::new, |name| name.as_str().to_owned());
        // openidconnect has checked the token; `sid` is one claim it does
        // not model, read from the same verified payload.
        let sid = verified_claim(&id_token.to_string(), "sid")
            .ok_or_else(|| PortalError::Refused("the ID token has no sid".to_owned()))?;
        let payload = verified_payload(&id_token.to_string()).unwrap_or_default();
        let text = |name: &str| payload.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        let roles = payload
            .get("roles")
            .and_then(serde_json::Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let cookie = new_token();
        let now_ms = self.now_ms();
        store::insert_session(
            &self.inner.db,
            &store::SessionRow {
                id: token_hash(&cookie),
                subject: claims.subject().as_str().to_owned(),
                name,
                acr: claims
                    .auth_context_ref()
                    .map_or_else(|| "1".to_owned(), |acr| acr.as_str().to_owned()),
                sid,
                id_token: id_token.to_string(),
                created_at: now_ms,
                expires_at: now_ms + i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX),
                personal_id: text("personal_id"),
                email: text("email"),
                agency: text("agency"),
                department: text("department"),
                roles,
            },
        )
        .await?;
        let next = URL_SAFE_NO_PAD
            .decode(next)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map_or_else(|| "/portal".to_owned(), |next| local_path(&next).to_owned());
        Ok(Done { cookie, next })
    }

    /// The signed-in user behind a session cookie.
    pub async fn user(&self, cookie: &str) -> Result<Option<PortalUser>, DbError> {
        let session = store::session(&self.inner.db, &token_hash(cookie), self.now_ms()).await?;
        Ok(session.map(|session| PortalUser {
            subject: session.subject,
            name: session.name,
            acr: session.acr,
            expires_at: session.expires_at,
            personal_id: session.personal_id,
            email: session.email,
            agency: session.agency,
            department: session.department,
            roles: session.roles.split_whitespace().map(str::to_owned).collect(),
        }))
    }

    /// Ends the portal session; the address that ends the central sign-in
    /// session too (RP-initiated logout), when there was one.
    pub async fn sign_out(&self, cookie: &str) -> Result<Option<String>, PortalError> {
        let Some(session) = store::delete_session(&self.inner.db, &token_hash(cookie)).await? else {
            return Ok(None);
        };
        let metadata = self.metadata(false).await?;
        let Some(end_session) = &metadata.additional_metadata().end_session_endpoint else {
            return Ok(None);
        };
        let mut url = end_session.url().clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", &session.id_token)
            .append_pair("client_id", &self.inner.config.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                &self.inner.config.post_logout_redirect_uri(),
            );
        Ok(Some(url.to_string()))
    }
}

/// A string claim of a JWT whose signature was already verified.
fn verified_claim(jwt: &str, name: &str) -> Option<String> {
    verified_payload(jwt)?.get(name)?.as_str().map(str::to_owned)
}

/// The claims of a JWT whose signature was already verified.
fn verified_payload(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// `next` when it is a path on this site, else the portal's home: a
/// sign-in never sends the browser elsewhere.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\');
    if local { next } else { "/portal" }
}

fn unreachable(error: impl std::fmt::Display) -> PortalError {
    PortalError::Unreachable(error.to_string())
}

fn new_token() -> String {
    use rand::Rng as _;
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_returns_only_to_paths_on_this_site() {
        assert_eq!(local_path("/procedures?q=a"), "/procedures?q=a");
        for elsewhere in ["https://evil.example", "//evil.example/x", "/\\evil.example", "portal"] {
            assert_eq!(local_path(elsewhere), "/portal", "{elsewhere}");
        }
    }

    #[test]
    fn the_derived_secret_depends_on_the_instance_key() {
        assert_eq!(derived_secret(b"key one"), derived_secret(b"key one"));
        assert_ne!(derived_secret(b"key one"), derived_secret(b"key two"));
        assert_eq!(derived_secret(b"key one").len(), 43);
    }
}
