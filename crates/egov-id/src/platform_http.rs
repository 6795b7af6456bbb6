//! Administration of the sign-in service itself over JSON, for platform
//! administrators (bearer access tokens of egov-id): clients (list,
//! register, change, rotate a secret), signing keys (list, rotate now) and
//! upstream providers (list, add, change). The pages that do the same are
//! [`crate::platform_pages`]; `egov id …` does it on the command line; all
//! are audited the same way.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use egov_web::{AppError, Localized};

use crate::admin::{self, AdminError, NewClient, NewUpstream, UpstreamChanges};
use crate::keys::Algorithm;
use crate::manage::is_platform_administrator;
use crate::manage_http::{bearer_actor, forbidden};
use crate::provider::Provider;
use crate::store::{self, ClientRow, UserRow};

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/api/v1/id/clients", get(list_clients).post(add_client))
        .route("/api/v1/id/clients/{id}", axum::routing::patch(update_client))
        .route("/api/v1/id/clients/{id}/secret", post(rotate_secret))
        .route("/api/v1/id/keys", get(list_keys))
        .route("/api/v1/id/keys/rotate", post(rotate_key))
        .route("/api/v1/id/upstreams", get(list_upstreams).post(add_upstream))
        .route("/api/v1/id/upstreams/{id}", axum::routing::patch(update_upstream))
}

/// The platform administrator behind a bearer token, or 401/403.
async fn platform_admin(provider: &Provider, headers: &HeaderMap) -> Result<UserRow, AppError> {
    let actor = bearer_actor(provider, headers).await?;
    if is_platform_administrator(&actor) {
        Ok(actor)
    } else {
        Err(forbidden())
    }
}

/// 404 for a client id that names no client with a secret to rotate.
pub(crate) fn no_secret_client() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "client_not_found",
        Localized::new(
            "Không có ứng dụng dùng khóa bí mật với mã này.",
            "No client with a secret has this id.",
        ),
    )
}

pub(crate) fn admin_error(error: AdminError) -> AppError {
    match error {
        AdminError::Invalid { field, message } => AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Localized::new(format!("{field}: {}", message.vi), format!("{field}: {}", message.en)),
        ),
        AdminError::Exists(what) => AppError::new(
            StatusCode::CONFLICT,
            "exists",
            Localized::new(format!("{what} đã tồn tại."), format!("{what} exists already.")),
        ),
        other => AppError::internal(other),
    }
}

/// A client as administrators see it (never its secret).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClientSummary {
    pub client_id: String,
    pub name: String,
    /// `client_secret`, `private_key_jwt` or `none` (public, PKCE).
    pub authentication: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub signing_alg: String,
    pub first_party: bool,
    /// `public` or `pairwise`.
    pub subject_type: String,
    pub sector_identifier: Option<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl From<ClientRow> for ClientSummary {
    fn from(client: ClientRow) -> Self {
        let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
        let words = |text: &str| text.split_whitespace().map(str::to_owned).collect();
        ClientSummary {
            authentication: if client.jwks.is_some() {
                "private_key_jwt"
            } else if client.secret_hash.is_some() {
                "client_secret"
            } else {
                "none"
            },
            redirect_uris: list(&client.redirect_uris),
            post_logout_redirect_uris: list(&client.post_logout_redirect_uris),
            scopes: words(&client.scopes),
            grant_types: words(&client.grant_types),
            client_id: client.client_id,
            name: client.name,
            signing_alg: client.signing_alg,
            first_party: client.first_party,
            subject_type: client.subject_type,
            sector_identifier: client.sector_identifier,
            backchannel_logout_uri: client.backchannel_logout_uri,
        }
    }
}

/// Every registered client.
#[utoipa::path(get, path = "/api/v1/id/clients", tag = "sign-in administration", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every client, by id", body = [ClientSummary]),
        (status = 401, description = "`unauthorized`", body = egov_web::error::ErrorBody),
        (status = 403, description = "`forbidden`: not a platform administrator", body = egov_web::error::ErrorBody),
    ))]
pub async fn list_clients(
    State(provider): State<Provider>,
    headers: HeaderMap,
) -> Result<Json<Vec<ClientSummary>>, AppError> {
    platform_admin(&provider, &headers).await?;
    let clients = store::clients(provider.db()).await?;
    Ok(Json(clients.into_iter().map(ClientSummary::from).collect()))
}

/// A client to register.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ClientRequest {
    pub client_id: String,
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE only).
    #[serde(default)]
    pub public: bool,
    /// Default: openid profile email phone.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Default: authorization_code refresh_token.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// RS256 (default), ES256 or EdDSA.
    pub signing_alg: Option<String>,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub pairwise: bool,
    pub sector_identifier: Option<String>,
    /// The client's public JWKS: it authenticates with private_key_jwt.
    pub jwks: Option<serde_json::Value>,
    pub backchannel_logout_uri: Option<String>,
}

/// A registered client's credentials, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClientCredentials {
    pub client_id: String,
    /// Absent for public clients and clients with keys.
    pub client_secret: Option<String>,
}

pub(crate) fn invalid(field: &str, message: &str) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        Localized::new(format!("{field}: {message}"), format!("{field}: {message}")),
    )
}

/// Registers a client; answers its secret once.
#[utoipa::path(post, path = "/api/v1/id/clients", tag = "sign-in administration", security(("bearer" = [])),
    request_body = ClientRequest,
    responses(
        (status = 201, description = "Registered", body = ClientCredentials),
        (status = 409, description = "`exists`", body = egov_web::error::ErrorBody),
        (status = 422, description = "`invalid_field`: which field and why", body = egov_web::error::ErrorBody),
    ))]
pub async fn add_client(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Json(request): Json<ClientRequest>,
) -> Result<Response, AppError> {
    let actor = platform_admin(&provider, &headers).await?;
    let signing_alg = match request.signing_alg.as_deref() {
        None => Algorithm::Rs256,
        Some(name) => Algorithm::parse(name).ok_or_else(|| invalid("signing_alg", "must be RS256, ES256 or EdDSA"))?,
    };
    let mut client = NewClient::web(&request.client_id, &request.name, "");
    client.redirect_uris = request.redirect_uris;
    client.post_logout_redirect_uris = request.post_logout_redirect_uris;
    client.public = request.public;
    if !request.scopes.is_empty() {
        client.scopes = request.scopes;
    }
    if !request.grant_types.is_empty() {
        client.grant_types = request.grant_types;
    }
    client.signing_alg = signing_alg;
    client.first_party = request.first_party;
    client.pairwise = request.pairwise;
    client.sector_identifier = request.sector_identifier;
    client.jwks = request.jwks.map(|jwks| jwks.to_string());
    client.backchannel_logout_uri = request.backchannel_logout_uri;
    let secret = admin::add_client(provider.db(), &client, &format!("user:{}", actor.id), provider.now())
        .await
        .map_err(admin_error)?;
    let body = ClientCredentials {
        client_id: client.client_id,
        client_secret: secret,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    crate::http::no_store(&mut response);
    Ok(response)
}

/// Changes to a client; absent fields stay as they are.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    /// RS256, ES256 or EdDSA.
    pub signing_alg: Option<String>,
    /// An empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    /// New public keys of a client that signs in with its keys.
    pub jwks: Option<serde_json::Value>,
}

/// Changes a client's redirect URIs, scopes, grant types, algorithm, name,
/// back-channel logout URI or keys. Its id, authentication method and
/// subject type cannot change.
#[utoipa::path(patch, path = "/api/v1/id/clients/{id}", tag = "sign-in administration",
    params(("id" = String, Path, description = "The client's id")), security(("bearer" = [])),
    request_body = ClientUpdate,
    responses(
        (status = 200, description = "The client as it is now", body = ClientSummary),
        (status = 404, description = "`client_not_found`", body = egov_web::error::ErrorBody),
        (status = 422, description = "`invalid_field`: which field and why; nothing changed", body = egov_web::error::ErrorBody),
    ))]
pub async fn update_client(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Json(update): Json<ClientUpdate>,
) -> Result<Json<ClientSummary>, AppError> {
    let actor = platform_admin(&provider, &headers).await?;
    let signing_alg = match update.signing_alg.as_deref() {
        None => None,
        Some(name) => {
            Some(Algorithm::parse(name).ok_or_else(|| invalid("signing_alg", "must be RS256, ES256 or EdDSA"))?)
        }
    };
    let changes = admin::ClientChanges {
        name: update.name,
        redirect_uris: update.redirect_uris,
        post_logout_redirect_uris: update.post_logout_redirect_uris,
        scopes: update.scopes,
        grant_types: update.grant_types,
        signing_alg,
        backchannel_logout_uri: update
            .backchannel_logout_uri
            .map(|uri| Some(uri).filter(|uri| !uri.is_empty())),
        jwks: update.jwks.map(|jwks| jwks.to_string()),
    };
    let updated = admin::update_client(
        provider.db(),
        &client_id,
        changes,
        &format!("user:{}", actor.id),
        provider.now(),
    )
    .await
    .map_err(admin_error)?
    .ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            "client_not_found",
            Localized::new("Không có ứng dụng với mã này.", "No client has this id."),
        )
    })?;
    provider.forget_client(&client_id);
    Ok(Json(ClientSummary::from(updated)))
}

/// Gives a confidential client a new secret, answered once.
#[utoipa::path(post, path = "/api/v1/id/clients/{id}/secret", tag = "sign-in administration",
    params(("id" = String, Path, description = "The client's id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret; the old one no longer works", body = ClientCredentials),
        (status = 404, description = "`client_not_found`: no confidential client with a secret by that id", body = egov_web::error::ErrorBody),
    ))]
pub async fn rotate_secret(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, AppError> {
    let actor = platform_admin(&provider, &headers).await?;
    let secret = admin::rotate_client_secret(provider.db(), &client_id, &format!("user:{}", actor.id), provider.now())
        .await
        .map_err(admin_error)?
        .ok_or_else(no_secret_client)?;
    provider.forget_client(&client_id);
    let mut response = Json(ClientCredentials {
        client_id,
        client_secret: Some(secret),
    })
    .into_response();
    crate::http::no_store(&mut response);
    Ok(response)
}

/// A signing key, public facts only.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not yet signing), `active` or `retired`.
    pub status: String,
    pub created_at: i64,
    /// When a retired key leaves the JWKS (milliseconds since the epoch).
    pub retire_after: Option<i64>,
}

impl From<store::KeyRow> for KeySummary {
    fn from(key: store::KeyRow) -> Self {
        KeySummary {
            kid: key.kid,
            alg: key.alg,
            status: key.status,
            created_at: key.created_at,
            retire_after: key.retire_after,
        }
    }
}

/// The signing keys.
#[utoipa::path(get, path = "/api/v1/id/keys", tag = "sign-in administration", security(("bearer" = [])),
    responses((status = 200, description = "Every key, oldest first", body = [KeySummary])))]
pub async fn list_keys(
    State(provider): State<Provider>,
    headers: HeaderMap,
) -> Result<Json<Vec<KeySummary>>, AppError> {
    platform_admin(&provider, &headers).await?;
    let keys = store::keys(provider.db()).await?;
    Ok(Json(keys.into_iter().map(KeySummary::from).collect()))
}

/// Which algorithm's key to rotate.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct RotateRequest {
    /// RS256, ES256 or EdDSA.
    pub alg: String,
}

/// One rotation step: publish a new key, or activate the published one.
#[utoipa::path(post, path = "/api/v1/id/keys/rotate", tag = "sign-in administration", security(("bearer" = [])),
    request_body = RotateRequest,
    responses((status = 200, description = "What was done", body = String)))]
pub async fn rotate_key(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Json(request): Json<RotateRequest>,
) -> Result<Json<String>, AppError> {
    platform_admin(&provider, &headers).await?;
    let alg = Algorithm::parse(&request.alg).ok_or_else(|| invalid("alg", "must be RS256, ES256 or EdDSA"))?;
    Ok(Json(provider.rotate_key(alg).await.map_err(AppError::internal)?))
}

/// An upstream provider, without its client secret.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UpstreamSummary {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub enabled: bool,
}

impl From<store::UpstreamRow> for UpstreamSummary {
    fn from(upstream: store::UpstreamRow) -> Self {
        UpstreamSummary {
            scopes: upstream.scopes.split_whitespace().map(str::to_owned).collect(),
            id: upstream.id,
            name: upstream.name,
            issuer: upstream.issuer,
            client_id: upstream.client_id,
            enabled: upstream.enabled,
        }
    }
}

/// The upstream providers.
#[utoipa::path(get, path = "/api/v1/id/upstreams", tag = "sign-in administration", security(("bearer" = [])),
    responses((status = 200, description = "Every upstream provider", body = [UpstreamSummary])))]
pub async fn list_upstreams(
    State(provider): State<Provider>,
    headers: HeaderMap,
) -> Result<Json<Vec<UpstreamSummary>>, AppError> {
    platform_admin(&provider, &headers).await?;
    let upstreams = store::upstreams(provider.db()).await?;
    Ok(Json(upstreams.into_iter().map(UpstreamSummary::from).collect()))
}

/// Adds an upstream provider; its sign-in button appears within 10 s.
#[utoipa::path(post, path = "/api/v1/id/upstreams", tag = "sign-in administration", security(("bearer" = [])),
    request_body = NewUpstream,
    responses(
        (status = 201, description = "Added"),
        (status = 409, description = "`exists`", body = egov_web::error::ErrorBody),
        (status = 422, description = "`invalid_field`", body = egov_web::error::ErrorBody),
    ))]
pub async fn add_upstream(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Json(upstream): Json<NewUpstream>,
) -> Result<StatusCode, AppError> {
    let actor = platform_admin(&provider, &headers).await?;
    admin::add_upstream(provider.db(), &upstream, &format!("user:{}", actor.id), provider.now())
        .await
        .map_err(admin_error)?;
    provider.forget_upstreams();
    Ok(StatusCode::CREATED)
}

/// Changes an upstream provider, or turns it off and on.
#[utoipa::path(patch, path = "/api/v1/id/upstreams/{id}", tag = "sign-in administration",
    params(("id" = String, Path, description = "The upstream's id")), security(("bearer" = [])),
    request_body = UpstreamChanges,
    responses(
        (status = 204, description = "Changed"),
        (status = 404, description = "`upstream_not_found`", body = egov_web::error::ErrorBody),
        (status = 422, description = "`invalid_field`; nothing changed", body = egov_web::error::ErrorBody),
    ))]
pub async fn update_upstream(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(changes): Json<UpstreamChanges>,
) -> Result<StatusCode, AppError> {
    let actor = platform_admin(&provider, &headers).await?;
    let found = admin::update_upstream(
        provider.db(),
        &id,
        changes,
        &format!("user:{}", actor.id),
        provider.now(),
    )
    .await
    .map_err(admin_error)?;
    if !found {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "upstream_not_found",
            Localized::new("Không có nhà cung cấp với mã này.", "No upstream provider has this id."),
        ));
    }
    provider.forget_upstreams();
    Ok(StatusCode::NO_CONTENT)
}
