//! What the pages and the API show of dossiers: the full view for the
//! applicant and the agency, the back office's queue, the applicant's list,
//! the public lookup, and document downloads. An official's every read of a
//! dossier is audited.

use chrono::{DateTime, Utc};
use egov_db::audit;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::domain::{Action, DossierCode, State, Timeliness};
use super::store::{self, DocumentRow, DossierRow, QueueFilter};
use super::transition::situation;
use super::{Actor, DossierError, Dossiers, Official};

/// A dossier as its applicant or an official sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DossierView {
    pub code: String,
    pub procedure_code: String,
    pub procedure_name: String,
    pub procedure_version: i32,
    pub agency_code: String,
    pub agency_name: String,
    /// The agency that holds the dossier now (another one while transferred).
    pub holder_agency: String,
    pub channel: String,
    pub applicant_name: String,
    pub state: State,
    pub state_label: String,
    /// The workflow step the dossier is at.
    pub step: String,
    /// The official working on it, if one took it.
    pub assignee_name: Option<String>,
    /// The department of its current step, if any.
    pub department: Option<String>,
    pub fee_vnd: i64,
    pub fee_paid_vnd: i64,
    pub payments: Vec<PaymentView>,
    /// The signed result, once issued.
    pub result: Option<ResultSummary>,
    pub submitted_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    /// The appointment (or, before reception, the desk's deadline).
    pub due_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub timeliness: Option<Timeliness>,
    /// Bumped by every change; send it back with an action.
    pub revision: i32,
    /// What this viewer may do now.
    pub allowed_actions: Vec<Action>,
    #[schema(value_type = Object)]
    pub values: Value,
    pub documents: Vec<DocumentView>,
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub slot: String,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    pub internal: bool,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResultSummary {
    /// Its verification page is `/verify/{id}`.
    pub id: Uuid,
    pub document_number: String,
    pub signed_at: DateTime<Utc>,
    pub sha256: String,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub reference: String,
    /// `gateway` or `vietqr`.
    pub method: String,
    pub amount_vnd: i64,
    /// `pending`, `paid`, `failed`, `cancelled`, `refund_due` or `refunded`.
    pub status: String,
    pub settled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor_name: String,
    pub agency_code: Option<String>,
    pub note: String,
}

/// A line of a queue or of the applicant's list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DossierSummary {
    pub code: String,
    /// The official working on it, if one took it.
    pub assignee_name: Option<String>,
    /// The department of its current step, if any.
    pub department: Option<String>,
    pub procedure_code: String,
    pub procedure_name: String,
    pub applicant_name: String,
    pub channel: String,
    pub state: State,
    pub state_label: String,
    pub submitted_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub timeliness: Option<Timeliness>,
}

/// What anyone may learn with a dossier code and the applicant's personal
/// ID: progress only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicProgress {
    pub code: String,
    pub procedure_name: String,
    pub state: State,
    pub state_label: String,
    pub submitted_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the dossier reached each state.
    pub steps: Vec<(DateTime<Utc>, State)>,
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn timeliness(row: &DossierRow, now_ms: i64) -> Option<Timeliness> {
    let state = State::parse(&row.state)?;
    if state.is_final() {
        return row
            .late
            .map(|late| if late { Timeliness::Late } else { Timeliness::OnTime });
    }
    if state.clock_paused() {
        return None;
    }
    row.due_at.map(|due| Timeliness::of(due, now_ms))
}

/// Which filters a queue offers: the dossiers waiting for this office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    /// Online dossiers waiting for the desk.
    New,
    /// Received or in processing.
    Processing,
    /// Waiting for the applicant.
    Waiting,
    /// Approved or signed, to return.
    ToReturn,
    /// Finished.
    Done,
    All,
}

impl QueueKind {
    pub fn parse(value: &str) -> Option<QueueKind> {
        serde_json::from_value(Value::String(value.to_owned())).ok()
    }

    pub fn states(self) -> Vec<State> {
        match self {
            QueueKind::New => vec![State::Submitted],
            QueueKind::Processing => vec![State::Received, State::Processing, State::Transferred],
            QueueKind::Waiting => vec![State::Supplement, State::Paused],
            QueueKind::ToReturn => vec![State::Approved, State::ResultReady],
            QueueKind::Done => vec![State::Returned, State::Refused, State::Withdrawn, State::Stopped],
            QueueKind::All => Vec::new(),
        }
    }
}

/// A queue search.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    pub kind: QueueKind,
    /// Words of a code, a name or a procedure (diacritics fold).
    pub text: String,
    pub procedure_code: Option<String>,
    /// Only the dossiers assigned to the official asking.
    pub mine: bool,
    /// Only those at this department's steps (for an official of the
    /// whole agency; one of a department sees their department's anyway).
    pub department: Option<String>,
    /// Submitted on or after this day (Vietnam time).
    pub submitted_from: Option<chrono::NaiveDate>,
    /// Submitted on or before this day.
    pub submitted_to: Option<chrono::NaiveDate>,
    pub page: u32,
}

/// How many lookups that find nothing an address may make per window,
/// before every lookup from it waits: personal ID numbers are guessable by
/// brute force if nothing stops it. Kept per node.
pub const LOOKUP_MISSES: u32 = 20;
const LOOKUP_WINDOW: std::time::Duration = std::time::Duration::from_mins(10);

/// Failed lookups per client address in the current window.
#[derive(Debug, Default)]
pub struct LookupLimiter {
    misses: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (std::time::Instant, u32)>>,
}

impl LookupLimiter {
    fn blocked(&self, client: std::net::IpAddr) -> bool {
        let misses = self.misses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        misses
            .get(&client)
            .is_some_and(|(since, count)| since.elapsed() < LOOKUP_WINDOW && *count >= LOOKUP_MISSES)
    }

    fn missed(&self, client: std::net::IpAddr) {
        let mut misses = self.misses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if misses.len() > 100_000 {
            misses.retain(|_, (since, _)| since.elapsed() < LOOKUP_WINDOW);
        }
        let entry = misses.entry(client).or_insert((std::time::Instant::now(), 0));
        if entry.0.elapsed() >= LOOKUP_WINDOW {
            *entry = (std::time::Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// The first millisecond of a Vietnamese day.
fn day_start_ms(day: chrono::NaiveDate) -> i64 {
    super::submit::from_vn(day.and_time(chrono::NaiveTime::MIN)).timestamp_millis()
}

/// Lines per queue page.
pub const QUEUE_PAGE: i64 = 50;

impl Dossiers {
    async fn procedure_name(&self, code: &str) -> String {
        match self.catalogue.snapshot().await {
            Ok(snapshot) => snapshot
                .index
                .get(code)
                .map_or_else(|| code.to_owned(), |procedure| procedure.name_vi.clone()),
            Err(_) => code.to_owned(),
        }
    }

    fn summary(row: &DossierRow, procedure_name: String, now_ms: i64) -> DossierSummary {
        let state = State::parse(&row.state).unwrap_or(State::Submitted);
        DossierSummary {
            code: row.code.clone(),
            assignee_name: row.assignee_name.clone(),
            department: row.department.clone(),
            procedure_code: row.procedure_code.clone(),
            procedure_name,
            applicant_name: row.applicant_name.clone(),
            channel: row.channel.clone(),
            state,
            state_label: state.label_vi().to_owned(),
            submitted_at: instant(row.submitted_at),
            due_at: row.due_at.map(instant),
            timeliness: timeliness(row, now_ms),
        }
    }

    /// The dossier as `actor` may see it. Officials' reads are audited.
    pub async fn view(&self, actor: &Actor, code: &str) -> Result<DossierView, DossierError> {
        let row = self.visible(actor, code).await?;
        if let Actor::Official(official) = actor {
            let mut tx = self.db.begin().await?;
            audit::record(
                &mut tx,
                &audit::AuditEntry {
                    actor: &official.subject,
                    action: "onestop.dossier_read",
                    subject: &format!("dossier:{}", row.code),
                    detail: json!({ "agency": official.agency_code }),
                    ip: None,
                },
                self.now(),
            )
            .await?;
            tx.commit().await?;
        }
        self.build_view(actor, row).await
    }

    /// The dossier as it stands right after `actor` acted on it. The action
    /// is audited already, so this read is not audited again; and if the
    /// action handed the dossier out of the actor's reach (a transfer handed
    /// back), they learn only the outcome of what they just did.
    pub async fn view_after_act(&self, actor: &Actor, code: &str) -> Result<DossierView, DossierError> {
        let row = store::by_code(&self.db, code).await?.ok_or(DossierError::NotFound)?;
        if self.reaches(actor, &row).await? {
            return self.build_view(actor, row).await;
        }
        let mut view = self.build_view(actor, row).await?;
        view.values = Value::Null;
        view.documents.clear();
        view.events.clear();
        Ok(view)
    }

    /// The departments of an agency.
    pub async fn departments(&self, agency_code: &str) -> Result<Vec<crate::directory::Department>, egov_db::DbError> {
        crate::directory::store::departments(&self.db, agency_code).await
    }

    /// Whether `actor` may see the dossier `code` now (not audited: it
    /// reads nothing of the dossier's content).
    pub async fn sees(&self, actor: &Actor, code: &str) -> Result<bool, DossierError> {
        match store::by_code(&self.db, code).await? {
            Some(row) => Ok(self.reaches(actor, &row).await?),
            None => Ok(false),
        }
    }

    #[allow(clippy::too_many_lines)] // One view, assembled field by field.
    async fn build_view(&self, actor: &Actor, row: DossierRow) -> Result<DossierView, DossierError> {
        let now = self.now();
        let version = self
            .version(&row.procedure_code, row.procedure_version)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let current = situation(&row);
        let allowed = current
            .allowed(&version.steps)
            .into_iter()
            .filter(|action| match actor {
                Actor::Applicant(_) => action.by_applicant(),
                Actor::Official(official) => {
                    !action.by_applicant()
                        && official.agency_code == row.holder_agency
                        && official.covers(row.department.as_deref(), row.assignee.as_deref())
                        && current
                            .role_for(*action, &version.steps)
                            .is_none_or(|role| official.has(role))
                }
            })
            .collect();
        let applicant = matches!(actor, Actor::Applicant(_));
        let documents = store::documents(&self.db, row.id)
            .await?
            .into_iter()
            .filter(|document| !(applicant && document.internal))
            .map(|document| DocumentView {
                id: document.id,
                slot: document.slot,
                file_name: document.file_name,
                media_type: document.media_type,
                size: document.size,
                internal: document.internal,
                added_at: instant(document.added_at),
            })
            .collect();
        let events = store::events(&self.db, row.id)
            .await?
            .into_iter()
            .filter(|event| !(applicant && event.action == "note"))
            .map(|event| EventView {
                id: event.id,
                at: instant(event.at),
                action: event.action,
                from_state: event.from_state,
                to_state: event.to_state,
                actor_name: event.actor_name,
                agency_code: event.agency_code,
                note: event.note,
            })
            .collect();
        let payments = store::payments(&self.db, row.id)
            .await?
            .into_iter()
            .map(|payment| PaymentView {
                reference: payment.reference,
                method: payment.method,
                amount_vnd: payment.amount_vnd,
                status: payment.status,
                settled_at: payment.settled_at.map(instant),
            })
            .collect();
        let result = store::result_of(&self.db, row.id).await?.map(|result| ResultSummary {
            id: result.id,
            document_number: result.document_number,
            signed_at: instant(result.signed_at),
            sha256: result.sha256,
            revoked: result.revoked_at.is_some(),
        });
        let snapshot = self.catalogue.snapshot().await?;
        let agency_name = snapshot
            .agency(&row.agency_code)
            .map_or_else(|| row.agency_code.clone(), |agency| agency.name_vi.clone());
        Ok(DossierView {
            procedure_name: self.procedure_name(&row.procedure_code).await,
            agency_name,
            state: current.state,
            state_label: current.state.label_vi().to_owned(),
            step: version
                .steps
                .kind(current.step)
                .map_or("", super::domain::StepKind::as_str)
                .to_owned(),
            submitted_at: instant(row.submitted_at),
            received_at: row.received_at.map(instant),
            due_at: row.due_at.map(instant),
            finished_at: row.finished_at.map(instant),
            timeliness: timeliness(&row, now.timestamp_millis()),
            allowed_actions: allowed,
            values: serde_json::from_str(&row.form_data).unwrap_or(Value::Null),
            documents,
            events,
            code: row.code,
            procedure_code: row.procedure_code,
            procedure_version: row.procedure_version,
            agency_code: row.agency_code,
            holder_agency: row.holder_agency,
            channel: row.channel,
            applicant_name: row.applicant_name,
            assignee_name: row.assignee_name,
            department: row.department,
            fee_vnd: row.fee_vnd,
            fee_paid_vnd: row.fee_paid_vnd,
            payments,
            result,
            revision: row.revision,
        })
    }

    /// The back office's queue of the official's agency.
    pub async fn queue(&self, official: &Official, query: &QueueQuery) -> Result<Vec<DossierSummary>, DossierError> {
        let filter = QueueFilter {
            states: query
                .kind
                .states()
                .into_iter()
                .map(|state| state.as_str().to_owned())
                .collect(),
            words: egov_core::text::fold(&query.text)
                .split_whitespace()
                .take(8)
                .map(str::to_owned)
                .collect(),
            procedure_code: query.procedure_code.clone(),
            assignee: query.mine.then(|| official.subject.clone()),
            within_department: official
                .department
                .clone()
                .map(|department| (department, official.subject.clone())),
            department: query.department.clone().filter(|_| official.department.is_none()),
            submitted_from: query.submitted_from.map(day_start_ms),
            submitted_to: query.submitted_to.and_then(|day| day.succ_opt()).map(day_start_ms),
            limit: QUEUE_PAGE,
            offset: i64::from(query.page.saturating_sub(1)) * QUEUE_PAGE,
        };
        let rows = store::queue(&self.db, &official.agency_code, &filter).await?;
        self.summaries(&rows).await
    }

    async fn summaries(&self, rows: &[DossierRow]) -> Result<Vec<DossierSummary>, DossierError> {
        let snapshot = self.catalogue.snapshot().await?;
        let now_ms = self.now().timestamp_millis();
        Ok(rows
            .iter()
            .map(|row| {
                let name = snapshot
                    .index
                    .get(&row.procedure_code)
                    .map_or_else(|| row.procedure_code.clone(), |procedure| procedure.name_vi.clone());
                Dossiers::summary(row, name, now_ms)
            })
            .collect())
    }

    /// An applicant's own dossiers, newest first.
    pub async fn mine(&self, subject: &str) -> Result<Vec<DossierSummary>, DossierError> {
        let rows = store::for_applicant(&self.db, subject, 200).await?;
        self.summaries(&rows).await
    }

    /// Progress of a dossier for anyone who knows its code and the
    /// applicant's personal ID; `None` if they do not match.
    /// After [`LOOKUP_MISSES`] misses from one address in ten minutes,
    /// every lookup from it is refused until the window ends.
    pub async fn lookup(
        &self,
        code: &str,
        personal_id: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Option<PublicProgress>, DossierError> {
        if client.is_some_and(|client| self.lookups.blocked(client)) {
            return Err(DossierError::TooManyAttempts);
        }
        let missed = || {
            if let Some(client) = client {
                self.lookups.missed(client);
            }
        };
        let Some(code) = DossierCode::parse(code) else {
            missed();
            return Ok(None);
        };
        let Some(row) = store::by_code(&self.db, code.as_str()).await? else {
            missed();
            return Ok(None);
        };
        let matches = row.applicant_personal_id.as_deref().is_some_and(|known| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                known.as_bytes(),
                personal_id.trim().as_bytes(),
            ))
        });
        if !matches {
            missed();
            return Ok(None);
        }
        let state = State::parse(&row.state).unwrap_or(State::Submitted);
        let steps = store::events(&self.db, row.id)
            .await?
            .into_iter()
            .filter(|event| event.from_state.as_deref() != Some(event.to_state.as_str()))
            .filter_map(|event| State::parse(&event.to_state).map(|state| (instant(event.at), state)))
            .collect();
        Ok(Some(PublicProgress {
            code: row.code.clone(),
            procedure_name: self.procedure_name(&row.procedure_code).await,
            state,
            state_label: state.label_vi().to_owned(),
            submitted_at: instant(row.submitted_at),
            received_at: row.received_at.map(instant),
            due_at: row.due_at.map(instant),
            finished_at: row.finished_at.map(instant),
            steps,
        }))
    }

    /// A document of a dossier and its content, for someone who may see it.
    pub async fn document(
        &self,
        actor: &Actor,
        code: &str,
        document_id: Uuid,
    ) -> Result<(DocumentRow, Vec<u8>), DossierError> {
        let row = self.visible(actor, code).await?;
        let document = store::documents(&self.db, row.id)
            .await?
            .into_iter()
            .find(|document| document.id == document_id)
            .filter(|document| !(matches!(actor, Actor::Applicant(_)) && document.internal))
            .ok_or(DossierError::NotFound)?;
        let content = store::file_content(&self.db, &document.sha256)
            .await?
            .ok_or(DossierError::NotFound)?;
        Ok((document, content))
    }
}
