//! Procedure versions: the e-form, fees, time limit and workflow of a
//! procedure from a date on. Publishing adds a version; nothing edits one,
//! so a dossier always finds the version it was received under.

use chrono::{DateTime, Utc};
use egov_core::department::is_department_code;
use egov_core::money::Vnd;
use egov_db::{DbError, audit};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::domain::{StepKind, Steps, WorkflowStep};
use super::eform::{DocumentSlot, Field, FieldKind, FormSchema};
use super::store::{self, VersionRow};
use super::{DossierError, Dossiers};
use crate::catalogue::domain::Procedure;

/// A procedure's versions with when each takes effect (version, effective
/// from in ms), and when the node read them.
pub(crate) type Schedule = (std::time::Instant, Vec<(i32, i64)>);

/// How long a node trusts the schedule of versions it read.
pub const SCHEDULE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Procedures whose schedule a node keeps at most.
const SCHEDULE_CACHE_SIZE: usize = 4096;

/// Largest document accepted by the default slots: 10 MB.
pub const DEFAULT_MAX_BYTES: u64 = 10_000_000;

/// A procedure version, parsed.
#[derive(Debug, Clone)]
pub struct ProcedureVersion {
    pub procedure_code: String,
    pub version: i32,
    pub effective_from: DateTime<Utc>,
    pub form: FormSchema,
    pub fee: Vnd,
    /// The fee when submitted online (often reduced or waived).
    pub online_fee: Vnd,
    pub processing_days: u32,
    pub steps: Steps,
    /// The workflow template, step by step (department, hours).
    pub plan: Vec<WorkflowStep>,
}

impl ProcedureVersion {
    /// The department that acts at step `index`, if the template names one.
    pub fn department_at(&self, index: usize) -> Option<&str> {
        self.plan.get(index).and_then(|step| step.department.as_deref())
    }
}

/// What an agency admin publishes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewVersion {
    pub effective_from: DateTime<Utc>,
    pub form: FormSchema,
    pub fee_vnd: i64,
    pub online_fee_vnd: i64,
    pub processing_days: u32,
    /// The workflow: receive, one or more reviews, approve, sign, return;
    /// each a kind (`"review"`) or `{"kind", "department", "hours"}`.
    pub steps: Vec<WorkflowStep>,
}

impl ProcedureVersion {
    pub(crate) fn from_row(row: &VersionRow) -> Result<ProcedureVersion, DbError> {
        let plan: Vec<WorkflowStep> = serde_json::from_str(&row.workflow)?;
        let steps = Steps::new(plan.iter().map(|step| step.kind).collect())
            .ok_or_else(|| DbError::Unavailable("stored workflow is malformed".to_owned()))?;
        Ok(ProcedureVersion {
            procedure_code: row.procedure_code.clone(),
            version: row.version,
            effective_from: DateTime::from_timestamp_millis(row.effective_from).unwrap_or_default(),
            form: serde_json::from_str(&row.form_schema)?,
            fee: Vnd::new(row.fee_vnd),
            online_fee: Vnd::new(row.online_fee_vnd),
            processing_days: u32::try_from(row.processing_days).unwrap_or(0),
            steps,
            plan,
        })
    }
}

impl Dossiers {
    /// The version of `procedure_code` in force now: the latest published
    /// of those that took effect by now. Each node keeps a procedure's
    /// schedule of versions for [`SCHEDULE_TTL`] (and forgets it when it
    /// publishes one itself), so a version published on another node is in
    /// force here at most that much later than its date.
    pub async fn version_in_force(&self, procedure_code: &str) -> Result<Option<ProcedureVersion>, DossierError> {
        let now_ms = self.now().timestamp_millis();
        let cached = self
            .schedules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(procedure_code)
            .filter(|(read_at, _)| read_at.elapsed() < SCHEDULE_TTL)
            .map(|(_, schedule)| schedule.clone());
        let schedule = if let Some(schedule) = cached {
            schedule
        } else {
            let schedule = store::version_schedule(&self.db, procedure_code).await?;
            let mut schedules = self
                .schedules
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if schedules.len() >= SCHEDULE_CACHE_SIZE {
                schedules.clear();
            }
            schedules.insert(procedure_code.to_owned(), (std::time::Instant::now(), schedule.clone()));
            schedule
        };
        let in_force = schedule
            .iter()
            .filter(|(_, effective_from)| *effective_from <= now_ms)
            .map(|(version, _)| *version)
            .max();
        match in_force {
            Some(version) => self.version(procedure_code, version).await,
            None => Ok(None),
        }
    }

    /// A published version. Versions never change once published, so each
    /// node keeps the ones it has read.
    pub async fn version(&self, procedure_code: &str, version: i32) -> Result<Option<ProcedureVersion>, DossierError> {
        let key = (procedure_code.to_owned(), version);
        if let Some(found) = self
            .versions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Some(found.clone()));
        }
        let row = store::version(&self.db, procedure_code, version).await?;
        let found = row.as_ref().map(ProcedureVersion::from_row).transpose()?;
        if let Some(found) = &found {
            self.versions
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, found.clone());
        }
        Ok(found)
    }

    /// Publishes a new version; returns its number.
    pub async fn publish_version(
        &self,
        procedure_code: &str,
        new: &NewVersion,
        actor: &str,
    ) -> Result<i32, DossierError> {
        new.form
            .check()
            .map_err(|error| DossierError::invalid("form", error.to_string(), error.to_string()))?;
        Steps::new(new.steps.iter().map(|step| step.kind).collect()).ok_or_else(|| {
            DossierError::invalid(
                "steps",
                "Quy trình phải gồm: tiếp nhận, một hoặc nhiều bước thẩm định, phê duyệt, ký, trả kết quả.",
                "A workflow is: receive, one or more reviews, approve, sign, return.",
            )
        })?;
        if new.fee_vnd < 0 || new.online_fee_vnd < 0 || new.online_fee_vnd > new.fee_vnd {
            return Err(DossierError::invalid(
                "fee_vnd",
                "Phí không âm; phí nộp trực tuyến không cao hơn phí thường.",
                "Fees are not negative, and the online fee is not above the usual one.",
            ));
        }
        if !(1..=365).contains(&new.processing_days) {
            return Err(DossierError::invalid(
                "processing_days",
                "Thời hạn giải quyết từ 1 đến 365 ngày làm việc.",
                "The time limit is 1 to 365 working days.",
            ));
        }
        check_plan(&new.steps, new.processing_days)?;
        let snapshot = self.catalogue.snapshot().await?;
        if snapshot.index.get(procedure_code).is_none() {
            return Err(DossierError::UnknownProcedure);
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let version = store::last_version_number(&mut tx, procedure_code).await? + 1;
        let row = version_row(procedure_code, version, new, now, actor)?;
        store::insert_version(&mut tx, &row).await?;
        self.schedules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(procedure_code);
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor,
                action: "onestop.version_published",
                subject: &format!("procedure:{procedure_code}"),
                detail: json!({ "version": version, "effective_from": new.effective_from }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }
}

/// Checks each step's department code and hours: the hours the steps are
/// given fit in the procedure's time limit (counted at 8 hours a day).
fn check_plan(plan: &[WorkflowStep], processing_days: u32) -> Result<(), DossierError> {
    for step in plan {
        if let Some(department) = &step.department
            && !is_department_code(department)
        {
            return Err(DossierError::invalid(
                "steps",
                format!("Mã phòng ban `{department}` chỉ gồm chữ in hoa, chữ số và dấu gạch dưới (tối đa 32 ký tự)."),
                format!("The department code `{department}` is capital letters, digits and underscores (at most 32)."),
            ));
        }
        if step.hours == Some(0) {
            return Err(DossierError::invalid(
                "steps",
                "Thời gian của một bước ít nhất 1 giờ làm việc.",
                "A step is given at least 1 working hour.",
            ));
        }
    }
    let planned: u32 = plan.iter().filter_map(|step| step.hours).fold(0, u32::saturating_add);
    if planned > processing_days.saturating_mul(8) {
        return Err(DossierError::invalid(
            "steps",
            format!(
                "Tổng thời gian các bước ({planned} giờ) vượt thời hạn giải quyết ({processing_days} ngày làm việc)."
            ),
            format!("The steps' hours ({planned}) exceed the time limit ({processing_days} working days)."),
        ));
    }
    Ok(())
}

/// The standard workflow with the demo's departments
/// ([`crate::directory::standard_departments`]): the one-stop desk receives
/// (8 working hours, Decree 45/2020) and returns; the specialist division
/// reviews; the agency's leaders approve and sign.
pub fn standard_plan(processing_days: u32) -> Vec<WorkflowStep> {
    let desk = Some("MOT_CUA");
    let leaders = processing_days >= 2;
    Steps::standard()
        .kinds()
        .iter()
        .map(|kind| match kind {
            StepKind::Receive => WorkflowStep::new(*kind, desk, Some(8)),
            StepKind::Return => WorkflowStep::new(*kind, desk, None),
            StepKind::Review => WorkflowStep::new(*kind, Some("CHUYEN_MON"), None),
            StepKind::Approve | StepKind::Sign => WorkflowStep::new(*kind, None, leaders.then_some(4)),
        })
        .collect()
}

/// The row that stores `new` as version `version` of a procedure.
pub fn version_row(
    procedure_code: &str,
    version: i32,
    new: &NewVersion,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<VersionRow, DbError> {
    Ok(VersionRow {
        procedure_code: procedure_code.to_owned(),
        version,
        effective_from: new.effective_from.timestamp_millis(),
        form_schema: serde_json::to_string(&new.form)?,
        fee_vnd: new.fee_vnd,
        online_fee_vnd: new.online_fee_vnd,
        processing_days: i32::try_from(new.processing_days).unwrap_or(i32::MAX),
        workflow: serde_json::to_string(&new.steps)?,
        published_at: now.timestamp_millis(),
        published_by: actor.to_owned(),
    })
}

fn text_field(name: &str, vi: &str, en: &str, required: bool) -> Field {
    Field {
        name: name.to_owned(),
        label_vi: vi.to_owned(),
        label_en: en.to_owned(),
        kind: FieldKind::Text {
            max_chars: Some(200),
            pattern: None,
            multiline: false,
        },
        required,
        hint_vi: None,
        hint_en: None,
    }
}

/// A first version of a catalogue procedure: the applicant's particulars, a
/// free-text request, and one slot per required document (optional where
/// the catalogue says "nếu có"); the catalogue's fee and time limit; the
/// standard workflow.
pub fn default_version(procedure: &Procedure, effective_from: DateTime<Utc>) -> NewVersion {
    let mut fields = vec![
        text_field("applicant_name", "Họ và tên người nộp", "Applicant's full name", true),
        Field {
            kind: FieldKind::PersonalId,
            ..text_field(
                "applicant_personal_id",
                "Số định danh cá nhân",
                "Personal ID number",
                true,
            )
        },
        Field {
            kind: FieldKind::Address,
            ..text_field("residence", "Nơi cư trú", "Residence", true)
        },
        Field {
            kind: FieldKind::Text {
                max_chars: Some(15),
                pattern: Some("0[0-9]{9}".to_owned()),
                multiline: false,
            },
            hint_vi: Some("10 chữ số, bắt đầu bằng 0".to_owned()),
            hint_en: Some("10 digits starting with 0".to_owned()),
            ..text_field("phone", "Số điện thoại", "Phone number", false)
        },
        Field {
            kind: FieldKind::Text {
                max_chars: Some(2_000),
                pattern: None,
                multiline: true,
            },
            ..text_field("request", "Nội dung yêu cầu", "What you ask for", true)
        },
    ];
    fields.push(Field {
        kind: FieldKind::Checkbox,
        ..text_field(
            "declaration",
            "Tôi cam đoan nội dung khai trên là đúng sự thật",
            "I declare that the above is true",
            true,
        )
    });
    let documents = procedure
        .required_documents
        .iter()
        .enumerate()
        .map(|(index, name)| DocumentSlot {
            slot: format!("document_{}", index + 1),
            label_vi: name.clone(),
            label_en: format!("Document {}: {name}", index + 1),
            required: !egov_core::text::fold(name).contains("neu co"),
            max_bytes: DEFAULT_MAX_BYTES,
            types: vec![
                "application/pdf".to_owned(),
                "image/jpeg".to_owned(),
                "image/png".to_owned(),
            ],
        })
        .collect();
    let fee = procedure.fee.map_or(0, Vnd::amount);
    NewVersion {
        effective_from,
        form: FormSchema {
            fields,
            documents,
            rules: Vec::new(),
        },
        fee_vnd: fee,
        // Reductions for online submission are set per province and
        // period; an admin publishes them as a new version.
        online_fee_vnd: fee,
        processing_days: procedure.processing_days.max(1),
        steps: standard_plan(procedure.processing_days.max(1)),
    }
}
