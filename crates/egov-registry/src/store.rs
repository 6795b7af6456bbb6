//! The SQL of the base registries: the `registry_*` tables, on both
//! engines. The one dialect difference, reading a field out of a record's
//! JSON, lives in [`json_field`]. Nothing here updates or deletes a
//! `registry_reads` row (the database refuses it anyway).

use std::collections::HashSet;
use std::fmt::Write as _;

use egov_db::{Db, DbError, Engine, Tx, with_pool, with_tx};
use uuid::Uuid;

/// A stored dataset: its schema as JSON.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatasetRow {
    pub name: String,
    pub version: String,
    pub schema: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    pub id: Uuid,
    pub record_key: String,
    pub content: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A record to write.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub id: Uuid,
    pub key: String,
    pub content: String,
    pub search_text: String,
}

/// A purpose a client may read a dataset for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PurposeRow {
    pub client: String,
    pub dataset: String,
    pub purpose: String,
    pub granted_at: i64,
}

/// One line of the data tracker.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReadRow {
    pub id: Uuid,
    pub dataset: String,
    pub record_key: String,
    pub personal_id: String,
    pub operation: String,
    pub client: String,
    pub user_id: String,
    pub purpose: String,
    pub reference: Option<String>,
    pub message_id: Option<String>,
    pub at: i64,
}

/// Rows per multi-row statement: 7 parameters each stays far below both
/// engines' limits on bound parameters (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_STATEMENT: usize = 1_000;

const RECORD_COLUMNS: &str = "id, record_key, content, created_at, updated_at";

#[tracing::instrument(skip_all, fields(dataset = name))]
pub async fn dataset(db: &Db, name: &str) -> Result<Option<DatasetRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, DatasetRow>(
            "SELECT name, version, schema, created_at, updated_at FROM registry_datasets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn datasets(db: &Db) -> Result<Vec<DatasetRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, DatasetRow>(
            "SELECT name, version, schema, created_at, updated_at FROM registry_datasets ORDER BY name",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// Creates a dataset, or replaces its schema and version when `replace`.
/// Returns whether a row was written.
#[tracing::instrument(skip(tx, schema))]
pub async fn put_dataset(
    tx: &mut Tx,
    name: &str,
    version: &str,
    schema: &str,
    now: i64,
    replace: bool,
) -> Result<bool, DbError> {
    let sql = if replace {
        "INSERT INTO registry_datasets (name, version, schema, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, schema = excluded.schema, updated_at = excluded.updated_at"
    } else {
        "INSERT INTO registry_datasets (name, version, schema, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO NOTHING"
    };
    let written = with_tx!(tx, conn => {
        sqlx::query(sql)
            .bind(name)
            .bind(version)
            .bind(schema)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(written > 0)
}

#[tracing::instrument(skip(db))]
pub async fn record_by_key(db: &Db, dataset: &str, key: &str) -> Result<Option<RecordRow>, DbError> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM registry_records WHERE dataset = $1 AND record_key = $2");
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(sql))
            .bind(dataset)
            .bind(key)
            .fetch_optional(pool)
            .await?
    }))
}

/// What a search asks for. Field names must be the schema's (checked by
/// the caller); values are compared exactly, the text against the folded
/// search text.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub fields: Vec<(String, String)>,
    /// Already folded.
    pub text: Option<String>,
}

/// The expression that reads field `$n` out of a record's JSON.
fn json_field(engine: Engine, parameter: usize) -> String {
    match engine {
        Engine::Sqlite => format!("json_extract(content, ${parameter})"),
        Engine::Postgres => format!("(content::jsonb ->> ${parameter})"),
    }
}

/// The JSON path or key that [`json_field`] takes for a field name.
fn json_path(engine: Engine, field: &str) -> String {
    match engine {
        Engine::Sqlite => format!("$.\"{field}\""),
        Engine::Postgres => field.to_owned(),
    }
}

/// The `WHERE` clause of a filter and its parameters after the dataset.
fn where_clause(engine: Engine, filter: &Filter) -> (String, Vec<String>) {
    let mut clause = String::from("dataset = $1");
    let mut binds = Vec::new();
    for (field, value) in &filter.fields {
        binds.push(json_path(engine, field));
        let path = json_field(engine, binds.len() + 1);
        binds.push(value.clone());
        let _ = write!(clause, " AND {path} = ${}", binds.len() + 1);
    }
    // Each word must appear; folded words hold only letters and digits,
    // so there is no LIKE wildcard in them.
    for word in filter
        .text
        .iter()
        .flat_map(|text| text.split(' '))
        .filter(|word| !word.is_empty())
    {
        binds.push(format!("%{word}%"));
        let _ = write!(clause, " AND search_text LIKE ${}", binds.len() + 1);
    }
    (clause, binds)
}

/// Records matching a filter, by key, a page at a time.
#[tracing::instrument(skip(db, filter))]
pub async fn search(
    db: &Db,
    dataset: &str,
    filter: &Filter,
    limit: u32,
    offset: u64,
) -> Result<Vec<RecordRow>, DbError> {
    let (clause, binds) = where_clause(db.engine(), filter);
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM registry_records WHERE {clause} ORDER BY record_key LIMIT {limit} OFFSET {offset}"
    );
    Ok(with_pool!(db, pool => {
        let mut query = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(sql)).bind(dataset);
        for bind in &binds {
            query = query.bind(bind.as_str());
        }
        query.fetch_all(pool).await?
    }))
}

/// How many records match a filter.
pub async fn count(db: &Db, dataset: &str, filter: &Filter) -> Result<i64, DbError> {
    let (clause, binds) = where_clause(db.engine(), filter);
    let sql = format!("SELECT COUNT(*) FROM registry_records WHERE {clause}");
    Ok(with_pool!(db, pool => {
        let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(dataset);
        for bind in &binds {
            query = query.bind(bind.as_str());
        }
        query.fetch_one(pool).await?
    }))
}

/// Inserts one record; a second record with the same key is a unique
/// violation.
#[tracing::instrument(skip(tx, record), fields(key = %record.key))]
pub async fn insert_record(tx: &mut Tx, dataset: &str, record: &NewRecord, now: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO registry_records (id, dataset, record_key, content, search_text, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(record.id)
        .bind(dataset)
        .bind(&record.key)
        .bind(&record.content)
        .bind(&record.search_text)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Replaces a record's content; whether it existed.
#[tracing::instrument(skip(tx, content, search_text))]
pub async fn update_record(
    tx: &mut Tx,
    dataset: &str,
    key: &str,
    content: &str,
    search_text: &str,
    now: i64,
) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE registry_records SET content = $3, search_text = $4, updated_at = $5 \
             WHERE dataset = $1 AND record_key = $2",
        )
        .bind(dataset)
        .bind(key)
        .bind(content)
        .bind(search_text)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(updated > 0)
}

#[tracing::instrument(skip(tx))]
pub async fn delete_record(tx: &mut Tx, dataset: &str, key: &str) -> Result<bool, DbError> {
    let deleted = with_tx!(tx, conn => {
        sqlx::query("DELETE FROM registry_records WHERE dataset = $1 AND record_key = $2")
            .bind(dataset)
            .bind(key)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(deleted > 0)
}

/// Which of `keys` already have a record.
pub async fn existing_keys(tx: &mut Tx, dataset: &str, keys: &[&str]) -> Result<HashSet<String>, DbError> {
    let mut found = HashSet::new();
    for part in keys.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<String> = with_tx!(tx, conn => {
            let mut query = sqlx::QueryBuilder::new("SELECT record_key FROM registry_records WHERE dataset = ");
            query.push_bind(dataset).push(" AND record_key IN (");
            let mut separated = query.separated(", ");
            for key in part {
                separated.push_bind(*key);
            }
            query.push(")");
            query.build_query_scalar::<String>().fetch_all(&mut *conn).await?
        });
        found.extend(rows);
    }
    Ok(found)
}

/// Inserts records, replacing the content of those whose key exists, in
/// multi-row statements. Keys must be distinct within the call.
#[tracing::instrument(skip_all, fields(dataset, rows = records.len()))]
pub async fn upsert_records(tx: &mut Tx, dataset: &str, records: &[NewRecord], now: i64) -> Result<(), DbError> {
    for part in records.chunks(ROWS_PER_STATEMENT) {
        with_tx!(tx, conn => {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO registry_records (id, dataset, record_key, content, search_text, created_at, updated_at) ",
            );
            insert.push_values(part, |mut values, record| {
                values
                    .push_bind(record.id)
                    .push_bind(dataset)
                    .push_bind(record.key.as_str())
                    .push_bind(record.content.as_str())
                    .push_bind(record.search_text.as_str())
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.push(
                " ON CONFLICT (dataset, record_key) DO UPDATE SET content = excluded.content, \
                 search_text = excluded.search_text, updated_at = excluded.updated_at",
            );
            insert.build().execute(&mut *conn).await?;
        });
    }
    Ok(())
}

pub async fn count_records(db: &Db, dataset: &str) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM registry_records WHERE dataset = $1")
            .bind(dataset)
            .fetch_one(pool)
            .await?
    }))
}

/// Grants a purpose; whether it was new.
#[tracing::instrument(skip(tx))]
pub async fn grant_purpose(tx: &mut Tx, client: &str, dataset: &str, purpose: &str, now: i64) -> Result<bool, DbError> {
    let written = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO registry_purposes (client, dataset, purpose, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client, dataset, purpose) DO NOTHING",
        )
        .bind(client)
        .bind(dataset)
        .bind(purpose)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(written > 0)
}

/// Revokes a purpose; whether it was granted.
#[tracing::instrument(skip(tx))]
pub async fn revoke_purpose(tx: &mut Tx, client: &str, dataset: &str, purpose: &str) -> Result<bool, DbError> {
    let deleted = with_tx!(tx, conn => {
        sqlx::query("DELETE FROM registry_purposes WHERE client = $1 AND dataset = $2 AND purpose = $3")
            .bind(client)
            .bind(dataset)
            .bind(purpose)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(deleted > 0)
}

pub async fn purposes(db: &Db, dataset: &str) -> Result<Vec<PurposeRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, PurposeRow>(
            "SELECT client, dataset, purpose, granted_at FROM registry_purposes WHERE dataset = $1 ORDER BY client, purpose",
        )
        .bind(dataset)
        .fetch_all(pool)
        .await?
    }))
}

#[tracing::instrument(skip(db))]
pub async fn purpose_allowed(db: &Db, client: &str, dataset: &str, purpose: &str) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM registry_purposes WHERE client = $1 AND dataset = $2 AND purpose = $3",
        )
        .bind(client)
        .bind(dataset)
        .bind(purpose)
        .fetch_one(pool)
        .await?
    }) > 0)
}

/// Appends tracker lines in one statement (per thousand).
#[tracing::instrument(skip_all, fields(rows = reads.len()))]
pub async fn insert_reads(tx: &mut Tx, reads: &[ReadRow]) -> Result<(), DbError> {
    for part in reads.chunks(ROWS_PER_STATEMENT / 2) {
        with_tx!(tx, conn => {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO registry_reads (id, dataset, record_key, personal_id, operation, client, user_id, purpose, \
                 reference, message_id, at) ",
            );
            insert.push_values(part, |mut values, read| {
                values
                    .push_bind(read.id)
                    .push_bind(read.dataset.as_str())
                    .push_bind(read.record_key.as_str())
                    .push_bind(read.personal_id.as_str())
                    .push_bind(read.operation.as_str())
                    .push_bind(read.client.as_str())
                    .push_bind(read.user_id.as_str())
                    .push_bind(read.purpose.as_str())
                    .push_bind(read.reference.as_deref())
                    .push_bind(read.message_id.as_deref())
                    .push_bind(read.at);
            });
            insert.build().execute(&mut *conn).await?;
        });
    }
    Ok(())
}

/// The newest tracker lines about a person, newest first.
#[tracing::instrument(skip(db))]
pub async fn reads_of_person(db: &Db, personal_id: &str, limit: u32) -> Result<Vec<ReadRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, ReadRow>(
            "SELECT id, dataset, record_key, personal_id, operation, client, user_id, purpose, reference, message_id, at \
             FROM registry_reads WHERE personal_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(personal_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
    }))
}
