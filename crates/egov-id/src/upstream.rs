//! Brokering: signing users in through an upstream OpenID provider
//! ("Đăng nhập bằng VNeID"), configured by issuer URL and client
//! credentials.
//!
//! The upstream is spoken to with the `openidconnect` crate: discovery (kept
//! for five minutes), the authorization code flow with PKCE, state and
//! nonce, and validation of the ID token against the upstream's JWKS. The
//! upstream account is linked to a local one by the personal ID number its
//! userinfo reports (the claim `personal_id`, which egov instances and
//! VNeID provide); a citizen without a local account gets one, without a
//! password. The state is bound to the browser by a cookie, so nobody can
//! make a victim's browser finish a sign-in the attacker started.
//!
//! The level reached is the upstream's `acr`: level 2 upstream is level 2
//! here. Officials, who must always use two factors, are accepted only at
//! level 2.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egov_core::personal_id::PersonalId;
use egov_db::audit::{self, AuditEntry};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use serde_json::{Value, json};

use crate::domain;
use crate::provider::{IdError, Provider};
use crate::store::{self, SessionRow, UpstreamRow, UpstreamStateRow, UserRow};

/// How long a sign-in may stay upstream.
const STATE_TTL: Duration = Duration::from_mins(10);
/// How long an upstream's discovery document (and JWKS) is reused.
const METADATA_TTL: Duration = Duration::from_mins(5);
/// The `amr` of a brokered sign-in (RFC 8176: federated).
pub const UPSTREAM_AMR: [&str; 1] = ["fed"];

/// Why a brokered sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no such upstream provider")]
    Unknown,
    #[error("the upstream provider cannot be reached or answered wrongly: {0}")]
    Unreachable(String),
    #[error("the sign-in took too long or was not started here")]
    Expired,
    #[error("the upstream provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the upstream provider did not give a valid personal ID number")]
    NoPersonalId,
    #[error("officials must sign in at level 2")]
    LevelTooLow,
    #[error("the account is locked")]
    Locked,
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<egov_db::DbError> for UpstreamError {
    fn from(error: egov_db::DbError) -> Self {
        UpstreamError::Id(IdError::Db(error))
    }
}

/// What the browser is sent to: the upstream's authorization URL, and the
/// state to bind to the browser.
#[derive(Debug)]
pub struct UpstreamStart {
    pub url: String,
    pub state: String,
}

/// A finished brokered sign-in: the session cookie and session, and the
/// original authorization request (a query string) to continue.
#[derive(Debug)]
pub struct UpstreamDone {
    pub cookie: String,
    pub session: SessionRow,
    pub params: String,
}

/// Cached discovery documents, by issuer.
pub(crate) type MetadataCache = std::sync::Mutex<HashMap<String, (Instant, Arc<CoreProviderMetadata>)>>;

type HttpFuture = std::pin::Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>> + Send>>;

/// openidconnect's HTTP client over reqwest, without following redirects
/// (an upstream that redirects its own endpoints is misconfigured, and
/// following them would let it point us anywhere).
fn http_client(client: reqwest::Client) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture {
    move |request| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let status = response.status();
            let body = response.bytes().await?.to_vec();
            Ok(builder.body(body).unwrap_or_else(|_| {
                let mut fallback = openidconnect::http::Response::new(Vec::new());
                *fallback.status_mut() = status;
                fallback
            }))
        })
    }
}

/// The HTTP client brokering uses.
pub(crate) fn new_http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("egov-id/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn unreachable(error: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unreachable(error.to_string())
}

impl Provider {
    /// The enabled upstream providers, for the sign-in page.
    pub async fn upstreams(&self) -> Result<Vec<UpstreamRow>, IdError> {
        Ok(self
            .upstream_list()
            .await?
            .iter()
            .filter(|upstream| upstream.enabled)
            .cloned()
            .collect())
    }

    async fn upstream(&self, id: &str) -> Result<UpstreamRow, UpstreamError> {
        self.upstreams()
            .await?
            .into_iter()
            .find(|upstream| upstream.id == id)
            .ok_or(UpstreamError::Unknown)
    }

    fn callback_url(&self) -> String {
        format!("{}/oauth/upstream/callback", self.config().issuer)
    }

    async fn upstream_metadata(&self, upstream: &UpstreamRow) -> Result<Arc<CoreProviderMetadata>, UpstreamError> {
        let cache = self.upstream_metadata_cache();
        if let Some((fetched_at, metadata)) = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&upstream.issuer)
            && fetched_at.elapsed() < METADATA_TTL
        {
            return Ok(Arc::clone(metadata));
        }
        let issuer = IssuerUrl::new(upstream.issuer.clone()).map_err(unreachable)?;
        let http = http_client(self.upstream_http().clone());
        let metadata = Arc::new(
            CoreProviderMetadata::discover_async(issuer, &http)
                .await
                .map_err(unreachable)?,
        );
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(upstream.issuer.clone(), (Instant::now(), Arc::clone(&metadata)));
        Ok(metadata)
    }

    fn upstream_client(
        &self,
        upstream: &UpstreamRow,
        metadata: &CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        UpstreamError,
    > {
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(upstream.client_id.clone()),
            Some(ClientSecret::new(upstream.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(self.callback_url()).map_err(unreachable)?))
    }

    /// Starts a brokered sign-in for the authorization request `params`
    /// (its query string, already validated).
    pub async fn start_upstream(&self, upstream_id: &str, params: &str) -> Result<UpstreamStart, UpstreamError> {
        let upstream = self.upstream(upstream_id).await?;
        let metadata = self.upstream_metadata(&upstream).await?;
        let client = self.upstream_client(&upstream, &metadata)?;
        let state = domain::new_token();
        let nonce = domain::new_token();
        let verifier = PkceCodeVerifier::new(domain::new_token());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                {
                    let state = state.clone();
                    move || CsrfToken::new(state)
                },
                {
                    let nonce = nonce.clone();
                    move || Nonce::new(nonce)
                },
            )
            .set_pkce_challenge(challenge);
        for scope in upstream.scopes.split_whitespace().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, _, _) = request.url();
        let now_ms = self.now().timestamp_millis();
        store::insert_upstream_state(
            self.db(),
            &UpstreamStateRow {
                id: domain::token_hash(&state),
                upstream_id: upstream.id.clone(),
                nonce,
                pkce_verifier: verifier.secret().clone(),
                params: params.to_owned(),
                expires_at: now_ms + crate::provider::millis(STATE_TTL),
            },
            now_ms,
        )
        .await?;
        Ok(UpstreamStart {
            url: url.to_string(),
            state,
        })
    }

    /// Finishes a brokered sign-in when the browser comes back with `code`
    /// and `state`; `bound_state` is the state the browser's cookie holds.
    pub async fn finish_upstream(
        &self,
        code: &str,
        state: &str,
        bound_state: Option<&str>,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<UpstreamDone, UpstreamError> {
        let bound = bound_state
            .is_some_and(|bound| bool::from(subtle::ConstantTimeEq::ct_eq(bound.as_bytes(), state.as_bytes())));
        if !bound || state.len() != 43 {
            return Err(UpstreamError::Expired);
        }
        let now_ms = self.now().timestamp_millis();
        let pending = store::take_upstream_state(self.db(), &domain::token_hash(state), now_ms)
            .await?
            .ok_or(UpstreamError::Expired)?;
        let upstream = self.upstream(&pending.upstream_id).await?;
        let metadata = self.upstream_metadata(&upstream).await?;
        let client = self.upstream_client(&upstream, &metadata)?;
        let http = http_client(self.upstream_http().clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(unreachable)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|error| UpstreamError::Refused(error.to_string()))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| UpstreamError::Refused("no ID token".to_owned()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce.clone()))
            .map_err(|error| UpstreamError::Refused(error.to_string()))?;
        let subject = claims.subject().as_str().to_owned();
        let level_2 = claims
            .auth_context_ref()
            .is_some_and(|acr| acr.as_str() == domain::ACR_LEVEL_2);
        let profile = self
            .upstream_userinfo(&metadata, tokens.access_token().secret())
            .await?;
        if profile.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
            return Err(UpstreamError::Refused("userinfo is about another subject".to_owned()));
        }
        let user = self.linked_user(&upstream, &subject, &profile).await?;
        if user.locked {
            return Err(UpstreamError::Locked);
        }
        if user.kind == "official" && !level_2 {
            return Err(UpstreamError::LevelTooLow);
        }
        let acr = if level_2 {
            domain::ACR_LEVEL_2
        } else {
            domain::ACR_LEVEL_1
        };
        let (cookie, session) = self.create_session(&user, acr, &UPSTREAM_AMR, ip, user_agent).await?;
        let audited = format!("user:{}", user.id);
        let mut tx = self.db().begin().await?;
        let entry = AuditEntry {
            actor: &audited,
            action: "id.sign_in.success",
            subject: &audited,
            detail: json!({ "method": "upstream", "upstream": upstream.id, "acr": acr, "user_agent": user_agent }),
            ip,
        };
        audit::record(&mut tx, &entry, self.now()).await?;
        tx.commit().await.map_err(IdError::Db)?;
        Ok(UpstreamDone {
            cookie,
            session,
            params: pending.params,
        })
    }

    async fn upstream_userinfo(
        &self,
        metadata: &CoreProviderMetadata,
        access_token: &str,
    ) -> Result<serde_json::Map<String, Value>, UpstreamError> {
        let endpoint = metadata
            .userinfo_endpoint()
            .ok_or_else(|| UpstreamError::Refused("the upstream has no userinfo endpoint".to_owned()))?;
        let response = self
            .upstream_http()
            .get(endpoint.url().as_str())
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(UpstreamError::Refused(format!(
                "userinfo answered {}",
                response.status()
            )));
        }
        match response.json::<Value>().await.map_err(unreachable)? {
            Value::Object(profile) => Ok(profile),
            _ => Err(UpstreamError::Refused("userinfo is not a JSON object".to_owned())),
        }
    }

    /// The local account of an upstream account: linked before, or found
    /// by personal ID number and linked now, or created for a citizen.
    async fn linked_user(
        &self,
        upstream: &UpstreamRow,
        subject: &str,
        profile: &serde_json::Map<String, Value>,
    ) -> Result<UserRow, UpstreamError> {
        let db = self.db();
        if let Some(user_id) = store::upstream_link(db, &upstream.id, subject).await?
            && let Some(user) = store::user_by_id(db, user_id).await?
        {
            return Ok(user);
        }
        let text = |name: &str| profile.get(name).and_then(Value::as_str).map(str::trim);
        let personal_id = text("personal_id")
            .and_then(|number| PersonalId::parse(number).ok())
            .ok_or(UpstreamError::NoPersonalId)?;
        let now = self.now();
        let now_ms = now.timestamp_millis();
        let existing = store::user_by_login(db, personal_id.as_str())
            .await?
            .filter(|user| user.personal_id == personal_id.as_str());
        let mut tx = db.begin().await?;
        let (user, created) = if let Some(user) = existing {
            (user, false)
        } else {
            let email = match text("email").filter(|email| egov_mail::is_valid_address(email)) {
                Some(email) if store::user_by_login(db, email).await?.is_none() => Some(email.to_owned()),
                _ => None,
            };
            let user = UserRow {
                id: egov_core::id::new_id(),
                kind: "citizen".to_owned(),
                personal_id: personal_id.as_str().to_owned(),
                full_name: text("name")
                    .filter(|name| !name.is_empty())
                    .unwrap_or("—")
                    .chars()
                    .take(200)
                    .collect(),
                email_verified: email.is_some() && profile.get("email_verified").and_then(Value::as_bool) == Some(true),
                email,
                phone_number: None,
                birthdate: text("birthdate")
                    .filter(|date| chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok())
                    .map(str::to_owned),
                gender: text("gender")
                    .filter(|gender| matches!(*gender, "male" | "female" | "other"))
                    .map(str::to_owned),
                agency_code: None,
                department: None,
                roles: String::new(),
                password_hash: None,
                locked: false,
            };
            store::insert_user(&mut tx, &user, now_ms).await?;
            (user, true)
        };
        store::insert_upstream_link(&mut tx, &upstream.id, subject, user.id, now_ms).await?;
        let audited = format!("user:{}", user.id);
        let entry = AuditEntry {
            actor: &format!("upstream:{}", upstream.id),
            action: if created {
                "id.upstream.account_created"
            } else {
                "id.upstream.linked"
            },
            subject: &audited,
            detail: json!({ "upstream": upstream.id, "subject": subject }),
            ip: None,
        };
        audit::record(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(user)
    }
}
