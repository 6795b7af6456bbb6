//! Dossiers (hồ sơ) as rules: their states, what moves them, who may move
//! them, and the dossier code.
//!
//! Pure: no IO, no axum, no sqlx. The store persists a [`Situation`]; every
//! change goes through [`Situation::apply`], so a transition the rules do
//! not allow cannot be written.

use serde::{Deserialize, Serialize};

/// Where a dossier stands (after OpenCPS's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Submitted online, waiting for the one-stop desk to check it
    /// (within 8 working hours, Decree 45/2020).
    Submitted,
    /// Accepted by the desk (Form 01 issued); the clock runs.
    Received,
    /// In the agency's workflow.
    Processing,
    /// Waiting for the applicant to supplement (Form 02); the clock pauses.
    Supplement,
    /// Handed to another agency for its part (liên thông).
    Transferred,
    /// Paused by the agency (for a verification outside the dossier).
    Paused,
    /// Approved by the leader; the result is to be signed.
    Approved,
    /// The signed result is ready to return.
    ResultReady,
    /// The result was returned to the applicant.
    Returned,
    /// Refused at the desk (Form 03).
    Refused,
    /// Withdrawn by the applicant.
    Withdrawn,
    /// Stopped by the agency (Form 05).
    Stopped,
}

impl State {
    pub const ALL: [State; 12] = [
        State::Submitted,
        State::Received,
        State::Processing,
        State::Supplement,
        State::Transferred,
        State::Paused,
        State::Approved,
        State::ResultReady,
        State::Returned,
        State::Refused,
        State::Withdrawn,
        State::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Received => "received",
            State::Processing => "processing",
            State::Supplement => "supplement",
            State::Transferred => "transferred",
            State::Paused => "paused",
            State::Approved => "approved",
            State::ResultReady => "result_ready",
            State::Returned => "returned",
            State::Refused => "refused",
            State::Withdrawn => "withdrawn",
            State::Stopped => "stopped",
        }
    }

    pub fn parse(value: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == value)
    }

    /// Whether nothing more happens to the dossier.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Returned | State::Refused | State::Withdrawn | State::Stopped
        )
    }

    /// Whether the processing clock is stopped in this state.
    pub fn clock_paused(self) -> bool {
        matches!(self, State::Supplement | State::Paused)
    }

    pub fn label_vi(self) -> &'static str {
        match self {
            State::Submitted => "Chờ tiếp nhận",
            State::Received => "Đã tiếp nhận",
            State::Processing => "Đang xử lý",
            State::Supplement => "Chờ bổ sung",
            State::Transferred => "Đã chuyển liên thông",
            State::Paused => "Tạm dừng",
            State::Approved => "Đã phê duyệt",
            State::ResultReady => "Có kết quả",
            State::Returned => "Đã trả kết quả",
            State::Refused => "Từ chối tiếp nhận",
            State::Withdrawn => "Đã rút hồ sơ",
            State::Stopped => "Dừng giải quyết",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            State::Submitted => "Awaiting reception",
            State::Received => "Received",
            State::Processing => "Processing",
            State::Supplement => "Awaiting supplement",
            State::Transferred => "Transferred",
            State::Paused => "Paused",
            State::Approved => "Approved",
            State::ResultReady => "Result ready",
            State::Returned => "Result returned",
            State::Refused => "Refused",
            State::Withdrawn => "Withdrawn",
            State::Stopped => "Stopped",
        }
    }
}

/// What a workflow step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The one-stop desk checks and accepts the dossier.
    Receive,
    /// A specialist examines it.
    Review,
    /// A leader approves it.
    Approve,
    /// A leader signs the result.
    Sign,
    /// The desk returns the result.
    Return,
}

impl StepKind {
    pub const ALL: [StepKind; 5] = [
        StepKind::Receive,
        StepKind::Review,
        StepKind::Approve,
        StepKind::Sign,
        StepKind::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Receive => "receive",
            StepKind::Review => "review",
            StepKind::Approve => "approve",
            StepKind::Sign => "sign",
            StepKind::Return => "return",
        }
    }

    /// The role that acts at this step.
    pub fn role(self) -> Role {
        match self {
            StepKind::Receive | StepKind::Return => Role::Receiver,
            StepKind::Review => Role::Specialist,
            StepKind::Approve | StepKind::Sign => Role::Leader,
        }
    }
}

/// The one-stop roles of an official (as the sign-in service names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Receiver,
    Specialist,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Receiver => "receiver",
            Role::Specialist => "specialist",
            Role::Leader => "leader",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        [Role::Receiver, Role::Specialist, Role::Leader]
            .into_iter()
            .find(|role| role.as_str() == value)
    }
}

/// Something that moves a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The desk accepts an online dossier (Form 01).
    Accept,
    /// The desk or the specialist asks for more documents (Form 02).
    RequestSupplement,
    /// The applicant answers a supplement request.
    Supplement,
    /// The desk refuses the dossier (Form 03).
    Refuse,
    /// The official at the current review step hands it to the next step.
    Forward,
    /// Back to the previous processing step.
    SendBack,
    /// The leader approves.
    Approve,
    /// The leader signs the result.
    Sign,
    /// The desk returns the result.
    Return,
    /// Transfer to another agency for its part (liên thông).
    Transfer,
    /// The other agency hands its part back.
    ReturnTransfer,
    /// The leader pauses processing.
    Pause,
    /// The leader resumes it.
    Resume,
    /// The leader stops processing (Form 05).
    Stop,
    /// The applicant withdraws.
    Withdraw,
}

impl Action {
    pub const ALL: [Action; 15] = [
        Action::Accept,
        Action::RequestSupplement,
        Action::Supplement,
        Action::Refuse,
        Action::Forward,
        Action::SendBack,
        Action::Approve,
        Action::Sign,
        Action::Return,
        Action::Transfer,
        Action::ReturnTransfer,
        Action::Pause,
        Action::Resume,
        Action::Stop,
        Action::Withdraw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::RequestSupplement => "request_supplement",
            Action::Supplement => "supplement",
            Action::Refuse => "refuse",
            Action::Forward => "forward",
            Action::SendBack => "send_back",
            Action::Approve => "approve",
            Action::Sign => "sign",
            Action::Return => "return",
            Action::Transfer => "transfer",
            Action::ReturnTransfer => "return_transfer",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Stop => "stop",
            Action::Withdraw => "withdraw",
        }
    }

    pub fn parse(value: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.as_str() == value)
    }

    /// Whether the applicant (not an official) takes this action.
    pub fn by_applicant(self) -> bool {
        matches!(self, Action::Supplement | Action::Withdraw)
    }

    pub fn label_vi(self) -> &'static str {
        match self {
            Action::Accept => "Tiếp nhận",
            Action::RequestSupplement => "Yêu cầu bổ sung",
            Action::Supplement => "Bổ sung hồ sơ",
            Action::Refuse => "Từ chối",
            Action::Forward => "Chuyển bước tiếp",
            Action::SendBack => "Trả lại bước trước",
            Action::Approve => "Phê duyệt",
            Action::Sign => "Ký kết quả",
            Action::Return => "Trả kết quả",
            Action::Transfer => "Chuyển liên thông",
            Action::ReturnTransfer => "Trả hồ sơ liên thông",
            Action::Pause => "Tạm dừng",
            Action::Resume => "Tiếp tục",
            Action::Stop => "Dừng giải quyết",
            Action::Withdraw => "Rút hồ sơ",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Action::Accept => "Accept",
            Action::RequestSupplement => "Request supplement",
            Action::Supplement => "Supplement",
            Action::Refuse => "Refuse",
            Action::Forward => "Forward to next step",
            Action::SendBack => "Send back one step",
            Action::Approve => "Approve",
            Action::Sign => "Sign the result",
            Action::Return => "Return the result",
            Action::Transfer => "Transfer to another agency",
            Action::ReturnTransfer => "Hand the transfer back",
            Action::Pause => "Pause",
            Action::Resume => "Resume",
            Action::Stop => "Stop",
            Action::Withdraw => "Withdraw",
        }
    }
}

/// One step of a procedure's workflow template: what is done there (which
/// also says the role that acts), the department of the agency that acts,
/// and the working hours it is given. Read from either a bare kind
/// (`"review"`, as early versions stored it) or the full object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(from = "StepSpec")]
pub struct WorkflowStep {
    pub kind: StepKind,
    /// The acting department's code (`MOT_CUA`); none: the whole agency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Working hours allowed for the step; none: not planned separately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
}

impl WorkflowStep {
    pub fn new(kind: StepKind, department: Option<&str>, hours: Option<u32>) -> WorkflowStep {
        WorkflowStep {
            kind,
            department: department.map(str::to_owned),
            hours,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StepSpec {
    Kind(StepKind),
    Full {
        kind: StepKind,
        #[serde(default)]
        department: Option<String>,
        #[serde(default)]
        hours: Option<u32>,
    },
}

impl From<StepSpec> for WorkflowStep {
    fn from(spec: StepSpec) -> WorkflowStep {
        match spec {
            StepSpec::Kind(kind) => WorkflowStep {
                kind,
                department: None,
                hours: None,
            },
            StepSpec::Full {
                kind,
                department,
                hours,
            } => WorkflowStep {
                kind,
                department,
                hours,
            },
        }
    }
}

/// The steps of a procedure's workflow, in order. A valid workflow starts
/// with `receive`, has at least one `review`, then `approve`, `sign` and
/// ends with `return`, in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(Vec<StepKind>);

impl Steps {
    /// The usual path: receive, review, approve, sign, return.
    pub fn standard() -> Steps {
        Steps(vec![
            StepKind::Receive,
            StepKind::Review,
            StepKind::Approve,
            StepKind::Sign,
            StepKind::Return,
        ])
    }

    /// Checks the order; `None` if it is not a workflow this machine runs.
    pub fn new(kinds: Vec<StepKind>) -> Option<Steps> {
        let reviews = kinds.iter().filter(|kind| **kind == StepKind::Review).count();
        let expected_tail = [StepKind::Approve, StepKind::Sign, StepKind::Return];
        let well_formed = kinds.len() == reviews + 4
            && kinds.first() == Some(&StepKind::Receive)
            && reviews >= 1
            && kinds[1..=reviews].iter().all(|kind| *kind == StepKind::Review)
            && kinds[reviews + 1..] == expected_tail;
        well_formed.then_some(Steps(kinds))
    }

    pub fn kinds(&self) -> &[StepKind] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn kind(&self, index: usize) -> Option<StepKind> {
        self.0.get(index).copied()
    }

    fn index_of(&self, kind: StepKind) -> usize {
        // `new` guarantees each of the fixed kinds is present.
        self.0.iter().position(|step| *step == kind).unwrap_or(0)
    }
}

/// Where a dossier stands, as far as the rules need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Situation {
    pub state: State,
    /// Index into the workflow's steps.
    pub step: usize,
    /// The state to go back to when a supplement, a pause or a transfer
    /// ends.
    pub resume: Option<State>,
}

/// A transition the rules do not allow, with those they do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{action}` is not allowed in state `{state}`", action = action.as_str(), state = state.as_str())]
pub struct NotAllowed {
    pub action: Action,
    pub state: State,
    pub allowed: Vec<Action>,
}

impl Situation {
    /// A dossier just submitted online.
    pub fn submitted() -> Situation {
        Situation {
            state: State::Submitted,
            step: 0,
            resume: None,
        }
    }

    /// A dossier registered at the counter: the desk accepts it as it takes
    /// it, so it starts received and at the first review step.
    pub fn received_at_counter() -> Situation {
        Situation {
            state: State::Received,
            step: 1,
            resume: None,
        }
    }

    /// The actions the rules allow now, in [`Action::ALL`] order.
    pub fn allowed(&self, steps: &Steps) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|action| self.next(*action, steps).is_some())
            .collect()
    }

    /// The role that acts on the dossier now, if an official does.
    pub fn acting_role(&self, steps: &Steps) -> Option<Role> {
        match self.state {
            State::Submitted | State::ResultReady => Some(Role::Receiver),
            State::Received | State::Processing => steps.kind(self.step).map(StepKind::role),
            State::Approved => Some(Role::Leader),
            _ => None,
        }
    }

    /// The situation after `action`, or why it may not happen.
    pub fn apply(&self, action: Action, steps: &Steps) -> Result<Situation, NotAllowed> {
        self.next(action, steps).ok_or_else(|| NotAllowed {
            action,
            state: self.state,
            allowed: Action::ALL
                .into_iter()
                .filter(|other| *other != action && self.next(*other, steps).is_some())
                .collect(),
        })
    }

    fn next(&self, action: Action, steps: &Steps) -> Option<Situation> {
        let step = steps.kind(self.step);
        let moved = |state: State, step: usize| Situation {
            state,
            step,
            resume: None,
        };
        let holding = |state: State| Situation {
            state,
            step: self.step,
            resume: Some(self.state),
        };
        match (self.state, action) {
            (State::Submitted, Action::Accept) => Some(moved(State::Received, 1)),
            (State::Submitted | State::Received | State::Processing, Action::RequestSupplement) => {
                Some(holding(State::Supplement))
            }
            (State::Supplement, Action::Supplement) | (State::Paused, Action::Resume) => Some(Situation {
                state: self.resume.unwrap_or(State::Processing),
                step: self.step,
                resume: None,
            }),
            (State::Transferred, Action::ReturnTransfer) => Some(moved(State::Processing, self.step)),
            (State::Submitted, Action::Refuse) => Some(moved(State::Refused, self.step)),
            (State::Received | State::Processing, Action::Forward) if step == Some(StepKind::Review) => {
                Some(moved(State::Processing, self.step + 1))
            }
            (State::Processing, Action::SendBack) if self.step > 1 && step != Some(StepKind::Return) => {
                Some(moved(State::Processing, self.step - 1))
            }
            (State::Processing, Action::Approve) if step == Some(StepKind::Approve) => {
                Some(moved(State::Approved, steps.index_of(StepKind::Sign)))
            }
            (State::Approved, Action::Sign) => Some(moved(State::ResultReady, steps.index_of(StepKind::Return))),
            (State::ResultReady, Action::Return) => Some(moved(State::Returned, self.step)),
            (State::Received | State::Processing, Action::Transfer) if step == Some(StepKind::Review) => {
                Some(moved(State::Transferred, self.step))
            }
            (State::Received | State::Processing, Action::Pause) => Some(holding(State::Paused)),
            (State::Received | State::Processing | State::Supplement | State::Paused, Action::Stop) => {
                Some(moved(State::Stopped, self.step))
            }
            (
                State::Submitted | State::Received | State::Processing | State::Supplement | State::Paused,
                Action::Withdraw,
            ) => Some(moved(State::Withdrawn, self.step)),
            _ => None,
        }
    }

    /// The role an official needs for `action` here; `None` for the
    /// applicant's own actions.
    pub fn role_for(&self, action: Action, steps: &Steps) -> Option<Role> {
        match action {
            Action::Supplement | Action::Withdraw => None,
            Action::Accept | Action::Refuse | Action::Return => Some(Role::Receiver),
            Action::Approve | Action::Sign | Action::Pause | Action::Resume | Action::Stop => Some(Role::Leader),
            Action::RequestSupplement => Some(if self.state == State::Submitted {
                Role::Receiver
            } else {
                Role::Specialist
            }),
            Action::Forward | Action::SendBack | Action::Transfer | Action::ReturnTransfer => {
                Some(steps.kind(self.step).map_or(Role::Specialist, StepKind::role))
            }
        }
    }
}

/// The identifier of a dossier (mã hồ sơ): the receiving agency's code
/// (QCVN 102:2016 style, e.g. `000.00.25.H12`), the receipt date `yyMMdd`
/// and the day's sequence, at least 4 digits, joined by `-`
/// (Circular 03/2025/TT-VPCP). The one place that knows the format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DossierCode(String);

impl DossierCode {
    pub fn new(agency_code: &str, date: chrono::NaiveDate, sequence: u32) -> DossierCode {
        DossierCode(format!("{agency_code}-{}-{sequence:04}", date.format("%y%m%d")))
    }

    pub fn parse(value: &str) -> Option<DossierCode> {
        let value = value.trim();
        let mut parts = value.rsplitn(3, '-');
        let (Some(sequence), Some(date), Some(agency)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let sequence_ok = (4..=7).contains(&sequence.len()) && sequence.bytes().all(|byte| byte.is_ascii_digit());
        let date_ok = date.len() == 6 && chrono::NaiveDate::parse_from_str(&format!("20{date}"), "%Y%m%d").is_ok();
        let agency_ok = crate::catalogue::domain::is_plain_code(agency) && !agency.contains('-');
        (sequence_ok && date_ok && agency_ok).then(|| DossierCode(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DossierCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a dossier reached the agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Online,
    Counter,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Counter => "counter",
        }
    }

    pub fn parse(value: &str) -> Option<Channel> {
        match value {
            "online" => Some(Channel::Online),
            "counter" => Some(Channel::Counter),
            _ => None,
        }
    }
}

/// How the result reached the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Online,
    Counter,
    Post,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Online => "online",
            Delivery::Counter => "counter",
            Delivery::Post => "post",
        }
    }
}

/// Whether a deadline is met, close or missed, for the back office's
/// colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    OnTime,
    DueSoon,
    Late,
}

impl Timeliness {
    /// `due` and `now` in milliseconds; due soon means within a day.
    pub fn of(due_ms: i64, now_ms: i64) -> Timeliness {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        if now_ms > due_ms {
            Timeliness::Late
        } else if due_ms - now_ms <= DAY_MS {
            Timeliness::DueSoon
        } else {
            Timeliness::OnTime
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Timeliness::OnTime => "on_time",
            Timeliness::DueSoon => "due_soon",
            Timeliness::Late => "late",
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn walk(actions: &[Action]) -> Result<Situation, NotAllowed> {
        let steps = Steps::standard();
        actions.iter().try_fold(Situation::submitted(), |situation, action| {
            situation.apply(*action, &steps)
        })
    }

    #[test]
    fn the_usual_path_ends_returned() {
        let end = walk(&[
            Action::Accept,
            Action::Forward,
            Action::Approve,
            Action::Sign,
            Action::Return,
        ])
        .expect("the usual path is allowed");
        assert_eq!(end.state, State::Returned);
    }

    #[test]
    fn a_supplement_returns_to_the_state_it_interrupted() {
        let end = walk(&[Action::Accept, Action::RequestSupplement, Action::Supplement]).expect("allowed");
        assert_eq!(end.state, State::Received);
        assert_eq!(end.step, 1);
        let end = walk(&[Action::RequestSupplement, Action::Supplement]).expect("allowed");
        assert_eq!(end.state, State::Submitted);
    }

    #[test]
    fn approving_before_review_names_what_is_allowed() {
        let error = walk(&[Action::Accept, Action::Approve]).expect_err("approval needs a review first");
        assert_eq!(error.state, State::Received);
        assert!(error.allowed.contains(&Action::Forward));
        assert!(!error.allowed.contains(&Action::Approve));
    }

    #[test]
    fn a_leader_cannot_send_back_past_the_first_review() {
        let steps = Steps::standard();
        let received = walk(&[Action::Accept]).expect("allowed");
        assert!(received.apply(Action::SendBack, &steps).is_err());
        let at_approval = walk(&[Action::Accept, Action::Forward]).expect("allowed");
        let back = at_approval.apply(Action::SendBack, &steps).expect("allowed");
        assert_eq!((back.state, back.step), (State::Processing, 1));
    }

    #[test]
    fn workflows_must_have_the_fixed_frame() {
        use StepKind::*;
        assert!(Steps::new(vec![Receive, Review, Review, Approve, Sign, Return]).is_some());
        assert!(Steps::new(vec![Receive, Approve, Sign, Return]).is_none());
        assert!(Steps::new(vec![Review, Receive, Approve, Sign, Return]).is_none());
        assert!(Steps::new(vec![Receive, Review, Sign, Approve, Return]).is_none());
        assert!(Steps::new(vec![]).is_none());
    }

    #[test]
    fn workflow_steps_read_the_bare_kinds_of_early_versions_and_the_full_form() {
        let early: Vec<WorkflowStep> = serde_json::from_str(r#"["receive", "review"]"#).expect("bare kinds");
        assert_eq!(early[1], WorkflowStep::new(StepKind::Review, None, None));
        let full: Vec<WorkflowStep> =
            serde_json::from_str(r#"[{"kind": "review", "department": "CHUYEN_MON", "hours": 16}]"#).expect("full");
        assert_eq!(
            full[0],
            WorkflowStep::new(StepKind::Review, Some("CHUYEN_MON"), Some(16))
        );
        let written = serde_json::to_string(&full).expect("serialize");
        assert_eq!(written, r#"[{"kind":"review","department":"CHUYEN_MON","hours":16}]"#);
        assert!(serde_json::from_str::<WorkflowStep>(r#"{"kind": "lunch"}"#).is_err());
    }

    #[test]
    fn dossier_codes_round_trip_and_reject_lookalikes() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 2, 9).expect("valid date");
        let code = DossierCode::new("000.00.25.H12", date, 7);
        assert_eq!(code.as_str(), "000.00.25.H12-260209-0007");
        assert_eq!(DossierCode::parse(code.as_str()), Some(code));
        assert_eq!(
            DossierCode::parse("000.00.25.H12-260209-12345").map(|code| code.0),
            Some("000.00.25.H12-260209-12345".to_owned())
        );
        for bad in [
            "",
            "000.00.25.H12-260230-0001",
            "000.00.25.H12-260209-01",
            "000.00.25.H12-260209-00a1",
            "../etc-260209-0001",
            "-260209-0001",
        ] {
            assert_eq!(DossierCode::parse(bad), None, "{bad}");
        }
    }

    fn any_steps() -> impl Strategy<Value = Steps> {
        (1usize..4).prop_map(|reviews| {
            let mut kinds = vec![StepKind::Receive];
            kinds.extend(std::iter::repeat_n(StepKind::Review, reviews));
            kinds.extend([StepKind::Approve, StepKind::Sign, StepKind::Return]);
            Steps::new(kinds).expect("well-formed by construction")
        })
    }

    proptest! {
        /// Whatever is attempted, in any order, the dossier stays in a
        /// situation the rules describe, and refusals name only actions that
        /// would have been accepted.
        #[test]
        fn any_sequence_of_attempts_keeps_the_rules(
            steps in any_steps(),
            attempts in proptest::collection::vec(proptest::sample::select(Action::ALL.to_vec()), 0..40),
        ) {
            let mut situation = Situation::submitted();
            let mut finished = false;
            for action in attempts {
                match situation.apply(action, &steps) {
                    Ok(next) => {
                        prop_assert!(!finished, "a final state moved");
                        prop_assert!(next.step < steps.len());
                        prop_assert_eq!(next.resume.is_some(), next.state.clock_paused());
                        if next.state == State::Approved {
                            prop_assert_eq!(steps.kind(next.step), Some(StepKind::Sign));
                        }
                        situation = next;
                        finished = situation.state.is_final();
                    }
                    Err(refusal) => {
                        prop_assert_eq!(refusal.state, situation.state);
                        for other in &refusal.allowed {
                            prop_assert!(situation.apply(*other, &steps).is_ok());
                        }
                        prop_assert_eq!(refusal.allowed.is_empty(), situation.state.is_final());
                    }
                }
            }
        }

        /// A result is returned only after it was approved and signed.
        #[test]
        fn returned_only_after_approval_and_signature(
            steps in any_steps(),
            attempts in proptest::collection::vec(proptest::sample::select(Action::ALL.to_vec()), 0..40),
        ) {
            let mut situation = Situation::submitted();
            let mut seen = Vec::new();
            for action in attempts {
                if let Ok(next) = situation.apply(action, &steps) {
                    seen.push(action);
                    situation = next;
                }
            }
            if situation.state == State::Returned {
                let approve = seen.iter().position(|action| *action == Action::Approve);
                let sign = seen.iter().position(|action| *action == Action::Sign);
                prop_assert!(approve.is_some() && sign.is_some() && approve < sign);
            }
        }
    }
}
