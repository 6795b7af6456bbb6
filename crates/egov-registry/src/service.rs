//! The registry service, [`Registry`]: datasets and their schemas, records
//! (create, read, exists, search, update, delete, bulk import), the
//! purposes each client may read for, and the data tracker. Every read of
//! a person's record is recorded before its data is handed out; every
//! change writes an audit record in its transaction.

use std::collections::HashMap;
use std::sync::Arc;

use egov_core::clock::Clock;
use egov_db::audit::{self, AuditEntry};
use egov_db::{Db, DbError};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::domain::{DatasetSchema, FieldError, Purpose, SchemaError, ValidRecord};
use crate::store::{self, Filter, NewRecord, PurposeRow, ReadRow, RecordRow};

/// What can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("there is no dataset `{0}`")]
    UnknownDataset(String),
    #[error("dataset `{dataset}` is at version {current}, not {asked}")]
    UnknownVersion {
        dataset: String,
        current: String,
        asked: String,
    },
    #[error("the record is invalid: {}", join(.0))]
    Invalid(Vec<FieldError>),
    #[error("the schema is invalid: {0}")]
    BadSchema(#[from] SchemaError),
    #[error("the query is invalid: {0}")]
    BadQuery(String),
    #[error("no record matches")]
    NotFound,
    #[error("a record with key `{0}` exists already")]
    Exists(String),
    #[error("a record's key cannot change")]
    KeyChange,
    #[error("client `{client}` may not read `{dataset}` for purpose `{purpose}`")]
    PurposeNotAllowed {
        client: String,
        dataset: String,
        purpose: String,
    },
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a stored schema is malformed")]
    StoredSchema(#[source] serde_json::Error),
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Who reads, from which system, and why: what the provider gateway passes
/// on from `X-Road-Client`, `X-Road-UserId`, `X-Road-Issue` and `X-Road-Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub client: String,
    pub user_id: String,
    pub purpose: Purpose,
    pub message_id: Option<String>,
}

/// A record as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: Uuid,
    pub key: String,
    pub content: Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<RecordRow> for Record {
    type Error = DbError;

    fn try_from(row: RecordRow) -> Result<Record, DbError> {
        Ok(Record {
            id: row.id,
            key: row.record_key,
            content: serde_json::from_str(&row.content)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A search: folded text and exact field values, a page at a time.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: Option<String>,
    pub fields: Vec<(String, String)>,
    /// From 1.
    pub page: u32,
    pub page_size: u32,
}

/// The most words of a search text that count.
pub const MAX_SEARCH_WORDS: usize = 6;

/// The largest page a search returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// One page of search results.
#[derive(Debug, Clone)]
pub struct Page {
    pub count: i64,
    pub records: Vec<Record>,
}

/// What a bulk import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub inserted: u64,
    pub updated: u64,
    /// Line numbers of the file (the header is line 1) and what was wrong.
    pub errors: Vec<(u64, String)>,
}

/// Rows per import transaction.
pub const IMPORT_CHUNK: usize = 10_000;

/// The base registries of one instance.
#[derive(Debug, Clone)]
pub struct Registry {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl Registry {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Registry {
        Registry { db, clock }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    // ------------------------------------------------------------ schemas

    /// Creates the shipped datasets (population, enterprise) that are
    /// missing; leaves existing ones as they are.
    pub async fn ensure_shipped(&self) -> Result<(), RegistryError> {
        let mut tx = self.db.begin().await?;
        for schema in crate::domain::shipped_schemas() {
            let json = serde_json::to_string(&schema).map_err(RegistryError::StoredSchema)?;
            store::put_dataset(&mut tx, &schema.name, &schema.version, &json, self.now(), false).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn schemas(&self) -> Result<Vec<DatasetSchema>, RegistryError> {
        store::datasets(&self.db)
            .await?
            .iter()
            .map(|row| serde_json::from_str(&row.schema).map_err(RegistryError::StoredSchema))
            .collect()
    }

    /// A dataset's current schema.
    pub async fn schema(&self, dataset: &str) -> Result<DatasetSchema, RegistryError> {
        let row = store::dataset(&self.db, dataset)
            .await?
            .ok_or_else(|| RegistryError::UnknownDataset(dataset.to_owned()))?;
        serde_json::from_str(&row.schema).map_err(RegistryError::StoredSchema)
    }

    /// The schema of a dataset at the version a URL names.
    pub async fn schema_at(&self, dataset: &str, version: &str) -> Result<DatasetSchema, RegistryError> {
        let schema = self.schema(dataset).await?;
        if schema.version != version {
            return Err(RegistryError::UnknownVersion {
                dataset: dataset.to_owned(),
                current: schema.version,
                asked: version.to_owned(),
            });
        }
        Ok(schema)
    }

    /// Creates a dataset or replaces its schema (records are kept; they
    /// are checked against the new schema when next written).
    pub async fn modify_schema(&self, schema: &DatasetSchema, actor: &str) -> Result<(), RegistryError> {
        schema.check()?;
        let json = serde_json::to_string(schema).map_err(RegistryError::StoredSchema)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        store::put_dataset(
            &mut tx,
            &schema.name,
            &schema.version,
            &json,
            now.timestamp_millis(),
            true,
        )
        .await?;
        audit::record(
            &mut tx,
            &AuditEntry {
                actor,
                action: "registry.schema_modify",
                subject: &format!("registry:{}", schema.name),
                detail: serde_json::json!({ "version": schema.version }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ----------------------------------------------------------- purposes

    pub async fn grant_purpose(
        &self,
        client: &str,
        dataset: &str,
        purpose: &str,
        actor: &str,
    ) -> Result<bool, RegistryError> {
        self.schema(dataset).await?;
        let code = Purpose::parse(purpose)
            .map_err(|error| RegistryError::BadQuery(error.to_string()))?
            .code;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let granted = store::grant_purpose(&mut tx, client, dataset, &code, now.timestamp_millis()).await?;
        if granted {
            audit::record(
                &mut tx,
                &AuditEntry {
                    actor,
                    action: "registry.purpose_grant",
                    subject: &format!("registry:{dataset}"),
                    detail: serde_json::json!({ "client": client, "purpose": code }),
                    ip: None,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(granted)
    }

    pub async fn revoke_purpose(
        &self,
        client: &str,
        dataset: &str,
        purpose: &str,
        actor: &str,
    ) -> Result<bool, RegistryError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let revoked = store::revoke_purpose(&mut tx, client, dataset, purpose).await?;
        if revoked {
            audit::record(
                &mut tx,
                &AuditEntry {
                    actor,
                    action: "registry.purpose_revoke",
                    subject: &format!("registry:{dataset}"),
                    detail: serde_json::json!({ "client": client, "purpose": purpose }),
                    ip: None,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    pub async fn purposes(&self, dataset: &str) -> Result<Vec<PurposeRow>, RegistryError> {
        Ok(store::purposes(&self.db, dataset).await?)
    }

    /// Refuses a reader whose purpose is not granted to its client.
    async fn check_purpose(&self, dataset: &str, reader: &Reader) -> Result<(), RegistryError> {
        if store::purpose_allowed(&self.db, &reader.client, dataset, &reader.purpose.code).await? {
            Ok(())
        } else {
            Err(RegistryError::PurposeNotAllowed {
                client: reader.client.clone(),
                dataset: dataset.to_owned(),
                purpose: reader.purpose.code.clone(),
            })
        }
    }

    // ------------------------------------------------------------ records

    fn validated(schema: &DatasetSchema, content: &Map<String, Value>) -> Result<(ValidRecord, String), RegistryError> {
        let valid = schema.validate(content).map_err(RegistryError::Invalid)?;
        let json = serde_json::to_string(content).map_err(DbError::Json)?;
        Ok((valid, json))
    }

    /// Creates a record; its key must be new.
    pub async fn create(
        &self,
        dataset: &str,
        version: &str,
        content: Map<String, Value>,
        actor: &str,
    ) -> Result<Record, RegistryError> {
        let schema = self.schema_at(dataset, version).await?;
        let content = trimmed(content);
        let (valid, json) = Self::validated(&schema, &content)?;
        let now = self.clock.now();
        let record = NewRecord {
            id: egov_core::id::new_id(),
            key: valid.key.clone(),
            content: json,
            search_text: valid.search_text,
        };
        let mut tx = self.db.begin().await?;
        match store::insert_record(&mut tx, dataset, &record, now.timestamp_millis()).await {
            Err(error) if error.is_unique_violation() => return Err(RegistryError::Exists(valid.key)),
            other => other?,
        }
        audit::record(
            &mut tx,
            &AuditEntry {
                actor,
                action: "registry.create",
                subject: &format!("registry:{dataset}:{}", valid.key),
                detail: Value::Null,
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Record {
            id: record.id,
            key: valid.key,
            content,
            created_at: now.timestamp_millis(),
            updated_at: now.timestamp_millis(),
        })
    }

    /// Checks a content query against the schema: string values of known
    /// fields only.
    fn query_fields(
        schema: &DatasetSchema,
        query: &Map<String, Value>,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        if query.is_empty() {
            return Err(RegistryError::BadQuery("the query names no field".to_owned()));
        }
        query
            .iter()
            .map(|(name, value)| {
                if schema.field(name).is_none() {
                    return Err(RegistryError::BadQuery(format!(
                        "`{name}` is not a field of this dataset"
                    )));
                }
                match value {
                    Value::String(text) => Ok((name.clone(), text.trim().to_owned())),
                    _ => Err(RegistryError::BadQuery(format!("`{name}` must be a string"))),
                }
            })
            .collect()
    }

    /// The first record (by key) whose fields equal the query's.
    async fn find(&self, schema: &DatasetSchema, query: &Map<String, Value>) -> Result<Option<Record>, RegistryError> {
        let fields = Self::query_fields(schema, query)?;
        let key = fields.iter().find(|(name, _)| *name == schema.key);
        let row = if let Some((_, key)) = key {
            store::record_by_key(&self.db, &schema.name, key).await?.filter(|row| {
                let content: Map<String, Value> = serde_json::from_str(&row.content).unwrap_or_default();
                fields
                    .iter()
                    .all(|(name, value)| content.get(name).and_then(Value::as_str) == Some(value.as_str()))
            })
        } else {
            let filter = Filter { fields, text: None };
            store::search(&self.db, &schema.name, &filter, 1, 0)
                .await?
                .into_iter()
                .next()
        };
        Ok(row.map(Record::try_from).transpose()?)
    }

    /// Records that `reader` was handed these records of a personal
    /// dataset; the caller hands them out only if this succeeds.
    pub async fn record_read(
        &self,
        schema: &DatasetSchema,
        records: &[&Record],
        operation: &str,
        reader: &Reader,
    ) -> Result<(), RegistryError> {
        let Some(person_field) = &schema.person_field else {
            return Ok(());
        };
        if records.is_empty() {
            return Ok(());
        }
        let at = self.now();
        let reads: Vec<ReadRow> = records
            .iter()
            .map(|record| ReadRow {
                id: egov_core::id::new_id(),
                dataset: schema.name.clone(),
                record_key: record.key.clone(),
                personal_id: record
                    .content
                    .get(person_field)
                    .and_then(Value::as_str)
                    .unwrap_or(&record.key)
                    .to_owned(),
                operation: operation.to_owned(),
                client: reader.client.clone(),
                user_id: reader.user_id.clone(),
                purpose: reader.purpose.code.clone(),
                reference: reader.purpose.reference.clone(),
                message_id: reader.message_id.clone(),
                at,
            })
            .collect();
        let mut tx = self.db.begin().await?;
        store::insert_reads(&mut tx, &reads).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reads the record a content query names (the first by key when
    /// several match), for a reader whose purpose is granted; a personal
    /// record is tracked before it is returned.
    pub async fn read(
        &self,
        dataset: &str,
        version: &str,
        query: &Map<String, Value>,
        reader: &Reader,
    ) -> Result<Record, RegistryError> {
        let schema = self.schema_at(dataset, version).await?;
        self.check_purpose(dataset, reader).await?;
        let record = self.find(&schema, query).await?.ok_or(RegistryError::NotFound)?;
        self.record_read(&schema, &[&record], "read", reader).await?;
        Ok(record)
    }

    /// Whether a record matches; a match of a personal record is tracked,
    /// as it tells the reader something about the person.
    pub async fn exists(
        &self,
        dataset: &str,
        version: &str,
        query: &Map<String, Value>,
        reader: &Reader,
    ) -> Result<bool, RegistryError> {
        let schema = self.schema_at(dataset, version).await?;
        self.check_purpose(dataset, reader).await?;
        let record = self.find(&schema, query).await?;
        if let Some(record) = &record {
            self.record_read(&schema, &[record], "exists", reader).await?;
        }
        Ok(record.is_some())
    }

    /// A page of records matching a search; every personal record returned
    /// is tracked.
    pub async fn search(
        &self,
        dataset: &str,
        version: &str,
        search: &SearchQuery,
        reader: &Reader,
    ) -> Result<Page, RegistryError> {
        let schema = self.schema_at(dataset, version).await?;
        self.check_purpose(dataset, reader).await?;
        for (name, _) in &search.fields {
            if schema.field(name).is_none() {
                return Err(RegistryError::BadQuery(format!(
                    "`{name}` is not a field of this dataset"
                )));
            }
        }
        let text = search
            .text
            .as_deref()
            .map(|text| {
                egov_core::text::tokens(text)
                    .into_iter()
                    .take(MAX_SEARCH_WORDS)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|text| !text.is_empty());
        if text.is_none() && search.fields.is_empty() {
            return Err(RegistryError::BadQuery("a search needs a text or a field".to_owned()));
        }
        let filter = Filter {
            fields: search.fields.clone(),
            text,
        };
        let page_size = search.page_size.clamp(1, MAX_PAGE_SIZE);
        let offset = u64::from(search.page.max(1) - 1) * u64::from(page_size);
        let count = store::count(&self.db, dataset, &filter).await?;
        let records = store::search(&self.db, dataset, &filter, page_size, offset)
            .await?
            .into_iter()
            .map(Record::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        self.record_read(&schema, &records.iter().collect::<Vec<_>>(), "search", reader)
            .await?;
        Ok(Page { count, records })
    }

    /// Updates the record a query names with the fields of `write` (the
    /// others are kept); the result must validate and keep its key.
    pub async fn update(
        &self,
        dataset: &str,
        version: &str,
        query: &Map<String, Value>,
        write: Map<String, Value>,
        actor: &str,
    ) -> Result<Record, RegistryError> {
        let schema = self.schema_at(dataset, version).await?;
        let found = self.find(&schema, query).await?.ok_or(RegistryError::NotFound)?;
        let mut content = found.content;
        for (name, value) in trimmed(write) {
            if value.is_null() {
                content.remove(&name);
            } else {
                content.insert(name, value);
            }
        }
        let (valid, json) = Self::validated(&schema, &content)?;
        if valid.key != found.key {
            return Err(RegistryError::KeyChange);
        }
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        if !store::update_record(
            &mut tx,
            dataset,
            &found.key,
            &json,
            &valid.search_text,
            now.timestamp_millis(),
        )
        .await?
        {
            return Err(RegistryError::NotFound);
        }
        audit::record(
            &mut tx,
            &AuditEntry {
                actor,
                action: "registry.update",
                subject: &format!("registry:{dataset}:{}", found.key),
                detail: Value::Null,
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Record {
            id: found.id,
            key: found.key,
            content,
            created_at: found.created_at,
            updated_at: now.timestamp_millis(),
        })
    }

    /// Deletes the record with `key`.
    pub async fn delete(&self, dataset: &str, version: &str, key: &str, actor: &str) -> Result<(), RegistryError> {
        self.schema_at(dataset, version).await?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        if !store::delete_record(&mut tx, dataset, key).await? {
            return Err(RegistryError::NotFound);
        }
        audit::record(
            &mut tx,
            &AuditEntry {
                actor,
                action: "registry.delete",
                subject: &format!("registry:{dataset}:{key}"),
                detail: Value::Null,
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn count(&self, dataset: &str) -> Result<i64, RegistryError> {
        Ok(store::count_records(&self.db, dataset).await?)
    }

    // ------------------------------------------------------------ tracker

    /// Who read a person's records, newest first (at most `limit`).
    pub async fn reads_of_person(&self, personal_id: &str, limit: u32) -> Result<Vec<ReadRow>, RegistryError> {
        Ok(store::reads_of_person(&self.db, personal_id, limit).await?)
    }

    // ------------------------------------------------------------- import

    /// Writes valid records in chunks of [`IMPORT_CHUNK`], one transaction
    /// each, inserting new keys and replacing existing ones. `lines` pairs
    /// a line number with a record; bad records are reported and skipped.
    pub async fn upsert_many(
        &self,
        schema: &DatasetSchema,
        lines: Vec<(u64, Map<String, Value>)>,
        actor: &str,
        report: &mut ImportReport,
    ) -> Result<(), RegistryError> {
        let mut rows: Vec<NewRecord> = Vec::with_capacity(lines.len());
        let mut position: HashMap<String, usize> = HashMap::with_capacity(lines.len());
        let mut repeats = 0_u64;
        for (line, content) in lines {
            let content = trimmed(content);
            match Self::validated(schema, &content) {
                Ok((valid, json)) => {
                    let record = NewRecord {
                        id: egov_core::id::new_id(),
                        key: valid.key,
                        content: json,
                        search_text: valid.search_text,
                    };
                    // A key twice in one chunk: the later line wins, as it
                    // would in a later chunk.
                    if let Some(&index) = position.get(&record.key) {
                        rows[index] = record;
                        repeats += 1;
                    } else {
                        position.insert(record.key.clone(), rows.len());
                        rows.push(record);
                    }
                }
                Err(RegistryError::Invalid(errors)) => report.errors.push((line, join(&errors))),
                Err(error) => report.errors.push((line, error.to_string())),
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let keys: Vec<&str> = rows.iter().map(|row| row.key.as_str()).collect();
        let mut tx = self.db.begin().await?;
        let existing = store::existing_keys(&mut tx, &schema.name, &keys).await?;
        store::upsert_records(&mut tx, &schema.name, &rows, now.timestamp_millis()).await?;
        let updated = existing.len() as u64 + repeats;
        let inserted = rows.len() as u64 - existing.len() as u64;
        audit::record(
            &mut tx,
            &AuditEntry {
                actor,
                action: "registry.import",
                subject: &format!("registry:{}", schema.name),
                detail: serde_json::json!({ "inserted": inserted, "updated": updated }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        report.inserted += inserted;
        report.updated += updated;
        Ok(())
    }

    /// Imports a CSV file whose header names the dataset's fields. Each
    /// chunk of lines commits alone; a bad line is reported with its
    /// number and skipped. `progress` hears the number of lines read.
    pub async fn import_csv<R: std::io::Read>(
        &self,
        dataset: &str,
        input: R,
        actor: &str,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, RegistryError> {
        let schema = self.schema(dataset).await?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let header: Vec<String> = reader
            .headers()
            .map_err(|error| RegistryError::Csv {
                line: 1,
                message: error.to_string(),
            })?
            .iter()
            .map(|name| name.trim().trim_start_matches('\u{feff}').to_owned())
            .collect();
        if let Some(unknown) = header.iter().find(|name| schema.field(name).is_none()) {
            return Err(RegistryError::Csv {
                line: 1,
                message: format!("`{unknown}` is not a field of {dataset}"),
            });
        }
        let mut report = ImportReport::default();
        let mut chunk: Vec<(u64, Map<String, Value>)> = Vec::with_capacity(IMPORT_CHUNK);
        let mut lines_read = 0_u64;
        let mut record = csv::StringRecord::new();
        loop {
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    lines_read += 1;
                    if record.len() == header.len() {
                        let content = header
                            .iter()
                            .zip(record.iter())
                            .filter(|(_, value)| !value.trim().is_empty())
                            .map(|(name, value)| (name.clone(), Value::String(value.to_owned())))
                            .collect();
                        chunk.push((line, content));
                    } else {
                        report.errors.push((
                            line,
                            format!("{} values where the header has {}", record.len(), header.len()),
                        ));
                    }
                }
                Err(error) => {
                    lines_read += 1;
                    report.errors.push((line, error.to_string()));
                }
            }
            if chunk.len() == IMPORT_CHUNK {
                self.upsert_many(&schema, std::mem::take(&mut chunk), actor, &mut report)
                    .await?;
                progress(lines_read);
            }
        }
        self.upsert_many(&schema, chunk, actor, &mut report).await?;
        progress(lines_read);
        // Lines of a chunk that failed validation are reported when the
        // chunk is written, after lines that failed to parse.
        report.errors.sort_by_key(|(line, _)| *line);
        Ok(report)
    }
}

/// The content with string values trimmed.
fn trimmed(content: Map<String, Value>) -> Map<String, Value> {
    content
        .into_iter()
        .map(|(name, value)| match value {
            Value::String(text) if text.trim().len() != text.len() => (name, Value::String(text.trim().to_owned())),
            other => (name, other),
        })
        .collect()
}
