//! The catalogue's SQL: procedures, their fields and competent agencies,
//! and the revision counter that tells nodes to rebuild their index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use egov_core::money::Vnd;
use egov_db::{Db, DbError, Tx, epoch_millis, with_pool, with_tx};

use super::domain::{Level, OnlineLevel, Procedure, ProcedureCode};
use super::search::ExtraText;

#[derive(Debug, sqlx::FromRow)]
struct ProcedureRow {
    code: String,
    name_vi: String,
    name_en: String,
    level: String,
    field_code: String,
    fee_vnd: Option<i64>,
    fee_note: String,
    processing_days: i32,
    processing_note: String,
    online: String,
    online_note: String,
    required_documents: String,
    legal_basis: String,
}

const PROCEDURE_COLUMNS: &str = "code, name_vi, name_en, level, field_code, fee_vnd, fee_note, processing_days, \
     processing_note, online, online_note, required_documents, legal_basis";

impl ProcedureRow {
    fn into_procedure(self, agency_codes: Vec<String>) -> Result<Procedure, DbError> {
        // The CHECK constraints admit only known levels and online levels,
        // and codes were validated before they were written.
        let corrupt = |what: &str| DbError::Query(sqlx::Error::Protocol(format!("stored procedure has a bad {what}")));
        Ok(Procedure {
            code: ProcedureCode::parse(&self.code).ok_or_else(|| corrupt("code"))?,
            name_vi: self.name_vi,
            name_en: self.name_en,
            level: Level::parse(&self.level).ok_or_else(|| corrupt("level"))?,
            field_code: self.field_code,
            fee: self.fee_vnd.map(Vnd::new),
            fee_note: self.fee_note,
            processing_days: u32::try_from(self.processing_days).unwrap_or_default(),
            processing_note: self.processing_note,
            online: OnlineLevel::parse(&self.online).ok_or_else(|| corrupt("online level"))?,
            online_note: self.online_note,
            required_documents: serde_json::from_str(&self.required_documents)?,
            legal_basis: self.legal_basis,
            agency_codes,
        })
    }
}

/// The catalogue's current revision.
pub async fn revision(db: &Db) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT revision FROM catalogue_revision WHERE id = 1").fetch_one(pool).await?
    }))
}

type AgencyRow = (String, String, String);
type Loaded = (i64, Vec<ProcedureRow>, Vec<AgencyRow>, Vec<(String, String)>);

/// Every procedure with the text its index needs, and the revision read in
/// the same snapshot.
#[tracing::instrument(skip(db))]
pub async fn load_all(db: &Db) -> Result<(i64, Vec<(Procedure, ExtraText)>), DbError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {PROCEDURE_COLUMNS} FROM procedures ORDER BY code"));
    let (revision, rows, agency_rows, fields): Loaded = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let revision = sqlx::query_scalar("SELECT revision FROM catalogue_revision WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query_as::<_, ProcedureRow>(sql).fetch_all(&mut *tx).await?;
        let agency_rows = sqlx::query_as(
            "SELECT pa.procedure_code, pa.agency_code, a.name_vi FROM procedure_agencies pa \
             JOIN agencies a ON a.code = pa.agency_code ORDER BY pa.procedure_code, pa.agency_code",
        )
        .fetch_all(&mut *tx)
        .await?;
        let fields = sqlx::query_as("SELECT code, name_vi FROM procedure_fields").fetch_all(&mut *tx).await?;
        tx.commit().await?;
        (revision, rows, agency_rows, fields)
    });
    let mut agencies: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
    for (procedure_code, agency_code, agency_name) in agency_rows {
        let entry = agencies.entry(procedure_code).or_default();
        entry.0.push(agency_code);
        entry.1.push(agency_name);
    }
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let mut procedures = Vec::with_capacity(rows.len());
    for row in rows {
        let (agency_codes, agency_names) = agencies.remove(&row.code).unwrap_or_default();
        let field_name = fields.get(&row.field_code).cloned().unwrap_or_default();
        procedures.push((
            row.into_procedure(agency_codes)?,
            ExtraText {
                agency_names,
                field_name,
            },
        ));
    }
    Ok((revision, procedures))
}

/// Codes of every procedure in the catalogue.
pub async fn existing_codes(tx: &mut Tx) -> Result<Vec<String>, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>("SELECT code FROM procedures").fetch_all(&mut *conn).await?
    }))
}

/// Inserts or replaces one procedure and its agencies.
#[tracing::instrument(skip_all, fields(code = %procedure.code))]
pub async fn upsert_procedure(tx: &mut Tx, procedure: &Procedure, now: DateTime<Utc>) -> Result<(), DbError> {
    let documents = serde_json::to_string(&procedure.required_documents)?;
    let days = i32::try_from(procedure.processing_days).unwrap_or(i32::MAX);
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO procedures (code, name_vi, name_en, level, field_code, fee_vnd, fee_note, processing_days, \
                 processing_note, online, online_note, required_documents, legal_basis, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (code) DO UPDATE SET name_vi = excluded.name_vi, name_en = excluded.name_en, \
                 level = excluded.level, field_code = excluded.field_code, fee_vnd = excluded.fee_vnd, \
                 fee_note = excluded.fee_note, processing_days = excluded.processing_days, \
                 processing_note = excluded.processing_note, online = excluded.online, \
                 online_note = excluded.online_note, required_documents = excluded.required_documents, \
                 legal_basis = excluded.legal_basis, updated_at = excluded.updated_at",
        )
        .bind(procedure.code.as_str())
        .bind(&procedure.name_vi)
        .bind(&procedure.name_en)
        .bind(procedure.level.as_str())
        .bind(&procedure.field_code)
        .bind(procedure.fee.map(Vnd::amount))
        .bind(&procedure.fee_note)
        .bind(days)
        .bind(&procedure.processing_note)
        .bind(procedure.online.as_str())
        .bind(&procedure.online_note)
        .bind(&documents)
        .bind(&procedure.legal_basis)
        .bind(epoch_millis(now))
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM procedure_agencies WHERE procedure_code = $1")
            .bind(procedure.code.as_str())
            .execute(&mut *conn)
            .await?;
        for agency in &procedure.agency_codes {
            sqlx::query("INSERT INTO procedure_agencies (procedure_code, agency_code) VALUES ($1, $2)")
                .bind(procedure.code.as_str())
                .bind(agency)
                .execute(&mut *conn)
                .await?;
        }
    });
    Ok(())
}

/// Bumps the revision, so every node rebuilds its index.
pub async fn bump_revision(tx: &mut Tx) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE catalogue_revision SET revision = revision + 1 WHERE id = 1").execute(&mut *conn).await?;
    });
    Ok(())
}

/// A field (lĩnh vực) of procedures.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct FieldView {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
}

pub async fn fields(db: &Db) -> Result<Vec<FieldView>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, FieldView>("SELECT code, name_vi, name_en FROM procedure_fields ORDER BY name_vi")
            .fetch_all(pool)
            .await?
    }))
}

/// Inserts a field unless it exists; returns whether it was new.
pub async fn insert_field_if_missing(tx: &mut Tx, field: &FieldView) -> Result<bool, DbError> {
    let inserted = with_tx!(tx, conn => {
        sqlx::query("INSERT INTO procedure_fields (code, name_vi, name_en) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
            .bind(&field.code)
            .bind(&field.name_vi)
            .bind(&field.name_en)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(inserted == 1)
}

pub async fn field_codes(tx: &mut Tx) -> Result<Vec<String>, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>("SELECT code FROM procedure_fields").fetch_all(&mut *conn).await?
    }))
}
