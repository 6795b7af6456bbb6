//! The dossiers' JSON API: every action of applicants and officials, over
//! bearer access tokens of the central sign-in. Errors carry a stable code;
//! form problems (422) list each field, refused transitions (409) list the
//! actions allowed instead.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use egov_web::error::FinalBody;
use egov_web::{AppError, Lang, Localized};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::domain::{Action, Delivery, WorkflowStep};
use super::eform::FormSchema;
use super::identity::{Identify, Identity, bearer_token};
use super::read::{DossierSummary, DossierView, PublicProgress, QueueKind, QueueQuery};
use super::submit::{NewDocument, NewDossier};
use super::transition::{Act, Assignment};
use super::versions::NewVersion;
use super::{Actor, Applicant, DossierError, Dossiers, Official};

/// What the dossier routes share.
#[derive(Debug, Clone)]
pub struct DossierState {
    pub dossiers: Dossiers,
    pub identify: Arc<dyn Identify>,
}

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/api/v1/procedures/{code}/form", get(form_api))
        .route("/api/v1/procedures/{code}/versions", post(publish_api))
        .route("/api/v1/procedures/{code}/prefill", post(prefill_api))
        .route("/api/v1/dossiers", get(list_api).post(submit_api))
        .route("/api/v1/dossiers/{code}", get(view_api))
        .route("/api/v1/dossiers/{code}/actions", post(act_api))
        .route("/api/v1/dossiers/{code}/comments", post(comment_api))
        .route("/api/v1/dossiers/{code}/rating", post(rating_api))
        .route("/api/v1/dossiers/{code}/assignment", post(assignment_api))
        .route("/api/v1/dossiers/{code}/assignees", get(assignees_api))
        .route("/api/v1/dossiers/{code}/documents/{id}", get(document_api))
        .route("/api/v1/counter-dossiers", post(counter_api))
        .route("/api/v1/dossier-lookup", get(lookup_api))
        .with_state(state)
}

/// A JSON error with fields beside `code` and `message`, sent as is.
fn json_error(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(FinalBody);
    response
}

/// The HTTP form of a dossier error, in the caller's language.
pub fn error_response(error: DossierError, lang: Lang) -> Response {
    let plain = |status, code, vi: &'static str, en: &'static str| {
        AppError::new(status, code, Localized::new(vi, en)).into_response()
    };
    match error {
        DossierError::NotFound => plain(
            StatusCode::NOT_FOUND,
            "dossier_not_found",
            "Không tìm thấy hồ sơ.",
            "No such dossier.",
        ),
        DossierError::Forbidden(reason) => AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            Localized::new("Bạn không có quyền thực hiện thao tác này.", "You may not do this."),
        )
        .with_cause(reason)
        .into_response(),
        DossierError::UnknownProcedure => plain(
            StatusCode::NOT_FOUND,
            "procedure_not_offered",
            "Thủ tục không tồn tại hoặc cơ quan này không giải quyết.",
            "No such procedure, or that agency does not handle it.",
        ),
        DossierError::NoVersion => plain(
            StatusCode::CONFLICT,
            "procedure_not_open",
            "Thủ tục chưa có biểu mẫu có hiệu lực để nộp trực tuyến.",
            "The procedure has no form in force for online submission.",
        ),
        DossierError::Invalid(problems) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "code": "invalid_dossier",
                "message": lang.pick("Hồ sơ chưa hợp lệ; xem từng trường.", "The dossier is not valid; see each field."),
                "problems": problems.iter().map(|problem| json!({
                    "path": problem.path,
                    "message": lang.pick(&problem.vi, &problem.en),
                })).collect::<Vec<_>>(),
            }),
        ),
        DossierError::NotAllowed(refusal) => json_error(
            StatusCode::CONFLICT,
            json!({
                "code": "transition_not_allowed",
                "message": lang.pick(
                    format!("Không thể “{}” khi hồ sơ ở trạng thái “{}”.", refusal.action.label_vi(), refusal.state.label_vi()),
                    format!("Cannot “{}” a dossier that is “{}”.", refusal.action.label_en(), refusal.state.label_en()),
                ),
                "state": refusal.state,
                "allowed": refusal.allowed,
            }),
        ),
        DossierError::Conflict => plain(
            StatusCode::CONFLICT,
            "dossier_changed",
            "Hồ sơ vừa được người khác cập nhật. Tải lại và thử lại.",
            "Someone else changed the dossier just now. Reload and try again.",
        ),
        DossierError::BadRequest(reason) => AppError::bad_request(
            "bad_request",
            Localized::new("Yêu cầu không hợp lệ.", "The request is not valid."),
        )
        .with_cause(reason)
        .into_response(),
        DossierError::TooManyAttempts => plain(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Tra cứu không thành công quá nhiều lần. Vui lòng thử lại sau 10 phút.",
            "Too many lookups found nothing. Please try again in 10 minutes.",
        ),
        DossierError::Db(error) => AppError::from(error).into_response(),
    }
}

fn unauthorized() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        Localized::new(
            "Cần mã truy cập hợp lệ (Authorization: Bearer).",
            "A valid access token is required (Authorization: Bearer).",
        ),
    )
}

pub(crate) async fn caller(state: &DossierState, headers: &HeaderMap) -> Result<Identity, AppError> {
    let token = bearer_token(headers).ok_or_else(unauthorized)?;
    state.identify.bearer(token).await?.ok_or_else(unauthorized)
}

/// A document in a JSON body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DocumentUpload {
    pub slot: String,
    pub file_name: String,
    /// The file, base64 (standard alphabet, padded).
    pub content_base64: String,
}

fn decode(documents: Vec<DocumentUpload>) -> Result<Vec<NewDocument>, DossierError> {
    documents
        .into_iter()
        .map(|document| {
            let content = STANDARD.decode(document.content_base64.as_bytes()).map_err(|_| {
                DossierError::invalid(
                    &format!("documents.{}", document.slot),
                    "Nội dung tệp không phải base64.",
                    "The file content is not base64.",
                )
            })?;
            Ok(NewDocument {
                slot: document.slot,
                file_name: document.file_name,
                content,
            })
        })
        .collect()
}

/// The form and terms of the version in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormView {
    pub procedure_code: String,
    pub version: i32,
    pub effective_from: chrono::DateTime<chrono::Utc>,
    pub form: FormSchema,
    pub fee_vnd: i64,
    pub online_fee_vnd: i64,
    pub processing_days: u32,
    /// The workflow, step by step, with departments and hours.
    pub steps: Vec<WorkflowStep>,
}

#[utoipa::path(
    get,
    path = "/api/v1/procedures/{code}/form",
    tag = "dossiers",
    params(("code" = String, Path, description = "Procedure code")),
    responses(
        (status = 200, description = "The e-form and terms in force", body = FormView),
        (status = 409, description = "`procedure_not_open`", body = egov_web::error::ErrorBody),
    )
)]
pub async fn form_api(State(state): State<DossierState>, Path(code): Path<String>, lang: Lang) -> Response {
    match state.dossiers.version_in_force(&code).await {
        Ok(Some(version)) => Json(FormView {
            procedure_code: version.procedure_code,
            version: version.version,
            effective_from: version.effective_from,
            form: version.form,
            fee_vnd: version.fee.amount(),
            online_fee_vnd: version.online_fee.amount(),
            processing_days: version.processing_days,
            steps: version.plan,
        })
        .into_response(),
        Ok(None) => error_response(DossierError::NoVersion, lang),
        Err(error) => error_response(error, lang),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/procedures/{code}/versions",
    tag = "dossiers",
    params(("code" = String, Path, description = "Procedure code")),
    request_body = NewVersion,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Published; the body gives the version number"),
        (status = 403, description = "Not an admin of an agency offering the procedure", body = egov_web::error::ErrorBody),
        (status = 422, description = "`invalid_dossier`: the form, workflow, fee or time limit is wrong"),
    )
)]
pub async fn publish_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(new): Json<NewVersion>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let agencies = snapshot
        .index
        .get(&code)
        .map(|procedure| procedure.agency_codes.clone())
        .unwrap_or_default();
    if !identity.administers(&agencies) {
        return Ok(error_response(
            DossierError::Forbidden("not an admin of this procedure"),
            lang,
        ));
    }
    Ok(
        match state.dossiers.publish_version(&code, &new, &identity.subject).await {
            Ok(version) => (StatusCode::CREATED, Json(json!({ "version": version }))).into_response(),
            Err(error) => error_response(error, lang),
        },
    )
}

/// A value of the e-form filled from a base registry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PrefilledField {
    /// The form path: a field name, or `field.part` for an address.
    pub path: String,
    pub value: String,
    /// Where the value comes from: `population_registry`.
    pub source: &'static str,
}

/// The applicant's own data from the population registry, as the e-form of
/// the procedure takes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PrefillResponse {
    pub procedure_code: String,
    pub fields: Vec<PrefilledField>,
    /// The same values shaped as `values` of a submission.
    #[schema(value_type = Object)]
    pub values: Value,
}

fn prefill_error(error: super::population::PrefillError, lang: Lang) -> Response {
    use super::population::{LookupError, PrefillError};
    let coded = |status: StatusCode, code: &str, vi: &str, en: &str| {
        json_error(status, json!({ "code": code, "message": lang.pick(vi, en) }))
    };
    match error {
        PrefillError::Dossier(error) => error_response(error, lang),
        PrefillError::NotOffered => coded(
            StatusCode::NOT_FOUND,
            "prefill_not_offered",
            "Cổng này không đọc Cơ sở dữ liệu quốc gia về dân cư.",
            "This portal does not read the national population registry.",
        ),
        PrefillError::NoPersonalId => coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_personal_id",
            "Tài khoản chưa có số định danh cá nhân.",
            "The account has no personal ID number.",
        ),
        PrefillError::Lookup(LookupError::NotFound) => coded(
            StatusCode::NOT_FOUND,
            "registry_record_not_found",
            "Không tìm thấy bản ghi của bạn trong Cơ sở dữ liệu quốc gia về dân cư.",
            "Your record was not found in the national population registry.",
        ),
        PrefillError::Lookup(LookupError::NotAllowed(cause)) => {
            tracing::warn!(%cause, "The population registry refused a prefill");
            coded(
                StatusCode::FORBIDDEN,
                "registry_refused",
                "Cơ sở dữ liệu quốc gia về dân cư từ chối cung cấp thông tin cho cổng dịch vụ công.",
                "The national population registry refused to give the portal the data.",
            )
        }
        PrefillError::Lookup(LookupError::Unavailable(cause)) => {
            tracing::warn!(%cause, "The population registry cannot be reached");
            coded(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                "Hiện không kết nối được tới Cơ sở dữ liệu quốc gia về dân cư.",
                "The national population registry cannot be reached at the moment.",
            )
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/procedures/{code}/prefill",
    tag = "dossiers",
    params(("code" = String, Path, description = "Procedure code")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's own data from the population registry for the form in force; \
            the call is the caller's consent, and the registry records the read in their data tracker", body = PrefillResponse),
        (status = 401, description = "`unauthorized`", body = egov_web::error::ErrorBody),
        (status = 403, description = "`registry_refused`: the registry or the gateway refused the read", body = egov_web::error::ErrorBody),
        (status = 404, description = "`registry_record_not_found`, `procedure_not_offered` or `prefill_not_offered`", body = egov_web::error::ErrorBody),
        (status = 409, description = "`procedure_not_open`", body = egov_web::error::ErrorBody),
        (status = 422, description = "`no_personal_id`: the caller's account has no personal ID", body = egov_web::error::ErrorBody),
        (status = 503, description = "`registry_unavailable`", body = egov_web::error::ErrorBody),
    )
)]
pub async fn prefill_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    Ok(match state.dossiers.prefill(&identity.applicant(), &code).await {
        Ok(filled) => Json(PrefillResponse {
            procedure_code: code,
            values: super::population::apply(&json!({}), &filled),
            fields: filled
                .into_iter()
                .map(|item| PrefilledField {
                    path: item.path,
                    value: item.value,
                    source: super::population::SOURCE_POPULATION,
                })
                .collect(),
        })
        .into_response(),
        Err(error) => prefill_error(error, lang),
    })
}

/// A dossier submitted through the API.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubmitRequest {
    pub procedure_code: String,
    pub agency_code: String,
    /// The e-form's values by field name.
    #[schema(value_type = Object)]
    pub values: Value,
    #[serde(default)]
    pub documents: Vec<DocumentUpload>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    pub code: String,
    /// `false` when the idempotency key named an earlier submission.
    pub created: bool,
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, DossierError> {
    headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or(DossierError::BadRequest("the Idempotency-Key header is required"))
}

fn submitted(result: Result<super::submit::Submitted, DossierError>, lang: Lang) -> Response {
    match result {
        Ok(submitted) => {
            let status = if submitted.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut response = (
                status,
                Json(SubmitResponse {
                    code: submitted.code.to_string(),
                    created: submitted.created,
                }),
            )
                .into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/dossiers/{}", submitted.code)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(error) => error_response(error, lang),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/dossiers",
    tag = "dossiers",
    request_body = SubmitRequest,
    params(("Idempotency-Key" = String, Header, description = "8–100 visible ASCII characters chosen by the client; a repeat returns the first dossier")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Submitted", body = SubmitResponse),
        (status = 200, description = "Already submitted under this key", body = SubmitResponse),
        (status = 422, description = "`invalid_dossier` with `problems` per field"),
    )
)]
pub async fn submit_api(
    State(state): State<DossierState>,
    headers: HeaderMap,
    lang: Lang,
    Json(request): Json<SubmitRequest>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let result = async {
        let new = NewDossier {
            procedure_code: request.procedure_code,
            agency_code: request.agency_code,
            values: request.values,
            documents: decode(request.documents)?,
            idempotency_key: idempotency_key(&headers)?,
        };
        state.dossiers.submit(&identity.applicant(), new).await
    }
    .await;
    Ok(submitted(result, lang))
}

/// A paper dossier registered at the counter for an applicant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CounterRequest {
    pub applicant_name: String,
    pub applicant_personal_id: String,
    pub applicant_email: Option<String>,
    pub procedure_code: String,
    #[schema(value_type = Object)]
    pub values: Value,
    #[serde(default)]
    pub documents: Vec<DocumentUpload>,
}

#[utoipa::path(
    post,
    path = "/api/v1/counter-dossiers",
    tag = "dossiers",
    request_body = CounterRequest,
    params(("Idempotency-Key" = String, Header, description = "As for online submission")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered and received", body = SubmitResponse),
        (status = 403, description = "Not a receiver", body = egov_web::error::ErrorBody),
    )
)]
pub async fn counter_api(
    State(state): State<DossierState>,
    headers: HeaderMap,
    lang: Lang,
    Json(request): Json<CounterRequest>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let Some(official) = identity.official() else {
        return Ok(error_response(DossierError::Forbidden("not an official"), lang));
    };
    let result = async {
        let personal_id = egov_core::personal_id::PersonalId::parse(&request.applicant_personal_id).map_err(|_| {
            DossierError::invalid(
                "applicant_personal_id",
                "Số định danh cá nhân gồm 12 chữ số hợp lệ.",
                "A personal ID number is 12 valid digits.",
            )
        })?;
        let name = request.applicant_name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(DossierError::invalid(
                "applicant_name",
                "Nhập họ tên người nộp.",
                "Enter the applicant's name.",
            ));
        }
        let applicant = Applicant {
            // Counter applicants are known by their personal ID until they
            // sign in themselves.
            subject: format!("counter:{}", personal_id.as_str()),
            name: name.to_owned(),
            personal_id: Some(personal_id.as_str().to_owned()),
            email: request.applicant_email.filter(|email| email.contains('@')),
        };
        let new = NewDossier {
            procedure_code: request.procedure_code,
            agency_code: official.agency_code.clone(),
            values: request.values,
            documents: decode(request.documents)?,
            idempotency_key: idempotency_key(&headers)?,
        };
        state.dossiers.register_at_counter(&official, &applicant, new).await
    }
    .await;
    Ok(submitted(result, lang))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// For officials: `new`, `processing`, `waiting`, `to_return`, `done` or `all`.
    queue: Option<String>,
    /// Words of a code, a name or a procedure.
    #[serde(default)]
    q: String,
    procedure: Option<String>,
    /// For officials: only the dossiers assigned to them.
    mine: Option<bool>,
    /// For officials of the whole agency: only the dossiers at this
    /// department's steps.
    department: Option<String>,
    /// Submitted on or after this day, `YYYY-MM-DD`.
    from: Option<chrono::NaiveDate>,
    /// Submitted on or before this day.
    to: Option<chrono::NaiveDate>,
    page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/dossiers",
    tag = "dossiers",
    params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "An official's queue, or the applicant's own dossiers", body = [DossierSummary]))
)]
pub async fn list_api(
    State(state): State<DossierState>,
    headers: HeaderMap,
    lang: Lang,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let result = match identity.actor() {
        Actor::Official(official) => {
            let kind = match params.queue.as_deref() {
                None => QueueKind::All,
                Some(value) => QueueKind::parse(value).ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_parameter",
                        Localized::new("Tham số queue không hợp lệ.", "Unknown queue."),
                    )
                })?,
            };
            let query = QueueQuery {
                kind,
                text: params.q.chars().take(200).collect(),
                procedure_code: params.procedure,
                mine: params.mine.unwrap_or(false),
                department: params.department,
                submitted_from: params.from,
                submitted_to: params.to,
                page: params.page.unwrap_or(1).clamp(1, 10_000),
            };
            state.dossiers.queue(&official, &query).await
        }
        Actor::Applicant(applicant) => state.dossiers.mine(&applicant.subject).await,
    };
    Ok(match result {
        Ok(list) => Json(list).into_response(),
        Err(error) => error_response(error, lang),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/dossiers/{code}",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dossier, with the actions this caller may take", body = DossierView),
        (status = 404, description = "`dossier_not_found` (also for dossiers the caller may not see)", body = egov_web::error::ErrorBody),
    )
)]
pub async fn view_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    Ok(match state.dossiers.view(&identity.actor(), &code).await {
        Ok(view) => Json(view).into_response(),
        Err(error) => error_response(error, lang),
    })
}

/// An action on a dossier.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActRequest {
    #[schema(value_type = String)]
    pub action: Action,
    /// The revision the caller saw; a stale one is a conflict.
    pub revision: Option<i32>,
    #[serde(default)]
    pub note: String,
    pub transfer_to: Option<String>,
    #[schema(value_type = Option<String>)]
    pub delivery: Option<Delivery>,
    #[serde(default)]
    pub documents: Vec<DocumentUpload>,
}

#[utoipa::path(
    post,
    path = "/api/v1/dossiers/{code}/actions",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    request_body = ActRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done; the dossier as it is now (with `Prefer: return=minimal`, only its code, state and revision)", body = DossierView),
        (status = 403, description = "`forbidden`: another agency's dossier or another role's action", body = egov_web::error::ErrorBody),
        (status = 409, description = "`transition_not_allowed` with `allowed`, or `dossier_changed`"),
    )
)]
pub async fn act_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(request): Json<ActRequest>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let actor = identity.actor();
    // RFC 7240: a client that does not need the whole dossier back says so.
    let minimal = headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|preference| preference.trim() == "return=minimal"));
    let result = async {
        let act = Act {
            action: request.action,
            revision: request.revision,
            note: request.note,
            transfer_to: request.transfer_to,
            documents: decode(request.documents)?,
            delivery: request.delivery,
        };
        let acted = state.dossiers.act(&actor, &code, act).await?;
        if minimal {
            let mut response =
                Json(json!({ "code": code, "state": acted.state, "revision": acted.revision })).into_response();
            response
                .headers_mut()
                .insert("preference-applied", HeaderValue::from_static("return=minimal"));
            return Ok(response);
        }
        Ok(Json(state.dossiers.view_after_act(&actor, &code).await?).into_response())
    }
    .await;
    Ok(result.unwrap_or_else(|error| error_response(error, lang)))
}

/// A note (officials, `internal`) or a message between the agency and the
/// applicant.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentRequest {
    pub text: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub documents: Vec<DocumentUpload>,
}

#[utoipa::path(
    post,
    path = "/api/v1/dossiers/{code}/comments",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    request_body = CommentRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Added"))
)]
pub async fn comment_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(request): Json<CommentRequest>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let result = async {
        let documents = decode(request.documents)?;
        state
            .dossiers
            .comment(&identity.actor(), &code, &request.text, request.internal, documents)
            .await
    }
    .await;
    Ok(match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error, lang),
    })
}

/// Taking a dossier to work on, giving it back to the agency's queue, or
/// (a leader) giving it to a named colleague.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignmentRequest {
    /// `true`: the caller takes it; `false`: nobody has it. Ignored with `to`.
    #[serde(default)]
    pub take: bool,
    /// The subject of the colleague a leader gives it to (see
    /// `GET /api/v1/dossiers/{code}/assignees`).
    pub to: Option<String>,
    pub revision: Option<i32>,
}

/// An official a dossier can be assigned to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Assignee {
    pub subject: String,
    pub name: String,
    pub department: Option<String>,
}

/// The officials of `official`'s agency, from the sign-in service.
async fn officials_of(state: &DossierState, official: &Official) -> Result<Vec<Official>, DossierError> {
    state.identify.officials(&official.agency_code).await.map_err(|error| {
        DossierError::Db(egov_db::DbError::Unavailable(format!(
            "the officials' directory: {error:?}"
        )))
    })
}

/// The assignment a request asks for; a colleague named by `to` is looked
/// up among the officials of the caller's agency.
pub(crate) async fn requested_assignment(
    state: &DossierState,
    official: &Official,
    take: bool,
    to: Option<&str>,
) -> Result<Assignment, DossierError> {
    let Some(to) = to.filter(|to| !to.is_empty()) else {
        return Ok(if take { Assignment::Take } else { Assignment::Release });
    };
    let colleagues = officials_of(state, official).await?;
    colleagues
        .into_iter()
        .find(|colleague| colleague.subject == to)
        .map(Assignment::To)
        .ok_or_else(|| {
            DossierError::invalid(
                "to",
                "Không có cán bộ này trong cơ quan.",
                "No such official in the agency.",
            )
        })
}

#[utoipa::path(
    get,
    path = "/api/v1/dossiers/{code}/assignees",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The officials who may be given the dossier at its current step", body = [Assignee]),
        (status = 404, description = "No such dossier within the caller's reach", body = egov_web::error::ErrorBody),
    )
)]
pub async fn assignees_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let Some(official) = identity.official() else {
        return Ok(error_response(DossierError::Forbidden("officials only"), lang));
    };
    Ok(match assignees(&state, &official, &code).await {
        Ok(list) => Json(list).into_response(),
        Err(error) => error_response(error, lang),
    })
}

/// The colleagues who may be given the dossier `code` at its current step.
pub(crate) async fn assignees(
    state: &DossierState,
    official: &Official,
    code: &str,
) -> Result<Vec<Assignee>, DossierError> {
    let colleagues = officials_of(state, official).await?;
    let eligible = state.dossiers.eligible_assignees(official, code, colleagues).await?;
    Ok(eligible
        .into_iter()
        .map(|colleague| Assignee {
            subject: colleague.subject,
            name: colleague.name,
            department: colleague.department,
        })
        .collect())
}

#[utoipa::path(
    post,
    path = "/api/v1/dossiers/{code}/assignment",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    request_body = AssignmentRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Assigned or released"),
        (status = 403, description = "Another official has it (only a leader reassigns), or not an official of the holding agency", body = egov_web::error::ErrorBody),
    )
)]
pub async fn assignment_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(request): Json<AssignmentRequest>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    let Some(official) = identity.official() else {
        return Ok(error_response(DossierError::Forbidden("officials only"), lang));
    };
    let result = async {
        let assignment = requested_assignment(&state, &official, request.take, request.to.as_deref()).await?;
        state
            .dossiers
            .assign(&official, &code, assignment, request.revision)
            .await
    }
    .await;
    Ok(match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error, lang),
    })
}

/// The applicant's rating of a finished dossier.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RatingRequest {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub rating: i32,
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/dossiers/{code}/rating",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    request_body = RatingRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "The result was not returned yet", body = egov_web::error::ErrorBody),
    )
)]
pub async fn rating_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
    Json(request): Json<RatingRequest>,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    Ok(
        match state
            .dossiers
            .rate(&identity.applicant(), &code, request.rating, &request.comment)
            .await
        {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(error) => error_response(error, lang),
        },
    )
}

/// A stored document as a download: never rendered in the browser.
pub fn attachment(file_name: &str, media_type: &str, content: Vec<u8>) -> Response {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(file_name.as_bytes()).collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encoded.replace('+', "%20")
    );
    let mut response = content.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

#[utoipa::path(
    get,
    path = "/api/v1/dossiers/{code}/documents/{id}",
    tag = "dossiers",
    params(
        ("code" = String, Path, description = "Dossier code"),
        ("id" = Uuid, Path, description = "Document id"),
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "The file, as an attachment"))
)]
pub async fn document_api(
    State(state): State<DossierState>,
    Path((code, id)): Path<(String, Uuid)>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = caller(&state, &headers).await?;
    Ok(match state.dossiers.document(&identity.actor(), &code, id).await {
        Ok((document, content)) => attachment(&document.file_name, &document.media_type, content),
        Err(error) => error_response(error, lang),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LookupParams {
    code: String,
    personal_id: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/dossier-lookup",
    tag = "dossiers",
    params(LookupParams),
    responses(
        (status = 200, description = "Progress of the dossier", body = PublicProgress),
        (status = 404, description = "No dossier with that code and personal ID", body = egov_web::error::ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many lookups found nothing from this address", body = egov_web::error::ErrorBody),
    )
)]
pub async fn lookup_api(
    State(state): State<DossierState>,
    Query(params): Query<LookupParams>,
    egov_web::layout::ClientAddress(client): egov_web::layout::ClientAddress,
    lang: Lang,
) -> Response {
    match state.dossiers.lookup(&params.code, &params.personal_id, client).await {
        Ok(Some(progress)) => Json(progress).into_response(),
        Ok(None) => error_response(DossierError::NotFound, lang),
        Err(error) => error_response(error, lang),
    }
}

/// The dossiers' part of the OpenAPI description.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        form_api,
        publish_api,
        prefill_api,
        submit_api,
        counter_api,
        list_api,
        view_api,
        act_api,
        comment_api,
        rating_api,
        assignment_api,
        document_api,
        lookup_api,
        super::statistics::statistics_api,
        super::result_http::result_api,
        super::result_http::verification_api
    ),
    components(schemas(
        FormView,
        NewVersion,
        PrefillResponse,
        PrefilledField,
        SubmitRequest,
        SubmitResponse,
        CounterRequest,
        DossierSummary,
        DossierView,
        ActRequest,
        CommentRequest,
        RatingRequest,
        AssignmentRequest,
        DocumentUpload,
        PublicProgress,
        super::statistics::Report,
        super::result::Verification,
        super::read::ResultSummary,
        super::statistics::ReportRow,
        super::store::CountsRow
    ))
)]
#[derive(Debug)]
pub struct DossierApi;
