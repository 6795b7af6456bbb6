//! Administration of the sign-in service: registering clients and
//! accounts. Used by the CLI and the demo seed; every change is audited.

use egov_core::personal_id::PersonalId;
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError};
use serde_json::json;
use uuid::Uuid;

use egov_web::error::Localized;

use crate::domain::{self, Role, SUPPORTED_SCOPES, UserKind};
use crate::keys::Algorithm;
use crate::password::PasswordHasher;
use crate::password_policy::{PasswordRejection, check_password};
use crate::store::{self, ClientRow, UserRow};

/// Why an administrative change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A field's problem in both languages; the CLI prints the English.
    #[error("{field}: {}", message.en)]
    Invalid { field: &'static str, message: Localized },
    #[error("{0} exists already")]
    Exists(String),
    #[error("password: {}", .0.message(false))]
    Password(PasswordRejection),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn invalid(
    field: &'static str,
    vi: impl Into<std::borrow::Cow<'static, str>>,
    en: impl Into<std::borrow::Cow<'static, str>>,
) -> AdminError {
    AdminError::Invalid {
        field,
        message: Localized::new(vi, en),
    }
}

fn invalid_uri(field: &'static str, uri: &str, problem: domain::UriProblem) -> AdminError {
    invalid(
        field,
        format!("`{uri}` {}", problem.vi()),
        format!("`{uri}` {}", problem.en()),
    )
}

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (a browser or mobile app) has no secret and must use
    /// PKCE.
    pub public: bool,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub signing_alg: Algorithm,
    pub first_party: bool,
    /// Give this client pairwise `sub` values: the same user gets another
    /// `sub` in every sector, so unrelated services cannot join their data.
    pub pairwise: bool,
    /// The sector of a pairwise client (a host name); by default the host
    /// of its redirect URIs, which must then all share one host.
    pub sector_identifier: Option<String>,
    /// The client's public JWKS (JSON): it authenticates with
    /// `private_key_jwt` and gets no secret.
    pub jwks: Option<String>,
    /// Where the provider POSTs a logout token when a session the client
    /// signed in through ends (OpenID Connect Back-Channel Logout).
    pub backchannel_logout_uri: Option<String>,
}

impl NewClient {
    /// A confidential web client with the usual grants and scopes.
    pub fn web(client_id: &str, name: &str, redirect_uri: &str) -> NewClient {
        NewClient {
            client_id: client_id.to_owned(),
            name: name.to_owned(),
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: Vec::new(),
            public: false,
            scopes: ["openid", "profile", "email", "phone"].map(str::to_owned).to_vec(),
            grant_types: ["authorization_code", "refresh_token"].map(str::to_owned).to_vec(),
            signing_alg: Algorithm::Rs256,
            first_party: false,
            pairwise: false,
            sector_identifier: None,
            jwks: None,
            backchannel_logout_uri: None,
        }
    }
}

/// Registers a client; returns its secret (shown once) for a confidential
/// client. Only the secret's hash is kept.
pub async fn add_client(
    db: &Db,
    client: &NewClient,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, AdminError> {
    let sector_identifier = check_client(client)?;
    if store::client(db, &client.client_id).await?.is_some() {
        return Err(AdminError::Exists(format!("client `{}`", client.client_id)));
    }
    add_checked_client(db, client, sector_identifier, actor, now).await
}

/// Checks a client registration; returns its sector (pairwise clients).
fn check_client(client: &NewClient) -> Result<Option<String>, AdminError> {
    let id_ok = (3..=64).contains(&client.client_id.len())
        && client
            .client_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if !id_ok {
        return Err(invalid(
            "client_id",
            "gồm 3–64 chữ cái, chữ số, '-', '_' hoặc '.'",
            "3–64 letters, digits, '-', '_' or '.'",
        ));
    }
    if client.name.trim().is_empty() || client.name.len() > 200 {
        return Err(invalid(
            "name",
            "bắt buộc (tối đa 200 ký tự)",
            "is required (at most 200 characters)",
        ));
    }
    for uri in client.redirect_uris.iter().chain(&client.post_logout_redirect_uris) {
        domain::validate_redirect_uri(uri).map_err(|problem| invalid_uri("redirect_uri", uri, problem))?;
    }
    for scope in &client.scopes {
        if !SUPPORTED_SCOPES.contains(&scope.as_str()) {
            return Err(invalid(
                "scope",
                format!("`{scope}` không phải phạm vi được hỗ trợ"),
                format!("`{scope}` is not a supported scope"),
            ));
        }
    }
    for grant in &client.grant_types {
        if !matches!(
            grant.as_str(),
            "authorization_code" | "refresh_token" | "client_credentials"
        ) {
            return Err(invalid(
                "grant_type",
                format!("`{grant}` không phải kiểu cấp quyền được hỗ trợ"),
                format!("`{grant}` is not a supported grant type"),
            ));
        }
    }
    let uses_code = client.grant_types.iter().any(|grant| grant == "authorization_code");
    if uses_code && client.redirect_uris.is_empty() {
        return Err(invalid(
            "redirect_uri",
            "cần ít nhất một địa chỉ cho kiểu cấp quyền authorization_code",
            "at least one is required for the authorization_code grant",
        ));
    }
    if client.public && client.grant_types.iter().any(|grant| grant == "client_credentials") {
        return Err(invalid(
            "grant_type",
            "ứng dụng công khai không dùng được client_credentials",
            "a public client cannot use client_credentials",
        ));
    }
    let sector_identifier = sector_of(client)?;
    if let Some(jwks) = &client.jwks {
        if client.public {
            return Err(invalid(
                "jwks",
                "ứng dụng công khai không có khóa",
                "a public client has no keys",
            ));
        }
        check_client_jwks(jwks).map_err(|detail| invalid("jwks", format!("không hợp lệ: {detail}"), detail))?;
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        domain::validate_redirect_uri(uri).map_err(|problem| invalid_uri("backchannel_logout_uri", uri, problem))?;
    }
    Ok(sector_identifier)
}

async fn add_checked_client(
    db: &Db,
    client: &NewClient,
    sector_identifier: Option<String>,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, AdminError> {
    let secret = (!client.public && client.jwks.is_none()).then(domain::new_token);
    let row = ClientRow {
        client_id: client.client_id.clone(),
        name: client.name.trim().to_owned(),
        secret_hash: secret.as_deref().map(domain::token_hash),
        redirect_uris: serde_json::to_string(&client.redirect_uris).map_err(DbError::from)?,
        post_logout_redirect_uris: serde_json::to_string(&client.post_logout_redirect_uris).map_err(DbError::from)?,
        scopes: client.scopes.join(" "),
        grant_types: client.grant_types.join(" "),
        signing_alg: client.signing_alg.as_str().to_owned(),
        first_party: client.first_party,
        subject_type: if client.pairwise { "pairwise" } else { "public" }.to_owned(),
        sector_identifier,
        jwks: client.jwks.clone(),
        backchannel_logout_uri: client.backchannel_logout_uri.clone(),
    };
    let mut tx = db.begin().await?;
    store::insert_client(&mut tx, &row, now.timestamp_millis())
        .await
        .map_err(|error| {
            if error.is_unique_violation() {
                AdminError::Exists(format!("client `{}`", client.client_id))
            } else {
                error.into()
            }
        })?;
    let entry = AuditEntry {
        actor,
        action: "id.client.add",
        subject: &format!("client:{}", client.client_id),
        detail: json!({
            "redirect_uris": client.redirect_uris,
            "public": client.public,
            "scopes": row.scopes,
            "grant_types": row.grant_types,
            "subject_type": row.subject_type,
            "private_key_jwt": row.jwks.is_some(),
            "backchannel_logout_uri": row.backchannel_logout_uri,
        }),
        ip: None,
    };
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(secret)
}

/// The sector of a pairwise client: the one given, or the single host of
/// its redirect URIs.
fn sector_of(client: &NewClient) -> Result<Option<String>, AdminError> {
    if !client.pairwise {
        if client.sector_identifier.is_some() {
            return Err(invalid(
                "sector_identifier",
                "chỉ ứng dụng dùng sub theo lĩnh vực (pairwise) mới có lĩnh vực",
                "only a pairwise client has a sector",
            ));
        }
        return Ok(None);
    }
    if let Some(sector) = &client.sector_identifier {
        let host_like = !sector.is_empty()
            && sector.len() <= 253
            && sector
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.'));
        if !host_like {
            return Err(invalid(
                "sector_identifier",
                "phải là một tên máy chủ",
                "must be a host name",
            ));
        }
        return Ok(Some(sector.to_ascii_lowercase()));
    }
    let mut hosts: Vec<String> = client
        .redirect_uris
        .iter()
        .filter_map(|uri| url::Url::parse(uri).ok()?.host_str().map(str::to_owned))
        .collect();
    hosts.sort();
    hosts.dedup();
    match hosts.as_slice() {
        [host] => Ok(Some(host.clone())),
        [] => Err(invalid(
            "sector_identifier",
            "bắt buộc với ứng dụng không có địa chỉ chuyển hướng",
            "is required for a client without redirect URIs",
        )),
        _ => Err(invalid(
            "sector_identifier",
            "bắt buộc khi các địa chỉ chuyển hướng thuộc nhiều máy chủ",
            "is required when the redirect URIs have several hosts",
        )),
    }
}

/// Checks a client's JWKS: `{"keys": [...]}` of public keys, each with
/// `kid` and an `alg` egov verifies (RS256, ES256, EdDSA).
pub fn check_client_jwks(jwks: &str) -> Result<(), String> {
    let document: serde_json::Value = serde_json::from_str(jwks).map_err(|error| format!("is not JSON: {error}"))?;
    let keys = document
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("must be an object with a `keys` array")?;
    if keys.is_empty() {
        return Err("has no keys".to_owned());
    }
    crate::keys::PublicKeySet::from_jwks(keys).map_err(|error| error.to_string())?;
    Ok(())
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub kind: UserKind,
    pub personal_id: String,
    pub full_name: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub birthdate: Option<String>,
    pub gender: Option<String>,
    pub agency_code: Option<String>,
    /// An official's department code in their agency (`MOT_CUA`, …).
    pub department: Option<String>,
    pub roles: Vec<Role>,
}

/// Checks an account's e-mail, birth date and kind; the e-mail as kept.
fn check_user_details(user: &NewUser) -> Result<Option<String>, AdminError> {
    let email = user
        .email
        .as_deref()
        .map(|email| email.trim().to_lowercase())
        .filter(|email| !email.is_empty());
    if let Some(email) = &email {
        let valid = email.len() <= 254
            && email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
            && !email.chars().any(char::is_whitespace);
        if !valid {
            return Err(invalid(
                "email",
                format!("`{email}` không phải địa chỉ thư điện tử"),
                format!("`{email}` is not an e-mail address"),
            ));
        }
    }
    if let Some(birthdate) = &user.birthdate {
        chrono::NaiveDate::parse_from_str(birthdate, "%Y-%m-%d")
            .map_err(|_| invalid("birthdate", "phải có dạng YYYY-MM-DD", "must be YYYY-MM-DD"))?;
    }
    match user.kind {
        UserKind::Official if user.agency_code.is_none() => {
            return Err(invalid(
                "agency",
                "công chức phải thuộc một cơ quan",
                "an official belongs to an agency",
            ));
        }
        UserKind::Citizen if user.agency_code.is_some() || user.department.is_some() || !user.roles.is_empty() => {
            return Err(invalid(
                "agency",
                "công dân không có cơ quan hay vai trò",
                "a citizen has no agency or roles",
            ));
        }
        _ => {}
    }
    if let Some(department) = &user.department
        && !egov_core::department::is_department_code(department)
    {
        return Err(invalid(
            "department",
            "mã phòng ban gồm chữ in hoa, chữ số và dấu gạch dưới (tối đa 32 ký tự)",
            "a department code is capital letters, digits and underscores (at most 32)",
        ));
    }
    Ok(email)
}

/// Creates an account with a password that passes the policy.
pub async fn add_user(
    db: &Db,
    hasher: &PasswordHasher,
    user: &NewUser,
    password: &str,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Uuid, AdminError> {
    let personal_id = PersonalId::parse(&user.personal_id)
        .map_err(|error| invalid("personal_id", "số định danh cá nhân không hợp lệ", error.to_string()))?;
    let full_name = user.full_name.trim();
    if full_name.is_empty() || full_name.chars().count() > 200 {
        return Err(invalid(
            "name",
            "bắt buộc (tối đa 200 ký tự)",
            "is required (at most 200 characters)",
        ));
    }
    let email = check_user_details(user)?;
    let mut personal_words: Vec<&str> = full_name.split_whitespace().collect();
    personal_words.push(personal_id.as_str());
    if let Some(local) = email.as_deref().and_then(|email| email.split('@').next()) {
        personal_words.push(local);
    }
    check_password(password, &personal_words).map_err(AdminError::Password)?;
    // Checked before hashing, so that re-running a seed or a script costs no
    // argon2 work for accounts that exist; the unique constraints still
    // decide when two creations race.
    let taken = store::user_by_login(db, personal_id.as_str()).await?.is_some()
        || match &email {
            Some(email) => store::user_by_login(db, email).await?.is_some(),
            None => false,
        };
    if taken {
        return Err(AdminError::Exists(
            "an account with this personal ID number or e-mail".to_owned(),
        ));
    }
    let hash = hasher
        .hash(password)
        .await
        .map_err(|error| AdminError::Hashing(error.to_string()))?;
    let id = egov_core::id::new_id();
    let row = UserRow {
        id,
        kind: user.kind.as_str().to_owned(),
        personal_id: personal_id.as_str().to_owned(),
        full_name: full_name.to_owned(),
        email,
        email_verified: false,
        phone_number: user.phone_number.clone(),
        birthdate: user.birthdate.clone(),
        gender: user.gender.clone(),
        agency_code: user.agency_code.clone(),
        department: user.department.clone(),
        roles: domain::roles_text(&user.roles),
        password_hash: Some(hash),
        locked: false,
    };
    let mut tx = db.begin().await?;
    store::insert_user(&mut tx, &row, now.timestamp_millis())
        .await
        .map_err(|error| {
            if error.is_unique_violation() {
                AdminError::Exists("an account with this personal ID number or e-mail".to_owned())
            } else {
                error.into()
            }
        })?;
    let entry = AuditEntry {
        actor,
        action: "id.user.add",
        subject: &format!("user:{id}"),
        detail: json!({
            "kind": row.kind,
            "agency": row.agency_code,
            "department": row.department,
            "roles": row.roles,
        }),
        ip: None,
    };
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// The scopes asked of an upstream when none are configured.
const DEFAULT_UPSTREAM_SCOPES: [&str; 3] = ["profile", "personal_id", "email"];

/// An upstream OpenID provider to sign users in through.
#[derive(Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct NewUpstream {
    /// Short id used in URLs (`/oauth/upstream/{id}`), such as `vneid`.
    pub id: String,
    /// Shown on the sign-in button: "Đăng nhập bằng {name}".
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked of the upstream (repeat or space-separate); `openid`
    /// is always asked. None given: `profile personal_id email`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for NewUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUpstream")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Registers an upstream provider. Its redirect URI at the upstream must be
/// `{public_url}/oauth/upstream/callback`.
pub async fn add_upstream(
    db: &Db,
    upstream: &NewUpstream,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AdminError> {
    let row = check_upstream(upstream, true)?;
    let mut tx = db.begin().await?;
    store::insert_upstream(&mut tx, &row, now.timestamp_millis())
        .await
        .map_err(|error| {
            if error.is_unique_violation() {
                AdminError::Exists(format!("upstream `{}`", upstream.id))
            } else {
                error.into()
            }
        })?;
    let entry = AuditEntry {
        actor,
        action: "id.upstream.add",
        subject: &format!("upstream:{}", upstream.id),
        detail: json!({ "issuer": row.issuer, "client_id": row.client_id, "scopes": row.scopes }),
        ip: None,
    };
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks an upstream's settings; the row to store.
fn check_upstream(upstream: &NewUpstream, enabled: bool) -> Result<store::UpstreamRow, AdminError> {
    let id_ok = (2..=32).contains(&upstream.id.len())
        && upstream
            .id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !id_ok {
        return Err(invalid(
            "id",
            "gồm 2–32 chữ cái thường, chữ số hoặc '-'",
            "2–32 lowercase letters, digits or '-'",
        ));
    }
    if upstream.name.trim().is_empty() || upstream.name.len() > 100 {
        return Err(invalid(
            "name",
            "bắt buộc (tối đa 100 ký tự)",
            "is required (at most 100 characters)",
        ));
    }
    domain::validate_redirect_uri(&upstream.issuer)
        .map_err(|problem| invalid_uri("issuer", &upstream.issuer, problem))?;
    if upstream.issuer.contains('?') {
        return Err(invalid(
            "issuer",
            "địa chỉ issuer không có phần truy vấn",
            "an issuer URL has no query",
        ));
    }
    if upstream.client_id.is_empty() || upstream.client_id.len() > 256 {
        return Err(invalid("client_id", "bắt buộc", "is required"));
    }
    if upstream.client_secret.is_empty() || upstream.client_secret.len() > 1024 {
        return Err(invalid("client_secret", "bắt buộc", "is required"));
    }
    let mut scopes = vec!["openid".to_owned()];
    let given: Vec<String> = if upstream.scopes.iter().all(|scope| scope.trim().is_empty()) {
        DEFAULT_UPSTREAM_SCOPES.map(str::to_owned).to_vec()
    } else {
        upstream.scopes.clone()
    };
    for scope in &given {
        for scope in scope.split_whitespace() {
            if !scope
                .bytes()
                .all(|byte| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\')
            {
                return Err(invalid(
                    "scope",
                    format!("`{scope}` không phải phạm vi hợp lệ"),
                    format!("`{scope}` is not a valid scope"),
                ));
            }
            if !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
    }
    Ok(store::UpstreamRow {
        id: upstream.id.clone(),
        name: upstream.name.trim().to_owned(),
        issuer: upstream.issuer.trim_end_matches('/').to_owned(),
        client_id: upstream.client_id.clone(),
        client_secret: upstream.client_secret.clone(),
        scopes: scopes.join(" "),
        enabled,
    })
}

/// Gives a confidential client a new secret (shown once); the old one stops
/// working at once on this node and within the client cache's 10 s on the
/// others. `None` when the client has no secret to rotate.
pub async fn rotate_client_secret(
    db: &Db,
    client_id: &str,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, AdminError> {
    let secret = domain::new_token();
    let mut tx = db.begin().await?;
    if !store::set_client_secret(&mut tx, client_id, &domain::token_hash(&secret)).await? {
        return Ok(None);
    }
    let entry = AuditEntry {
        actor,
        action: "id.client.secret_rotate",
        subject: &format!("client:{client_id}"),
        detail: json!({}),
        ip: None,
    };
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Some(secret))
}

/// Changes to a registered client. Its id, how it authenticates (secret,
/// keys or none) and its subject type stay: changing them would strand the
/// client or change every user's `sub`.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub signing_alg: Option<Algorithm>,
    /// `Some(None)` removes the back-channel logout URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    /// New public keys, for a client that signs in with its keys.
    pub jwks: Option<String>,
}

/// Applies `changes` to a client, checked like a new registration; `None`
/// when there is no such client.
pub async fn update_client(
    db: &Db,
    client_id: &str,
    changes: ClientChanges,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<ClientRow>, AdminError> {
    let Some(row) = store::client(db, client_id).await? else {
        return Ok(None);
    };
    let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
    let words = |text: &str| text.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let keys_replaced = changes.jwks.is_some();
    if keys_replaced && row.jwks.is_none() {
        return Err(invalid(
            "jwks",
            "chỉ ứng dụng xác thực bằng khóa mới có khóa để thay",
            "only a client that signs in with its keys has keys to replace",
        ));
    }
    let client = NewClient {
        client_id: row.client_id.clone(),
        name: changes.name.unwrap_or_else(|| row.name.clone()),
        redirect_uris: changes.redirect_uris.unwrap_or_else(|| list(&row.redirect_uris)),
        post_logout_redirect_uris: changes
            .post_logout_redirect_uris
            .unwrap_or_else(|| list(&row.post_logout_redirect_uris)),
        public: row.is_public(),
        scopes: changes.scopes.unwrap_or_else(|| words(&row.scopes)),
        grant_types: changes.grant_types.unwrap_or_else(|| words(&row.grant_types)),
        signing_alg: changes
            .signing_alg
            .or_else(|| Algorithm::parse(&row.signing_alg))
            .unwrap_or(Algorithm::Rs256),
        first_party: row.first_party,
        pairwise: row.subject_type == "pairwise",
        // A pairwise client keeps its sector, so its users keep their `sub`.
        sector_identifier: row.sector_identifier.clone(),
        jwks: changes.jwks.or_else(|| row.jwks.clone()),
        backchannel_logout_uri: changes
            .backchannel_logout_uri
            .unwrap_or_else(|| row.backchannel_logout_uri.clone()),
    };
    check_client(&client)?;
    let updated = ClientRow {
        name: client.name.trim().to_owned(),
        redirect_uris: serde_json::to_string(&client.redirect_uris).map_err(DbError::from)?,
        post_logout_redirect_uris: serde_json::to_string(&client.post_logout_redirect_uris).map_err(DbError::from)?,
        scopes: client.scopes.join(" "),
        grant_types: client.grant_types.join(" "),
        signing_alg: client.signing_alg.as_str().to_owned(),
        jwks: client.jwks.clone(),
        backchannel_logout_uri: client.backchannel_logout_uri.clone(),
        ..row
    };
    let mut tx = db.begin().await?;
    store::update_client(&mut tx, &updated).await?;
    let entry = AuditEntry {
        actor,
        action: "id.client.update",
        subject: &format!("client:{client_id}"),
        detail: json!({
            "redirect_uris": client.redirect_uris,
            "scopes": updated.scopes,
            "grant_types": updated.grant_types,
            "signing_alg": updated.signing_alg,
            "backchannel_logout_uri": updated.backchannel_logout_uri,
            "keys_replaced": keys_replaced,
        }),
        ip: None,
    };
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Some(updated))
}

/// Changes to an upstream provider; absent fields stay.
#[derive(Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct UpstreamChanges {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// A disabled upstream's button disappears and its returns are refused.
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for UpstreamChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamChanges")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Applies `changes` to an upstream, checked like a new one; `false` when
/// there is no such upstream.
pub async fn update_upstream(
    db: &Db,
    id: &str,
    changes: UpstreamChanges,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, AdminError> {
    let Some(row) = store::upstreams(db).await?.into_iter().find(|row| row.id == id) else {
        return Ok(false);
    };
    let upstream = NewUpstream {
        id: row.id.clone(),
        name: changes.name.unwrap_or(row.name),
        issuer: changes.issuer.unwrap_or(row.issuer),
        client_id: changes.client_id.unwrap_or(row.client_id),
        client_secret: changes.client_secret.clone().unwrap_or(row.client_secret),
        scopes: changes.scopes.unwrap_or_else(|| vec![row.scopes.clone()]),
    };
    let updated = check_upstream(&upstream, changes.enabled.unwrap_or(row.enabled))?;
    let mut tx = db.begin().await?;
    store::update_upstream(&mut tx, &updated).await?;
    let entry = AuditEntry {
        actor,
        action: "id.upstream.update",
        subject: &format!("upstream:{id}"),
        detail: json!({
            "issuer": updated.issuer,
            "client_id": updated.client_id,
            "scopes": updated.scopes,
            "enabled": updated.enabled,
            "secret_replaced": changes.client_secret.is_some(),
        }),
        ip: None,
    };
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(true)
}
