//! The SQL of passkeys: registered WebAuthn credentials and the ceremonies
//! in progress.

use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use uuid::Uuid;

/// A registered passkey; `passkey` is webauthn-rs's serialised credential.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub credential_id: String,
    pub user_id: Uuid,
    pub name: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn insert_passkey(tx: &mut Tx, row: &PasskeyRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_passkeys (credential_id, user_id, name, passkey, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.credential_id)
        .bind(row.user_id)
        .bind(&row.name)
        .bind(&row.passkey)
        .bind(row.created_at)
        .bind(row.last_used_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn passkeys_of(db: &Db, user_id: Uuid) -> Result<Vec<PasskeyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, PasskeyRow>(
            "SELECT credential_id, user_id, name, passkey, created_at, last_used_at FROM id_passkeys \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    }))
}

pub async fn passkey(db: &Db, credential_id: &str) -> Result<Option<PasskeyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, PasskeyRow>(
            "SELECT credential_id, user_id, name, passkey, created_at, last_used_at FROM id_passkeys \
             WHERE credential_id = $1",
        )
        .bind(credential_id)
        .fetch_optional(pool)
        .await?
    }))
}

/// Stores the credential's new state (its signature counter) after a use.
pub async fn touch_passkey(db: &Db, credential_id: &str, passkey: Option<&str>, now_ms: i64) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "UPDATE id_passkeys SET last_used_at = $1, passkey = COALESCE($2, passkey) WHERE credential_id = $3",
        )
        .bind(now_ms)
        .bind(passkey)
        .bind(credential_id)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Removes one of the user's passkeys; `false` if it is not theirs.
pub async fn delete_passkey(tx: &mut Tx, user_id: Uuid, credential_id: &str) -> Result<bool, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query("DELETE FROM id_passkeys WHERE credential_id = $1 AND user_id = $2")
            .bind(credential_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// A ceremony in progress.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CeremonyRow {
    pub id: String,
    pub user_id: Option<Uuid>,
    pub purpose: String,
    pub state: String,
    pub expires_at: i64,
}

/// Records a ceremony; expired ones go at the same time.
pub async fn insert_ceremony(db: &Db, row: &CeremonyRow, now_ms: i64) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_webauthn_ceremonies WHERE expires_at < $1")
            .bind(now_ms)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO id_webauthn_ceremonies (id, user_id, purpose, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(row.user_id)
        .bind(&row.purpose)
        .bind(&row.state)
        .bind(row.expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Takes a live ceremony of `purpose`: it is deleted, so it serves once.
pub async fn take_ceremony(db: &Db, id: &str, purpose: &str, now_ms: i64) -> Result<Option<CeremonyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, CeremonyRow>(
            "DELETE FROM id_webauthn_ceremonies WHERE id = $1 AND purpose = $2 \
             RETURNING id, user_id, purpose, state, expires_at",
        )
        .bind(id)
        .bind(purpose)
        .fetch_optional(pool)
        .await?
        .filter(|row| row.expires_at > now_ms)
    }))
}

/// Whether the user has an authenticator app, and how many passkeys: one
/// query for the sign-in's second step.
pub async fn second_factor_counts(db: &Db, user_id: Uuid) -> Result<(bool, i64), DbError> {
    let row: Option<(bool, i64)> = with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT u.totp_secret IS NOT NULL, (SELECT COUNT(*) FROM id_passkeys p WHERE p.user_id = u.id) \
             FROM id_users u WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.unwrap_or((false, 0)))
}
