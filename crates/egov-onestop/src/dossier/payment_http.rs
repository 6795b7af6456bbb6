//! The payment endpoints: the applicant's "pay" button (off to the
//! gateway), the gateway's signed return and IPN calls, the bank's signed
//! transfer notifications, and the back office's statement import with its
//! reconciliation; and what the back office tells an official whose refund
//! through the gateway did not go through.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use egov_web::i18n::ShellText;
use egov_web::layout::ClientAddress;
use egov_web::{AppError, Lang, Localized, PageContext, PageMeta};
use serde_json::json;

use super::api::{DossierState, error_response};
use super::identity::Identity;
use super::pages::{SignedIn, page_response, read_multipart};
use super::payment::{RefundFailure, TransferMatch};
use super::text::text;

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/portal/dossiers/{code}/pay", post(pay))
        .route("/portal/payments/return", get(payment_return))
        .route("/api/v1/payments/vnpay/ipn", get(ipn))
        .route("/api/v1/payments/bank-notifications", post(bank_notification))
        .route("/back-office/payments/import", get(import_page).post(import_post))
        .with_state(state)
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .take(64)
        .collect()
}

/// The applicant pays the fee due through the gateway.
async fn pay(
    State(state): State<DossierState>,
    Path(code): Path<String>,
    SignedIn(identity): SignedIn,
    ClientAddress(address): ClientAddress,
    context: PageContext,
) -> Result<Response, AppError> {
    let ip = address.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    Ok(
        match state
            .dossiers
            .start_gateway_payment(&identity.applicant(), &code, ip, context.lang == Lang::En)
            .await
        {
            Ok(url) => Redirect::to(&url).into_response(),
            Err(error) => error_response(error, context.lang),
        },
    )
}

/// The payer's browser back from the gateway. The IPN is what settles a
/// payment; a verified return settles it too, whichever comes first.
async fn payment_return(State(state): State<DossierState>, RawQuery(query): RawQuery) -> Result<Response, AppError> {
    let pairs = query_pairs(query.as_deref());
    let (reply, code) = state.dossiers.gateway_callback(&pairs).await?;
    match (reply, code) {
        (
            egov_payments::gateway::IpnReply::ConfirmSuccess | egov_payments::gateway::IpnReply::OrderAlreadyConfirmed,
            Some(code),
        ) => Ok(Redirect::to(&format!("/portal/dossiers/{code}?paid=1")).into_response()),
        _ => Err(AppError::bad_request(
            "payment_return_invalid",
            Localized::new(
                "Kết quả thanh toán không hợp lệ hoặc không khớp với khoản phí. Vui lòng xem lại hồ sơ.",
                "The payment result is not valid or does not match the fee. Please check the dossier.",
            ),
        )),
    }
}

/// The gateway's server-to-server notification; the reply is the
/// protocol's JSON, whatever happened.
async fn ipn(State(state): State<DossierState>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_pairs(query.as_deref());
    let reply = match state.dossiers.gateway_callback(&pairs).await {
        Ok((reply, _)) => reply,
        Err(error) => {
            tracing::error!(%error, "Payment notification failed");
            egov_payments::gateway::IpnReply::UnknownError
        }
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        reply.to_json(),
    )
        .into_response()
}

/// The bank tells of a transfer credited to the agency's account.
async fn bank_notification(
    State(state): State<DossierState>,
    headers: HeaderMap,
    lang: Lang,
    body: Bytes,
) -> Result<Response, AppError> {
    let refused = || {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            Localized::new("Chữ ký không hợp lệ.", "The signature is not valid."),
        )
    };
    let Some(secret) = state.dossiers.payment_settings().bank_notification_secret.clone() else {
        return Err(AppError::not_found());
    };
    let signature = headers
        .get(egov_payments::bank::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !egov_payments::bank::verify(&secret, &body, signature) {
        tracing::warn!("Bank notification with a bad signature");
        return Err(refused());
    }
    let transfer: egov_payments::bank::Transfer = serde_json::from_slice(&body).map_err(|error| {
        AppError::bad_request(
            "invalid_body",
            Localized::new("Nội dung không hợp lệ.", "The body is not valid."),
        )
        .with_cause(error)
    })?;
    Ok(match state.dossiers.bank_transfer(&transfer, "bank").await {
        Ok(outcome) => Json(match outcome {
            TransferMatch::Paid(code) => json!({ "result": "paid", "dossier": code }),
            TransferMatch::Duplicate => json!({ "result": "duplicate" }),
            TransferMatch::Unmatched => json!({ "result": "unmatched" }),
        })
        .into_response(),
        Err(error) => error_response(error, lang),
    })
}

#[derive(Template)]
#[template(path = "back_office_payments.html")]
struct ImportPage {
    page: PageMeta,
    shell: &'static ShellText,
    lang_en: bool,
    lines: Vec<(String, String, String, &'static str)>,
    errors: Vec<String>,
}

async fn import_page(SignedIn(identity): SignedIn, context: PageContext) -> Result<Response, AppError> {
    render_import(&identity, &context, Vec::new(), Vec::new())
}

fn render_import(
    identity: &Identity,
    context: &PageContext,
    lines: Vec<(String, String, String, &'static str)>,
    errors: Vec<String>,
) -> Result<Response, AppError> {
    if !identity
        .official()
        .is_some_and(|official| official.has(super::Role::Receiver))
    {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            Localized::new(
                "Chỉ Bộ phận Một cửa nhập sao kê ngân hàng.",
                "Only the one-stop desk imports bank statements.",
            ),
        ));
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ImportPage {
        page: context.meta(context.lang.pick("Đối soát thanh toán", "Payment reconciliation")),
        shell: context.shell(),
        lang_en: context.lang == Lang::En,
        lines,
        errors,
    };
    Ok(page_response(status, page.render()?))
}

/// An official imports the bank's statement; each line is matched to a
/// dossier or listed as unmatched.
async fn import_post(
    SignedIn(identity): SignedIn,
    State(state): State<DossierState>,
    context: PageContext,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let Some(official) = identity
        .official()
        .filter(|official| official.has(super::Role::Receiver))
    else {
        return render_import(&identity, &context, Vec::new(), Vec::new());
    };
    let posted = read_multipart(multipart).await?;
    let Some(file) = posted.documents.iter().find(|document| document.slot == "statement") else {
        let message = context
            .lang
            .pick("Chọn tệp sao kê (CSV).", "Choose the statement file (CSV).");
        return render_import(&identity, &context, Vec::new(), vec![message.to_owned()]);
    };
    let text = String::from_utf8_lossy(&file.content);
    let transfers = match egov_payments::bank::parse_statement(text.trim_start_matches('\u{feff}')) {
        Ok(transfers) => transfers,
        Err(errors) => {
            let errors = errors.iter().map(ToString::to_string).collect();
            return render_import(&identity, &context, Vec::new(), errors);
        }
    };
    let lang = context.lang;
    let mut lines = Vec::new();
    for transfer in &transfers {
        let outcome = match state
            .dossiers
            .bank_transfer(transfer, &format!("official:{}", official.subject))
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => return Ok(error_response(error, lang)),
        };
        let (dossier, label) = match outcome {
            TransferMatch::Paid(code) => (code, lang.pick("Đã khớp, ghi nhận đã nộp phí", "Matched, fee paid")),
            TransferMatch::Duplicate => (String::new(), lang.pick("Đã nhập trước đó", "Imported before")),
            TransferMatch::Unmatched => (String::new(), lang.pick("Không khớp hồ sơ nào", "Matches no dossier")),
        };
        lines.push((
            transfer.bank_reference.clone(),
            egov_core::money::Vnd::new(transfer.amount_vnd).format_vi(),
            dossier,
            label,
        ));
    }
    render_import(&identity, &context, lines, Vec::new())
}

/// What the dossier page tells the official when a refund through the
/// gateway did not go through; the fee is still due back.
pub(crate) fn refund_failure_notice(failure: &RefundFailure, lang: Lang) -> String {
    let t = text(lang);
    match failure {
        RefundFailure::NotConfigured => t.refund_not_configured.to_owned(),
        RefundFailure::Refused { response_code, message } if message.is_empty() => {
            format!("{} ({} {response_code})", t.refund_refused, t.gateway_code)
        }
        RefundFailure::Refused { response_code, message } => {
            format!("{} ({} {response_code}: {message})", t.refund_refused, t.gateway_code)
        }
        RefundFailure::InProgress => t.refund_in_progress.to_owned(),
        RefundFailure::NoTrustedAnswer => t.refund_no_trusted_answer.to_owned(),
    }
}
