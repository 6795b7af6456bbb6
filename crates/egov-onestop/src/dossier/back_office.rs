//! The one-stop back office: an agency's queues with deadlines coloured,
//! one dossier with the actions the official's roles allow, internal notes
//! and attachments, Form 01 and Form 06. Officials sign in through the
//! portal like everyone (the central sign-in requires their second factor);
//! a signed-in user without a one-stop role gets 403.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use egov_web::i18n::ShellText;
use egov_web::layout::ClientAddress;
use egov_web::{AppError, Lang, PageContext, PageMeta};

use super::api::{DossierState, attachment, error_response};
use super::domain::{Action, Delivery};
use super::eform::Problem;
use super::form_view;
use super::pages::{
    DetailView, SummaryRow, detail, notice, page_response, read_multipart, receipt, return_path, signed_in,
    summary_row, vn_time,
};
use super::payment::RefundOutcome;
use super::payment_http::refund_failure_notice;
use super::read::{QueueKind, QueueQuery};
use super::text::{DossierText, text};
use super::transition::Act;
use super::{Actor, DossierError, Official};
use crate::directory::Department;

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/back-office", get(queue_page))
        .route("/back-office/dossiers/{code}", get(dossier_page).post(dossier_post))
        .route("/back-office/dossiers/{code}/documents/{id}", get(document))
        .route("/back-office/dossiers/{code}/receipt", get(receipt_page))
        .route("/back-office/dossiers/{code}/notices/{id}", get(notice_page))
        .route("/back-office/dossiers/{code}/control-slip", get(control_slip))
        .with_state(state)
}

#[derive(Template)]
#[template(path = "back_office_denied.html")]
struct DeniedPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
}

/// The official signed in to this browser; others are sent to the
/// sign-in, or get a 403 page if they are signed in without a one-stop role.
#[derive(Debug)]
pub(crate) struct BackOffice(pub(crate) Official);

impl axum::extract::FromRequestParts<DossierState> for BackOffice {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &DossierState,
    ) -> Result<Self, Self::Rejection> {
        let identity = signed_in(state, &parts.headers, &return_path(parts)).await?;
        if let Some(official) = identity.official() {
            return Ok(BackOffice(official));
        }
        let Ok(context) = PageContext::from_request_parts(parts, state).await;
        let t = text(context.lang);
        let page = DeniedPage {
            page: context.meta(t.queue_title),
            shell: context.shell(),
            t,
        };
        Err(match page.render() {
            Ok(html) => page_response(StatusCode::FORBIDDEN, html),
            Err(error) => AppError::from(error).into_response(),
        })
    }
}

// ---------------------------------------------------------------- queue

#[derive(Template)]
#[template(path = "back_office_queue.html")]
struct QueuePage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    agency: String,
    tabs: Vec<(&'static str, &'static str, bool)>,
    queue: &'static str,
    mine: bool,
    /// The period searched, `YYYY-MM-DD` or empty.
    from: String,
    to: String,
    notice: &'static str,
    q: String,
    /// The official's own department, by name (empty: the whole agency).
    own_department: String,
    /// For an official of the whole agency: the departments to filter by
    /// (code, name, selected).
    departments: Vec<(String, String, bool)>,
    rows: Vec<SummaryRow>,
    /// The next page's address and number, when this one is full.
    next_page: Option<(String, u32)>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct QueueParams {
    queue: Option<String>,
    done: Option<String>,
    /// Only the dossiers the official took.
    mine: Option<String>,
    /// Submitted from and to these days (`YYYY-MM-DD`; empty: any).
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    /// Only the dossiers at this department's steps (empty: all).
    #[serde(default)]
    department: String,
    page: Option<u32>,
}

const TABS: [(&str, QueueKind); 6] = [
    ("new", QueueKind::New),
    ("processing", QueueKind::Processing),
    ("waiting", QueueKind::Waiting),
    ("to_return", QueueKind::ToReturn),
    ("done", QueueKind::Done),
    ("all", QueueKind::All),
];

fn day(date: Option<chrono::NaiveDate>) -> String {
    date.map(|date| date.to_string()).unwrap_or_default()
}

fn tab_label(name: &str, t: &DossierText) -> &'static str {
    match name {
        "new" => t.queue_new,
        "processing" => t.queue_processing,
        "waiting" => t.queue_waiting,
        "to_return" => t.queue_to_return,
        "done" => t.queue_done,
        _ => t.queue_all,
    }
}

async fn queue_page(
    State(state): State<DossierState>,
    Query(params): Query<QueueParams>,
    BackOffice(official): BackOffice,
    context: PageContext,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let (queue, kind) = TABS
        .iter()
        .find(|(name, _)| Some(*name) == params.queue.as_deref())
        .copied()
        .unwrap_or(TABS[0]);
    let page_number = params.page.unwrap_or(1).clamp(1, 10_000);
    let query = QueueQuery {
        kind,
        text: params.q.chars().take(200).collect(),
        procedure_code: None,
        mine: params.mine.is_some(),
        department: Some(params.department.clone()).filter(|department| !department.is_empty()),
        submitted_from: chrono::NaiveDate::parse_from_str(&params.from, "%Y-%m-%d").ok(),
        submitted_to: chrono::NaiveDate::parse_from_str(&params.to, "%Y-%m-%d").ok(),
        page: page_number,
    };
    let departments = state.dossiers.departments(&official.agency_code).await?;
    let rows: Vec<SummaryRow> = match state.dossiers.queue(&official, &query).await {
        Ok(list) => list
            .into_iter()
            .map(|summary| {
                let mut row = summary_row(summary, context.lang);
                if !row.department.is_empty() {
                    row.department = department_name(&departments, &row.department, context.lang);
                }
                row
            })
            .collect(),
        Err(error) => return Ok(error_response(error, context.lang)),
    };
    let department = query.department.clone().unwrap_or_default();
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let agency = snapshot.agency(&official.agency_code).map_or_else(
        || official.agency_code.clone(),
        |agency| context.lang.pick(&agency.name_vi, &agency.name_en).clone(),
    );
    let full = i64::try_from(rows.len()).unwrap_or(0) == super::read::QUEUE_PAGE;
    let page = QueuePage {
        page: context.meta(t.queue_title),
        shell: context.shell(),
        t,
        agency,
        tabs: TABS
            .iter()
            .map(|(name, _)| (*name, tab_label(name, t), *name == queue))
            .collect(),
        mine: query.mine,
        notice: if params.done.is_some() { t.done_notice } else { "" },
        queue,
        q: query.text.clone(),
        own_department: official
            .department
            .as_deref()
            .map(|code| department_name(&departments, code, context.lang))
            .unwrap_or_default(),
        departments: if official.department.is_none() {
            departments
                .iter()
                .map(|known| {
                    (
                        known.code.clone(),
                        context.lang.pick(&known.name_vi, &known.name_en).clone(),
                        known.code == department,
                    )
                })
                .collect()
        } else {
            Vec::new()
        },
        rows,
        next_page: full.then(|| {
            let q: String = form_urlencoded::byte_serialize(query.text.as_bytes()).collect();
            let mine = if query.mine { "&mine=1" } else { "" };
            let (from, to) = (day(query.submitted_from), day(query.submitted_to));
            (
                format!(
                    "/back-office?queue={queue}&q={q}{mine}&from={from}&to={to}&department={department}&page={}",
                    page_number + 1
                ),
                page_number + 1,
            )
        }),
        from: day(query.submitted_from),
        to: day(query.submitted_to),
    };
    Ok(page_response(StatusCode::OK, page.render()?))
}

// ---------------------------------------------------------------- one dossier

#[derive(Template)]
#[template(path = "back_office_dossier.html")]
struct DossierPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    d: DetailView,
    transfer_targets: Vec<(String, String)>,
    /// The department of the current step, by name.
    department: String,
    /// For a leader: whom the dossier can be given to (subject, name).
    assignees: Vec<(String, String)>,
    notice: String,
    /// The notice tells that the action did not go through.
    notice_alert: bool,
    /// Fees due back that were paid through the gateway (refunded through
    /// it) and otherwise (refunded by hand).
    refund_through_gateway: bool,
    refund_by_hand: bool,
    errors: Vec<(String, String)>,
}

async fn render_dossier(
    state: &DossierState,
    context: &PageContext,
    official: Official,
    code: &str,
    notice: String,
    problems: &[Problem],
    status: StatusCode,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let view = match state.dossiers.view(&Actor::Official(official.clone()), code).await {
        Ok(view) => view,
        Err(error) => return Ok(error_response(error, lang)),
    };
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let transfer_targets = if view.allowed_actions.contains(&Action::Transfer) {
        snapshot
            .agencies
            .iter()
            .filter(|agency| agency.code != official.agency_code)
            .map(|agency| (agency.code.clone(), lang.pick(&agency.name_vi, &agency.name_en).clone()))
            .collect()
    } else {
        Vec::new()
    };
    let departments = state.dossiers.departments(&official.agency_code).await?;
    let department = view
        .department
        .as_deref()
        .map(|code| department_name(&departments, code, lang))
        .unwrap_or_default();
    let assignees = if official.has(super::Role::Leader) && view.finished_at.is_none() {
        super::api::assignees(state, &official, code)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|assignee| {
                let label = match assignee.department.as_deref() {
                    Some(code) => format!("{} — {}", assignee.name, department_name(&departments, code, lang)),
                    None => assignee.name,
                };
                (assignee.subject, label)
            })
            .collect()
    } else {
        Vec::new()
    };
    let due_back = |through_gateway: bool| {
        view.payments
            .iter()
            .any(|payment| payment.status == "refund_due" && (payment.method == "gateway") == through_gateway)
    };
    let (refund_through_gateway, refund_by_hand) = (due_back(true), due_back(false));
    let t = text(lang);
    let page = DossierPage {
        page: context.meta(&format!("{} {}", t.code, view.code)),
        shell: context.shell(),
        t,
        d: detail(state, view, lang).await,
        transfer_targets,
        department,
        assignees,
        notice,
        notice_alert: status.is_client_error(),
        refund_through_gateway,
        refund_by_hand,
        errors: form_view::summary(problems, lang == Lang::En),
    };
    Ok(page_response(status, page.render()?))
}

/// A department's name in `lang`, or its code if the agency has no such
/// department.
fn department_name(departments: &[Department], code: &str, lang: Lang) -> String {
    departments
        .iter()
        .find(|department| department.code == code)
        .map_or_else(
            || code.to_owned(),
            |department| lang.pick(&department.name_vi, &department.name_en).clone(),
        )
}

#[derive(Debug, serde::Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn dossier_page(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    Query(query): Query<DoneQuery>,
    BackOffice(official): BackOffice,
    context: PageContext,
) -> Result<Response, AppError> {
    let notice = if query.done.is_some() {
        text(context.lang).done_notice.to_owned()
    } else {
        String::new()
    };
    render_dossier(&state, &context, official, &code, notice, &[], StatusCode::OK).await
}

fn delivery(value: &str) -> Option<Delivery> {
    match value {
        "online" => Some(Delivery::Online),
        "counter" => Some(Delivery::Counter),
        "post" => Some(Delivery::Post),
        _ => None,
    }
}

async fn dossier_post(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    BackOffice(official): BackOffice,
    context: PageContext,
    ClientAddress(address): ClientAddress,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let posted = read_multipart(multipart).await?;
    let actor = Actor::Official(official.clone());
    let note = posted.get("note").to_owned();
    let result = match posted.get("action") {
        "refund" => {
            let ip = address.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
            match state.dossiers.record_refund(&official, &code, ip).await {
                Ok(RefundOutcome::Refunded(_)) => Ok(()),
                // The fee is still due back: the page says why, and that trying again is safe.
                Ok(RefundOutcome::GatewayFailed(failure)) => {
                    let notice = refund_failure_notice(&failure, context.lang);
                    return render_dossier(&state, &context, official, &code, notice, &[], StatusCode::CONFLICT).await;
                }
                Err(error) => Err(error),
            }
        }
        "take" | "release" | "assign" => {
            let revision = posted.get("revision").parse().ok();
            let take = posted.get("action") == "take";
            let to = Some(posted.get("to")).filter(|_| posted.get("action") == "assign");
            match super::api::requested_assignment(&state, &official, take, to).await {
                Ok(assignment) => state.dossiers.assign(&official, &code, assignment, revision).await,
                Err(error) => Err(error),
            }
        }
        "reschedule" => match chrono::NaiveDate::parse_from_str(posted.get("due_date"), "%Y-%m-%d") {
            Ok(date) => {
                let revision = posted.get("revision").parse().ok();
                state.dossiers.reschedule(&official, &code, revision, date, &note).await
            }
            Err(_) => Err(DossierError::Invalid(vec![Problem {
                path: "due_date".to_owned(),
                vi: "Chọn ngày hẹn mới.".to_owned(),
                en: "Choose the new date.".to_owned(),
            }])),
        },
        "note" | "message" => {
            let internal = posted.get("action") == "note";
            state
                .dossiers
                .comment(&actor, &code, &note, internal, posted.documents)
                .await
        }
        other => {
            let Some(action) = Action::parse(other).filter(|action| !action.by_applicant()) else {
                return Ok(error_response(DossierError::BadRequest("unknown action"), context.lang));
            };
            let act = Act {
                revision: posted.get("revision").parse().ok(),
                note,
                transfer_to: Some(posted.get("transfer_to").to_owned()).filter(|target| !target.is_empty()),
                delivery: delivery(posted.get("delivery")),
                documents: posted.documents,
                ..Act::new(action)
            };
            state.dossiers.act(&actor, &code, act).await.map(|_| ())
        }
    };
    match result {
        // A transfer handed back, or a dossier forwarded to another
        // department's step, leaves the official's reach: back to the queue.
        Ok(()) if !state.dossiers.sees(&actor, &code).await.unwrap_or(true) => {
            Ok(Redirect::to("/back-office?done=1").into_response())
        }
        Ok(()) => Ok(Redirect::to(&format!("/back-office/dossiers/{code}?done=1")).into_response()),
        Err(DossierError::Invalid(problems)) => {
            render_dossier(
                &state,
                &context,
                official,
                &code,
                String::new(),
                &problems,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(DossierError::Conflict | DossierError::NotAllowed(_)) => {
            let notice = text(context.lang).conflict.to_owned();
            render_dossier(&state, &context, official, &code, notice, &[], StatusCode::CONFLICT).await
        }
        Err(error) => Ok(error_response(error, context.lang)),
    }
}

async fn document(
    State(state): State<DossierState>,
    Path((code, id)): Path<(String, uuid::Uuid)>,
    BackOffice(official): BackOffice,
    context: PageContext,
) -> Result<Response, AppError> {
    Ok(
        match state.dossiers.document(&Actor::Official(official), &code, id).await {
            Ok((found, bytes)) => attachment(&found.file_name, &found.media_type, bytes),
            Err(error) => error_response(error, context.lang),
        },
    )
}

async fn receipt_page(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    BackOffice(official): BackOffice,
    context: PageContext,
) -> Result<Response, AppError> {
    let back = format!("/back-office/dossiers/{code}");
    receipt(&state, &context, &Actor::Official(official), &code, back).await
}

async fn notice_page(
    State(state): State<DossierState>,
    Path((code, id)): Path<(String, uuid::Uuid)>,
    BackOffice(official): BackOffice,
    context: PageContext,
) -> Result<Response, AppError> {
    let back = format!("/back-office/dossiers/{code}");
    notice(&state, &context, &Actor::Official(official), &code, id, back).await
}

#[derive(Template)]
#[template(path = "back_office_control_slip.html")]
struct ControlSlipPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    d: DetailView,
    printed: String,
}

/// Form 06, printed from the step log.
async fn control_slip(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    BackOffice(official): BackOffice,
    context: PageContext,
) -> Result<Response, AppError> {
    let view = match state.dossiers.view(&Actor::Official(official), &code).await {
        Ok(view) => view,
        Err(error) => return Ok(error_response(error, context.lang)),
    };
    let t = text(context.lang);
    let page = ControlSlipPage {
        page: context.meta(t.control_slip_title),
        shell: context.shell(),
        t,
        d: detail(&state, view, context.lang).await,
        printed: vn_time(state.dossiers.now()),
    };
    Ok(page_response(StatusCode::OK, page.render()?))
}
