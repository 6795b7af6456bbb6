//! The GovStack Registration building block's API (0.1.1) over the same
//! dossiers, under `/api/govstack/registration`: services are procedures
//! (`serviceId` is the procedure code), e-forms are procedure versions
//! (`{code}@{version}`), application files are dossiers (`fileId` is the
//! dossier code), tasks are the workflow step a dossier waits at, for the
//! officials whose role acts there (`{code}/{step}`), and statistics are the
//! agency's. Callers authenticate with a bearer token of the sign-in
//! service, as for egov's own API; the rules are the same.

use axum::Json;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use egov_web::{AppError, Lang};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{DossierState, caller, error_response};
use super::domain::{Action, DossierCode, State as DossierStateKind, StepKind};
use super::pages::read_multipart;
use super::read::{DossierSummary, QueueKind, QueueQuery};
use super::submit::{NewDocument, NewDossier};
use super::transition::Act;
use super::{Actor, DossierError, store};

const PREFIX: &str = "/api/govstack/registration";

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/services"), get(services))
        .route(&format!("{PREFIX}/services/{{service_id}}"), get(service))
        .route(&format!("{PREFIX}/services/{{service_id}}/eForms"), get(eforms))
        .route(&format!("{PREFIX}/services/{{service_id}}/applications"), post(apply))
        .route(&format!("{PREFIX}/eForms/{{eform_id}}"), get(eform))
        .route(&format!("{PREFIX}/documents"), post(upload))
        .route(&format!("{PREFIX}/applications"), get(applications))
        .route(
            &format!("{PREFIX}/applications/{{file_id}}"),
            get(application).put(update_application),
        )
        .route(&format!("{PREFIX}/tasks"), get(tasks))
        .route(&format!("{PREFIX}/tasks/{{code}}/{{step}}"), get(task))
        .route(&format!("{PREFIX}/tasks/{{code}}/{{step}}/complete"), post(complete))
        .route(&format!("{PREFIX}/data/statistics"), get(statistics))
        .with_state(state)
}

/// GovStack's four statuses of an application file.
fn status(state: DossierStateKind) -> Value {
    let (code, title) = match state {
        DossierStateKind::Supplement => ("SENDBACK", "Sent back"),
        DossierStateKind::Approved | DossierStateKind::ResultReady | DossierStateKind::Returned => {
            ("APPROVED", "Approved")
        }
        DossierStateKind::Refused | DossierStateKind::Withdrawn | DossierStateKind::Stopped => ("REJECTED", "Rejected"),
        _ => ("PENDING", "Pending"),
    };
    json!({ "code": code, "title": title })
}

fn not_found(lang: Lang) -> Response {
    error_response(DossierError::NotFound, lang)
}

#[derive(Debug, Default, Deserialize)]
pub struct NameQuery {
    name: Option<String>,
}

async fn service_json(state: &DossierState, code: &str) -> Result<Option<Value>, DossierError> {
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let Some(procedure) = snapshot.index.get(code) else {
        return Ok(None);
    };
    let version = state.dossiers.version_in_force(code).await?;
    Ok(Some(json!({
        "id": procedure.code.as_str(),
        "name": procedure.name_vi,
        "version": version.as_ref().map_or_else(String::new, |version| version.version.to_string()),
        "type": "Public",
        "isExecutable": version.is_some(),
        "isClosed": false,
    })))
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/services",
    tag = "govstack-registration",
    security(("bearer" = [])),
    responses((status = 200, description = "Procedures as GovStack services; `name` filters by words (diacritics ignored)"))
)]
/// GET /services: the procedures, optionally those whose name has the words.
pub async fn services(State(state): State<DossierState>, Query(query): Query<NameQuery>, lang: Lang) -> Response {
    let snapshot = match state.dossiers.catalogue().snapshot().await {
        Ok(snapshot) => snapshot,
        Err(error) => return AppError::from(error).into_response(),
    };
    let words: Vec<String> = egov_core::text::fold(query.name.as_deref().unwrap_or_default())
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut list = Vec::new();
    for procedure in snapshot.index.all() {
        let name = egov_core::text::fold(&procedure.name_vi);
        if words.iter().all(|word| name.contains(word.as_str())) {
            match service_json(&state, procedure.code.as_str()).await {
                Ok(Some(service)) => list.push(service),
                Ok(None) => {}
                Err(error) => return error_response(error, lang),
            }
        }
    }
    Json(list).into_response()
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/services/{service_id}",
    tag = "govstack-registration",
    params(("service_id" = String, Path, description = "Procedure code")),
    security(("bearer" = [])),
    responses((status = 200, description = "One service"))
)]
pub async fn service(State(state): State<DossierState>, Path(service_id): Path<String>, lang: Lang) -> Response {
    match service_json(&state, &service_id).await {
        Ok(Some(service)) => Json(service).into_response(),
        Ok(None) => not_found(lang),
        Err(error) => error_response(error, lang),
    }
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/services/{service_id}/eForms",
    tag = "govstack-registration",
    params(("service_id" = String, Path, description = "Procedure code")),
    security(("bearer" = [])),
    responses((status = 200, description = "The service's e-forms (one per procedure version)"))
)]
pub async fn eforms(State(state): State<DossierState>, Path(service_id): Path<String>, lang: Lang) -> Response {
    let versions = match store::versions(state.dossiers.db(), &service_id).await {
        Ok(versions) => versions,
        Err(error) => return AppError::from(error).into_response(),
    };
    if versions.is_empty() {
        return not_found(lang);
    }
    let current = state
        .dossiers
        .version_in_force(&service_id)
        .await
        .ok()
        .flatten()
        .map(|version| version.version);
    let list: Vec<Value> = versions
        .iter()
        .map(|version| {
            json!({
                "eFormId": format!("{service_id}@{}", version.version),
                "name": service_id,
                "description": format!("Tờ khai, phiên bản {}", version.version),
                "version": version.version.to_string(),
                "latest": Some(version.version) == current,
            })
        })
        .collect();
    Json(list).into_response()
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/eForms/{eform_id}",
    tag = "govstack-registration",
    params(("eform_id" = String, Path, description = "`{code}@{version}`")),
    security(("bearer" = [])),
    responses((status = 200, description = "An e-form with its schema"))
)]
/// GET /eForms/{code@version}: the schema egov validates with.
pub async fn eform(State(state): State<DossierState>, Path(eform_id): Path<String>, lang: Lang) -> Response {
    let Some((code, version)) = eform_id.rsplit_once('@') else {
        return not_found(lang);
    };
    let Ok(number) = version.parse::<i32>() else {
        return not_found(lang);
    };
    match state.dossiers.version(code, number).await {
        Ok(Some(found)) => {
            let current = state
                .dossiers
                .version_in_force(code)
                .await
                .ok()
                .flatten()
                .map(|version| version.version);
            Json(json!({
                "eFormId": eform_id,
                "name": code,
                "description": format!("Tờ khai, phiên bản {number}"),
                "version": number.to_string(),
                "latest": Some(number) == current,
                "schema": found.form,
            }))
            .into_response()
        }
        Ok(None) => not_found(lang),
        Err(error) => error_response(error, lang),
    }
}

#[utoipa::path(
    post,
    path = "/api/govstack/registration/documents",
    tag = "govstack-registration",
    security(("bearer" = [])),
    responses((status = 200, description = "Keeps an uploaded document (multipart); the body gives its URL"))
)]
/// POST /documents: keeps a file (content-addressed) and returns the URL an
/// application names it by.
pub async fn upload(
    State(state): State<DossierState>,
    headers: HeaderMap,
    lang: Lang,
    multipart: Multipart,
) -> Result<Response, AppError> {
    caller(&state, &headers).await?;
    let posted = read_multipart(multipart).await?;
    let Some(file) = posted.documents.into_iter().next() else {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({ "code": 400, "type": "error", "message": "no file" })),
        )
            .into_response());
    };
    Ok(match state.dossiers.keep_upload(&file.file_name, &file.content).await {
        Ok(sha256) => Json(json!({
            "code": 200,
            "type": "success",
            "message": "uploaded",
            "url": format!("{PREFIX}/documents/{sha256}"),
        }))
        .into_response(),
        Err(error) => error_response(error, lang),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSubmit {
    applicant_id: String,
    #[serde(default)]
    form_data: FormData,
    #[serde(default)]
    document_urls: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormData {
    #[serde(default)]
    data: Value,
}

#[utoipa::path(
    post,
    path = "/api/govstack/registration/services/{service_id}/applications",
    tag = "govstack-registration",
    params(("service_id" = String, Path, description = "Procedure code")),
    security(("bearer" = [])),
    responses((status = 200, description = "Submits an application file (a dossier)"))
)]
/// POST /services/{code}/applications: submits a dossier. The documents
/// named by `documentUrls` fill the version's slots in order; the agency is
/// `data.agency_code`, or the procedure's only agency.
pub async fn apply(
    State(state): State<DossierState>,
    Path(service_id): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(body): Json<ApplicationSubmit>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    if body.applicant_id != identity.subject {
        return Ok(error_response(DossierError::Forbidden("one applies for oneself"), lang));
    }
    let result = async {
        let snapshot = state.dossiers.catalogue().snapshot().await?;
        let procedure = snapshot.index.get(&service_id).ok_or(DossierError::UnknownProcedure)?;
        let agency_code = match body.form_data.data.get("agency_code").and_then(Value::as_str) {
            Some(agency) => agency.to_owned(),
            None if procedure.agency_codes.len() == 1 => procedure.agency_codes[0].clone(),
            None => {
                return Err(DossierError::invalid(
                    "agency_code",
                    "Chọn cơ quan giải quyết (data.agency_code).",
                    "Choose the handling agency (data.agency_code).",
                ));
            }
        };
        let version = state
            .dossiers
            .version_in_force(&service_id)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let mut documents = Vec::new();
        for (slot, url) in version.form.documents.iter().zip(&body.document_urls) {
            let sha256 = url.rsplit('/').next().unwrap_or_default();
            let content = store::file_content(state.dossiers.db(), sha256).await?.ok_or_else(|| {
                DossierError::invalid(
                    &format!("documents.{}", slot.slot),
                    "Không tìm thấy tệp.",
                    "No such file.",
                )
            })?;
            documents.push(NewDocument {
                slot: slot.slot.clone(),
                file_name: format!("{}.pdf", slot.slot),
                content,
            });
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .map_or_else(|| egov_core::id::new_id().to_string(), str::to_owned);
        let new = NewDossier {
            procedure_code: service_id.clone(),
            agency_code,
            values: body.form_data.data.clone(),
            documents,
            idempotency_key: key,
        };
        state.dossiers.submit(&identity.applicant(), new).await
    }
    .await;
    Ok(match result {
        Ok(submitted) => Json(json!({
            "fileId": submitted.code.as_str(),
            "serviceId": service_id,
            "applicantId": identity.subject,
            "status": status(DossierStateKind::Submitted),
            "ended": false,
        }))
        .into_response(),
        Err(error) => error_response(error, lang),
    })
}

fn file_json(summary: &DossierSummary) -> Value {
    json!({
        "fileId": summary.code,
        "registered": summary.submitted_at,
        "serviceId": summary.procedure_code,
        "serviceName": summary.procedure_name,
        "status": status(summary.state),
        "ended": summary.state.is_final(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    first_result: Option<u32>,
}

async fn summaries(state: &DossierState, actor: &Actor, first: u32) -> Result<Vec<DossierSummary>, DossierError> {
    match actor {
        Actor::Applicant(applicant) => state.dossiers.mine(&applicant.subject).await,
        Actor::Official(official) => {
            let query = QueueQuery {
                kind: QueueKind::All,
                text: String::new(),
                procedure_code: None,
                mine: false,
                department: None,
                submitted_from: None,
                submitted_to: None,
                page: first / u32::try_from(super::read::QUEUE_PAGE).unwrap_or(50) + 1,
            };
            state.dossiers.queue(official, &query).await
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/applications",
    tag = "govstack-registration",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's application files, or their agency's"))
)]
/// GET /applications: the caller's own dossiers, or their agency's.
pub async fn applications(
    State(state): State<DossierState>,
    Query(page): Query<Page>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    Ok(
        match summaries(&state, &identity.actor(), page.first_result.unwrap_or(0)).await {
            Ok(list) => Json(list.iter().map(file_json).collect::<Vec<_>>()).into_response(),
            Err(error) => error_response(error, lang),
        },
    )
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/applications/{file_id}",
    tag = "govstack-registration",
    params(("file_id" = String, Path, description = "Dossier code")),
    security(("bearer" = [])),
    responses((status = 200, description = "One application file with its data"))
)]
pub async fn application(
    State(state): State<DossierState>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    Ok(match state.dossiers.view(&identity.actor(), &file_id).await {
        Ok(view) => Json(json!({
            "fileId": view.code,
            "registered": view.submitted_at,
            "serviceId": view.procedure_code,
            "serviceName": view.procedure_name,
            "status": status(view.state),
            "ended": view.state.is_final(),
            "applicationData": {
                "applicationName": view.applicant_name,
                "formData": { "data": view.values, "eFormId": format!("{}@{}", view.procedure_code, view.procedure_version) },
                "documentUrls": view.documents.iter().map(|document| format!("/api/v1/dossiers/{}/documents/{}", view.code, document.id)).collect::<Vec<_>>(),
            },
        }))
        .into_response(),
        Err(error) => error_response(error, lang),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct AdditionalData {
    #[serde(default)]
    data: Value,
}

#[utoipa::path(
    put,
    path = "/api/govstack/registration/applications/{file_id}",
    tag = "govstack-registration",
    params(("file_id" = String, Path, description = "Dossier code")),
    security(("bearer" = [])),
    responses((status = 200, description = "The operator's data, kept as an internal note"))
)]
/// PUT /applications/{code}: the operator's form data, kept as an internal
/// note (egov does not let the agency rewrite what the applicant declared).
pub async fn update_application(
    State(state): State<DossierState>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(body): Json<AdditionalData>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let text = body.data.to_string();
    Ok(
        match state
            .dossiers
            .comment(&identity.actor(), &file_id, &text, true, Vec::new())
            .await
        {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(error) => error_response(error, lang),
        },
    )
}

fn task_json(summary: &DossierSummary, step: &str) -> Value {
    json!({
        "taskId": format!("{}/{step}", summary.code),
        "mainTaskId": summary.code,
        "name": step,
        "created": summary.submitted_at,
        "serviceId": summary.procedure_code,
        "serviceName": summary.procedure_name,
        "fileId": summary.code,
        "status": status(summary.state),
    })
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/tasks",
    tag = "govstack-registration",
    security(("bearer" = [])),
    responses((status = 200, description = "Dossiers waiting at a step the caller's roles act at"))
)]
/// GET /tasks: the dossiers waiting at a step the caller's roles act at.
pub async fn tasks(
    State(state): State<DossierState>,
    Query(page): Query<Page>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let Some(official) = identity.official() else {
        return Ok(Json(Vec::<Value>::new()).into_response());
    };
    let actor = Actor::Official(official);
    let list = match summaries(&state, &actor, page.first_result.unwrap_or(0)).await {
        Ok(list) => list,
        Err(error) => return Ok(error_response(error, lang)),
    };
    let mut open = Vec::new();
    for summary in list.iter().filter(|summary| !summary.state.is_final()) {
        if let Ok((step, true)) = state.dossiers.waiting_step(&actor, &summary.code).await {
            open.push(task_json(summary, step.as_str()));
        }
    }
    Ok(Json(open).into_response())
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/tasks/{code}/{step}",
    tag = "govstack-registration",
    params(("code" = String, Path, description = "Dossier code"), ("step" = String, Path, description = "Workflow step")),
    security(("bearer" = [])),
    responses((status = 200, description = "One task"))
)]
pub async fn task(
    State(state): State<DossierState>,
    Path((code, step)): Path<(String, String)>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let actor = identity.actor();
    Ok(match state.dossiers.waiting_step(&actor, &code).await {
        Ok((current, _)) if current.as_str() == step => {
            let list = summaries(&state, &actor, 0).await.unwrap_or_default();
            match list.iter().find(|summary| summary.code == code) {
                Some(summary) => Json(task_json(summary, &step)).into_response(),
                None => not_found(lang),
            }
        }
        Ok(_) => not_found(lang),
        Err(error) => error_response(error, lang),
    })
}

/// The action that completes a step with a decision: `approve` (the
/// default) moves on, `sendback` asks the applicant for more (or a step
/// back), `reject` refuses or stops.
fn completing_action(step: StepKind, decision: &str) -> Option<Action> {
    match (step, decision) {
        (StepKind::Receive, "approve") => Some(Action::Accept),
        (StepKind::Receive | StepKind::Review, "sendback") => Some(Action::RequestSupplement),
        (StepKind::Receive, "reject") => Some(Action::Refuse),
        (StepKind::Review, "approve") => Some(Action::Forward),
        (StepKind::Review | StepKind::Approve, "reject") => Some(Action::Stop),
        (StepKind::Approve, "approve") => Some(Action::Approve),
        (StepKind::Approve, "sendback") => Some(Action::SendBack),
        (StepKind::Sign, "approve") => Some(Action::Sign),
        (StepKind::Return, "approve") => Some(Action::Return),
        _ => None,
    }
}

#[utoipa::path(
    post,
    path = "/api/govstack/registration/tasks/{code}/{step}/complete",
    tag = "govstack-registration",
    params(("code" = String, Path, description = "Dossier code"), ("step" = String, Path, description = "Workflow step")),
    security(("bearer" = [])),
    responses((status = 200, description = "Completes a task with `data.decision` approve, sendback or reject"))
)]
/// POST /tasks/{code}/{step}/complete with `{"data": {"decision", "note"}}`.
pub async fn complete(
    State(state): State<DossierState>,
    Path((code, step)): Path<(String, String)>,
    headers: HeaderMap,
    lang: Lang,
    Json(body): Json<AdditionalData>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let actor = identity.actor();
    let result = async {
        let (current, _) = state.dossiers.waiting_step(&actor, &code).await?;
        if current.as_str() != step {
            return Err(DossierError::NotFound);
        }
        let decision = body.data.get("decision").and_then(Value::as_str).unwrap_or("approve");
        let action = completing_action(current, decision)
            .ok_or(DossierError::BadRequest("decision is approve, sendback or reject"))?;
        let note = body
            .data
            .get("note")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        state
            .dossiers
            .act(
                &actor,
                &code,
                Act {
                    note,
                    ..Act::new(action)
                },
            )
            .await?;
        state.dossiers.view_after_act(&actor, &code).await
    }
    .await;
    Ok(match result {
        Ok(view) => Json(json!({
            "taskId": format!("{code}/{step}"),
            "fileId": view.code,
            "serviceId": view.procedure_code,
            "status": status(view.state),
        }))
        .into_response(),
        Err(error) => error_response(error, lang),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsQuery {
    start_date: Option<chrono::NaiveDate>,
    end_date: Option<chrono::NaiveDate>,
}

#[utoipa::path(
    get,
    path = "/api/govstack/registration/data/statistics",
    tag = "govstack-registration",
    security(("bearer" = [])),
    responses((status = 200, description = "Processed, approved, sent back and rejected application files"))
)]
/// GET /data/statistics: processed, approved, sent back and rejected
/// dossiers of the caller's agency (all agencies for a platform admin).
pub async fn statistics(
    State(state): State<DossierState>,
    Query(query): Query<StatisticsQuery>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let platform_admin = identity.roles.iter().any(|role| role == "platform_admin");
    let agency = if platform_admin { None } else { identity.agency.clone() };
    if agency.is_none() && !platform_admin {
        return Ok(error_response(DossierError::Forbidden("officials only"), lang));
    }
    let today = super::submit::to_vn(state.dossiers.now()).date();
    let start = query.start_date.unwrap_or_else(|| today - chrono::Duration::days(365));
    let end = query.end_date.unwrap_or(today);
    let Some(end_exclusive) = end.succ_opt() else {
        return Ok(error_response(DossierError::BadRequest("endDate"), lang));
    };
    Ok(
        match state.dossiers.statistics(agency.as_deref(), start, end_exclusive).await {
            Ok(report) => {
                let totals = &report.totals;
                Json(json!([{
                "processed": totals.done_on_time + totals.done_late + totals.refused + totals.stopped,
                "approved": totals.done_on_time + totals.done_late,
                "sentBack": totals.supplemented,
                "rejected": totals.refused + totals.stopped,
                "references": { "startDate": start, "endDate": end, "registrationName": agency.unwrap_or_default() },
            }]))
            .into_response()
            }
            Err(error) => error_response(error, lang),
        },
    )
}

/// The GovStack Registration API's part of the OpenAPI description.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    services,
    service,
    eforms,
    eform,
    upload,
    apply,
    applications,
    application,
    update_application,
    tasks,
    task,
    complete,
    statistics
))]
#[derive(Debug)]
pub struct GovStackApi;

impl super::Dossiers {
    /// Keeps an uploaded file (checked to be a PDF, JPEG or PNG of at most
    /// 10 MB); returns its SHA-256.
    pub async fn keep_upload(&self, file_name: &str, content: &[u8]) -> Result<String, DossierError> {
        let slot = super::upload::internal_slot();
        let (media_type, _) = super::upload::check(&slot, file_name, content).map_err(|error| {
            DossierError::Invalid(vec![super::eform::Problem {
                path: "file".to_owned(),
                vi: error.vi(),
                en: error.en(),
            }])
        })?;
        let sha256 = super::submit::hex_sha256(content);
        let mut tx = self.db.begin().await?;
        store::insert_file(&mut tx, &sha256, media_type, content, self.now().timestamp_millis()).await?;
        tx.commit().await?;
        Ok(sha256)
    }

    /// The step a dossier waits at, and whether `actor` acts there.
    pub async fn waiting_step(&self, actor: &Actor, code: &str) -> Result<(StepKind, bool), DossierError> {
        let row = self.visible(actor, code).await?;
        DossierCode::parse(code).ok_or(DossierError::NotFound)?;
        let version = self
            .version(&row.procedure_code, row.procedure_version)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let situation = super::transition::situation(&row);
        let step = if situation.state == DossierStateKind::Submitted {
            StepKind::Receive
        } else {
            version.steps.kind(situation.step).ok_or(DossierError::NotFound)?
        };
        let acts = match (actor, situation.acting_role(&version.steps)) {
            (Actor::Official(official), Some(role)) => {
                official.has(role) && official.agency_code == row.holder_agency && !situation.state.clock_paused()
            }
            _ => false,
        };
        Ok((step, acts))
    }
}
