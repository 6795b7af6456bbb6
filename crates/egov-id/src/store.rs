//! The SQL of central sign-in: accounts, clients, keys, sessions, codes,
//! tokens and throttling counters. Only this module touches `id_*` tables.
//!
//! Secrets (session cookies, codes, refresh tokens) are stored only as
//! SHA-256 hashes, so a copy of the database cannot be used to sign in.

mod account;
mod consent;
mod passkey;
mod upstream;

use chrono::{DateTime, Utc};
use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use uuid::Uuid;

pub use account::*;
pub use consent::*;
pub use passkey::*;
pub use upstream::*;

/// An account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub kind: String,
    pub personal_id: String,
    pub full_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub birthdate: Option<String>,
    pub gender: Option<String>,
    pub agency_code: Option<String>,
    /// An official's department in their agency, if they belong to one.
    pub department: Option<String>,
    pub roles: String,
    pub password_hash: Option<String>,
    pub locked: bool,
}

const USER_COLUMNS: &str = "id, kind, personal_id, full_name, email, email_verified, phone_number, birthdate, gender, \
     agency_code, department, roles, password_hash, locked";

pub async fn insert_user(tx: &mut Tx, user: &UserRow, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_users (id, kind, personal_id, full_name, email, email_verified, phone_number, birthdate, \
                 gender, agency_code, roles, password_hash, locked, created_at, updated_at, search_name, department) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16)",
        )
        .bind(user.id)
        .bind(&user.kind)
        .bind(&user.personal_id)
        .bind(&user.full_name)
        .bind(user.email.as_deref())
        .bind(user.email_verified)
        .bind(user.phone_number.as_deref())
        .bind(user.birthdate.as_deref())
        .bind(user.gender.as_deref())
        .bind(user.agency_code.as_deref())
        .bind(&user.roles)
        .bind(user.password_hash.as_deref())
        .bind(user.locked)
        .bind(now_ms)
        .bind(egov_core::text::fold(&user.full_name))
        .bind(user.department.as_deref())
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Finds an account by personal ID number or (lower-case) e-mail.
pub async fn user_by_login(db: &Db, login: &str) -> Result<Option<UserRow>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM id_users WHERE personal_id = $1 OR email = $2"
    ));
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql).bind(login).bind(login.to_lowercase()).fetch_optional(pool).await?
    }))
}

pub async fn user_by_id(db: &Db, id: Uuid) -> Result<Option<UserRow>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM id_users WHERE id = $1"));
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql).bind(id).fetch_optional(pool).await?
    }))
}

/// The unlocked officials of an agency, by name.
pub async fn officials(db: &Db, agency_code: &str) -> Result<Vec<UserRow>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM id_users WHERE kind = 'official' AND agency_code = $1 AND locked = FALSE \
         ORDER BY full_name, id"
    ));
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, UserRow>(sql).bind(agency_code).fetch_all(pool).await?
    }))
}

pub async fn set_password_hash(db: &Db, id: Uuid, hash: &str, now_ms: i64) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE id_users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A registered client.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    /// JSON array.
    pub redirect_uris: String,
    /// JSON array.
    pub post_logout_redirect_uris: String,
    pub scopes: String,
    pub grant_types: String,
    pub signing_alg: String,
    pub first_party: bool,
    /// `public` (one `sub` per user) or `pairwise` (one per user and sector).
    pub subject_type: String,
    /// The sector of a pairwise client: a host name shared by the clients
    /// that may see the same `sub`.
    pub sector_identifier: Option<String>,
    /// The client's public JWKS (JSON) for `private_key_jwt`; such a client
    /// has no secret.
    pub jwks: Option<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl ClientRow {
    /// A public client authenticates with nothing but its id and PKCE.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.jwks.is_none()
    }
}

/// The columns of [`ClientRow`], in its order, for `concat!`.
macro_rules! client_columns {
    () => {
        "client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, scopes, grant_types, signing_alg, \
         first_party, subject_type, sector_identifier, jwks, backchannel_logout_uri"
    };
}

pub async fn insert_client(tx: &mut Tx, client: &ClientRow, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, scopes, \
                 grant_types, signing_alg, first_party, subject_type, sector_identifier, jwks, backchannel_logout_uri, \
                 created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(client.secret_hash.as_deref())
        .bind(&client.redirect_uris)
        .bind(&client.post_logout_redirect_uris)
        .bind(&client.scopes)
        .bind(&client.grant_types)
        .bind(&client.signing_alg)
        .bind(client.first_party)
        .bind(&client.subject_type)
        .bind(client.sector_identifier.as_deref())
        .bind(client.jwks.as_deref())
        .bind(client.backchannel_logout_uri.as_deref())
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn client(db: &Db, client_id: &str) -> Result<Option<ClientRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, ClientRow>(concat!(
            "SELECT ",
            client_columns!(),
            " FROM id_clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(pool)
        .await?
    }))
}

/// A signing key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    pub status: String,
    pub created_at: i64,
    pub retire_after: Option<i64>,
}

pub async fn keys(db: &Db) -> Result<Vec<KeyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, KeyRow>(
            "SELECT kid, alg, private_pem, status, created_at, retire_after FROM id_signing_keys ORDER BY created_at",
        )
        .fetch_all(pool)
        .await?
    }))
}

pub async fn insert_key(tx: &mut Tx, key: &KeyRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_signing_keys (kid, alg, private_pem, status, created_at, retire_after) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_pem)
        .bind(&key.status)
        .bind(key.created_at)
        .bind(key.retire_after)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Retires the active keys of `alg` (kept published until `retire_after`)
/// and makes the `next` key of `alg` active.
pub async fn promote_next_key(tx: &mut Tx, alg: &str, retire_after: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_signing_keys SET status = 'retired', retire_after = $1 WHERE alg = $2 AND status = 'active'")
            .bind(retire_after)
            .bind(alg)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE id_signing_keys SET status = 'active' WHERE alg = $1 AND status = 'next'")
            .bind(alg)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Deletes retired keys whose tokens have all expired.
pub async fn purge_retired_keys(db: &Db, now_ms: i64) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_signing_keys WHERE status = 'retired' AND retire_after < $1")
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// A browser session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: Uuid,
    pub acr: String,
    pub amr: String,
    pub auth_time: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

pub async fn insert_session(
    db: &Db,
    session: &SessionRow,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO id_sessions (id, user_id, acr, amr, auth_time, last_seen_at, expires_at, ip, user_agent, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE)",
        )
        .bind(&session.id)
        .bind(session.user_id)
        .bind(&session.acr)
        .bind(&session.amr)
        .bind(session.auth_time)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .bind(ip)
        .bind(user_agent)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn session(db: &Db, id: &str) -> Result<Option<SessionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(
            "SELECT id, user_id, acr, amr, auth_time, last_seen_at, expires_at, revoked FROM id_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn touch_session(db: &Db, id: &str, now_ms: i64) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE id_sessions SET last_seen_at = $1 WHERE id = $2").bind(now_ms).bind(id).execute(pool).await?;
    });
    Ok(())
}

/// Revokes a session and every refresh and access token issued in it;
/// the clients it signed in to are told through the back channel.
pub async fn revoke_session(tx: &mut Tx, id: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    crate::backchannel::enqueue_logouts(tx, Ending::Session(id), now).await?;
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_sessions SET revoked = TRUE WHERE id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query(
            "UPDATE id_access_tokens SET revoked = TRUE WHERE family_id IN \
                 (SELECT family_id FROM id_refresh_tokens WHERE session_id = $1)",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE id_refresh_tokens SET revoked = TRUE WHERE session_id = $1").bind(id).execute(&mut *conn).await?;
    });
    Ok(())
}

/// An authorization code as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_code(db: &Db, code: &CodeRow) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO id_auth_codes (code_hash, client_id, user_id, session_id, redirect_uri, scope, nonce, \
                 code_challenge, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
        )
        .bind(&code.code_hash)
        .bind(&code.client_id)
        .bind(code.user_id)
        .bind(&code.session_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(code.nonce.as_deref())
        .bind(&code.code_challenge)
        .bind(code.expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// What happened when a code was presented.
#[derive(Debug)]
pub enum CodeUse {
    /// First use: the code is now spent.
    First(CodeRow),
    /// The code was spent before: a replay.
    Replayed(CodeRow),
    Unknown,
}

/// Spends a code atomically: of two concurrent exchanges only one wins.
pub async fn use_code(tx: &mut Tx, code_hash: &str, now_ms: i64) -> Result<CodeUse, DbError> {
    let columns =
        "code_hash, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge, expires_at, used_at";
    let update = sqlx::AssertSqlSafe(format!(
        "UPDATE id_auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL RETURNING {columns}"
    ));
    let select = sqlx::AssertSqlSafe(format!("SELECT {columns} FROM id_auth_codes WHERE code_hash = $1"));
    with_tx!(tx, conn => {
        if let Some(row) = sqlx::query_as::<_, CodeRow>(update).bind(now_ms).bind(code_hash).fetch_optional(&mut *conn).await? {
            return Ok(CodeUse::First(row));
        }
        Ok(match sqlx::query_as::<_, CodeRow>(select).bind(code_hash).fetch_optional(&mut *conn).await? {
            Some(row) => CodeUse::Replayed(row),
            None => CodeUse::Unknown,
        })
    })
}

/// Revokes everything issued from a code (after a replay).
pub async fn revoke_issued_from_code(tx: &mut Tx, code_hash: &str) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_access_tokens SET revoked = TRUE WHERE code_hash = $1").bind(code_hash).execute(&mut *conn).await?;
        sqlx::query(
            "UPDATE id_access_tokens SET revoked = TRUE WHERE family_id IN \
                 (SELECT family_id FROM id_refresh_tokens WHERE code_hash = $1)",
        )
        .bind(code_hash)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE id_refresh_tokens SET revoked = TRUE WHERE code_hash = $1").bind(code_hash).execute(&mut *conn).await?;
    });
    Ok(())
}

/// A refresh token as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub session_id: String,
    pub scope: String,
    pub code_hash: Option<String>,
    pub family_expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked: bool,
}

pub async fn insert_refresh(tx: &mut Tx, row: &RefreshRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_refresh_tokens (token_hash, family_id, client_id, user_id, session_id, scope, code_hash, \
                 family_expires_at, used_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, FALSE)",
        )
        .bind(&row.token_hash)
        .bind(row.family_id)
        .bind(&row.client_id)
        .bind(row.user_id)
        .bind(&row.session_id)
        .bind(&row.scope)
        .bind(row.code_hash.as_deref())
        .bind(row.family_expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// What happened when a refresh token was presented.
#[derive(Debug)]
pub enum RefreshUse {
    /// A live token, now rotated (spent).
    Rotated(RefreshRow),
    /// A token spent before, or revoked: a replay.
    Replayed(RefreshRow),
    Unknown,
}

pub async fn use_refresh(tx: &mut Tx, token_hash: &str, now_ms: i64) -> Result<RefreshUse, DbError> {
    let columns =
        "token_hash, family_id, client_id, user_id, session_id, scope, code_hash, family_expires_at, used_at, revoked";
    let update = sqlx::AssertSqlSafe(format!(
        "UPDATE id_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked = FALSE \
         RETURNING {columns}"
    ));
    let select = sqlx::AssertSqlSafe(format!("SELECT {columns} FROM id_refresh_tokens WHERE token_hash = $1"));
    with_tx!(tx, conn => {
        if let Some(row) = sqlx::query_as::<_, RefreshRow>(update).bind(now_ms).bind(token_hash).fetch_optional(&mut *conn).await? {
            return Ok(RefreshUse::Rotated(row));
        }
        Ok(match sqlx::query_as::<_, RefreshRow>(select).bind(token_hash).fetch_optional(&mut *conn).await? {
            Some(row) => RefreshUse::Replayed(row),
            None => RefreshUse::Unknown,
        })
    })
}

/// Revokes a whole refresh-token family and its access tokens.
pub async fn revoke_family(tx: &mut Tx, family_id: Uuid) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_refresh_tokens SET revoked = TRUE WHERE family_id = $1").bind(family_id).execute(&mut *conn).await?;
        sqlx::query("UPDATE id_access_tokens SET revoked = TRUE WHERE family_id = $1").bind(family_id).execute(&mut *conn).await?;
    });
    Ok(())
}

pub async fn refresh_by_hash(db: &Db, token_hash: &str) -> Result<Option<RefreshRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, RefreshRow>(
            "SELECT token_hash, family_id, client_id, user_id, session_id, scope, code_hash, family_expires_at, used_at, \
                 revoked FROM id_refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Records many issued tokens in two statements (access tokens, then
/// refresh tokens), for the grant writer's batches.
pub async fn insert_tokens(tx: &mut Tx, access: &[&AccessRow], refresh: &[&RefreshRow]) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        if !access.is_empty() {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO id_access_tokens (jti, client_id, user_id, family_id, code_hash, scope, expires_at, revoked) ",
            );
            insert.push_values(access, |mut values, row| {
                values
                    .push_bind(row.jti)
                    .push_bind(row.client_id.as_str())
                    .push_bind(row.user_id)
                    .push_bind(row.family_id)
                    .push_bind(row.code_hash.as_deref())
                    .push_bind(row.scope.as_str())
                    .push_bind(row.expires_at)
                    .push_bind(false);
            });
            insert.build().execute(&mut *conn).await?;
        }
        if !refresh.is_empty() {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO id_refresh_tokens (token_hash, family_id, client_id, user_id, session_id, scope, code_hash, \
                 family_expires_at, used_at, revoked) ",
            );
            insert.push_values(refresh, |mut values, row| {
                values
                    .push_bind(row.token_hash.as_str())
                    .push_bind(row.family_id)
                    .push_bind(row.client_id.as_str())
                    .push_bind(row.user_id)
                    .push_bind(row.session_id.as_str())
                    .push_bind(row.scope.as_str())
                    .push_bind(row.code_hash.as_deref())
                    .push_bind(row.family_expires_at)
                    .push_bind(None::<i64>)
                    .push_bind(false);
            });
            insert.build().execute(&mut *conn).await?;
        }
    });
    Ok(())
}

/// A refresh token with what its grant needs, read at once: the account it
/// belongs to, and its session when that is live.
#[derive(Debug, Clone)]
pub struct RefreshContext {
    pub refresh: RefreshRow,
    pub user: UserRow,
    pub session: Option<SessionRow>,
}

#[derive(sqlx::FromRow)]
struct RefreshContextRow {
    #[sqlx(flatten)]
    refresh: RefreshRow,
    #[sqlx(flatten)]
    user: UserRow,
    s_acr: Option<String>,
    s_amr: Option<String>,
    s_auth_time: Option<i64>,
    s_last_seen_at: Option<i64>,
    s_expires_at: Option<i64>,
    s_revoked: Option<bool>,
}

/// The refresh token with this hash, its account and its session, in one
/// query: the refresh grant's only read.
pub async fn refresh_context(db: &Db, token_hash: &str) -> Result<Option<RefreshContext>, DbError> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, RefreshContextRow>(
            "SELECT r.token_hash, r.family_id, r.client_id, r.user_id, r.session_id, r.scope, r.code_hash, \
                 r.family_expires_at, r.used_at, r.revoked, \
                 u.id, u.kind, u.personal_id, u.full_name, u.email, u.email_verified, u.phone_number, u.birthdate, \
                 u.gender, u.agency_code, u.department, u.roles, u.password_hash, u.locked, \
                 s.acr AS s_acr, s.amr AS s_amr, s.auth_time AS s_auth_time, s.last_seen_at AS s_last_seen_at, \
                 s.expires_at AS s_expires_at, s.revoked AS s_revoked \
             FROM id_refresh_tokens r JOIN id_users u ON u.id = r.user_id \
             LEFT JOIN id_sessions s ON s.id = r.session_id AND s.revoked = FALSE \
             WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|row| {
        let session = match (
            row.s_acr,
            row.s_amr,
            row.s_auth_time,
            row.s_last_seen_at,
            row.s_expires_at,
            row.s_revoked,
        ) {
            (Some(acr), Some(amr), Some(auth_time), Some(last_seen_at), Some(expires_at), Some(revoked)) => {
                Some(SessionRow {
                    id: row.refresh.session_id.clone(),
                    user_id: row.refresh.user_id,
                    acr,
                    amr,
                    auth_time,
                    last_seen_at,
                    expires_at,
                    revoked,
                })
            }
            _ => None,
        };
        RefreshContext {
            refresh: row.refresh,
            user: row.user,
            session,
        }
    }))
}

/// An access token's record, for introspection and revocation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessRow {
    pub jti: Uuid,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub family_id: Option<Uuid>,
    pub code_hash: Option<String>,
    pub scope: String,
    pub expires_at: i64,
    pub revoked: bool,
}

pub async fn insert_access(tx: &mut Tx, row: &AccessRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_access_tokens (jti, client_id, user_id, family_id, code_hash, scope, expires_at, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE)",
        )
        .bind(row.jti)
        .bind(&row.client_id)
        .bind(row.user_id)
        .bind(row.family_id)
        .bind(row.code_hash.as_deref())
        .bind(&row.scope)
        .bind(row.expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn access(db: &Db, jti: Uuid) -> Result<Option<AccessRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, AccessRow>(
            "SELECT jti, client_id, user_id, family_id, code_hash, scope, expires_at, revoked FROM id_access_tokens WHERE jti = $1",
        )
        .bind(jti)
        .fetch_optional(pool)
        .await?
    }))
}

#[derive(sqlx::FromRow)]
struct AccessWithUser {
    #[sqlx(flatten)]
    access: AccessRow,
    #[sqlx(flatten)]
    user: UserRow,
}

/// A user's access token record with the user, in one query.
pub async fn access_with_user(db: &Db, jti: Uuid) -> Result<Option<(AccessRow, UserRow)>, DbError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let user_columns: Vec<String> = USER_COLUMNS
            .split(',')
            .map(|column| format!("u.{}", column.trim()))
            .collect();
        format!(
            "SELECT a.jti, a.client_id, a.user_id, a.family_id, a.code_hash, a.scope, a.expires_at, a.revoked, {} \
             FROM id_access_tokens a JOIN id_users u ON u.id = a.user_id WHERE a.jti = $1",
            user_columns.join(", ")
        )
    });
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, AccessWithUser>(sqlx::AssertSqlSafe(SQL.as_str())).bind(jti).fetch_optional(pool).await?
    });
    Ok(row.map(|row| (row.access, row.user)))
}

pub async fn revoke_access(db: &Db, jti: Uuid) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE id_access_tokens SET revoked = TRUE WHERE jti = $1").bind(jti).execute(pool).await?;
    });
    Ok(())
}

/// Counts one failure under `key` and returns the failures in the current
/// window. One statement, so parallel failures all count.
pub async fn count_failure(db: &Db, key: &str, window_ms: i64, now_ms: i64) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO id_throttle (throttle_key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (throttle_key) DO UPDATE SET \
                 failures = CASE WHEN id_throttle.window_start < $3 THEN 1 ELSE id_throttle.failures + 1 END, \
                 window_start = CASE WHEN id_throttle.window_start < $3 THEN $2 ELSE id_throttle.window_start END \
             RETURNING CAST(failures AS BIGINT)",
        )
        .bind(key)
        .bind(now_ms)
        .bind(now_ms - window_ms)
        .fetch_one(pool)
        .await?
    }))
}

/// Failures under `key` in the current window.
pub async fn failures(db: &Db, key: &str, window_ms: i64, now_ms: i64) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(failures AS BIGINT) FROM id_throttle WHERE throttle_key = $1 AND window_start >= $2",
        )
        .bind(key)
        .bind(now_ms - window_ms)
        .fetch_optional(pool)
        .await?
        .unwrap_or(0)
    }))
}

pub async fn clear_failures(db: &Db, key: &str) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_throttle WHERE throttle_key = $1").bind(key).execute(pool).await?;
    });
    Ok(())
}

// ---------------------------------------------------------------- second factors

/// The TOTP state of an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
}

pub async fn totp(db: &Db, user_id: Uuid) -> Result<TotpRow, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, TotpRow>("SELECT totp_secret, totp_last_step FROM id_users WHERE id = $1")
            .bind(user_id)
            .fetch_one(pool)
            .await?
    }))
}

/// Records the step a TOTP code was accepted for, only if it is later than
/// the last one: of two concurrent uses of one code, one wins.
pub async fn advance_totp_step(db: &Db, user_id: Uuid, step: i64) -> Result<bool, DbError> {
    let updated = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE id_users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
        )
        .bind(step)
        .bind(user_id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// Sets the TOTP secret and replaces the recovery codes, in one transaction.
pub async fn enrol_totp(
    tx: &mut Tx,
    user_id: Uuid,
    secret: &str,
    step: i64,
    recovery_hashes: &[String],
) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_users SET totp_secret = $1, totp_last_step = $2 WHERE id = $3")
            .bind(secret)
            .bind(step)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM id_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO id_recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
                .bind(user_id)
                .bind(hash)
                .execute(&mut *conn)
                .await?;
        }
    });
    Ok(())
}

/// Spends a recovery code; false if it is unknown or spent.
pub async fn use_recovery_code(db: &Db, user_id: Uuid, code_hash: &str, now_ms: i64) -> Result<bool, DbError> {
    let updated = with_pool!(db, pool => {
        sqlx::query("UPDATE id_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now_ms)
            .bind(user_id)
            .bind(code_hash)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(updated == 1)
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRow {
    pub id: String,
    pub user_id: Uuid,
    /// The secret being enrolled, when the account has none yet.
    pub totp_secret: Option<String>,
    pub attempts: i32,
    pub expires_at: i64,
}

pub async fn insert_pending(db: &Db, row: &PendingRow) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("INSERT INTO id_pending_logins (id, user_id, totp_secret, attempts, expires_at) VALUES ($1, $2, $3, 0, $4)")
            .bind(&row.id)
            .bind(row.user_id)
            .bind(row.totp_secret.as_deref())
            .bind(row.expires_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Counts one attempt on a pending sign-in and returns it (with the count
/// after this attempt), or `None` if it is unknown or expired.
pub async fn attempt_pending(db: &Db, id: &str, now_ms: i64) -> Result<Option<PendingRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, PendingRow>(
            "UPDATE id_pending_logins SET attempts = attempts + 1 WHERE id = $1 AND expires_at > $2 \
             RETURNING id, user_id, totp_secret, attempts, expires_at",
        )
        .bind(id)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn delete_pending(db: &Db, id: &str) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_pending_logins WHERE id = $1").bind(id).execute(pool).await?;
    });
    Ok(())
}

pub async fn pending_user(db: &Db, id: &str) -> Result<Option<Uuid>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, Uuid>("SELECT user_id FROM id_pending_logins WHERE id = $1").bind(id).fetch_optional(pool).await?
    }))
}

pub async fn code_by_hash(db: &Db, code_hash: &str) -> Result<Option<CodeRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, CodeRow>(
            "SELECT code_hash, client_id, user_id, session_id, redirect_uri, scope, nonce, code_challenge, expires_at, \
                 used_at FROM id_auth_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// The instance secret `name`, created from `fresh` by the first node that
/// asks; every node reads the same value afterwards.
pub async fn instance_secret(db: &Db, name: &str, fresh: &str, now_ms: i64) -> Result<String, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO id_instance_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .bind(now_ms)
        .execute(pool)
        .await?;
        sqlx::query_scalar::<_, String>("SELECT value FROM id_instance_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?
    }))
}

/// Records a client assertion's `jti` until it expires; `false` when the
/// client used it before (a replay). Expired records of the client go.
pub async fn spend_client_assertion(
    db: &Db,
    client_id: &str,
    jti: &str,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_client_assertions WHERE client_id = $1 AND expires_at < $2")
            .bind(client_id)
            .bind(now_ms)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO id_client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at_ms)
        .execute(pool)
        .await?
        .rows_affected()
            == 1
    }))
}

/// A client a session signed in to, with where to send its logout token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionClient {
    pub session_id: String,
    pub user_id: Uuid,
    pub client_id: String,
}

/// Which live sessions are about to end.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    Session(&'a str),
    /// Every session of the user, but the one kept.
    AllOf {
        user_id: Uuid,
        keep: Option<&'a str>,
    },
}

/// The clients with a back-channel logout URI that the live sessions in
/// `ending` signed in to.
pub async fn backchannel_clients(tx: &mut Tx, ending: Ending<'_>) -> Result<Vec<SessionClient>, DbError> {
    const SELECT: &str = "SELECT DISTINCT s.id AS session_id, s.user_id, c.client_id FROM id_sessions s \
         JOIN id_auth_codes a ON a.session_id = s.id \
         JOIN id_clients c ON c.client_id = a.client_id \
         WHERE s.revoked = FALSE AND c.backchannel_logout_uri IS NOT NULL";
    Ok(with_tx!(tx, conn => {
        match ending {
            Ending::Session(id) => {
                sqlx::query_as::<_, SessionClient>(sqlx::AssertSqlSafe(format!("{SELECT} AND s.id = $1")))
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?
            }
            Ending::AllOf { user_id, keep } => {
                sqlx::query_as::<_, SessionClient>(sqlx::AssertSqlSafe(format!(
                    "{SELECT} AND s.user_id = $1 AND s.id <> $2"
                )))
                .bind(user_id)
                .bind(keep.unwrap_or_default())
                .fetch_all(&mut *conn)
                .await?
            }
        }
    }))
}

/// Every registered client, by id.
pub async fn clients(db: &Db) -> Result<Vec<ClientRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, ClientRow>(concat!("SELECT ", client_columns!(), " FROM id_clients ORDER BY client_id"))
            .fetch_all(pool)
            .await?
    }))
}

/// Replaces a confidential client's secret hash; `false` for a client
/// without a secret (public, or signing with its keys).
pub async fn set_client_secret(tx: &mut Tx, client_id: &str, secret_hash: &str) -> Result<bool, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query("UPDATE id_clients SET secret_hash = $1 WHERE client_id = $2 AND secret_hash IS NOT NULL")
            .bind(secret_hash)
            .bind(client_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// Stores a client's changed registration (everything but its id, how it
/// authenticates, and its subject type).
pub async fn update_client(tx: &mut Tx, client: &ClientRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE id_clients SET name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, scopes = $4, \
                 grant_types = $5, signing_alg = $6, jwks = $7, backchannel_logout_uri = $8 WHERE client_id = $9",
        )
        .bind(&client.name)
        .bind(&client.redirect_uris)
        .bind(&client.post_logout_redirect_uris)
        .bind(&client.scopes)
        .bind(&client.grant_types)
        .bind(&client.signing_alg)
        .bind(client.jwks.as_deref())
        .bind(client.backchannel_logout_uri.as_deref())
        .bind(&client.client_id)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}
