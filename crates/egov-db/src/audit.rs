//! The audit log: one append-only record per state change that matters.
//!
//! Records are written in the caller's transaction, so a change and its
//! audit record commit or vanish together. Nothing here updates or deletes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, DbError, Tx, epoch_millis, with_pool, with_tx};

/// One audit record to write.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// Who acted: a user id, `system`, or `cli:<user>`.
    pub actor: &'a str,
    /// A stable snake_case action name, e.g. `catalogue.import`.
    pub action: &'a str,
    /// What was acted on, e.g. `procedure:1.001193`.
    pub subject: &'a str,
    pub detail: serde_json::Value,
    pub ip: Option<&'a str>,
}

/// A stored audit record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub ip: Option<String>,
}

/// Appends an audit record in the caller's transaction.
#[tracing::instrument(skip_all, fields(action = entry.action, subject = entry.subject))]
pub async fn record(tx: &mut Tx, entry: &AuditEntry<'_>, at: DateTime<Utc>) -> Result<Uuid, DbError> {
    let id = egov_core::id::new_id();
    let detail = entry.detail.to_string();
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, subject, detail, ip) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(epoch_millis(at))
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.subject)
        .bind(&detail)
        .bind(entry.ip)
        .execute(&mut *conn)
        .await?;
    });
    Ok(id)
}

/// Appends many audit records in one statement, in the caller's
/// transaction: for writers that record a batch of changes at once.
pub async fn record_many(tx: &mut Tx, entries: &[(AuditEntry<'_>, DateTime<Utc>)]) -> Result<(), DbError> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<(Uuid, i64, &AuditEntry<'_>, String)> = entries
        .iter()
        .map(|(entry, at)| {
            (
                egov_core::id::new_id(),
                epoch_millis(*at),
                entry,
                entry.detail.to_string(),
            )
        })
        .collect();
    with_tx!(tx, conn => {
        let mut insert = sqlx::QueryBuilder::new("INSERT INTO audit_log (id, at, actor, action, subject, detail, ip) ");
        insert.push_values(&rows, |mut values, (id, at, entry, detail)| {
            values
                .push_bind(*id)
                .push_bind(*at)
                .push_bind(entry.actor)
                .push_bind(entry.action)
                .push_bind(entry.subject)
                .push_bind(detail.as_str())
                .push_bind(entry.ip);
        });
        insert.build().execute(&mut *conn).await?;
    });
    Ok(())
}

/// The newest records about `subject`, newest first.
pub async fn for_subject(db: &Db, subject: &str, limit: u32) -> Result<Vec<AuditRecord>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, actor, action, subject, detail, ip FROM audit_log WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(subject)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
    }))
}

/// The newest records with `action`, newest first.
pub async fn for_action(db: &Db, action: &str, limit: u32) -> Result<Vec<AuditRecord>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, actor, action, subject, detail, ip FROM audit_log WHERE action = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(action)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
    }))
}
