//! The SQL of brokering: upstream providers, sign-ins sent upstream, and
//! links from upstream accounts to local ones.

use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use uuid::Uuid;

/// An upstream OpenID provider this instance signs users in through.
#[derive(Clone, sqlx::FromRow)]
pub struct UpstreamRow {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Presented to the upstream's token endpoint, so kept as given.
    pub client_secret: String,
    pub scopes: String,
    pub enabled: bool,
}

impl std::fmt::Debug for UpstreamRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRow")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

pub async fn insert_upstream(tx: &mut Tx, row: &UpstreamRow, now_ms: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_upstreams (id, name, issuer, client_id, client_secret, scopes, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.issuer)
        .bind(&row.client_id)
        .bind(&row.client_secret)
        .bind(&row.scopes)
        .bind(row.enabled)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Every upstream, enabled or not, by id.
pub async fn upstreams(db: &Db) -> Result<Vec<UpstreamRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, UpstreamRow>(
            "SELECT id, name, issuer, client_id, client_secret, scopes, enabled FROM id_upstreams ORDER BY id",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// A sign-in sent upstream, waiting for the browser to come back.
#[derive(Clone, sqlx::FromRow)]
pub struct UpstreamStateRow {
    pub id: String,
    pub upstream_id: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The original authorization request, as a query string.
    pub params: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for UpstreamStateRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamStateRow")
            .field("upstream_id", &self.upstream_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Records a sign-in sent upstream; expired ones go at the same time.
pub async fn insert_upstream_state(db: &Db, row: &UpstreamStateRow, now_ms: i64) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM id_upstream_states WHERE expires_at < $1").bind(now_ms).execute(pool).await?;
        sqlx::query(
            "INSERT INTO id_upstream_states (id, upstream_id, nonce, pkce_verifier, params, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.upstream_id)
        .bind(&row.nonce)
        .bind(&row.pkce_verifier)
        .bind(&row.params)
        .bind(row.expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Takes a live upstream sign-in: it is deleted, so a state serves once.
pub async fn take_upstream_state(db: &Db, id: &str, now_ms: i64) -> Result<Option<UpstreamStateRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, UpstreamStateRow>(
            "DELETE FROM id_upstream_states WHERE id = $1 \
             RETURNING id, upstream_id, nonce, pkce_verifier, params, expires_at",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
        .filter(|row| row.expires_at > now_ms)
    }))
}

/// The local account an upstream account is linked to.
pub async fn upstream_link(db: &Db, upstream_id: &str, subject: &str) -> Result<Option<Uuid>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, Uuid>("SELECT user_id FROM id_upstream_links WHERE upstream_id = $1 AND subject = $2")
            .bind(upstream_id)
            .bind(subject)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn insert_upstream_link(
    tx: &mut Tx,
    upstream_id: &str,
    subject: &str,
    user_id: Uuid,
    now_ms: i64,
) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO id_upstream_links (upstream_id, subject, user_id, linked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (upstream_id, subject) DO NOTHING",
        )
        .bind(upstream_id)
        .bind(subject)
        .bind(user_id)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Stores an upstream's changed settings (everything but its id).
pub async fn update_upstream(tx: &mut Tx, row: &UpstreamRow) -> Result<bool, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE id_upstreams SET name = $1, issuer = $2, client_id = $3, client_secret = $4, scopes = $5, \
                 enabled = $6 WHERE id = $7",
        )
        .bind(&row.name)
        .bind(&row.issuer)
        .bind(&row.client_id)
        .bind(&row.client_secret)
        .bind(&row.scopes)
        .bind(row.enabled)
        .bind(&row.id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}
