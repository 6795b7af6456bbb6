//! Importing procedures from a file: every bad row reported with its line,
//! and nothing written unless every row is good.
//!
//! Formats: CSV with a header row (lists separated by `|`), JSON Lines (one
//! record per line), and a JSON array of records, optionally inside
//! `{"procedures": [...]}`. The field names are those of
//! [`ProcedureRecord`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError};
use serde_json::value::RawValue;

use super::domain::{KnownCodes, Procedure, ProcedureRecord};
use super::store;

/// The file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Json,
    JsonLines,
}

impl ImportFormat {
    /// Picks the format from a file name's extension.
    pub fn from_file_name(name: &str) -> Option<ImportFormat> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(ImportFormat::Csv),
            "json" => Some(ImportFormat::Json),
            "jsonl" | "ndjson" => Some(ImportFormat::JsonLines),
            _ => None,
        }
    }
}

/// One row of an import file: where it starts and what it holds.
#[derive(Debug)]
pub struct ImportRow {
    pub line: u64,
    pub record: Result<ProcedureRecord, String>,
}

/// A problem with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file cannot be read: {0}")]
    File(String),
    #[error("{} bad row(s); nothing was imported", .0.len())]
    Rows(Vec<LineError>),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What to do with procedures that exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Replace them with the file's version.
    Upsert,
    /// Leave them as they are (used by the demo seed, so that a second run
    /// changes nothing and edits survive).
    InsertMissing,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub inserted: usize,
    pub updated: usize,
    pub skipped: usize,
}

fn line_of(text: &str, offset: usize) -> u64 {
    let newlines = text[..offset.min(text.len())].matches('\n').count();
    u64::try_from(newlines).unwrap_or(u64::MAX) + 1
}

/// Splits a file into rows without judging them yet.
pub fn parse_file(format: ImportFormat, text: &str) -> Result<Vec<ImportRow>, ImportError> {
    match format {
        ImportFormat::Csv => parse_csv(text),
        ImportFormat::JsonLines => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| ImportRow {
                line: u64::try_from(index).unwrap_or(u64::MAX) + 1,
                record: serde_json::from_str(line).map_err(|error| error.to_string()),
            })
            .collect()),
        ImportFormat::Json => parse_json(text),
    }
}

fn parse_json(text: &str) -> Result<Vec<ImportRow>, ImportError> {
    #[derive(serde::Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        procedures: Vec<&'a RawValue>,
    }
    // Two plain attempts rather than an untagged enum: untagged buffers the
    // input, and borrowed raw values (which give line numbers) need the
    // original text.
    let items: Vec<&RawValue> = match serde_json::from_str::<Vec<&RawValue>>(text) {
        Ok(items) => items,
        Err(list_error) => match serde_json::from_str::<Wrapped<'_>>(text) {
            Ok(wrapped) => wrapped.procedures,
            Err(_) => {
                return Err(ImportError::File(format!(
                    "not a JSON list of procedures: {list_error}"
                )));
            }
        },
    };
    Ok(items
        .into_iter()
        .map(|raw| {
            // The raw value borrows from `text`, so its address tells where it
            // starts in the file.
            let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            ImportRow {
                line: line_of(text, offset),
                record: serde_json::from_str(raw.get()).map_err(|error| error.to_string()),
            }
        })
        .collect())
}

fn parse_csv(text: &str) -> Result<Vec<ImportRow>, ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| ImportError::File(error.to_string()))?
        .clone();
    let known = [
        "code",
        "name_vi",
        "name_en",
        "level",
        "field",
        "fee_vnd",
        "fee_note",
        "processing_days",
        "processing_note",
        "online",
        "online_note",
        "required_documents",
        "legal_basis",
        "agency_codes",
    ];
    if let Some(unknown) = headers.iter().find(|header| !known.contains(header)) {
        return Err(ImportError::File(format!("line 1: unknown column `{unknown}`")));
    }
    let mut rows = Vec::new();
    for result in reader.records() {
        match result {
            Ok(record) => {
                let line = record.position().map_or(0, csv::Position::line);
                let column = |name: &str| {
                    headers
                        .iter()
                        .position(|header| header == name)
                        .and_then(|index| record.get(index))
                        .map(str::to_owned)
                };
                let list = |name: &str| {
                    column(name)
                        .map(|cell| {
                            cell.split('|')
                                .map(str::trim)
                                .filter(|item| !item.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                rows.push(ImportRow {
                    line,
                    record: Ok(ProcedureRecord {
                        code: column("code"),
                        name_vi: column("name_vi"),
                        name_en: column("name_en"),
                        level: column("level"),
                        field: column("field"),
                        fee_vnd: column("fee_vnd"),
                        fee_note: column("fee_note").unwrap_or_default(),
                        processing_days: column("processing_days"),
                        processing_note: column("processing_note").unwrap_or_default(),
                        online: column("online"),
                        online_note: column("online_note").unwrap_or_default(),
                        required_documents: list("required_documents"),
                        legal_basis: column("legal_basis").unwrap_or_default(),
                        agency_codes: list("agency_codes"),
                    }),
                });
            }
            Err(error) => rows.push(ImportRow {
                line: error.position().map_or(0, csv::Position::line),
                record: Err(error.to_string()),
            }),
        }
    }
    Ok(rows)
}

struct Known {
    fields: HashSet<String>,
    agencies: HashSet<String>,
}

impl KnownCodes for Known {
    fn is_field(&self, code: &str) -> bool {
        self.fields.contains(code)
    }
    fn is_agency(&self, code: &str) -> bool {
        self.agencies.contains(code)
    }
}

/// Checks every row and, only if all are good, writes them in one
/// transaction with an audit record and a new catalogue revision.
/// `progress` is called with the number of rows handled so far.
#[tracing::instrument(skip(db, rows, progress), fields(n_rows = rows.len()))]
pub async fn import(
    db: &Db,
    rows: Vec<ImportRow>,
    mode: ImportMode,
    actor: &str,
    now: DateTime<Utc>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let mut tx = db.begin().await?;
    let known = Known {
        fields: store::field_codes(&mut tx).await?.into_iter().collect(),
        agencies: crate::directory::store::agency_codes(&mut tx)
            .await?
            .into_iter()
            .collect(),
    };
    let existing: HashSet<String> = store::existing_codes(&mut tx).await?.into_iter().collect();

    let mut errors = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut procedures: Vec<Procedure> = Vec::with_capacity(rows.len());
    for row in rows {
        let validated = row
            .record
            .and_then(|record| record.validate(&known).map_err(|error| error.to_string()));
        match validated {
            Ok(procedure) => {
                if let Some(first_line) = seen.insert(procedure.code.to_string(), row.line) {
                    errors.push(LineError {
                        line: row.line,
                        message: format!("code: `{}` appears already on line {first_line}", procedure.code),
                    });
                } else {
                    procedures.push(procedure);
                }
            }
            Err(message) => errors.push(LineError {
                line: row.line,
                message,
            }),
        }
    }
    if !errors.is_empty() {
        tx.rollback().await?;
        return Err(ImportError::Rows(errors));
    }

    let mut report = ImportReport::default();
    for (done, procedure) in procedures.iter().enumerate() {
        let exists = existing.contains(procedure.code.as_str());
        if exists && mode == ImportMode::InsertMissing {
            report.skipped += 1;
        } else {
            store::upsert_procedure(&mut tx, procedure, now).await?;
            if exists {
                report.updated += 1;
            } else {
                report.inserted += 1;
            }
        }
        progress(u64::try_from(done).unwrap_or(u64::MAX) + 1);
    }
    if report.inserted + report.updated > 0 {
        store::bump_revision(&mut tx).await?;
        let detail = serde_json::json!({
            "inserted": report.inserted,
            "updated": report.updated,
            "skipped": report.skipped,
            "codes": procedures.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(),
        });
        let entry = AuditEntry {
            actor,
            action: "catalogue.import",
            subject: "catalogue",
            detail,
            ip: None,
        };
        audit::record(&mut tx, &entry, now).await?;
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_their_line_numbers_even_after_a_multi_line_cell() {
        let text = "code,name_vi,required_documents\n1.000001,\"Tên\nhai dòng\",A|B\n1.000002,Khác,\n";
        let rows = parse_file(ImportFormat::Csv, text).expect("readable");
        let lines: Vec<u64> = rows.iter().map(|row| row.line).collect();
        assert_eq!(lines, [2, 4]);
        let first = rows[0].record.as_ref().expect("parsed");
        assert_eq!(first.required_documents, ["A", "B"]);
    }

    #[test]
    fn an_unknown_csv_column_is_refused() {
        let error = parse_file(ImportFormat::Csv, "code,colour\n1,red\n").expect_err("unknown column");
        assert_eq!(
            error.to_string(),
            "the file cannot be read: line 1: unknown column `colour`"
        );
    }

    #[test]
    fn json_array_items_carry_the_line_they_start_on() {
        let text =
            "{\"procedures\": [\n  {\"code\": \"1.000001\"},\n\n  {\"code\": \"1.000002\", \"fee_vnd\": 20000}\n]}";
        let rows = parse_file(ImportFormat::Json, text).expect("readable");
        let lines: Vec<u64> = rows.iter().map(|row| row.line).collect();
        assert_eq!(lines, [2, 4]);
        assert_eq!(
            rows[1].record.as_ref().expect("parsed").fee_vnd.as_deref(),
            Some("20000")
        );
    }

    #[test]
    fn json_lines_skip_blank_lines_and_report_bad_ones() {
        let text = "{\"code\": \"1.000001\"}\n\n{\"code\": \n{\"colour\": 1}\n";
        let rows = parse_file(ImportFormat::JsonLines, text).expect("readable");
        let lines: Vec<(u64, bool)> = rows.iter().map(|row| (row.line, row.record.is_ok())).collect();
        assert_eq!(lines, [(1, true), (3, false), (4, false)]);
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(ImportFormat::from_file_name("a.CSV"), Some(ImportFormat::Csv));
        assert_eq!(ImportFormat::from_file_name("a.jsonl"), Some(ImportFormat::JsonLines));
        assert_eq!(ImportFormat::from_file_name("a.xlsx"), None);
    }
}
