//! The pages that set up and remove an authenticator app from "my
//! account" (`/account/totp`, `/account/totp/remove`).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use egov_web::error::FinalBody;
use egov_web::i18n::ShellText;
use egov_web::{AppError, PageContext, PageMeta};

use crate::account_http::require_session;
use crate::account_text::{AccountText, account_text};
use crate::account_totp::{EnrolOutcome, RemoveOutcome};
use crate::http::{Requester, no_store};
use crate::provider::Provider;
use crate::store::{self, SessionRow};
use crate::totp::TotpSecret;

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/account/totp", get(start).post(finish))
        .route("/account/totp/remove", post(remove))
}

#[derive(Template)]
#[template(path = "id_account_totp.html")]
struct TotpPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static AccountText,
    token: String,
    secret: String,
    uri: String,
    codes: Vec<String>,
    error: &'static str,
}

async fn totp_page(
    provider: &Provider,
    context: &PageContext,
    session: &SessionRow,
    enrolment: Option<(&str, &TotpSecret)>,
    codes: Vec<String>,
    (status, error): (StatusCode, &'static str),
) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let (token, secret, uri) = match enrolment {
        Some((token, secret)) => {
            let user = store::user_by_id(provider.db(), session.user_id).await?;
            let account = user.map(|user| user.personal_id).unwrap_or_default();
            (
                token.to_owned(),
                secret.to_base32(),
                provider.otpauth_uri(secret, &account),
            )
        }
        None => (String::new(), String::new(), String::new()),
    };
    let page = TotpPage {
        page: context.meta(a.totp_title),
        shell: context.shell(),
        a,
        token,
        secret,
        uri,
        codes,
        error,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    response.extensions_mut().insert(FinalBody);
    no_store(&mut response);
    Ok(response)
}

async fn start(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, true).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    if provider
        .second_factors(session.user_id)
        .await
        .map_err(AppError::internal)?
        .totp
    {
        return Ok(Redirect::to("/account").into_response());
    }
    let enrolment = provider
        .start_totp_enrolment(&session)
        .await
        .map_err(AppError::internal)?;
    totp_page(
        &provider,
        &context,
        &session,
        Some((&enrolment.token, &enrolment.secret)),
        Vec::new(),
        (StatusCode::OK, ""),
    )
    .await
}

#[derive(Debug, serde::Deserialize)]
struct FinishForm {
    #[serde(default)]
    enrolment: String,
    #[serde(default)]
    code: String,
}

async fn finish(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Form(form): Form<FinishForm>,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let a = account_text(context.lang);
    let code: String = form.code.chars().take(32).collect();
    let outcome = provider
        .finish_totp_enrolment(&session, &form.enrolment, &code, context.lang, requester.origin())
        .await
        .map_err(AppError::internal)?;
    match outcome {
        EnrolOutcome::Enrolled(codes) => {
            totp_page(&provider, &context, &session, None, codes, (StatusCode::OK, "")).await
        }
        EnrolOutcome::Wrong(secret) => {
            let enrolment = Some((form.enrolment.as_str(), &secret));
            let answer = (StatusCode::UNPROCESSABLE_ENTITY, a.totp_wrong);
            totp_page(&provider, &context, &session, enrolment, Vec::new(), answer).await
        }
        EnrolOutcome::Expired => {
            // A fresh secret: the old one may have been seen too often.
            let enrolment = provider
                .start_totp_enrolment(&session)
                .await
                .map_err(AppError::internal)?;
            let answer = (StatusCode::UNPROCESSABLE_ENTITY, a.totp_expired);
            let fresh = Some((enrolment.token.as_str(), &enrolment.secret));
            totp_page(&provider, &context, &session, fresh, Vec::new(), answer).await
        }
    }
}

async fn remove(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let outcome = provider
        .remove_totp(&session, context.lang, requester.origin())
        .await
        .map_err(AppError::internal)?;
    match outcome {
        RemoveOutcome::Removed => Ok(Redirect::to("/account?done=totp_removed").into_response()),
        RemoveOutcome::NotEnrolled => Ok(Redirect::to("/account").into_response()),
        RemoveOutcome::LastFactor => Err(AppError::new(
            StatusCode::CONFLICT,
            "last_second_factor",
            egov_web::Localized::new(
                crate::account_text::VI.totp_last_factor,
                crate::account_text::EN.totp_last_factor,
            ),
        )),
    }
}
