//! The `portal_sessions` table.

use egov_db::{Db, DbError, with_pool};

/// A portal session: who signed in, at what level, and the ID token that
/// ends their central sign-in session with them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub subject: String,
    pub name: String,
    pub acr: String,
    pub sid: String,
    pub id_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub personal_id: Option<String>,
    pub email: Option<String>,
    pub agency: Option<String>,
    pub department: Option<String>,
    /// Space-separated one-stop roles of an official.
    pub roles: String,
}

const COLUMNS: &str =
    "id, subject, name, acr, sid, id_token, created_at, expires_at, personal_id, email, agency, roles, department";

pub async fn insert_session(db: &Db, row: &SessionRow) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO portal_sessions (id, subject, name, acr, sid, id_token, created_at, expires_at, \
             personal_id, email, agency, roles, department) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&row.id)
        .bind(&row.subject)
        .bind(&row.name)
        .bind(&row.acr)
        .bind(&row.sid)
        .bind(&row.id_token)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.personal_id.as_deref())
        .bind(row.email.as_deref())
        .bind(row.agency.as_deref())
        .bind(&row.roles)
        .bind(row.department.as_deref())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The live session with this id.
pub async fn session(db: &Db, id: &str, now_ms: i64) -> Result<Option<SessionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM portal_sessions WHERE id = $1 AND expires_at > $2"
        )))
        .bind(id)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
    }))
}

/// Ends one session; returns it when it was there.
pub async fn delete_session(db: &Db, id: &str) -> Result<Option<SessionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, SessionRow>(sqlx::AssertSqlSafe(format!(
            "DELETE FROM portal_sessions WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await?
    }))
}

/// Ends every portal session of a central sign-in session; how many.
pub async fn delete_by_sid(db: &Db, sid: &str) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query("DELETE FROM portal_sessions WHERE sid = $1")
            .bind(sid)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// Ends every portal session of a person (a logout token without `sid`).
pub async fn delete_by_subject(db: &Db, subject: &str) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query("DELETE FROM portal_sessions WHERE subject = $1")
            .bind(subject)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}
