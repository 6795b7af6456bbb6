//! The SQL of self-service: e-mailed single-use links, registrations that
//! wait for their address to be verified, and a user's own sessions.

use chrono::{DateTime, Utc};
use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use uuid::Uuid;

/// What an e-mailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
        }
    }
}

/// A link as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub token_hash: String,
    pub user_id: Uuid,
    pub password_hash: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_link(tx: &mut Tx, link: &LinkRow, purpose: LinkPurpose, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_email_tokens (token_hash, user_id, purpose, password_hash, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&link.token_hash)
        .bind(link.user_id)
        .bind(purpose.as_str())
        .bind(link.password_hash.as_deref())
        .bind(link.expires_at)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Spends a link: marks it used if it exists for `purpose`, is unused and
/// unexpired, in one statement so two uses cannot both succeed.
pub async fn use_link(
    tx: &mut Tx,
    token_hash: &str,
    purpose: LinkPurpose,
    now_ms: i64,
) -> Result<Option<LinkRow>, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query_as::<_, LinkRow>(
            "UPDATE id_email_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING token_hash, user_id, password_hash, expires_at, used_at",
        )
        .bind(now_ms)
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// The account a link belongs to.
pub async fn link_user(db: &Db, token_hash: &str) -> Result<Option<super::UserRow>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM id_users WHERE id = (SELECT user_id FROM id_email_tokens WHERE token_hash = $1)",
        super::USER_COLUMNS
    ));
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, super::UserRow>(sql).bind(token_hash).fetch_optional(pool).await?
    }))
}

/// Whether a link can still be used (for showing the reset form).
pub async fn link_is_live(db: &Db, token_hash: &str, purpose: LinkPurpose, now_ms: i64) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM id_email_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now_ms)
        .fetch_one(pool)
        .await?
    }) > 0)
}

/// Spends every other live link of a user for `purpose`.
pub async fn expire_links(tx: &mut Tx, user_id: Uuid, purpose: LinkPurpose, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
            .bind(now_ms)
            .bind(user_id)
            .bind(purpose.as_str())
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A verified address and the password that waited for it.
pub async fn activate_registration(
    tx: &mut Tx,
    user_id: Uuid,
    password_hash: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE id_users SET email_verified = TRUE, password_hash = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(now_ms)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Removes registrations that were never verified and were made before
/// `before_ms`, matching `personal_id` or `email`, so the real owner can
/// register after a stale or mistaken attempt.
pub async fn delete_stale_registrations(
    tx: &mut Tx,
    personal_id: &str,
    email: &str,
    before_ms: i64,
) -> Result<u64, DbError> {
    const STALE: &str = "(personal_id = $1 OR email = $2) AND email_verified = FALSE AND password_hash IS NULL \
                         AND created_at < $3";
    let tokens = sqlx::AssertSqlSafe(format!(
        "DELETE FROM id_email_tokens WHERE user_id IN (SELECT id FROM id_users WHERE {STALE})"
    ));
    let users = sqlx::AssertSqlSafe(format!("DELETE FROM id_users WHERE {STALE}"));
    Ok(with_tx!(tx, conn => {
        sqlx::query(tokens).bind(personal_id).bind(email).bind(before_ms).execute(&mut *conn).await?;
        sqlx::query(users).bind(personal_id).bind(email).bind(before_ms).execute(&mut *conn).await?.rows_affected()
    }))
}

/// Sets a new password.
pub async fn update_password(tx: &mut Tx, user_id: Uuid, password_hash: &str, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now_ms)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Revokes every session of a user except `keep`, and every refresh and
/// access token issued to the user. Returns how many sessions ended.
pub async fn revoke_user_sessions(
    tx: &mut Tx,
    user_id: Uuid,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    crate::backchannel::enqueue_logouts(tx, super::Ending::AllOf { user_id, keep }, now).await?;
    let keep = keep.unwrap_or_default();
    Ok(with_tx!(tx, conn => {
        let ended = sqlx::query("UPDATE id_sessions SET revoked = TRUE WHERE user_id = $1 AND id <> $2 AND revoked = FALSE")
            .bind(user_id)
            .bind(keep)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        sqlx::query("UPDATE id_refresh_tokens SET revoked = TRUE WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        sqlx::query("UPDATE id_access_tokens SET revoked = TRUE WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        ended
    }))
}

/// One of a user's live sessions, for "my account".
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionListRow {
    pub id: String,
    pub acr: String,
    pub auth_time: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A user's sessions that have not been revoked nor reached their
/// absolute end, most recently used first. Idle ones are the caller's to
/// filter.
pub async fn user_sessions(db: &Db, user_id: Uuid, now_ms: i64) -> Result<Vec<SessionListRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, SessionListRow>(
            "SELECT id, acr, auth_time, last_seen_at, ip, user_agent FROM id_sessions \
             WHERE user_id = $1 AND revoked = FALSE AND expires_at > $2 ORDER BY last_seen_at DESC LIMIT 100",
        )
        .bind(user_id)
        .bind(now_ms)
        .fetch_all(pool)
        .await?
    }))
}

/// Revokes one session of `user_id` (and its tokens); false if it is not
/// theirs or already ended.
pub async fn revoke_own_session(
    tx: &mut Tx,
    user_id: Uuid,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let own = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM id_sessions WHERE id = $1 AND user_id = $2")
            .bind(session_id)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?
    });
    if own == 0 {
        return Ok(false);
    }
    crate::backchannel::enqueue_logouts(tx, super::Ending::Session(session_id), now).await?;
    let ended = with_tx!(tx, conn => {
        sqlx::query("UPDATE id_sessions SET revoked = TRUE WHERE id = $1 AND user_id = $2 AND revoked = FALSE")
            .bind(session_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    if ended == 0 {
        return Ok(false);
    }
    super::revoke_session(tx, session_id, now).await?;
    Ok(true)
}

/// Creates or updates a client the instance itself runs (its redirect URIs
/// follow the public URL, which may change between starts).
pub async fn upsert_builtin_client(db: &Db, client: &super::ClientRow, now_ms: i64) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO id_clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, scopes, \
                 grant_types, signing_alg, first_party, subject_type, backchannel_logout_uri, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, redirect_uris = excluded.redirect_uris, \
                 post_logout_redirect_uris = excluded.post_logout_redirect_uris, scopes = excluded.scopes, \
                 grant_types = excluded.grant_types, first_party = excluded.first_party, \
                 secret_hash = excluded.secret_hash, backchannel_logout_uri = excluded.backchannel_logout_uri",
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
        .bind(client.backchannel_logout_uri.as_deref())
        .bind(now_ms)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// How many unused recovery codes a user has.
pub async fn recovery_codes_left(db: &Db, user_id: Uuid) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM id_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(pool)
            .await?
    }))
}

/// Escapes `%`, `_` and the backslash for a LIKE pattern that uses the
/// backslash as its escape character.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Accounts whose personal ID or e-mail starts with `query`, or whose
/// folded name contains `folded`; only officials of `agency` when given.
pub async fn search_users(
    db: &Db,
    query: &str,
    folded: &str,
    agency: Option<&str>,
    limit: u32,
) -> Result<Vec<super::UserRow>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM id_users \
         WHERE (personal_id LIKE $1 ESCAPE '\\' OR email LIKE $2 ESCAPE '\\' OR search_name LIKE $3 ESCAPE '\\') \
           AND ($4 IS NULL OR (kind = 'official' AND agency_code = $4)) \
         ORDER BY full_name, id LIMIT $5",
        super::USER_COLUMNS
    ));
    let prefix = format!("{}%", like_escape(query));
    let email = format!("{}%", like_escape(&query.to_lowercase()));
    let name = format!("%{}%", like_escape(folded));
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, super::UserRow>(sql)
            .bind(&prefix)
            .bind(&email)
            .bind(&name)
            .bind(agency)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
    }))
}

/// Fills the folded name of accounts made before it existed.
pub async fn backfill_search_names(db: &Db) -> Result<u64, DbError> {
    let rows: Vec<(Uuid, String)> = with_pool!(db, pool => {
        sqlx::query_as("SELECT id, full_name FROM id_users WHERE search_name = ''").fetch_all(pool).await?
    });
    for (id, name) in &rows {
        with_pool!(db, pool => {
            sqlx::query("UPDATE id_users SET search_name = $1 WHERE id = $2")
                .bind(egov_core::text::fold(name))
                .bind(id)
                .execute(pool)
                .await?;
        });
    }
    Ok(rows.len() as u64)
}

pub async fn set_locked(tx: &mut Tx, user_id: Uuid, locked: bool, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_users SET locked = $1, updated_at = $2 WHERE id = $3")
            .bind(locked)
            .bind(now_ms)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Removes every second factor (authenticator app, recovery codes,
/// passkeys): the next sign-in of an official enrols again.
pub async fn clear_second_factors(tx: &mut Tx, user_id: Uuid) -> Result<(), DbError> {
    remove_totp(tx, user_id).await?;
    with_tx!(tx, conn => {
        sqlx::query("DELETE FROM id_passkeys WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
    });
    Ok(())
}

/// Removes the user's authenticator app and its recovery codes.
pub async fn remove_totp(tx: &mut Tx, user_id: Uuid) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE id_users SET totp_secret = NULL, totp_last_step = NULL WHERE id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM id_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
    });
    Ok(())
}

/// An authenticator app being set up from "my account".
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpEnrolmentRow {
    pub id: String,
    pub user_id: Uuid,
    pub secret: String,
    pub attempts: i32,
    pub expires_at: i64,
}

/// Starts an enrolment; the user's earlier unfinished ones go.
pub async fn insert_totp_enrolment(db: &Db, row: &TotpEnrolmentRow) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_totp_enrolments WHERE user_id = $1").bind(row.user_id).execute(pool).await?;
        sqlx::query("INSERT INTO id_totp_enrolments (id, user_id, secret, attempts, expires_at) VALUES ($1, $2, $3, 0, $4)")
            .bind(&row.id)
            .bind(row.user_id)
            .bind(&row.secret)
            .bind(row.expires_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Counts an attempt at a live enrolment of `user_id` and returns it.
pub async fn attempt_totp_enrolment(
    db: &Db,
    id: &str,
    user_id: Uuid,
    now_ms: i64,
) -> Result<Option<TotpEnrolmentRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, TotpEnrolmentRow>(
            "UPDATE id_totp_enrolments SET attempts = attempts + 1 WHERE id = $1 AND user_id = $2 AND expires_at > $3 \
             RETURNING id, user_id, secret, attempts, expires_at",
        )
        .bind(id)
        .bind(user_id)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn delete_totp_enrolment(tx: &mut Tx, id: &str) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("DELETE FROM id_totp_enrolments WHERE id = $1").bind(id).execute(&mut *conn).await?;
    });
    Ok(())
}
