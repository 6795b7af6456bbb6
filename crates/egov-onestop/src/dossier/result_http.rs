//! Result documents over HTTP: downloads for the applicant and the agency,
//! revocation by the leader, the public verification page the QR code
//! leads to (with a check of a file the visitor holds), and the JSON API.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use egov_web::i18n::ShellText;
use egov_web::{AppError, Lang, PageContext, PageMeta};
use uuid::Uuid;

use super::api::{DossierState, attachment, error_response};
use super::pages::{SignedIn, page_response, read_multipart, vn_time};
use super::result::Verification;
use super::{Actor, DossierError};

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/portal/dossiers/{code}/result", get(portal_download))
        .route("/back-office/dossiers/{code}/result", get(back_office_download))
        .route("/back-office/dossiers/{code}/result/revoke", post(revoke))
        .route("/verify/{id}", get(verify_page).post(verify_upload))
        .route("/api/v1/dossiers/{code}/result", get(result_api))
        .route("/api/v1/results/{id}", get(verification_api))
        .with_state(state)
}

fn file_name(code: &str) -> String {
    format!("ket-qua-{code}.pdf")
}

async fn download(state: &DossierState, actor: &Actor, code: &str, lang: Lang) -> Response {
    match state.dossiers.result(actor, code).await {
        Ok((_, bytes)) => attachment(&file_name(code), "application/pdf", bytes),
        Err(error) => error_response(error, lang),
    }
}

async fn portal_download(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    Ok(download(&state, &Actor::Applicant(identity.applicant()), &code, context.lang).await)
}

async fn back_office_download(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let Some(official) = identity.official() else {
        return Ok(error_response(DossierError::Forbidden("not an official"), context.lang));
    };
    Ok(download(&state, &Actor::Official(official), &code, context.lang).await)
}

#[derive(Debug, serde::Deserialize)]
struct RevokeForm {
    #[serde(default)]
    note: String,
}

async fn revoke(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    context: PageContext,
    axum::Form(form): axum::Form<RevokeForm>,
) -> Result<Response, AppError> {
    let Some(official) = identity.official() else {
        return Ok(error_response(DossierError::Forbidden("not an official"), context.lang));
    };
    Ok(match state.dossiers.revoke_result(&official, &code, &form.note).await {
        Ok(()) => Redirect::to(&format!("/back-office/dossiers/{code}?done=1")).into_response(),
        Err(error) => error_response(error, context.lang),
    })
}

#[derive(Template)]
#[template(path = "dossier_verify.html")]
struct VerifyPage {
    page: PageMeta,
    shell: &'static ShellText,
    lang_en: bool,
    v: Verification,
    signed_at: String,
    revoked_at: String,
    /// After an upload: whether the file is the signed document.
    checked: Option<bool>,
}

async fn render_verify(
    state: &DossierState,
    context: &PageContext,
    id: Uuid,
    checked: Option<bool>,
) -> Result<Response, AppError> {
    let lang = context.lang;
    let verification = match state.dossiers.verification(id).await {
        Ok(Some(verification)) => verification,
        Ok(None) => return Ok(error_response(DossierError::NotFound, lang)),
        Err(error) => return Ok(error_response(error, lang)),
    };
    let page = VerifyPage {
        page: context.meta(lang.pick("Kiểm tra kết quả giải quyết", "Check a result document")),
        shell: context.shell(),
        lang_en: lang == Lang::En,
        signed_at: vn_time(verification.signed_at),
        revoked_at: verification.revoked_at.map(vn_time).unwrap_or_default(),
        v: verification,
        checked,
    };
    Ok(page_response(StatusCode::OK, page.render()?))
}

async fn verify_page(
    State(state): State<DossierState>,
    Path(id): Path<Uuid>,
    context: PageContext,
) -> Result<Response, AppError> {
    render_verify(&state, &context, id, None).await
}

/// A visitor checks a file they hold against the signed result.
async fn verify_upload(
    State(state): State<DossierState>,
    Path(id): Path<Uuid>,
    context: PageContext,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let posted = read_multipart(multipart).await?;
    let Some(file) = posted.documents.first() else {
        return render_verify(&state, &context, id, None).await;
    };
    let matches = state
        .dossiers
        .matches_result(id, &file.content)
        .await
        .map_err(|error| AppError::internal(error.to_string()))?;
    render_verify(&state, &context, id, matches).await
}

#[utoipa::path(
    get,
    path = "/api/v1/dossiers/{code}/result",
    tag = "dossiers",
    params(("code" = String, Path, description = "Dossier code")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed result document (PDF), as an attachment"),
        (status = 404, description = "No result yet, or not the caller's dossier", body = egov_web::error::ErrorBody),
    )
)]
pub async fn result_api(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = super::api::caller(&state, &headers).await?;
    Ok(download(&state, &identity.actor(), &code, lang).await)
}

#[utoipa::path(
    get,
    path = "/api/v1/results/{id}",
    tag = "dossiers",
    params(("id" = Uuid, Path, description = "Result id, from its QR code")),
    responses(
        (status = 200, description = "Whether the result is authentic and whether it was revoked", body = Verification),
        (status = 404, description = "No such result", body = egov_web::error::ErrorBody),
    )
)]
pub async fn verification_api(State(state): State<DossierState>, Path(id): Path<Uuid>, lang: Lang) -> Response {
    match state.dossiers.verification(id).await {
        Ok(Some(verification)) => Json(verification).into_response(),
        Ok(None) => error_response(DossierError::NotFound, lang),
        Err(error) => error_response(error, lang),
    }
}
