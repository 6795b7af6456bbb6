//! The citizen's dossier pages on the portal: the e-form of a procedure
//! (with drafts), "my dossiers", one dossier with its progress, supplement
//! answers, messages and withdrawal, Form 01, and the public lookup. They
//! work without JavaScript; forms with files post multipart with the CSRF
//! token in the action URL.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use egov_web::i18n::ShellText;
use egov_web::{AppError, Lang, Localized, PageContext, PageMeta};
use serde_json::Value;

use super::api::{DossierState, attachment, error_response};
use super::domain::{Action, State as DossierStateKind, Timeliness};
use super::eform::{FieldKind, FormSchema, Problem, values_from_pairs};
use super::form_view::{self, FieldView, SlotView};
use super::identity::Identity;
use super::population::{self, DRAFT_MARKS_KEY, LookupError, Marks, PrefillError};
use super::read::{DossierSummary, DossierView};
use super::submit::{NewDocument, NewDossier, to_vn};
use super::text::{DossierText, text};
use super::transition::Act;
use super::{Actor, DossierError};

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/procedures/{code}/submit", get(form_page).post(form_post))
        .route("/portal/dossiers", get(my_dossiers))
        .route("/portal/dossiers/{code}", get(dossier_page).post(dossier_post))
        .route("/portal/dossiers/{code}/receipt", get(receipt_page))
        .route("/portal/dossiers/{code}/notices/{id}", get(notice_page))
        .route("/portal/dossiers/{code}/documents/{id}", get(document))
        .route("/lookup", get(lookup_page))
        .with_state(state)
}

// ---------------------------------------------------------------- helpers

/// A rendered page with its status; a 4xx page is final, so the shell does
/// not replace it with its generic error page.
pub(crate) fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    if status.is_client_error() {
        response.extensions_mut().insert(egov_web::error::FinalBody);
    }
    response
}

/// A Vietnamese wall-clock time as pages print it.
pub(crate) fn vn_time(at: DateTime<Utc>) -> String {
    to_vn(at).format("%H:%M %d/%m/%Y").to_string()
}

pub(crate) fn state_label(state: DossierStateKind, lang: Lang) -> &'static str {
    lang.pick(state.label_vi(), state.label_en())
}

pub(crate) fn timeliness_label(timeliness: Option<Timeliness>, t: &DossierText) -> (&'static str, &'static str) {
    match timeliness {
        Some(Timeliness::OnTime) => (t.on_time, "on-time"),
        Some(Timeliness::DueSoon) => (t.due_soon, "due-soon"),
        Some(Timeliness::Late) => (t.late, "late"),
        None => ("", ""),
    }
}

pub(crate) fn action_label(action: &str, lang: Lang) -> String {
    match Action::parse(action) {
        Some(action) => lang.pick(action.label_vi(), action.label_en()).to_owned(),
        None => match action {
            "submit" => lang.pick("Nộp hồ sơ", "Submitted").to_owned(),
            "counter_intake" => lang.pick("Tiếp nhận trực tiếp", "Received at the counter").to_owned(),
            "message" => lang.pick("Trao đổi", "Message").to_owned(),
            "note" => lang.pick("Ghi chú nội bộ", "Internal note").to_owned(),
            "rate" => lang.pick("Đánh giá mức độ hài lòng", "Rated the service").to_owned(),
            "reschedule" => lang
                .pick("Xin lỗi và hẹn lại", "Apology and new appointment")
                .to_owned(),
            other => other.to_owned(),
        },
    }
}

/// The form a step of the log issues to the applicant (Circular 03/2025).
pub(crate) fn notice_title(action: &str, lang: Lang) -> &'static str {
    match action {
        "request_supplement" => lang.pick(
            "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (Mẫu số 02)",
            "Request to supplement the application (Form 02)",
        ),
        "refuse" => lang.pick(
            "Phiếu từ chối tiếp nhận giải quyết hồ sơ (Mẫu số 03)",
            "Refusal to accept the application (Form 03)",
        ),
        "reschedule" => lang.pick(
            "Phiếu xin lỗi và hẹn lại ngày trả kết quả (Mẫu số 04)",
            "Apology and new appointment (Form 04)",
        ),
        "stop" => lang.pick(
            "Phiếu đề nghị dừng giải quyết hồ sơ (Mẫu số 05)",
            "Notice that processing stops (Form 05)",
        ),
        _ => "",
    }
}

/// The user signed in to the portal, or the way to the sign-in.
pub(crate) async fn signed_in(state: &DossierState, headers: &HeaderMap, here: &str) -> Result<Identity, Response> {
    match state.identify.session(headers).await {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => {
            let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(Redirect::to(&format!("/portal/sign-in?next={next}")).into_response())
        }
        Err(error) => Err(error.into_response()),
    }
}

/// The portal user signed in to this browser. A page that needs one sends
/// anyone else to the sign-in and back: to this page, or, for a form post,
/// to the page the form was on (its `Referer` on this site), else to "my
/// dossiers".
#[derive(Debug)]
pub(crate) struct SignedIn(pub(crate) Identity);

/// Where to come back to after signing in.
pub(crate) fn return_path(parts: &axum::http::request::Parts) -> String {
    if parts.method == axum::http::Method::GET {
        return parts.uri.path_and_query().map_or("/", |path| path.as_str()).to_owned();
    }
    parts
        .headers
        .get(axum::http::header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|referer| url_path(referer, parts))
        .unwrap_or_else(|| "/portal/dossiers".to_owned())
}

/// The path of `referer` if it is on this site.
fn url_path(referer: &str, parts: &axum::http::request::Parts) -> Option<String> {
    let host = parts.headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("http://")
        .or_else(|| referer.strip_prefix("https://"))?;
    let path = rest.strip_prefix(host)?;
    (path.starts_with('/') && !path.starts_with("//")).then(|| path.to_owned())
}

impl axum::extract::FromRequestParts<DossierState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &DossierState,
    ) -> Result<Self, Self::Rejection> {
        signed_in(state, &parts.headers, &return_path(parts))
            .await
            .map(SignedIn)
    }
}

/// What a multipart form sent: its text fields and its files (a file input
/// left empty sends no file).
pub(crate) struct Posted {
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) documents: Vec<NewDocument>,
}

impl Posted {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

/// Most text fields a form may send, so a crafted post cannot make the
/// server keep millions of them.
const MAX_FIELDS: usize = 1_000;

pub(crate) async fn read_multipart(mut multipart: Multipart) -> Result<Posted, AppError> {
    let malformed = |cause: String| {
        AppError::bad_request(
            "malformed_form",
            Localized::new("Biểu mẫu gửi lên không hợp lệ.", "The form sent is malformed."),
        )
        .with_cause(cause)
    };
    let mut posted = Posted {
        pairs: Vec::new(),
        documents: Vec::new(),
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| malformed(error.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            let content = field.bytes().await.map_err(|error| malformed(error.to_string()))?;
            if let Some(slot) = name.strip_prefix("documents.")
                && !(file_name.is_empty() && content.is_empty())
            {
                posted.documents.push(NewDocument {
                    slot: slot.to_owned(),
                    file_name,
                    content: content.to_vec(),
                });
            }
        } else {
            let value = field.text().await.map_err(|error| malformed(error.to_string()))?;
            if posted.pairs.len() >= MAX_FIELDS {
                return Err(malformed("too many fields".to_owned()));
            }
            posted.pairs.push((name, value));
        }
    }
    Ok(posted)
}

/// `(code, name)` of the 34 provinces, for address pickers.
pub(crate) async fn province_options(state: &DossierState, lang: Lang) -> Result<Vec<(String, String)>, AppError> {
    let provinces = crate::directory::store::provinces(state.dossiers.db()).await?;
    Ok(provinces
        .into_iter()
        .map(|province| {
            let name = lang.pick(province.name_vi, province.name_en);
            (province.code, name)
        })
        .collect())
}

/// The applicant-facing form values as (label, text) lines.
pub(crate) fn value_lines(schema: &FormSchema, values: &Value, lang: Lang) -> Vec<(String, String)> {
    let text = |value: Option<&Value>| match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(true)) => lang.pick("Có", "Yes").to_owned(),
        Some(Value::Bool(false)) => lang.pick("Không", "No").to_owned(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    };
    schema
        .fields
        .iter()
        .filter_map(|field| {
            let value = values.get(&field.name)?;
            let shown = match &field.kind {
                FieldKind::Address => ["street", "commune", "province"]
                    .iter()
                    .map(|part| text(value.get(*part)))
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(", "),
                FieldKind::Group { fields, .. } => value
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|item| {
                                fields
                                    .iter()
                                    .map(|inner| text(item.get(&inner.name)))
                                    .collect::<Vec<_>>()
                                    .join(" – ")
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default(),
                FieldKind::Select { options } => {
                    let chosen = text(Some(value));
                    options
                        .iter()
                        .find(|choice| choice.value == chosen)
                        .map_or(chosen, |choice| lang.pick(&choice.label_vi, &choice.label_en).clone())
                }
                _ => text(Some(value)),
            };
            Some((lang.pick(&field.label_vi, &field.label_en).clone(), shown))
        })
        .collect()
}

// ---------------------------------------------------------------- the form

#[derive(Template)]
#[template(path = "dossier_form.html")]
struct FormPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    procedure_code: String,
    procedure_name: String,
    agencies: Vec<(String, String, bool)>,
    fee: String,
    processing_days: u32,
    fields: Vec<FieldView>,
    slots: Vec<SlotView>,
    errors: Vec<(String, String)>,
    idempotency_key: String,
    notice: &'static str,
    files_lost: bool,
    /// Whether the form offers to fill in from the population registry.
    prefill_offered: bool,
    /// What became of the last prefill, beside its button.
    prefill_message: &'static str,
    prefill_problem: bool,
    /// Which values came from the registry, sealed (see `population::Marks`).
    prefill_token: String,
}

#[derive(Template)]
#[template(path = "dossier_sign_in.html")]
struct SignInPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    procedure_name: String,
    sign_in_url: String,
}

struct FormInput<'a> {
    /// The applicant's subject, which the registry marks are bound to.
    subject: &'a str,
    agency: &'a str,
    values: &'a Value,
    problems: &'a [Problem],
    idempotency_key: String,
    notice: &'static str,
    files_lost: bool,
    marks: Marks,
    prefill_message: &'static str,
    prefill_problem: bool,
}

impl<'a> FormInput<'a> {
    fn new(subject: &'a str, agency: &'a str, values: &'a Value, idempotency_key: String) -> FormInput<'a> {
        FormInput {
            subject,
            agency,
            values,
            problems: &[],
            idempotency_key,
            notice: "",
            files_lost: false,
            marks: Marks::default(),
            prefill_message: "",
            prefill_problem: false,
        }
    }
}

async fn render_form(
    state: &DossierState,
    context: &PageContext,
    code: &str,
    input: FormInput<'_>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let t = text(lang);
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let procedure = snapshot.index.get(code).ok_or_else(AppError::not_found)?;
    let Some(version) = state
        .dossiers
        .version_in_force(code)
        .await
        .map_err(|error| AppError::internal(error.to_string()))?
    else {
        return Ok(error_response(DossierError::NoVersion, lang));
    };
    let provinces = province_options(state, lang).await?;
    let english = lang == Lang::En;
    let agencies = procedure
        .agency_codes
        .iter()
        .map(|agency| {
            let name = snapshot.agency(agency).map_or_else(
                || agency.clone(),
                |found| lang.pick(&found.name_vi, &found.name_en).clone(),
            );
            (agency.clone(), name, agency == input.agency)
        })
        .collect();
    let fee = version.online_fee;
    let mut fields = form_view::fields(&version.form, input.values, input.problems, english, &provinces);
    let marks = input.marks.still_in(input.values);
    form_view::mark_from_registry(&mut fields, &marks);
    let page = FormPage {
        page: context.meta(t.form_title),
        shell: context.shell(),
        t,
        procedure_code: code.to_owned(),
        procedure_name: lang.pick(&procedure.name_vi, &procedure.name_en).clone(),
        agencies,
        fee: if fee.is_zero() {
            t.free.to_owned()
        } else {
            lang.pick(fee.format_vi(), fee.format_en())
        },
        processing_days: version.processing_days,
        fields,
        slots: form_view::slots(&version.form, input.problems, english),
        errors: form_view::summary(input.problems, english),
        idempotency_key: input.idempotency_key,
        notice: input.notice,
        files_lost: input.files_lost,
        prefill_offered: state.dossiers.prefill_offered(),
        prefill_message: input.prefill_message,
        prefill_problem: input.prefill_problem,
        prefill_token: marks.seal(state.dossiers.prefill_key(), input.subject, code),
    };
    Ok(page_response(status, page.render()?))
}

pub(crate) fn new_key() -> String {
    egov_core::id::new_id().to_string()
}

async fn form_page(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    context: PageContext,
) -> Result<Response, AppError> {
    let here = format!("/procedures/{code}/submit");
    let Some(identity) = state.identify.session(&headers).await? else {
        let t = text(context.lang);
        let snapshot = state.dossiers.catalogue().snapshot().await?;
        let procedure = snapshot.index.get(&code).ok_or_else(AppError::not_found)?;
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        let page = SignInPage {
            page: context.meta(t.sign_in_title),
            shell: context.shell(),
            t,
            procedure_name: context.lang.pick(&procedure.name_vi, &procedure.name_en).clone(),
            sign_in_url: format!("/portal/sign-in?next={next}"),
        };
        return Ok(Html(page.render()?).into_response());
    };
    let draft = state
        .dossiers
        .draft(&identity.applicant(), &code)
        .await
        .map_err(|error| AppError::internal(error.to_string()))?;
    let (agency, mut values) = draft.unwrap_or_else(|| (String::new(), from_sign_in(&identity)));
    // A draft keeps its registry marks under a reserved key, sealed.
    let token = values
        .as_object_mut()
        .and_then(|object| object.remove(DRAFT_MARKS_KEY))
        .and_then(|token| token.as_str().map(str::to_owned))
        .unwrap_or_default();
    let input = FormInput {
        marks: Marks::open(state.dossiers.prefill_key(), &identity.subject, &code, &token),
        ..FormInput::new(&identity.subject, &agency, &values, new_key())
    };
    render_form(&state, &context, &code, input, StatusCode::OK).await
}

/// What the sign-in already tells about the applicant, filled in for them.
fn from_sign_in(identity: &Identity) -> Value {
    let mut values = serde_json::Map::new();
    values.insert("applicant_name".into(), Value::String(identity.name.clone()));
    if let Some(personal_id) = &identity.personal_id {
        values.insert("applicant_personal_id".into(), Value::String(personal_id.clone()));
    }
    Value::Object(values)
}

async fn form_post(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    context: PageContext,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let posted = read_multipart(multipart).await?;
    let mut pairs: Vec<(String, String)> = posted
        .pairs
        .iter()
        .filter(|(key, _)| {
            !matches!(
                key.as_str(),
                "agency_code" | "idempotency_key" | "intent" | "csrf_token" | "prefill_token"
            )
        })
        .cloned()
        .collect();
    pairs.truncate(MAX_FIELDS);
    let values = values_from_pairs(&pairs);
    let agency = posted.get("agency_code").to_owned();
    let key = posted.get("idempotency_key").to_owned();
    let applicant = identity.applicant();
    let subject = identity.subject.as_str();
    let marks = Marks::open(
        state.dossiers.prefill_key(),
        subject,
        &code,
        posted.get("prefill_token"),
    )
    .still_in(&values);
    match posted.get("intent") {
        "draft" => {
            let mut kept = values.clone();
            let token = marks.seal(state.dossiers.prefill_key(), subject, &code);
            if let (Some(object), false) = (kept.as_object_mut(), token.is_empty()) {
                object.insert(DRAFT_MARKS_KEY.to_owned(), Value::String(token));
            }
            if let Err(error) = state.dossiers.save_draft(&applicant, &code, &agency, &kept).await {
                return Ok(error_response(error, context.lang));
            }
            let input = FormInput {
                notice: text(context.lang).draft_saved,
                files_lost: !posted.documents.is_empty(),
                marks,
                ..FormInput::new(subject, &agency, &values, key)
            };
            return render_form(&state, &context, &code, input, StatusCode::OK).await;
        }
        "prefill" => {
            let files_lost = !posted.documents.is_empty();
            return prefill_form(
                &state,
                &context,
                &code,
                &applicant,
                (&agency, values, marks, key),
                files_lost,
            )
            .await;
        }
        _ => {}
    }
    let new = NewDossier {
        procedure_code: code.clone(),
        agency_code: agency.clone(),
        values: values.clone(),
        documents: posted.documents,
        idempotency_key: key.clone(),
    };
    match state.dossiers.submit(&applicant, new).await {
        Ok(submitted) => Ok(Redirect::to(&format!("/portal/dossiers/{}?submitted=1", submitted.code)).into_response()),
        Err(DossierError::Invalid(problems)) => {
            let input = FormInput {
                problems: &problems,
                files_lost: true,
                marks,
                ..FormInput::new(subject, &agency, &values, key)
            };
            render_form(&state, &context, &code, input, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(DossierError::UnknownProcedure) if !agency.is_empty() => {
            Ok(error_response(DossierError::UnknownProcedure, context.lang))
        }
        Err(DossierError::UnknownProcedure) => {
            let problems = [Problem {
                path: "agency_code".to_owned(),
                vi: "Chọn cơ quan giải quyết.".to_owned(),
                en: "Choose the handling agency.".to_owned(),
            }];
            let input = FormInput {
                problems: &problems,
                files_lost: true,
                marks,
                ..FormInput::new(subject, &agency, &values, key)
            };
            render_form(&state, &context, &code, input, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(error) => Ok(error_response(error, context.lang)),
    }
}

/// The applicant asked (and so consented) to fill the form from their own
/// record in the population registry: the form comes back with the values
/// it gave marked, or with why not beside the button; what was typed is
/// kept either way.
async fn prefill_form(
    state: &DossierState,
    context: &PageContext,
    code: &str,
    applicant: &super::Applicant,
    (agency, values, marks, key): (&str, Value, Marks, String),
    files_lost: bool,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let (values, marks, message, problem) = match state.dossiers.prefill(applicant, code).await {
        Ok(filled) => {
            let values = population::apply(&values, &filled);
            let marks = marks.with(&filled).still_in(&values);
            let message = if filled.is_empty() {
                t.prefill_nothing
            } else {
                t.prefill_done
            };
            (values, marks, message, false)
        }
        Err(PrefillError::Dossier(error)) => return Ok(error_response(error, context.lang)),
        Err(PrefillError::NotOffered) => return Err(AppError::not_found()),
        Err(error) => {
            let message = match &error {
                PrefillError::NoPersonalId => t.prefill_no_personal_id,
                PrefillError::Lookup(LookupError::NotFound) => t.prefill_not_found,
                PrefillError::Lookup(LookupError::NotAllowed(_)) => t.prefill_refused,
                _ => t.prefill_unavailable,
            };
            tracing::info!(%error, procedure = code, "No prefill from the population registry");
            (values, marks, message, true)
        }
    };
    let input = FormInput {
        files_lost,
        marks,
        prefill_message: message,
        prefill_problem: problem,
        ..FormInput::new(&applicant.subject, agency, &values, key)
    };
    render_form(state, context, code, input, StatusCode::OK).await
}

// ---------------------------------------------------------------- my dossiers

#[derive(Template)]
#[template(path = "dossier_list.html")]
struct ListPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    rows: Vec<SummaryRow>,
}

/// A dossier line as lists show it.
pub(crate) struct SummaryRow {
    pub(crate) code: String,
    pub(crate) assignee: String,
    /// The department of the current step (its code; pages put its name).
    pub(crate) department: String,
    pub(crate) procedure: String,
    pub(crate) applicant: String,
    pub(crate) state: &'static str,
    pub(crate) submitted: String,
    pub(crate) due: String,
    pub(crate) timeliness: &'static str,
    pub(crate) timeliness_class: &'static str,
    pub(crate) counter: bool,
}

pub(crate) fn summary_row(summary: DossierSummary, lang: Lang) -> SummaryRow {
    let (timeliness, timeliness_class) = timeliness_label(summary.timeliness, text(lang));
    SummaryRow {
        assignee: summary.assignee_name.clone().unwrap_or_default(),
        department: summary.department.clone().unwrap_or_default(),
        state: state_label(summary.state, lang),
        submitted: vn_time(summary.submitted_at),
        due: summary.due_at.map(vn_time).unwrap_or_default(),
        timeliness,
        timeliness_class,
        counter: summary.channel == "counter",
        code: summary.code,
        procedure: summary.procedure_name,
        applicant: summary.applicant_name,
    }
}

async fn my_dossiers(
    State(state): State<DossierState>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let rows = match state.dossiers.mine(&identity.subject).await {
        Ok(list) => list
            .into_iter()
            .map(|summary| summary_row(summary, context.lang))
            .collect(),
        Err(error) => return Ok(error_response(error, context.lang)),
    };
    let page = ListPage {
        page: context.meta(t.my_dossiers),
        shell: context.shell(),
        t,
        rows,
    };
    Ok(Html(page.render()?).into_response())
}

// ---------------------------------------------------------------- one dossier

/// A dossier as its pages show it, in one language.
#[allow(clippy::struct_excessive_bools)] // What a template shows or hides, one flag each.
pub(crate) struct DetailView {
    pub(crate) code: String,
    /// The official working on it, if one took it.
    pub(crate) assignee: String,
    /// Paid fees wait to be refunded (the dossier was refused or stopped).
    pub(crate) refund_due: bool,
    pub(crate) procedure: String,
    pub(crate) agency: String,
    pub(crate) holder: String,
    pub(crate) applicant: String,
    pub(crate) state: &'static str,
    pub(crate) final_state: bool,
    pub(crate) step: String,
    pub(crate) counter: bool,
    pub(crate) submitted: String,
    pub(crate) received: String,
    pub(crate) due: String,
    pub(crate) finished: String,
    pub(crate) timeliness: &'static str,
    pub(crate) timeliness_class: &'static str,
    pub(crate) fee: String,
    pub(crate) revision: i32,
    /// The result was returned: the applicant may rate the handling.
    pub(crate) returned: bool,
    /// The signed result: its verification id, and whether it was revoked.
    pub(crate) result: Option<(String, bool)>,
    pub(crate) allowed: Vec<(String, String)>,
    pub(crate) values: Vec<(String, String)>,
    pub(crate) documents: Vec<DocumentRow>,
    pub(crate) events: Vec<EventRow>,
}

pub(crate) struct DocumentRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) size: String,
    pub(crate) internal: bool,
}

pub(crate) struct EventRow {
    pub(crate) id: String,
    /// The title of the form this step issued (02 to 05), if any.
    pub(crate) notice: &'static str,
    pub(crate) at: String,
    pub(crate) action: String,
    pub(crate) change: String,
    pub(crate) actor: String,
    pub(crate) note: String,
}

/// A workflow step as people name it.
fn step_label(step: &str, lang: Lang) -> &'static str {
    match step {
        "receive" => lang.pick("Tiếp nhận", "Reception"),
        "review" => lang.pick("Thẩm định", "Review"),
        "approve" => lang.pick("Phê duyệt", "Approval"),
        "sign" => lang.pick("Ký kết quả", "Signature"),
        "return" => lang.pick("Trả kết quả", "Return"),
        _ => "",
    }
}

pub(crate) async fn detail(state: &DossierState, view: DossierView, lang: Lang) -> DetailView {
    let (timeliness, timeliness_class) = timeliness_label(view.timeliness, text(lang));
    let schema = state
        .dossiers
        .version(&view.procedure_code, view.procedure_version)
        .await
        .ok()
        .flatten()
        .map(|version| version.form);
    let step = step_label(&view.step, lang).to_owned();
    let fee = egov_core::money::Vnd::new(view.fee_vnd);
    DetailView {
        assignee: view.assignee_name.clone().unwrap_or_default(),
        refund_due: view.payments.iter().any(|payment| payment.status == "refund_due"),
        state: state_label(view.state, lang),
        final_state: view.state.is_final(),
        returned: view.state == DossierStateKind::Returned,
        result: view
            .result
            .as_ref()
            .map(|result| (result.id.to_string(), result.revoked)),
        step,
        counter: view.channel == "counter",
        submitted: vn_time(view.submitted_at),
        received: view.received_at.map(vn_time).unwrap_or_default(),
        due: view.due_at.map(vn_time).unwrap_or_default(),
        finished: view.finished_at.map(vn_time).unwrap_or_default(),
        timeliness,
        timeliness_class,
        fee: if fee.is_zero() {
            text(lang).free.to_owned()
        } else {
            lang.pick(fee.format_vi(), fee.format_en())
        },
        allowed: view
            .allowed_actions
            .iter()
            .map(|action| {
                (
                    action.as_str().to_owned(),
                    lang.pick(action.label_vi(), action.label_en()).to_owned(),
                )
            })
            .collect(),
        values: schema
            .as_ref()
            .map(|schema| value_lines(schema, &view.values, lang))
            .unwrap_or_default(),
        documents: view
            .documents
            .iter()
            .map(|document| DocumentRow {
                id: document.id.to_string(),
                name: document.file_name.clone(),
                size: format!("{} KB", document.size.div_euclid(1_000).max(1)),
                internal: document.internal,
            })
            .collect(),
        events: view
            .events
            .iter()
            .map(|event| {
                let label = |state: &str| {
                    DossierStateKind::parse(state).map_or_else(String::new, |state| state_label(state, lang).to_owned())
                };
                let change = match &event.from_state {
                    Some(from) if *from != event.to_state => format!("{} → {}", label(from), label(&event.to_state)),
                    Some(_) => String::new(),
                    None => label(&event.to_state),
                };
                EventRow {
                    id: event.id.to_string(),
                    notice: notice_title(&event.action, lang),
                    at: vn_time(event.at),
                    action: action_label(&event.action, lang),
                    change,
                    actor: event.actor_name.clone(),
                    note: event.note.clone(),
                }
            })
            .collect(),
        code: view.code,
        procedure: view.procedure_name,
        agency: view.agency_name,
        holder: view.holder_agency,
        applicant: view.applicant_name,
        revision: view.revision,
    }
}

/// The fee still due and the ways to pay it.
struct PaymentBox {
    due: String,
    /// The VietQR code as SVG, drawn here (its text escaped).
    qr_svg: String,
    account: String,
    note: String,
    gateway: bool,
}

#[derive(Template)]
#[template(path = "dossier_page.html")]
struct DossierPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    d: DetailView,
    payment: Option<PaymentBox>,
    slots: Vec<SlotView>,
    notice: String,
    errors: Vec<(String, String)>,
}

#[derive(Debug, serde::Deserialize)]
struct PageQuery {
    submitted: Option<String>,
    done: Option<String>,
    paid: Option<String>,
}

async fn render_dossier(
    state: &DossierState,
    context: &PageContext,
    actor: &Actor,
    code: &str,
    notice: String,
    problems: &[Problem],
    status: StatusCode,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let view = match state.dossiers.view(actor, code).await {
        Ok(view) => view,
        Err(error) => return Ok(error_response(error, lang)),
    };
    let slots = match state
        .dossiers
        .version(&view.procedure_code, view.procedure_version)
        .await
    {
        Ok(Some(version)) => form_view::slots(&version.form, problems, lang == Lang::En),
        _ => Vec::new(),
    };
    let t = text(lang);
    let payment = match actor {
        Actor::Applicant(applicant) => payment_box(state, applicant, &view, lang).await?,
        Actor::Official(_) => None,
    };
    let page = DossierPage {
        page: context.meta(&format!("{} {}", t.code, view.code)),
        shell: context.shell(),
        t,
        payment,
        d: detail(state, view, lang).await,
        slots,
        notice,
        errors: form_view::summary(problems, lang == Lang::En),
    };
    Ok(page_response(status, page.render()?))
}

async fn payment_box(
    state: &DossierState,
    applicant: &super::Applicant,
    view: &DossierView,
    lang: Lang,
) -> Result<Option<PaymentBox>, AppError> {
    let due = view.fee_vnd - view.fee_paid_vnd;
    if due <= 0 || view.state.is_final() {
        return Ok(None);
    }
    let gateway = state.dossiers.payment_settings().gateway.is_some();
    let transfer = state
        .dossiers
        .transfer_code(applicant, &view.code)
        .await
        .map_err(|error| AppError::internal(error.to_string()))?;
    if transfer.is_none() && !gateway {
        return Ok(None);
    }
    let amount = egov_core::money::Vnd::new(due);
    Ok(Some(PaymentBox {
        due: lang.pick(amount.format_vi(), amount.format_en()),
        qr_svg: transfer.as_ref().map(|code| code.svg.clone()).unwrap_or_default(),
        account: transfer
            .as_ref()
            .map(|code| format!("{} — {}", code.account.account_number, code.account.account_name))
            .unwrap_or_default(),
        note: transfer.map(|code| code.note).unwrap_or_default(),
        gateway,
    }))
}

async fn dossier_page(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    Query(query): Query<PageQuery>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let notice = if query.submitted.is_some() {
        format!("{} {code}.", t.submitted_notice)
    } else if query.paid.is_some() {
        t.paid_notice.to_owned()
    } else if query.done.is_some() {
        t.done_notice.to_owned()
    } else {
        String::new()
    };
    let actor = Actor::Applicant(identity.applicant());
    render_dossier(&state, &context, &actor, &code, notice, &[], StatusCode::OK).await
}

/// An action or a message from the applicant's page.
async fn dossier_post(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    context: PageContext,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let posted = read_multipart(multipart).await?;
    let actor = Actor::Applicant(identity.applicant());
    let result = if posted.get("action") == "rate" {
        let rating = posted.get("rating").parse().unwrap_or(0);
        let comment = posted.get("note").to_owned();
        state
            .dossiers
            .rate(&identity.applicant(), &code, rating, &comment)
            .await
    } else if posted.get("action") == "message" {
        let note = posted.get("note").to_owned();
        state
            .dossiers
            .comment(&actor, &code, &note, false, posted.documents)
            .await
    } else {
        let Some(action) = Action::parse(posted.get("action")).filter(|action| action.by_applicant()) else {
            return Ok(error_response(DossierError::BadRequest("unknown action"), context.lang));
        };
        let act = Act {
            revision: posted.get("revision").parse().ok(),
            note: posted.get("note").to_owned(),
            documents: posted.documents,
            ..Act::new(action)
        };
        state.dossiers.act(&actor, &code, act).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/portal/dossiers/{code}?done=1")).into_response()),
        Err(DossierError::Invalid(problems)) => {
            render_dossier(
                &state,
                &context,
                &actor,
                &code,
                String::new(),
                &problems,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(DossierError::Conflict | DossierError::NotAllowed(_)) => {
            let notice = text(context.lang).conflict.to_owned();
            render_dossier(&state, &context, &actor, &code, notice, &[], StatusCode::CONFLICT).await
        }
        Err(error) => Ok(error_response(error, context.lang)),
    }
}

async fn document(
    State(state): State<DossierState>,
    Path((code, id)): Path<(String, uuid::Uuid)>,
    SignedIn(identity): SignedIn,
    lang: Lang,
) -> Result<Response, AppError> {
    Ok(
        match state
            .dossiers
            .document(&Actor::Applicant(identity.applicant()), &code, id)
            .await
        {
            Ok((document, content)) => attachment(&document.file_name, &document.media_type, content),
            Err(error) => error_response(error, lang),
        },
    )
}

// ---------------------------------------------------------------- Form 01

#[derive(Template)]
#[template(path = "dossier_receipt.html")]
pub(crate) struct ReceiptPage {
    pub(crate) page: PageMeta,
    pub(crate) shell: &'static ShellText,
    pub(crate) t: &'static DossierText,
    pub(crate) d: DetailView,
    pub(crate) received: bool,
    pub(crate) documents: Vec<String>,
    pub(crate) back: String,
}

/// Form 01 for a dossier `actor` may see.
pub(crate) async fn receipt(
    state: &DossierState,
    context: &PageContext,
    actor: &Actor,
    code: &str,
    back: String,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let view = match state.dossiers.view(actor, code).await {
        Ok(view) => view,
        Err(error) => return Ok(error_response(error, lang)),
    };
    let t = text(lang);
    let received = view.received_at.is_some();
    let documents = view
        .documents
        .iter()
        .filter(|document| !document.internal)
        .map(|document| document.file_name.clone())
        .collect();
    let page = ReceiptPage {
        page: context.meta(t.receipt_title),
        shell: context.shell(),
        t,
        d: detail(state, view, lang).await,
        received,
        documents,
        back,
    };
    Ok(Html(page.render()?).into_response())
}

async fn receipt_page(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let back = format!("/portal/dossiers/{code}");
    receipt(&state, &context, &Actor::Applicant(identity.applicant()), &code, back).await
}

// ---------------------------------------------------------------- Forms 02 to 05

#[derive(Template)]
#[template(path = "dossier_notice.html")]
pub(crate) struct NoticePage {
    pub(crate) page: PageMeta,
    pub(crate) shell: &'static ShellText,
    pub(crate) t: &'static DossierText,
    pub(crate) d: DetailView,
    pub(crate) title: &'static str,
    pub(crate) at: String,
    pub(crate) author: String,
    pub(crate) reason: String,
    pub(crate) back: String,
}

/// The printable form a step issued, for someone who may see the dossier.
pub(crate) async fn notice(
    state: &DossierState,
    context: &PageContext,
    actor: &Actor,
    code: &str,
    event_id: uuid::Uuid,
    back: String,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let view = match state.dossiers.view(actor, code).await {
        Ok(view) => view,
        Err(error) => return Ok(error_response(error, lang)),
    };
    let Some(event) = view.events.iter().find(|event| event.id == event_id).cloned() else {
        return Ok(error_response(DossierError::NotFound, lang));
    };
    let title = notice_title(&event.action, lang);
    if title.is_empty() {
        return Ok(error_response(DossierError::NotFound, lang));
    }
    let t = text(lang);
    let page = NoticePage {
        page: context.meta(title),
        shell: context.shell(),
        t,
        d: detail(state, view, lang).await,
        title,
        at: vn_time(event.at),
        author: event.actor_name,
        reason: event.note,
        back,
    };
    Ok(Html(page.render()?).into_response())
}

async fn notice_page(
    State(state): State<DossierState>,
    Path((code, id)): Path<(String, uuid::Uuid)>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let back = format!("/portal/dossiers/{code}");
    notice(
        &state,
        &context,
        &Actor::Applicant(identity.applicant()),
        &code,
        id,
        back,
    )
    .await
}

// ---------------------------------------------------------------- lookup

#[derive(Template)]
#[template(path = "dossier_lookup.html")]
struct LookupPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    code: String,
    personal_id: String,
    searched: bool,
    found: Option<LookupResult>,
}

struct LookupResult {
    code: String,
    procedure: String,
    state: &'static str,
    submitted: String,
    received: String,
    due: String,
    finished: String,
    steps: Vec<(String, String)>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct LookupQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    personal_id: String,
}

async fn lookup_page(
    State(state): State<DossierState>,
    Query(query): Query<LookupQuery>,
    egov_web::layout::ClientAddress(client): egov_web::layout::ClientAddress,
    context: PageContext,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let t = text(lang);
    let searched = !query.code.is_empty() || !query.personal_id.is_empty();
    let found = if searched {
        match state.dossiers.lookup(&query.code, &query.personal_id, client).await {
            Ok(found) => found,
            Err(error) => return Ok(error_response(error, lang)),
        }
        .map(|progress| LookupResult {
            code: progress.code,
            procedure: progress.procedure_name,
            state: state_label(progress.state, lang),
            submitted: vn_time(progress.submitted_at),
            received: progress.received_at.map(vn_time).unwrap_or_default(),
            due: progress.due_at.map(vn_time).unwrap_or_default(),
            finished: progress.finished_at.map(vn_time).unwrap_or_default(),
            steps: progress
                .steps
                .into_iter()
                .map(|(at, state)| (vn_time(at), state_label(state, lang).to_owned()))
                .collect(),
        })
    } else {
        None
    };
    let status = if searched && found.is_none() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let page = LookupPage {
        page: context.meta(t.lookup_title),
        shell: context.shell(),
        t,
        code: query.code.chars().take(60).collect(),
        personal_id: query.personal_id.chars().take(20).collect(),
        searched,
        found,
    };
    Ok(page_response(status, page.render()?))
}
