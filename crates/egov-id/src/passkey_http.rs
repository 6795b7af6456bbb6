//! The passkey endpoints: ceremony options as JSON for `passkey.js`, the
//! sign-in and second-factor forms the script submits, and registering and
//! removing passkeys from "my account".

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use egov_web::error::FinalBody;
use egov_web::i18n::cookie_value;
use egov_web::{AppError, PageContext};
use serde_json::{Value, json};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::account_text::account_text;
use crate::domain::{AuthorizeParams, AuthorizeRequest};
use crate::http::{
    PENDING_COOKIE, Requester, SESSION_COOKIE, complete, login_page, second_factor_page, set_cookie, valid_request,
};
use crate::passkey::PasskeyError;
use crate::provider::Provider;
use crate::store::ClientRow;
use crate::text::text;

/// The largest credential accepted, in bytes of JSON.
const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;
/// The longest passkey name, in characters.
const MAX_NAME_CHARS: usize = 60;

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/oauth/passkey/options", post(sign_in_options))
        .route("/oauth/authorize/passkey", post(sign_in))
        .route(
            "/oauth/authorize/second-factor/passkey-options",
            post(second_factor_options),
        )
        .route("/account/passkeys/options", post(registration_options))
        .route("/account/passkeys", post(register))
        .route("/account/passkeys/remove", post(remove))
}

/// A JSON answer that the error pages leave alone.
fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(FinalBody);
    crate::http::no_store(&mut response);
    response
}

fn options_response(result: Result<(String, Value), PasskeyError>) -> Response {
    match result {
        Ok((ceremony, options)) => json_response(StatusCode::OK, &json!({ "ceremony": ceremony, "options": options })),
        Err(error) => passkey_error(&error),
    }
}

fn passkey_error(error: &PasskeyError) -> Response {
    let (status, code) = match error {
        PasskeyError::Unavailable => (StatusCode::NOT_FOUND, "passkeys_unavailable"),
        PasskeyError::Expired => (StatusCode::BAD_REQUEST, "ceremony_expired"),
        PasskeyError::Rejected => (StatusCode::BAD_REQUEST, "passkey_rejected"),
        PasskeyError::TooMany => (StatusCode::CONFLICT, "too_many_passkeys"),
        PasskeyError::Locked => (StatusCode::FORBIDDEN, "account_locked"),
        PasskeyError::Id(inner) => {
            tracing::error!(error = %inner, "Passkey ceremony failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    json_response(status, &json!({ "code": code, "message": error.to_string() }))
}

// ---------------------------------------------------------------- sign-in

async fn sign_in_options(State(provider): State<Provider>) -> Response {
    options_response(provider.passkey_sign_in_options().await)
}

#[derive(Debug, serde::Deserialize)]
struct PasskeyForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
}

/// Parses the credential field the script filled in.
fn credential<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    (text.len() <= MAX_CREDENTIAL_BYTES)
        .then(|| serde_json::from_str(text).ok())
        .flatten()
}

async fn sign_in(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    Form(form): Form<PasskeyForm>,
) -> Result<Response, AppError> {
    let (client, request) = match valid_request(&provider, &context, &form.params).await? {
        Ok(valid) => valid,
        Err(response) => return Ok(response),
    };
    let t = text(context.lang);
    let origin = requester.origin();
    let outcome = match credential::<PublicKeyCredential>(&form.credential) {
        Some(credential) => {
            provider
                .sign_in_with_passkey(&form.ceremony, &credential, origin.ip, origin.user_agent)
                .await
        }
        None => Err(PasskeyError::Rejected),
    };
    match outcome {
        Ok((cookie, session)) => {
            let mut response = complete(&provider, &context, &client, &form.params, &request, &session).await?;
            set_cookie(&mut response, &provider, SESSION_COOKIE, &cookie, None);
            Ok(response)
        }
        Err(PasskeyError::Id(error)) => Err(AppError::internal(error)),
        Err(_) => {
            login_page(
                &provider,
                &context,
                &client,
                &form.params,
                "",
                t.passkey_failed,
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- second factor

async fn second_factor_options(State(provider): State<Provider>, headers: HeaderMap) -> Response {
    let Some(pending) = cookie_value(&headers, PENDING_COOKIE).filter(|cookie| cookie.len() == 43) else {
        return passkey_error(&PasskeyError::Expired);
    };
    options_response(provider.passkey_second_factor_options(pending).await)
}

/// A passkey answer to the second-factor step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PasskeyAnswer<'a> {
    /// The pending sign-in's cookie.
    pub(crate) pending: &'a str,
    pub(crate) ceremony: &'a str,
    /// The credential as JSON.
    pub(crate) credential: &'a str,
}

/// The passkey branch of the second-factor form, for a request already
/// checked.
pub(crate) async fn second_factor(
    provider: &Provider,
    context: &PageContext,
    requester: &Requester,
    client: &ClientRow,
    params: &AuthorizeParams,
    request: &AuthorizeRequest,
    answer: PasskeyAnswer<'_>,
) -> Result<Response, AppError> {
    let PasskeyAnswer {
        pending,
        ceremony,
        credential: credential_json,
    } = answer;
    let t = text(context.lang);
    let origin = requester.origin();
    let outcome = match credential::<PublicKeyCredential>(credential_json) {
        Some(credential) => {
            provider
                .passkey_second_factor(pending, ceremony, &credential, origin.ip, origin.user_agent)
                .await
        }
        None => Err(PasskeyError::Rejected),
    };
    match outcome {
        Ok((cookie, session)) => {
            let mut response = complete(provider, context, client, params, request, &session).await?;
            set_cookie(&mut response, provider, SESSION_COOKIE, &cookie, None);
            set_cookie(&mut response, provider, PENDING_COOKIE, "", Some(0));
            Ok(response)
        }
        Err(PasskeyError::Expired) => {
            let mut response = login_page(
                provider,
                context,
                client,
                params,
                "",
                t.step_expired,
                StatusCode::UNAUTHORIZED,
            )
            .await?;
            set_cookie(&mut response, provider, PENDING_COOKIE, "", Some(0));
            Ok(response)
        }
        Err(PasskeyError::Id(error)) => Err(AppError::internal(error)),
        Err(_) => {
            let user_id = crate::store::pending_user(provider.db(), &crate::domain::token_hash(pending))
                .await?
                .unwrap_or_default();
            let factors = provider.second_factors(user_id).await.map_err(AppError::internal)?;
            second_factor_page(
                context,
                params,
                None,
                factors,
                t.passkey_failed,
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

// ---------------------------------------------------------------- my account

async fn registration_options(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let session = match crate::account_http::require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let Some(user) = crate::store::user_by_id(provider.db(), session.user_id).await? else {
        return Ok(passkey_error(&PasskeyError::Expired));
    };
    Ok(options_response(provider.passkey_registration_options(&user).await))
}

#[derive(Debug, serde::Deserialize)]
struct Registration {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

async fn register(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Json(registration): Json<Registration>,
) -> Result<Response, AppError> {
    let session = match crate::account_http::require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let a = account_text(context.lang);
    let name = registration.name.trim();
    let name = if name.is_empty() {
        a.passkey_name_default.to_owned()
    } else {
        name.chars().take(MAX_NAME_CHARS).collect()
    };
    match provider
        .register_passkey(
            &session,
            &registration.ceremony,
            &name,
            &registration.credential,
            context.lang,
            requester.origin(),
        )
        .await
    {
        Ok(()) => Ok(json_response(StatusCode::CREATED, &json!({ "name": name }))),
        Err(error) => Ok(passkey_error(&error)),
    }
}

#[derive(Debug, serde::Deserialize)]
struct RemoveForm {
    #[serde(default)]
    credential_id: String,
}

async fn remove(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Result<Response, AppError> {
    let session = match crate::account_http::require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    if form.credential_id.is_empty() || form.credential_id.len() > 1024 {
        return Err(AppError::bad_request(
            "invalid_passkey",
            egov_web::Localized::new("Khóa truy cập không hợp lệ.", "The passkey is not valid."),
        ));
    }
    let removed = provider
        .remove_passkey(&session, &form.credential_id, context.lang, requester.origin())
        .await
        .map_err(AppError::internal)?;
    if !removed {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            "passkey_not_found",
            egov_web::Localized::new("Không tìm thấy khóa truy cập này.", "No such passkey."),
        ));
    }
    Ok(Redirect::to("/account?done=passkey_removed").into_response())
}
