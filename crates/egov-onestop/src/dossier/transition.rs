//! Moving a dossier: who may take which action, what each action changes
//! beside the state (the appointment, the clock, the holder), and the
//! comments officials and applicants add without moving it.

use chrono::{DateTime, Utc};
use egov_db::{DbError, Tx, audit};
use serde_json::json;

use super::domain::{Action, Delivery, DossierCode, Situation, State};
use super::store::{self, Change, DossierRow, EventRow};
use super::submit::{self, NewDocument, from_vn, to_vn};
use super::writer::{ActionWrite, ActionWriter, AddedDocuments, Applied, AuditRecord};
use super::{Actor, DossierError, Dossiers};

/// Longest note or message, in characters.
pub const MAX_NOTE_CHARS: usize = 4_000;

/// One action on a dossier.
#[derive(Debug, Clone)]
pub struct Act {
    pub action: Action,
    /// The revision the actor saw. An action taken on a stale view is a
    /// conflict; `None` acts on whatever is current.
    pub revision: Option<i32>,
    /// The reason or note (required for a supplement request, a refusal and
    /// a stop: it is what the applicant reads on the form).
    pub note: String,
    /// For a transfer: the agency that processes its part.
    pub transfer_to: Option<String>,
    /// Documents added with the action: the applicant's supplement, or an
    /// official's internal attachments.
    pub documents: Vec<NewDocument>,
    /// For a return: how the result reached the applicant.
    pub delivery: Option<Delivery>,
}

impl Act {
    pub fn new(action: Action) -> Act {
        Act {
            action,
            revision: None,
            note: String::new(),
            transfer_to: None,
            documents: Vec::new(),
            delivery: None,
        }
    }
}

/// Where a dossier stands after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acted {
    pub revision: i32,
    pub state: State,
}

/// The situation a stored row describes.
pub(crate) fn situation(row: &DossierRow) -> Situation {
    Situation {
        state: State::parse(&row.state).unwrap_or(State::Submitted),
        step: usize::try_from(row.step).unwrap_or(0),
        resume: row.resume_state.as_deref().and_then(State::parse),
    }
}

/// Whether `actor` may see the dossier by the agency and department rules
/// alone ([`Dossiers::reaches`] adds the officials who took part).
pub(crate) fn may_see(actor: &Actor, row: &DossierRow) -> bool {
    match actor {
        Actor::Applicant(applicant) => applicant.subject == row.applicant_subject,
        Actor::Official(official) => {
            (official.agency_code == row.holder_agency || official.agency_code == row.agency_code)
                && official.covers(row.department.as_deref(), row.assignee.as_deref())
        }
    }
}

impl Dossiers {
    /// Loads a dossier `actor` may see; anything else is `NotFound`.
    pub(crate) async fn visible(&self, actor: &Actor, code: &str) -> Result<DossierRow, DossierError> {
        let code = DossierCode::parse(code).ok_or(DossierError::NotFound)?;
        let row = store::by_code(&self.db, code.as_str())
            .await?
            .ok_or(DossierError::NotFound)?;
        if self.reaches(actor, &row).await? {
            Ok(row)
        } else {
            Err(DossierError::NotFound)
        }
    }

    /// Whether `actor` may see the dossier `row`: as [`may_see`] says, or as
    /// an official of its agency who acted on it at an earlier step (the
    /// desk that received it prints its receipt and answers the applicant
    /// while another department works on it). Acting stays with the step's
    /// department.
    pub(crate) async fn reaches(&self, actor: &Actor, row: &DossierRow) -> Result<bool, DbError> {
        if may_see(actor, row) {
            return Ok(true);
        }
        match actor {
            Actor::Official(official)
                if official.agency_code == row.holder_agency || official.agency_code == row.agency_code =>
            {
                store::has_acted(&self.db, row.id, &official.subject).await
            }
            _ => Ok(false),
        }
    }

    /// Takes `act` on the dossier `code`; returns where it now stands.
    #[allow(clippy::too_many_lines)] // Each action's side effects, in one place.
    pub async fn act(&self, actor: &Actor, code: &str, act: Act) -> Result<Acted, DossierError> {
        let row = self.visible(actor, code).await?;
        // The actor decided on a view that is already out of date.
        if act.revision.is_some_and(|seen| seen != row.revision) {
            return Err(DossierError::Conflict);
        }
        let version = self
            .version(&row.procedure_code, row.procedure_version)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let current = situation(&row);
        match actor {
            Actor::Applicant(_) if !act.action.by_applicant() => {
                return Err(DossierError::Forbidden("only officials take this action"));
            }
            Actor::Official(_) if act.action.by_applicant() => {
                return Err(DossierError::Forbidden("only the applicant takes this action"));
            }
            Actor::Official(official) => {
                if official.agency_code != row.holder_agency {
                    return Err(DossierError::Forbidden("the dossier is held by another agency"));
                }
                if !official.covers(row.department.as_deref(), row.assignee.as_deref()) {
                    return Err(DossierError::Forbidden("the dossier is at another department's step"));
                }
                let needed = current.role_for(act.action, &version.steps);
                if needed.is_some_and(|role| !official.has(role)) {
                    return Err(DossierError::Forbidden("this action needs another role"));
                }
            }
            Actor::Applicant(_) => {}
        }
        let next = current.apply(act.action, &version.steps)?;
        let note = act.note.trim().to_owned();
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(DossierError::invalid(
                "note",
                format!("Dài quá {MAX_NOTE_CHARS} ký tự."),
                format!("Longer than {MAX_NOTE_CHARS} characters."),
            ));
        }
        if matches!(act.action, Action::RequestSupplement | Action::Refuse | Action::Stop) && note.is_empty() {
            return Err(DossierError::invalid(
                "note",
                "Nêu rõ lý do (nội dung này được gửi cho người nộp).",
                "Give the reason (the applicant reads it).",
            ));
        }
        let by_official = matches!(actor, Actor::Official(_));
        let documents =
            submit::check_documents(&version, act.documents, false, by_official).map_err(DossierError::Invalid)?;
        if act.action == Action::Supplement && documents.is_empty() && note.is_empty() {
            return Err(DossierError::invalid(
                "documents",
                "Tải lên giấy tờ được yêu cầu bổ sung hoặc ghi nội dung trả lời.",
                "Upload what was asked for or write an answer.",
            ));
        }

        let now = self.now();
        let now_ms = now.timestamp_millis();
        let snapshot = self.catalogue.snapshot().await?;
        let office = snapshot
            .agency(&row.agency_code)
            .map(|agency| agency.office_hours)
            .unwrap_or_default();
        let mut holder = row.holder_agency.clone();
        let mut received_at = row.received_at;
        let mut due_at = row.due_at;
        let mut paused_at = row.paused_at;
        let mut finished_at = row.finished_at;
        let mut late = row.late;
        match act.action {
            Action::Accept => {
                let due = self.calendar.add_working_minutes(
                    to_vn(now),
                    version.processing_days * office.minutes_per_day(),
                    &office,
                );
                received_at = Some(now_ms);
                due_at = Some(from_vn(due).timestamp_millis());
            }
            Action::RequestSupplement | Action::Pause => paused_at = Some(now_ms),
            Action::Supplement | Action::Resume => {
                if next.state == State::Submitted {
                    // The desk's 8 working hours start again with the
                    // supplemented dossier.
                    let due = self
                        .calendar
                        .add_working_hours(to_vn(now), submit::RECEPTION_HOURS, &office);
                    due_at = Some(from_vn(due).timestamp_millis());
                } else if let (Some(paused), Some(due)) = (paused_at, due_at) {
                    due_at = Some(self.extend_by_pause(paused, now, due, &office));
                }
                paused_at = None;
            }
            Action::Transfer => {
                let target = act
                    .transfer_to
                    .as_deref()
                    .filter(|target| *target != row.agency_code)
                    .filter(|target| snapshot.agency(target).is_some())
                    .ok_or_else(|| {
                        DossierError::invalid(
                            "transfer_to",
                            "Chọn một cơ quan khác của hệ thống.",
                            "Choose another agency of this instance.",
                        )
                    })?;
                target.clone_into(&mut holder);
            }
            Action::ReturnTransfer => holder.clone_from(&row.agency_code),
            Action::Return => {
                finished_at = Some(now_ms);
                late = Some(due_at.is_some_and(|due| now_ms > due));
            }
            Action::Refuse | Action::Withdraw | Action::Stop => finished_at = Some(now_ms),
            Action::Forward | Action::SendBack | Action::Approve | Action::Sign => {}
        }
        // The whole receiving agency sees a transferred dossier; a finished
        // one belongs to no step.
        let department = if holder == row.agency_code && !next.state.is_final() {
            version.department_at(next.step)
        } else {
            None
        };
        let change = Change {
            state: next.state.as_str(),
            step: i32::try_from(next.step).unwrap_or(0),
            resume_state: next.resume.map(State::as_str),
            department: department.map(str::to_owned),
            assignee: row.assignee.clone(),
            holder_agency: holder.clone(),
            received_at,
            due_at,
            paused_at,
            finished_at,
            late,
            supplement_requests: i32::from(act.action == Action::RequestSupplement),
            transfers: i32::from(act.action == Action::Transfer),
        };
        let expected = act.revision.unwrap_or(row.revision);
        let note_line = match act.delivery {
            Some(delivery) => format!("[{}] {note}", delivery.as_str()).trim_end().to_owned(),
            None => note,
        };
        let mut jobs = Vec::new();
        if act.action == Action::Sign {
            jobs.push(super::result::job(row.id, actor));
        }
        if let Some(code) = DossierCode::parse(&row.code)
            && let Some(notice) = notice(&row, &code, next.state)?
        {
            jobs.push(notice);
        }
        if self.status_sync() {
            jobs.push(super::status_sync::job(
                &row.code,
                &row.agency_code,
                &row.procedure_code,
                &row.channel,
                next.state.as_str(),
                expected + 1,
                now_ms,
            ));
        }
        let write = ActionWrite {
            dossier_id: row.id,
            revision: expected,
            change,
            event: event_row(
                actor,
                &row,
                act.action.as_str(),
                Some(current.state),
                &next,
                &note_line,
                now,
            ),
            audit: AuditRecord {
                actor: actor.subject().to_owned(),
                action: "onestop.dossier_action",
                subject: format!("dossier:{}", row.code),
                detail: json!({
                    "action": act.action.as_str(),
                    "from": current.state.as_str(),
                    "to": next.state.as_str(),
                    "holder": holder,
                    "documents": documents.len(),
                }),
            },
            jobs,
            refund_due: matches!(act.action, Action::Refuse | Action::Stop) && row.fee_paid_vnd > 0,
            documents: (!documents.is_empty()).then(|| AddedDocuments {
                documents,
                added_by: actor.subject().to_owned(),
                internal: matches!(actor, Actor::Official(_)),
            }),
            at: now,
        };
        match self.writer().act(write).await? {
            Applied::Moved => Ok(Acted {
                revision: expected + 1,
                state: next.state,
            }),
            Applied::Conflict => Err(DossierError::Conflict),
        }
    }

    /// Adds a comment without moving the dossier: an official's internal
    /// note (`internal`), or a message between the agency and the applicant.
    pub async fn comment(
        &self,
        actor: &Actor,
        code: &str,
        text: &str,
        internal: bool,
        documents: Vec<NewDocument>,
    ) -> Result<(), DossierError> {
        let row = self.visible(actor, code).await?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
            return Err(DossierError::invalid(
                "note",
                format!("Nhập nội dung, tối đa {MAX_NOTE_CHARS} ký tự."),
                format!("Write something, at most {MAX_NOTE_CHARS} characters."),
            ));
        }
        let internal = internal && matches!(actor, Actor::Official(_));
        if let Actor::Official(official) = actor
            && official.agency_code != row.holder_agency
        {
            return Err(DossierError::Forbidden("the dossier is held by another agency"));
        }
        let version = self
            .version(&row.procedure_code, row.procedure_version)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let by_official = matches!(actor, Actor::Official(_));
        let documents =
            submit::check_documents(&version, documents, false, by_official).map_err(DossierError::Invalid)?;
        let now = self.now();
        let current = situation(&row);
        let mut tx = self.db.begin().await?;
        submit::store_documents(
            &mut tx,
            row.id,
            &documents,
            actor.subject(),
            internal,
            now.timestamp_millis(),
        )
        .await?;
        let action = if internal { "note" } else { "message" };
        self.log(&mut tx, actor, &row, action, Some(current.state), &current, text, now)
            .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: actor.subject(),
                action: "onestop.dossier_comment",
                subject: &format!("dossier:{}", row.code),
                detail: json!({ "internal": internal, "documents": documents.len() }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends a step-log line.
    #[allow(clippy::too_many_arguments)] // Every column of the line.
    pub(crate) async fn log(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        row: &DossierRow,
        action: &str,
        from: Option<State>,
        to: &Situation,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        store::insert_event(tx, &event_row(actor, row, action, from, to, note, now)).await
    }

    /// The appointment moved on by the working time the dossier spent
    /// waiting (for a supplement or a pause).
    fn extend_by_pause(
        &self,
        paused_ms: i64,
        now: DateTime<Utc>,
        due_ms: i64,
        office: &egov_core::calendar::OfficeHours,
    ) -> i64 {
        let paused = DateTime::from_timestamp_millis(paused_ms).unwrap_or(now);
        let days = self
            .calendar
            .working_days_between(to_vn(paused).date(), to_vn(now).date())
            .max(0);
        let due = DateTime::from_timestamp_millis(due_ms).unwrap_or(now);
        let minutes = u32::try_from(days).unwrap_or(0) * office.minutes_per_day();
        from_vn(self.calendar.add_working_minutes(to_vn(due), minutes, office)).timestamp_millis()
    }

    /// Tells the applicant, by e-mail, where their dossier now stands (the
    /// portal shows the same from the step log).
    pub(crate) async fn notify(
        &self,
        tx: &mut Tx,
        row: &DossierRow,
        code: &DossierCode,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        if let Some(job) = notice(row, code, state)? {
            egov_db::jobs::enqueue(tx, &job, now).await?;
        }
        Ok(())
    }

    /// The node's action writer, started on first use.
    pub(crate) fn writer(&self) -> &ActionWriter {
        self.writer.get_or_init(|| ActionWriter::start(&self.db))
    }
}

/// A step-log line.
fn event_row(
    actor: &Actor,
    row: &DossierRow,
    action: &str,
    from: Option<State>,
    to: &Situation,
    note: &str,
    now: DateTime<Utc>,
) -> EventRow {
    EventRow {
        id: egov_core::id::new_id(),
        dossier_id: row.id,
        at: now.timestamp_millis(),
        actor: actor.subject().to_owned(),
        actor_name: actor.name().to_owned(),
        agency_code: actor.agency().map(str::to_owned),
        action: action.to_owned(),
        from_state: from.map(|state| state.as_str().to_owned()),
        to_state: to.state.as_str().to_owned(),
        step: i32::try_from(to.step).unwrap_or(0),
        note: note.to_owned(),
    }
}

/// The e-mail job telling the applicant where their dossier now stands, if
/// they gave an address.
pub(crate) fn notice(
    row: &DossierRow,
    code: &DossierCode,
    state: State,
) -> Result<Option<egov_db::jobs::NewJob>, DbError> {
    let Some(email) = row.applicant_email.as_deref().filter(|email| !email.is_empty()) else {
        return Ok(None);
    };
    let mail = egov_mail::OutgoingMail {
        to: email.to_owned(),
        subject: format!("Hồ sơ {code}: {}", state.label_vi()),
        text: format!(
            "Kính gửi {},\n\nHồ sơ {code} của Ông/Bà hiện ở trạng thái: {} ({}).\n\
             Xem chi tiết tại trang Hồ sơ của tôi trên Cổng dịch vụ công: /portal/dossiers/{code}\n\n\
             Dear {},\nYour application {code} is now: {}.\n",
            row.applicant_name,
            state.label_vi(),
            state.label_en(),
            row.applicant_name,
            state.label_en(),
        ),
    };
    Ok(Some(egov_mail::job(&mail, None)?))
}

impl Dossiers {
    /// The applicant rates how their finished dossier was handled (1 to 5,
    /// with an optional comment); a later rating replaces an earlier one.
    pub async fn rate(
        &self,
        applicant: &super::Applicant,
        code: &str,
        rating: i32,
        comment: &str,
    ) -> Result<(), DossierError> {
        let actor = Actor::Applicant(applicant.clone());
        let row = self.visible(&actor, code).await?;
        let current = situation(&row);
        if current.state != State::Returned {
            return Err(DossierError::BadRequest(
                "only a dossier whose result was returned is rated",
            ));
        }
        if !(1..=5).contains(&rating) {
            return Err(DossierError::invalid(
                "rating",
                "Chọn mức từ 1 đến 5.",
                "Choose a rating from 1 to 5.",
            ));
        }
        let comment = comment.trim();
        if comment.chars().count() > 1_000 {
            return Err(DossierError::invalid(
                "comment",
                "Dài quá 1.000 ký tự.",
                "Longer than 1,000 characters.",
            ));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        store::rate(&mut tx, row.id, rating, comment).await?;
        self.log(
            &mut tx,
            &actor,
            &row,
            "rate",
            Some(current.state),
            &current,
            format!("{rating}/5 {comment}").trim_end(),
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: actor.subject(),
                action: "onestop.dossier_rated",
                subject: &format!("dossier:{}", row.code),
                detail: json!({ "rating": rating }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Dossiers {
    /// Form 04: the agency apologises for a dossier that is late (or due
    /// within a day) and sets a new appointment, at the end of office hours
    /// of `new_date`, a working day after the current appointment.
    pub async fn reschedule(
        &self,
        official: &super::Official,
        code: &str,
        revision: Option<i32>,
        new_date: chrono::NaiveDate,
        reason: &str,
    ) -> Result<(), DossierError> {
        let actor = Actor::Official(official.clone());
        let row = self.visible(&actor, code).await?;
        if revision.is_some_and(|seen| seen != row.revision) {
            return Err(DossierError::Conflict);
        }
        if official.agency_code != row.holder_agency {
            return Err(DossierError::Forbidden("the dossier is held by another agency"));
        }
        if !(official.has(super::Role::Leader) || official.has(super::Role::Receiver)) {
            return Err(DossierError::Forbidden("a leader or the desk sets a new appointment"));
        }
        let current = situation(&row);
        let now = self.now();
        let late_or_close = row.due_at.is_some_and(|due| {
            super::domain::Timeliness::of(due, now.timestamp_millis()) != super::domain::Timeliness::OnTime
        });
        if current.state.is_final() || current.state.clock_paused() || !late_or_close {
            return Err(DossierError::BadRequest(
                "only a late or nearly late dossier is rescheduled",
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_NOTE_CHARS {
            return Err(DossierError::invalid(
                "note",
                "Nêu lý do chậm trễ (người nộp sẽ đọc nội dung này).",
                "Give the reason for the delay (the applicant reads it).",
            ));
        }
        let snapshot = self.catalogue.snapshot().await?;
        let office = snapshot
            .agency(&row.agency_code)
            .map(|agency| agency.office_hours)
            .unwrap_or_default();
        let due = from_vn(new_date.and_time(office.afternoon.1)).timestamp_millis();
        if !self.calendar.is_working_day(new_date)
            || row.due_at.is_some_and(|old| due <= old)
            || due <= now.timestamp_millis()
        {
            return Err(DossierError::invalid(
                "due_date",
                "Ngày hẹn mới phải là ngày làm việc, sau ngày hẹn cũ và sau hôm nay.",
                "The new date must be a working day after the old appointment and after today.",
            ));
        }
        let mut tx = self.db.begin().await?;
        if !store::set_due(&mut tx, row.id, row.revision, due).await? {
            tx.rollback().await?;
            return Err(DossierError::Conflict);
        }
        let note = format!("{}: {reason}", new_date.format("%d/%m/%Y"));
        self.log(
            &mut tx,
            &actor,
            &row,
            "reschedule",
            Some(current.state),
            &current,
            &note,
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: actor.subject(),
                action: "onestop.dossier_rescheduled",
                subject: &format!("dossier:{}", row.code),
                detail: json!({ "old_due_at": row.due_at, "new_due_at": due }),
                ip: None,
            },
            now,
        )
        .await?;
        if let Some(code) = DossierCode::parse(&row.code) {
            self.notify(&mut tx, &row, &code, current.state, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Dossiers {
    /// Of `colleagues`, those a leader could give the dossier `code` to at
    /// its current step: their role acts there and their department is the
    /// step's (or they have none).
    pub async fn eligible_assignees(
        &self,
        official: &super::Official,
        code: &str,
        colleagues: Vec<super::Official>,
    ) -> Result<Vec<super::Official>, DossierError> {
        let row = self.visible(&Actor::Official(official.clone()), code).await?;
        let version = self
            .version(&row.procedure_code, row.procedure_version)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let acting_role = situation(&row).acting_role(&version.steps);
        Ok(colleagues
            .into_iter()
            .filter(|colleague| may_be_given(colleague, &row, acting_role))
            .collect())
    }
}

/// Whether a leader may give the dossier `row` to `colleague`: an official
/// of the holding agency whose role acts at the step (`acting_role`), in the
/// step's department or in none.
fn may_be_given(colleague: &super::Official, row: &DossierRow, acting_role: Option<super::Role>) -> bool {
    colleague.agency_code == row.holder_agency
        && acting_role.is_some_and(|role| colleague.has(role))
        && colleague.covers(row.department.as_deref(), None)
}

/// Who is to work on a dossier.
#[derive(Debug, Clone)]
pub enum Assignment {
    /// The caller takes it.
    Take,
    /// Nobody: it goes back to the queue.
    Release,
    /// A leader gives it to this colleague.
    To(super::Official),
}

impl Dossiers {
    /// Assigns a dossier. Anyone whose role acts at the dossier's step (in
    /// its department) may take it while nobody has it; the one who has it
    /// may give it back; a leader may take it from anyone, give it back for
    /// them, or give it to a named colleague whose role acts at the step and
    /// whose department is the step's.
    pub async fn assign(
        &self,
        official: &super::Official,
        code: &str,
        assignment: Assignment,
        revision: Option<i32>,
    ) -> Result<(), DossierError> {
        let actor = Actor::Official(official.clone());
        let row = self.visible(&actor, code).await?;
        if revision.is_some_and(|seen| seen != row.revision) {
            return Err(DossierError::Conflict);
        }
        if official.agency_code != row.holder_agency {
            return Err(DossierError::Forbidden("the dossier is held by another agency"));
        }
        let current = situation(&row);
        if current.state.is_final() {
            return Err(DossierError::BadRequest("a finished dossier is assigned to nobody"));
        }
        let leader = official.has(super::Role::Leader);
        let holder = row.assignee.as_deref();
        let mine = holder == Some(official.subject.as_str());
        let version = self
            .version(&row.procedure_code, row.procedure_version)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let acting_role = current.acting_role(&version.steps);
        let acts_here = acting_role.is_some_and(|role| official.has(role));
        let in_department = official.covers(row.department.as_deref(), holder);
        let assignee = match &assignment {
            Assignment::Take if leader || (acts_here && in_department && (holder.is_none() || mine)) => Some(official),
            Assignment::Release if leader || mine => None,
            Assignment::To(colleague) if leader => {
                if !may_be_given(colleague, &row, acting_role) {
                    return Err(DossierError::invalid(
                        "to",
                        "Người được giao phải là cán bộ của cơ quan, có vai trò xử lý ở bước này và thuộc bộ phận của bước.",
                        "Assign it to an official of the agency whose role acts at this step, in the step's department.",
                    ));
                }
                Some(colleague)
            }
            Assignment::Take => {
                return Err(DossierError::Forbidden(
                    "another official has it, or your role does not act at this step",
                ));
            }
            Assignment::Release => {
                return Err(DossierError::Forbidden(
                    "only the one who has it, or a leader, gives it back",
                ));
            }
            Assignment::To(_) => return Err(DossierError::Forbidden("only a leader assigns a dossier to someone")),
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let pair = assignee.map(|assignee| (assignee.subject.as_str(), assignee.name.as_str()));
        if !store::set_assignee(&mut tx, row.id, row.revision, pair).await? {
            tx.rollback().await?;
            return Err(DossierError::Conflict);
        }
        let (action, note) = match assignee {
            Some(assignee) => ("assign", assignee.name.clone()),
            None => ("release", row.assignee_name.clone().unwrap_or_default()),
        };
        self.log(&mut tx, &actor, &row, action, Some(current.state), &current, &note, now)
            .await?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: &official.subject,
                action: "onestop.dossier_assigned",
                subject: &format!("dossier:{}", row.code),
                detail: json!({
                    "to": assignee.map(|assignee| assignee.subject.as_str()),
                    "by_leader": assignee.is_some_and(|assignee| assignee.subject != official.subject),
                    "previous": row.assignee,
                }),
                ip: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
