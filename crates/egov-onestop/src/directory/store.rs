//! SQL of the agency directory.

use egov_db::{Db, DbError, Tx, with_pool, with_tx};

use super::{Agency, Department, Province};
use crate::catalogue::domain::Level;

/// Inserts a province unless it exists; returns whether it was new.
pub async fn insert_province_if_missing(tx: &mut Tx, province: &Province) -> Result<bool, DbError> {
    let inserted = with_tx!(tx, conn => {
        sqlx::query("INSERT INTO provinces (code, name_vi, name_en, kind) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING")
            .bind(&province.code)
            .bind(&province.name_vi)
            .bind(&province.name_en)
            .bind(&province.kind)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(inserted == 1)
}

/// Inserts an agency unless it exists; returns whether it was new.
pub async fn insert_agency_if_missing(tx: &mut Tx, agency: &Agency) -> Result<bool, DbError> {
    let inserted = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO agencies (code, name_vi, name_en, level, province_code, parent_code, office_hours) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING",
        )
        .bind(&agency.code)
        .bind(&agency.name_vi)
        .bind(&agency.name_en)
        .bind(agency.level.as_str())
        .bind(agency.province_code.as_deref())
        .bind(agency.parent_code.as_deref())
        .bind(agency.office_hours.to_string())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

/// Inserts a department unless it exists; returns whether it was new.
pub async fn insert_department_if_missing(tx: &mut Tx, department: &Department) -> Result<bool, DbError> {
    let inserted = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO onestop_departments (agency_code, code, name_vi, name_en) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (agency_code, code) DO NOTHING",
        )
        .bind(&department.agency_code)
        .bind(&department.code)
        .bind(&department.name_vi)
        .bind(&department.name_en)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

/// The departments of an agency, by code.
pub async fn departments(db: &Db, agency_code: &str) -> Result<Vec<Department>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, Department>(
            "SELECT agency_code, code, name_vi, name_en FROM onestop_departments WHERE agency_code = $1 ORDER BY code",
        )
        .bind(agency_code)
        .fetch_all(pool)
        .await?
    }))
}

pub async fn provinces(db: &Db) -> Result<Vec<Province>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as::<_, Province>("SELECT code, name_vi, name_en, kind FROM provinces ORDER BY code")
            .fetch_all(pool)
            .await?
    }))
}

type AgencyRow = (String, String, String, String, Option<String>, Option<String>, String);

fn agency_from_row((code, name_vi, name_en, level, province_code, parent_code, office_hours): AgencyRow) -> Agency {
    Agency {
        // Office hours are validated before they are written; a row edited
        // by hand into nonsense falls back to the usual hours.
        office_hours: office_hours.parse().unwrap_or_default(),
        code,
        name_vi,
        name_en,
        // The CHECK constraint admits only the three levels.
        level: Level::parse(&level).unwrap_or(Level::Province),
        province_code,
        parent_code,
    }
}

pub async fn agencies(db: &Db) -> Result<Vec<Agency>, DbError> {
    let rows: Vec<AgencyRow> = with_pool!(db, pool => {
        sqlx::query_as("SELECT code, name_vi, name_en, level, province_code, parent_code, office_hours FROM agencies ORDER BY code")
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().map(agency_from_row).collect())
}

pub async fn agency_codes(tx: &mut Tx) -> Result<Vec<String>, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>("SELECT code FROM agencies").fetch_all(&mut *conn).await?
    }))
}
