//! Submitting a dossier: online by the applicant, or at the counter by an
//! official for them. Everything is checked before the transaction opens;
//! the transaction writes the dossier, its documents, the first step-log
//! line, the audit record and the notice, or nothing.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use egov_db::DbError;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::domain::{Channel, DossierCode, Situation};
use super::eform::Problem;
use super::store::{self, DocumentRow, DossierRow, EventRow};
use super::versions::ProcedureVersion;
use super::writer::{AddedDocuments, AuditRecord, FileRows, Filed, FiledRows, SubmitWrite};
use super::{Applicant, DossierError, Dossiers, Official, upload};

/// Working hours the desk has to check an online dossier (Decree 45/2020).
pub const RECEPTION_HOURS: u32 = 8;

/// A document as uploaded.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub slot: String,
    pub file_name: String,
    pub content: Vec<u8>,
}

/// A dossier to submit.
#[derive(Debug, Clone)]
pub struct NewDossier {
    pub procedure_code: String,
    pub agency_code: String,
    pub values: Value,
    pub documents: Vec<NewDocument>,
    /// Chosen by the client; a second submission under the same key returns
    /// the first dossier instead of making another.
    pub idempotency_key: String,
}

/// The outcome of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub code: DossierCode,
    /// `false` when the idempotency key named an earlier submission.
    pub created: bool,
}

/// Whether an idempotency key is acceptable: 8 to 100 visible ASCII
/// characters.
pub fn valid_idempotency_key(key: &str) -> bool {
    (8..=100).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic())
}

/// Vietnam's wall-clock time of an instant.
pub fn to_vn(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc() + Duration::seconds(i64::from(egov_core::clock::VN_OFFSET_SECONDS))
}

/// The instant of a Vietnamese wall-clock time.
pub fn from_vn(at: NaiveDateTime) -> DateTime<Utc> {
    (at - Duration::seconds(i64::from(egov_core::clock::VN_OFFSET_SECONDS))).and_utc()
}

/// The SHA-256 of `bytes` in lowercase hexadecimal: a file's content address.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hexadecimal, as content addresses are written.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            use std::fmt::Write as _;
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// A file checked against its slot, ready to store.
pub(crate) struct CheckedDocument {
    slot: String,
    file_name: String,
    media_type: &'static str,
    sha256: String,
    content: Vec<u8>,
}

impl std::fmt::Debug for CheckedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedDocument")
            .field("slot", &self.slot)
            .field("file_name", &self.file_name)
            .field("media_type", &self.media_type)
            .field("sha256", &self.sha256)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// Checks uploads against the version's slots: each known, within its
/// limits, of an accepted type; every required slot filled.
pub(crate) fn check_documents(
    version: &ProcedureVersion,
    documents: Vec<NewDocument>,
    require_all: bool,
    by_official: bool,
) -> Result<Vec<CheckedDocument>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    let internal = upload::internal_slot();
    for document in documents {
        let path = format!("documents.{}", document.slot);
        let slot = if by_official && document.slot == upload::INTERNAL_SLOT {
            Some(&internal)
        } else {
            version.form.slot(&document.slot)
        };
        let Some(slot) = slot else {
            let error = upload::UploadError::UnknownSlot { slot: document.slot };
            problems.push(Problem {
                path,
                vi: error.vi(),
                en: error.en(),
            });
            continue;
        };
        match upload::check(slot, &document.file_name, &document.content) {
            Ok((media_type, file_name)) => checked.push(CheckedDocument {
                slot: document.slot,
                file_name,
                media_type,
                sha256: hex(&Sha256::digest(&document.content)),
                content: document.content,
            }),
            Err(error) => problems.push(Problem {
                path,
                vi: error.vi(),
                en: error.en(),
            }),
        }
    }
    if require_all {
        for slot in version.form.documents.iter().filter(|slot| slot.required) {
            let path = format!("documents.{}", slot.slot);
            if !checked.iter().any(|document| document.slot == slot.slot)
                && !problems.iter().any(|problem| problem.path == path)
            {
                problems.push(Problem {
                    path,
                    vi: "Thiếu thành phần hồ sơ bắt buộc.".to_owned(),
                    en: "This document is required.".to_owned(),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems)
    }
}

/// Writes checked documents of a dossier in the caller's transaction.
pub(crate) async fn store_documents(
    tx: &mut egov_db::Tx,
    dossier_id: Uuid,
    documents: &[CheckedDocument],
    added_by: &str,
    internal: bool,
    now_ms: i64,
) -> Result<(), DbError> {
    for document in documents {
        store::insert_file(tx, &document.sha256, document.media_type, &document.content, now_ms).await?;
        store::insert_document(
            tx,
            &DocumentRow {
                id: egov_core::id::new_id(),
                dossier_id,
                slot: document.slot.clone(),
                sha256: document.sha256.clone(),
                file_name: document.file_name.clone(),
                media_type: document.media_type.to_owned(),
                size: i64::try_from(document.content.len()).unwrap_or(i64::MAX),
                internal,
                added_by: added_by.to_owned(),
                added_at: now_ms,
            },
        )
        .await?;
    }
    Ok(())
}

impl Dossiers {
    /// Submits a dossier online for `applicant`.
    pub async fn submit(&self, applicant: &Applicant, new: NewDossier) -> Result<Submitted, DossierError> {
        self.file(applicant, new, None).await
    }

    /// Registers a paper dossier brought to the counter: received at once,
    /// by `official` for `applicant`, with the scanned documents.
    pub async fn register_at_counter(
        &self,
        official: &Official,
        applicant: &Applicant,
        new: NewDossier,
    ) -> Result<Submitted, DossierError> {
        if !official.has(super::Role::Receiver) {
            return Err(DossierError::Forbidden(
                "only the one-stop desk registers counter dossiers",
            ));
        }
        if official.agency_code != new.agency_code {
            return Err(DossierError::Forbidden("a desk registers dossiers for its own agency"));
        }
        self.file(applicant, new, Some(official)).await
    }

    /// Keeps what the applicant typed so far, to finish later. Drafts are
    /// not validated (they are unfinished by nature) but are bounded.
    pub async fn save_draft(
        &self,
        applicant: &Applicant,
        procedure_code: &str,
        agency_code: &str,
        values: &Value,
    ) -> Result<(), DossierError> {
        let snapshot = self.catalogue.snapshot().await?;
        if !snapshot
            .index
            .get(procedure_code)
            .is_some_and(|procedure| procedure.agency_codes.iter().any(|code| code == agency_code))
        {
            return Err(DossierError::UnknownProcedure);
        }
        let text = values.to_string();
        if text.len() > 64 * 1024 {
            return Err(DossierError::BadRequest("a draft is at most 64 KB"));
        }
        store::save_draft(
            &self.db,
            &applicant.subject,
            procedure_code,
            agency_code,
            &text,
            self.now().timestamp_millis(),
        )
        .await?;
        Ok(())
    }

    /// The applicant's draft of a procedure: the agency and the values.
    pub async fn draft(
        &self,
        applicant: &Applicant,
        procedure_code: &str,
    ) -> Result<Option<(String, Value)>, DossierError> {
        Ok(store::draft(&self.db, &applicant.subject, procedure_code)
            .await?
            .map(|(agency, values)| (agency, serde_json::from_str(&values).unwrap_or(Value::Null))))
    }

    #[allow(clippy::too_many_lines)] // One transaction, read top to bottom.
    async fn file(
        &self,
        applicant: &Applicant,
        new: NewDossier,
        counter: Option<&Official>,
    ) -> Result<Submitted, DossierError> {
        if !valid_idempotency_key(&new.idempotency_key) {
            return Err(DossierError::BadRequest(
                "an idempotency key is 8 to 100 visible ASCII characters",
            ));
        }
        let snapshot = self.catalogue.snapshot().await?;
        let procedure = snapshot
            .index
            .get(&new.procedure_code)
            .filter(|procedure| procedure.agency_codes.contains(&new.agency_code))
            .ok_or(DossierError::UnknownProcedure)?;
        let agency = snapshot
            .agency(&new.agency_code)
            .ok_or(DossierError::UnknownProcedure)?;
        let version = self
            .version_in_force(&new.procedure_code)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let now = self.now();
        let now_vn = to_vn(now);
        let values = version.form.validate(&new.values, now_vn.date());
        let documents = check_documents(&version, new.documents, true, counter.is_some());
        let (values, documents) = match (values, documents) {
            (Ok(values), Ok(documents)) => (values, documents),
            (values, documents) => {
                let mut problems = values.err().unwrap_or_default();
                problems.extend(documents.err().unwrap_or_default());
                return Err(DossierError::Invalid(problems));
            }
        };
        let channel = if counter.is_some() {
            Channel::Counter
        } else {
            Channel::Online
        };
        let situation = if counter.is_some() {
            Situation::received_at_counter()
        } else {
            Situation::submitted()
        };
        let office = &agency.office_hours;
        let (received_at, due_at) = if counter.is_some() {
            let due =
                self.calendar
                    .add_working_minutes(now_vn, version.processing_days * office.minutes_per_day(), office);
            (Some(now.timestamp_millis()), from_vn(due).timestamp_millis())
        } else {
            let due = self.calendar.add_working_hours(now_vn, RECEPTION_HOURS, office);
            (None, from_vn(due).timestamp_millis())
        };
        let fee = if counter.is_some() {
            version.fee
        } else {
            version.online_fee
        };
        let now_ms = now.timestamp_millis();
        let id = egov_core::id::new_id();
        let actor = counter.map_or(applicant.subject.as_str(), |official| official.subject.as_str());
        let actor_name = counter.map_or(applicant.name.as_str(), |official| official.name.as_str());

        // What the writer needs to write the dossier once it has its code.
        let template = DossierRow {
            id,
            code: String::new(),
            procedure_code: procedure.code.to_string(),
            procedure_version: version.version,
            agency_code: agency.code.clone(),
            holder_agency: agency.code.clone(),
            channel: channel.as_str().to_owned(),
            applicant_subject: applicant.subject.clone(),
            applicant_name: applicant.name.clone(),
            applicant_personal_id: applicant.personal_id.clone(),
            applicant_email: applicant.email.clone(),
            idempotency_key: new.idempotency_key.clone(),
            form_data: values.to_string(),
            state: situation.state.as_str().to_owned(),
            step: i32::try_from(situation.step).unwrap_or(0),
            resume_state: None,
            assignee: None,
            fee_vnd: fee.amount(),
            submitted_at: now_ms,
            received_at,
            due_at: Some(due_at),
            paused_at: None,
            finished_at: None,
            late: None,
            revision: 0,
            search_text: String::new(),
            fee_paid_vnd: 0,
            assignee_name: None,
            department: version.department_at(situation.step).map(str::to_owned),
        };
        let event = EventRow {
            id: egov_core::id::new_id(),
            dossier_id: id,
            at: now_ms,
            actor: actor.to_owned(),
            actor_name: actor_name.to_owned(),
            agency_code: counter.map(|official| official.agency_code.clone()),
            action: if counter.is_some() { "counter_intake" } else { "submit" }.to_owned(),
            from_state: None,
            to_state: situation.state.as_str().to_owned(),
            step: template.step,
            note: String::new(),
        };
        let audit_detail = json!({
            "procedure": procedure.code.as_str(),
            "version": version.version,
            "agency": agency.code,
            "documents": documents.len(),
        });
        let audit_action = if counter.is_some() {
            "onestop.dossier_registered_at_counter"
        } else {
            "onestop.dossier_submitted"
        };
        let search_words = format!(
            "{} {} {}",
            applicant.name,
            procedure.name_vi,
            applicant.personal_id.as_deref().unwrap_or_default()
        );
        let (state, actor_subject) = (situation.state, actor.to_owned());
        let status_sync = self.status_sync();
        let rows: FileRows = Box::new(move |code: &DossierCode| {
            let mut dossier = template.clone();
            dossier.code = code.to_string();
            dossier.search_text = egov_core::text::fold(&format!("{code} {search_words}"));
            let mut jobs: Vec<_> = super::transition::notice(&dossier, code, state)?.into_iter().collect();
            if status_sync {
                jobs.push(super::status_sync::job(
                    &dossier.code,
                    &dossier.agency_code,
                    &dossier.procedure_code,
                    &dossier.channel,
                    state.as_str(),
                    dossier.revision,
                    dossier.submitted_at,
                ));
            }
            Ok(FiledRows {
                dossier,
                event: event.clone(),
                audit: AuditRecord {
                    actor: actor_subject.clone(),
                    action: audit_action,
                    subject: format!("dossier:{code}"),
                    detail: audit_detail.clone(),
                },
                jobs,
            })
        });
        let write = SubmitWrite {
            applicant_subject: applicant.subject.clone(),
            idempotency_key: new.idempotency_key.clone(),
            agency_code: agency.code.clone(),
            procedure_code: procedure.code.to_string(),
            date: now_vn.date(),
            documents: AddedDocuments {
                documents,
                added_by: actor.to_owned(),
                internal: false,
            },
            rows,
            at: now,
        };
        Ok(match self.writer().file(write).await? {
            Filed::New(code) => Submitted { code, created: true },
            Filed::Existing(code) => Submitted { code, created: false },
        })
    }
}
