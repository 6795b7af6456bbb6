//! The SQL of consent: what a user granted to third-party clients.

use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use uuid::Uuid;

/// The scopes `user_id` granted to `client_id`, if any.
pub async fn consented_scope(db: &Db, user_id: Uuid, client_id: &str) -> Result<Option<String>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, String>("SELECT scope FROM id_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Records (or widens) a grant.
pub async fn grant_consent(
    tx: &mut Tx,
    user_id: Uuid,
    client_id: &str,
    scope: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A service the user granted access to, for "my account".
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub granted_at: i64,
}

pub async fn consents_of(db: &Db, user_id: Uuid) -> Result<Vec<ConsentRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, ConsentRow>(
            "SELECT c.client_id, k.name, c.scope, c.granted_at FROM id_consents c \
             JOIN id_clients k ON k.client_id = c.client_id WHERE c.user_id = $1 ORDER BY k.name",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    }))
}

/// Withdraws a grant and revokes every token the client holds for the
/// user. False if there was no grant.
pub async fn withdraw_consent(tx: &mut Tx, user_id: Uuid, client_id: &str) -> Result<bool, DbError> {
    Ok(with_tx!(tx, conn => {
        let removed = sqlx::query("DELETE FROM id_consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        sqlx::query("UPDATE id_refresh_tokens SET revoked = TRUE WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE id_access_tokens SET revoked = TRUE WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *conn)
            .await?;
        removed > 0
    }))
}
