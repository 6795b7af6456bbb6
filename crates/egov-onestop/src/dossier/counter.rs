//! Counter intake (tiếp nhận trực tiếp): the one-stop desk registers a
//! paper dossier brought in person, with the applicant's particulars, the
//! e-form filled from the paper and the scanned documents. It is received at
//! once, so the statistics count every channel.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use egov_web::i18n::ShellText;
use egov_web::{AppError, Lang, PageContext, PageMeta};
use serde_json::Value;

use super::api::{DossierState, error_response};
use super::back_office::BackOffice;
use super::eform::{Problem, values_from_pairs};
use super::form_view::{self, FieldView, SlotView};
use super::pages::{new_key, page_response, province_options, read_multipart};
use super::submit::NewDossier;
use super::text::{DossierText, text};
use super::{Applicant, DossierError};

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/back-office/counter", get(procedures))
        .route("/back-office/counter/{code}", get(form).post(register))
        .with_state(state)
}

#[derive(Template)]
#[template(path = "back_office_counter.html")]
struct ProceduresPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    procedures: Vec<(String, String)>,
}

/// The procedures the official's agency handles.
async fn procedures(
    BackOffice(official): BackOffice,
    State(state): State<DossierState>,
    context: PageContext,
) -> Result<Response, AppError> {
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let mut procedures: Vec<(String, String)> = snapshot
        .index
        .all()
        .filter(|procedure| procedure.agency_codes.contains(&official.agency_code))
        .map(|procedure| {
            (
                procedure.code.to_string(),
                context.lang.pick(&procedure.name_vi, &procedure.name_en).clone(),
            )
        })
        .collect();
    procedures.sort();
    let t = text(context.lang);
    let page = ProceduresPage {
        page: context.meta(t.counter_title),
        shell: context.shell(),
        t,
        procedures,
    };
    Ok(page_response(StatusCode::OK, page.render()?))
}

#[derive(Template)]
#[template(path = "back_office_counter_form.html")]
struct CounterForm {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static DossierText,
    code: String,
    procedure_name: String,
    applicant_name: String,
    applicant_personal_id: String,
    applicant_email: String,
    fields: Vec<FieldView>,
    slots: Vec<SlotView>,
    errors: Vec<(String, String)>,
    idempotency_key: String,
}

struct Entered<'a> {
    posted: &'a [(String, String)],
    values: &'a Value,
    problems: &'a [Problem],
    key: String,
}

async fn render(
    state: &DossierState,
    context: &PageContext,
    code: &str,
    entered: Entered<'_>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let lang = context.lang;
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
    let get = |name: &str| {
        entered
            .posted
            .iter()
            .find(|(key, _)| key == name)
            .map_or_else(String::new, |(_, value)| value.clone())
    };
    let t = text(lang);
    let page = CounterForm {
        page: context.meta(t.counter_title),
        shell: context.shell(),
        t,
        code: code.to_owned(),
        procedure_name: lang.pick(&procedure.name_vi, &procedure.name_en).clone(),
        applicant_name: get("counter_applicant_name"),
        applicant_personal_id: get("counter_applicant_personal_id"),
        applicant_email: get("counter_applicant_email"),
        fields: form_view::fields(&version.form, entered.values, entered.problems, english, &provinces),
        slots: form_view::slots(&version.form, entered.problems, english),
        errors: form_view::summary(entered.problems, english),
        idempotency_key: entered.key,
    };
    Ok(page_response(status, page.render()?))
}

async fn form(
    BackOffice(_official): BackOffice,
    State(state): State<DossierState>,
    Path(code): Path<String>,
    context: PageContext,
) -> Result<Response, AppError> {
    let entered = Entered {
        posted: &[],
        values: &Value::Null,
        problems: &[],
        key: new_key(),
    };
    render(&state, &context, &code, entered, StatusCode::OK).await
}

/// The applicant's particulars as the desk typed them, or their problems.
fn applicant(posted: &[(String, String)]) -> Result<Applicant, Vec<Problem>> {
    let get = |name: &str| {
        posted
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.trim())
    };
    let mut problems = Vec::new();
    let name = get("counter_applicant_name");
    if name.is_empty() || name.chars().count() > 200 {
        problems.push(Problem {
            path: "counter_applicant_name".to_owned(),
            vi: "Nhập họ tên người nộp.".to_owned(),
            en: "Enter the applicant's name.".to_owned(),
        });
    }
    let personal_id = egov_core::personal_id::PersonalId::parse(get("counter_applicant_personal_id"));
    if personal_id.is_err() {
        problems.push(Problem {
            path: "counter_applicant_personal_id".to_owned(),
            vi: "Số định danh cá nhân gồm 12 chữ số hợp lệ.".to_owned(),
            en: "A personal ID number is 12 valid digits.".to_owned(),
        });
    }
    let email = get("counter_applicant_email");
    if !email.is_empty() && (!email.contains('@') || email.len() > 254) {
        problems.push(Problem {
            path: "counter_applicant_email".to_owned(),
            vi: "Thư điện tử không hợp lệ.".to_owned(),
            en: "Not an e-mail address.".to_owned(),
        });
    }
    match personal_id {
        Ok(id) if problems.is_empty() => Ok(Applicant {
            subject: format!("counter:{}", id.as_str()),
            name: name.to_owned(),
            personal_id: Some(id.as_str().to_owned()),
            email: (!email.is_empty()).then(|| email.to_owned()),
        }),
        _ => Err(problems),
    }
}

async fn register(
    BackOffice(official): BackOffice,
    State(state): State<DossierState>,
    Path(code): Path<String>,
    context: PageContext,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let posted = read_multipart(multipart).await?;
    let form_pairs: Vec<(String, String)> = posted
        .pairs
        .iter()
        .filter(|(key, _)| !key.starts_with("counter_") && key != "idempotency_key")
        .cloned()
        .collect();
    let values = values_from_pairs(&form_pairs);
    let key = posted.get("idempotency_key").to_owned();
    let applicant = match applicant(&posted.pairs) {
        Ok(applicant) => applicant,
        Err(problems) => {
            let entered = Entered {
                posted: &posted.pairs,
                values: &values,
                problems: &problems,
                key,
            };
            return render(&state, &context, &code, entered, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let new = NewDossier {
        procedure_code: code.clone(),
        agency_code: official.agency_code.clone(),
        values: values.clone(),
        documents: posted.documents,
        idempotency_key: key.clone(),
    };
    match state.dossiers.register_at_counter(&official, &applicant, new).await {
        Ok(submitted) => Ok(Redirect::to(&format!("/back-office/dossiers/{}?done=1", submitted.code)).into_response()),
        Err(DossierError::Invalid(problems)) => {
            let entered = Entered {
                posted: &posted.pairs,
                values: &values,
                problems: &problems,
                key,
            };
            render(&state, &context, &code, entered, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(error) => Ok(error_response(error, context.lang)),
    }
}
