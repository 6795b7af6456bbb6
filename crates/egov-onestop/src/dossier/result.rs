//! The result of a dossier: when the leader signs, a job renders the result
//! document (PDF, with a QR code to its verification page) and signs it with
//! the agency's key held by the instance (a detached ES256 signature, see
//! `egov-documents`). Anyone can check a result at `/verify/{id}`: whether
//! the stored document still matches its signature, and whether the agency
//! revoked it. Only the agency's leader revokes.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use egov_db::jobs::NewJob;
use egov_db::{DbError, audit};
use egov_documents::{AgencySigningKey, CreationDate, DetachedSignature, ResultDocument, ResultRenderer};
use serde_json::{Value, json};
use uuid::Uuid;

use super::store::{self, DossierRow, ResultRow, SigningKeyRow};
use super::submit::to_vn;
use super::{Actor, DossierError, Dossiers, Official, Role};

/// Job kind: render and sign a dossier's result.
pub const PRODUCE_RESULT: &str = "onestop.result";

/// The renderer, with its fonts parsed once per process.
pub(crate) fn renderer() -> Result<&'static ResultRenderer, String> {
    static RENDERER: OnceLock<Result<ResultRenderer, String>> = OnceLock::new();
    RENDERER
        .get_or_init(|| ResultRenderer::new().map_err(|error| error.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The job that renders and signs a dossier's result, enqueued with the
/// signing action.
pub(crate) fn job(dossier_id: Uuid, signer: &Actor) -> NewJob {
    let mut job = NewJob::new(
        PRODUCE_RESULT,
        json!({ "dossier_id": dossier_id, "signer": signer.subject(), "signer_name": signer.name() }),
    );
    job.dedupe_key = Some(format!("{PRODUCE_RESULT}:{dossier_id}"));
    job
}

/// What the public verification page shows.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub id: Uuid,
    pub document_number: String,
    pub dossier_code: String,
    pub agency_name: String,
    pub procedure_name: String,
    /// The applicant's name with all but initials hidden.
    pub applicant: String,
    pub signed_at: DateTime<Utc>,
    pub sha256: String,
    pub key_id: String,
    /// The stored document matches its signature under the agency's key.
    pub authentic: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

/// "Nguyễn Văn An" → "Nguyễn V. A.": enough to recognise, not to expose.
fn masked(name: &str) -> String {
    let mut words = name.split_whitespace();
    let first = words.next().unwrap_or_default().to_owned();
    words.fold(first, |mut text, word| {
        if let Some(initial) = word.chars().next() {
            text.push(' ');
            text.push(initial);
            text.push('.');
        }
        text
    })
}

fn creation_date(at: DateTime<Utc>) -> CreationDate {
    let narrow = |value: u32| u8::try_from(value).unwrap_or(0);
    CreationDate {
        year: u16::try_from(at.year()).unwrap_or(2000),
        month: narrow(at.month()),
        day: narrow(at.day()),
        hour: narrow(at.hour()),
        minute: narrow(at.minute()),
        second: narrow(at.second()),
    }
}

fn signature_text(signature: &DetachedSignature) -> String {
    format!("{}.{}", signature.algorithm, signature.signature_base64url)
}

fn signature_from(row: &ResultRow) -> DetachedSignature {
    let (algorithm, signature) = row.signature.split_once('.').unwrap_or(("ES256", &row.signature));
    DetachedSignature {
        key_id: row.key_id.clone(),
        algorithm: algorithm.to_owned(),
        signature_base64url: signature.to_owned(),
        sha256_hex: row.sha256.clone(),
    }
}

impl Dossiers {
    /// The same service, with the address results' QR codes point to.
    #[must_use]
    pub fn with_public_url(mut self, public_url: &str) -> Dossiers {
        self.public_url = Arc::from(public_url.trim_end_matches('/'));
        self
    }

    /// The agency's signing key, made on first use.
    async fn agency_key(&self, agency_code: &str) -> Result<AgencySigningKey, String> {
        let text = |error: &dyn std::fmt::Display| error.to_string();
        if let Some(row) = store::signing_key(&self.db, agency_code).await.map_err(|e| text(&e))? {
            return AgencySigningKey::from_pkcs8_pem(&row.private_pem).map_err(|e| text(&e));
        }
        let key = AgencySigningKey::generate().map_err(|e| text(&e))?;
        let row = SigningKeyRow {
            key_id: key.key_id().to_owned(),
            agency_code: agency_code.to_owned(),
            private_pem: key.to_pkcs8_pem().map_err(|e| text(&e))?.to_string(),
            public_pem: key.public_key_pem().to_owned(),
            created_at: self.now().timestamp_millis(),
        };
        store::insert_signing_key(&self.db, &row).await.map_err(|e| text(&e))?;
        // Another node may have made one at the same moment: use the one kept.
        let kept = store::signing_key(&self.db, agency_code)
            .await
            .map_err(|e| text(&e))?
            .ok_or("the signing key was not kept")?;
        AgencySigningKey::from_pkcs8_pem(&kept.private_pem).map_err(|e| text(&e))
    }

    /// The job: renders the dossier's result, signs it with the agency's
    /// key, and keeps both. Idempotent: a dossier has one result.
    pub async fn produce_result(&self, payload: &Value) -> Result<(), String> {
        let dossier_id = payload
            .get("dossier_id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or("the job names no dossier")?;
        let signer = payload.get("signer").and_then(Value::as_str).unwrap_or_default();
        let signer_name = payload.get("signer_name").and_then(Value::as_str).unwrap_or_default();
        let row = store::by_id(&self.db, dossier_id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or("the dossier is gone")?;
        if store::result_of(&self.db, dossier_id)
            .await
            .map_err(|error| error.to_string())?
            .is_some()
        {
            return Ok(());
        }
        let now = self.now();
        let id = egov_core::id::new_id();
        let document = self.result_document_for(&row, id, signer_name, now).await?;
        let key = self.agency_key(&row.agency_code).await?;
        let number = document.document_number.clone();
        // Rendering and signing are CPU work: off the runtime's threads.
        let (pdf, signature) = tokio::task::spawn_blocking(move || {
            let pdf = renderer()?
                .render(&document, creation_date(now))
                .map_err(|error| error.to_string())?;
            let signature = key.sign(&pdf).map_err(|error| error.to_string())?;
            Ok::<_, String>((pdf, signature))
        })
        .await
        .map_err(|error| error.to_string())??;
        let sha256 = signature.sha256_hex.clone();
        let store_result = async {
            let mut tx = self.db.begin().await?;
            store::insert_file(&mut tx, &sha256, "application/pdf", &pdf, now.timestamp_millis()).await?;
            let new = store::insert_result(
                &mut tx,
                &ResultRow {
                    id,
                    dossier_id,
                    document_number: number,
                    sha256: sha256.clone(),
                    key_id: signature.key_id.clone(),
                    signature: signature_text(&signature),
                    signed_by: signer.to_owned(),
                    signed_at: now.timestamp_millis(),
                    revoked_at: None,
                    revoked_by: None,
                    revoked_reason: None,
                },
            )
            .await?;
            if new {
                audit::record(
                    &mut tx,
                    &audit::AuditEntry {
                        actor: signer,
                        action: "onestop.result_signed",
                        subject: &format!("dossier:{}", row.code),
                        detail: json!({ "result": id, "sha256": sha256, "key_id": signature.key_id }),
                        ip: None,
                    },
                    now,
                )
                .await?;
            }
            tx.commit().await
        };
        store_result.await.map_err(|error: DbError| error.to_string())
    }

    async fn result_document_for(
        &self,
        row: &DossierRow,
        id: Uuid,
        signer_name: &str,
        now: DateTime<Utc>,
    ) -> Result<ResultDocument, String> {
        let snapshot = self.catalogue.snapshot().await.map_err(|error| error.to_string())?;
        let agency = snapshot
            .agency(&row.agency_code)
            .map_or_else(|| row.agency_code.clone(), |agency| agency.name_vi.clone());
        let procedure = snapshot
            .index
            .get(&row.procedure_code)
            .map_or_else(|| row.procedure_code.clone(), |procedure| procedure.name_vi.clone());
        let local = to_vn(now);
        let submitted = DateTime::from_timestamp_millis(row.submitted_at)
            .map_or_else(String::new, |at| to_vn(at).format("%d/%m/%Y").to_string());
        let personal_id = row.applicant_personal_id.clone().unwrap_or_default();
        Ok(ResultDocument {
            agency_name: agency.to_uppercase(),
            agency_code: row.agency_code.clone(),
            document_number: format!("{}/KQ", row.code),
            title: "KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH".to_owned(),
            dossier_code: row.code.clone(),
            applicant_name: row.applicant_name.clone(),
            applicant_personal_id: personal_id.clone(),
            procedure_name: procedure.clone(),
            body_paragraphs: vec![
                format!(
                    "Căn cứ hồ sơ số {} do Ông/Bà {} (số định danh cá nhân {personal_id}) nộp ngày {submitted};",
                    row.code, row.applicant_name
                ),
                format!(
                    "{agency} đã giải quyết thủ tục “{procedure}” theo quy định: yêu cầu của Ông/Bà được chấp thuận."
                ),
                "Văn bản được ký số bởi cơ quan giải quyết; quét mã QR để kiểm tra tính xác thực và hiệu lực."
                    .to_owned(),
            ],
            place_and_date: format!("ngày {} tháng {} năm {}", local.day(), local.month(), local.year()),
            signer_title: format!("TM. {}", agency.to_uppercase()),
            signer_name: signer_name.to_owned(),
            verification_url: format!("{}/verify/{id}", self.public_url),
        })
    }

    /// The signed result of a dossier `actor` may see, with its bytes.
    pub async fn result(&self, actor: &Actor, code: &str) -> Result<(ResultRow, Vec<u8>), DossierError> {
        let row = self.visible(actor, code).await?;
        let result = store::result_of(&self.db, row.id)
            .await?
            .ok_or(DossierError::NotFound)?;
        let content = store::file_content(&self.db, &result.sha256)
            .await?
            .ok_or(DossierError::NotFound)?;
        Ok((result, content))
    }

    /// What anyone may learn of a result by its id (the QR code's address).
    pub async fn verification(&self, id: Uuid) -> Result<Option<Verification>, DossierError> {
        let Some(result) = store::result_by_id(&self.db, id).await? else {
            return Ok(None);
        };
        let dossier = store::by_id(&self.db, result.dossier_id)
            .await?
            .ok_or(DossierError::NotFound)?;
        let content = store::file_content(&self.db, &result.sha256).await?.unwrap_or_default();
        let key = store::signing_key_by_id(&self.db, &result.key_id).await?;
        let authentic =
            key.is_some_and(|key| egov_documents::verify(&key.public_pem, &content, &signature_from(&result)).is_ok());
        let snapshot = self.catalogue.snapshot().await?;
        Ok(Some(Verification {
            id,
            document_number: result.document_number,
            agency_name: snapshot
                .agency(&dossier.agency_code)
                .map_or_else(|| dossier.agency_code.clone(), |agency| agency.name_vi.clone()),
            procedure_name: snapshot
                .index
                .get(&dossier.procedure_code)
                .map_or_else(|| dossier.procedure_code.clone(), |procedure| procedure.name_vi.clone()),
            applicant: masked(&dossier.applicant_name),
            dossier_code: dossier.code,
            signed_at: DateTime::from_timestamp_millis(result.signed_at).unwrap_or_default(),
            sha256: result.sha256,
            key_id: result.key_id,
            authentic,
            revoked_at: result.revoked_at.and_then(DateTime::from_timestamp_millis),
            revoked_reason: result.revoked_reason,
        }))
    }

    /// Whether `bytes` are the very document result `id` signed.
    pub async fn matches_result(&self, id: Uuid, bytes: &[u8]) -> Result<Option<bool>, DossierError> {
        let Some(result) = store::result_by_id(&self.db, id).await? else {
            return Ok(None);
        };
        let Some(key) = store::signing_key_by_id(&self.db, &result.key_id).await? else {
            return Ok(Some(false));
        };
        Ok(Some(
            egov_documents::verify(&key.public_pem, bytes, &signature_from(&result)).is_ok(),
        ))
    }

    /// The agency's leader revokes a result (a decision annulled), with the
    /// reason the verification page shows.
    pub async fn revoke_result(&self, official: &Official, code: &str, reason: &str) -> Result<(), DossierError> {
        let actor = Actor::Official(official.clone());
        let row = self.visible(&actor, code).await?;
        if official.agency_code != row.agency_code || !official.has(Role::Leader) {
            return Err(DossierError::Forbidden("only the agency's leader revokes its results"));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 1_000 {
            return Err(DossierError::invalid(
                "note",
                "Nêu lý do thu hồi (hiển thị trên trang kiểm tra).",
                "Give the reason (the verification page shows it).",
            ));
        }
        let result = store::result_of(&self.db, row.id)
            .await?
            .ok_or(DossierError::NotFound)?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if !store::revoke_result(&mut tx, result.id, &official.subject, reason, now.timestamp_millis()).await? {
            tx.rollback().await?;
            return Err(DossierError::Conflict);
        }
        let current = super::transition::situation(&row);
        self.log(
            &mut tx,
            &actor,
            &row,
            "revoke_result",
            Some(current.state),
            &current,
            reason,
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: &official.subject,
                action: "onestop.result_revoked",
                subject: &format!("dossier:{}", row.code),
                detail: json!({ "result": result.id, "reason": reason }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_masked_to_initials() {
        assert_eq!(super::masked("Nguyễn Văn An"), "Nguyễn V. A.");
        assert_eq!(super::masked("Đỗ"), "Đỗ");
        assert_eq!(super::masked(""), "");
    }
}
