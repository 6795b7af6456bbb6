//! The self-service pages: registration, e-mail verification, forgotten
//! and reset password, and "my account" (profile, factors, sessions,
//! password change).
//!
//! "My account" is signed into like any service: through the authorization
//! endpoint, as the built-in first-party client [`ACCOUNT_CLIENT`], with
//! PKCE and a state checked on return; the pages then use the provider's
//! session. A session cookie that does not name a live session gets 401,
//! never the page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use egov_web::error::FinalBody;
use egov_web::i18n::{ShellText, cookie_value};
use egov_web::{AppError, PageContext, PageMeta};

use crate::account::{FieldError, Registration, ResetFailure};
use crate::account_text::{AccountText, account_text};
use crate::domain;
use crate::http::{Requester, SESSION_COOKIE, no_store, set_cookie};
use crate::provider::{IdError, Provider, SignInFailure};
use crate::store::{self, ClientRow, SessionRow, UserRow};
use crate::text::{IdText, text};

/// The built-in client behind "my account".
pub(crate) const ACCOUNT_CLIENT: &str = "egov-account";
/// The cookie holding the account sign-in's state and PKCE verifier.
const FLOW_COOKIE: &str = "egov_account_flow";

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/sign-in", get(start_sign_in))
        .route("/account/callback", get(callback))
        .route("/account/register", get(register_form).post(register))
        .route("/account/verify", get(verify_form).post(verify))
        .route("/account/forgot", get(forgot_form).post(forgot))
        .route("/account/reset", get(reset_form).post(reset))
        .route("/account/password", post(change_password))
        .route("/account/sessions/revoke", post(revoke_sessions))
        .route("/account/consents/withdraw", post(withdraw_consent))
}

impl Provider {
    /// Registers (or follows the public URL of) the built-in clients.
    pub async fn ensure_builtin_clients(&self) -> Result<(), IdError> {
        let issuer = &self.config().issuer;
        let list = |uri: String| serde_json::to_string(&[uri]).unwrap_or_default();
        let client = ClientRow {
            client_id: ACCOUNT_CLIENT.to_owned(),
            name: "Tài khoản của tôi".to_owned(),
            secret_hash: None,
            redirect_uris: list(format!("{issuer}/account/callback")),
            post_logout_redirect_uris: list(format!("{issuer}/")),
            scopes: "openid".to_owned(),
            grant_types: "authorization_code".to_owned(),
            signing_alg: "EdDSA".to_owned(),
            first_party: true,
            subject_type: "public".to_owned(),
            sector_identifier: None,
            jwks: None,
            backchannel_logout_uri: None,
        };
        store::upsert_builtin_client(self.db(), &client, self.now().timestamp_millis()).await?;
        Ok(())
    }

    /// Registers (or follows) the instance's own portal, a confidential
    /// first-party client: `base` is its public URL (its redirect URI is
    /// `{base}/portal/callback`), `secret` its client secret, of which only
    /// the hash is kept. Run at every start, so a changed secret or URL
    /// takes effect.
    pub async fn ensure_portal_client(&self, client_id: &str, base: &str, secret: &str) -> Result<(), IdError> {
        let list = |uri: String| serde_json::to_string(&[uri]).unwrap_or_default();
        let client = ClientRow {
            client_id: client_id.to_owned(),
            name: "Cổng dịch vụ công".to_owned(),
            secret_hash: Some(domain::token_hash(secret)),
            redirect_uris: list(format!("{base}/portal/callback")),
            post_logout_redirect_uris: list(format!("{base}/portal")),
            scopes: "openid profile email phone personal_id agency".to_owned(),
            grant_types: "authorization_code".to_owned(),
            signing_alg: "ES256".to_owned(),
            first_party: true,
            subject_type: "public".to_owned(),
            sector_identifier: None,
            jwks: None,
            backchannel_logout_uri: Some(format!("{base}/portal/backchannel-logout")),
        };
        store::upsert_builtin_client(self.db(), &client, self.now().timestamp_millis()).await?;
        self.forget_client(client_id);
        Ok(())
    }
}

// ---------------------------------------------------------------- helpers

#[derive(Template)]
#[template(path = "id_account_message.html")]
struct AccountMessagePage {
    page: PageMeta,
    shell: &'static ShellText,
    title: &'static str,
    message: &'static str,
    link: (&'static str, &'static str),
}

fn account_message(
    context: &PageContext,
    status: StatusCode,
    title: &'static str,
    message: &'static str,
    link: (&'static str, &'static str),
) -> Result<Response, AppError> {
    let page = AccountMessagePage {
        page: context.meta(title),
        shell: context.shell(),
        title,
        message,
        link,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    response.extensions_mut().insert(FinalBody);
    no_store(&mut response);
    Ok(response)
}

fn field_too_long() -> AppError {
    AppError::bad_request(
        "field_too_long",
        egov_web::Localized::new("Một trường nhập quá dài.", "A field is too long."),
    )
}

fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    response.extensions_mut().insert(FinalBody);
    no_store(&mut response);
    response
}

fn status_for(errors: &[FieldError]) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

fn first_error(errors: &[FieldError], field: &str) -> &'static str {
    errors
        .iter()
        .find(|error| error.field == field)
        .map_or("", |error| error.message)
}

/// Who is asking: a live session, nobody, or a cookie that names no live
/// session (forged, malformed, revoked or expired).
enum Visitor {
    Signed(SessionRow),
    Anonymous,
    Invalid,
}

async fn visitor(provider: &Provider, headers: &HeaderMap) -> Result<Visitor, AppError> {
    let Some(cookie) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(Visitor::Anonymous);
    };
    Ok(match provider.session(cookie).await.map_err(AppError::internal)? {
        Some(session) => Visitor::Signed(session),
        None => Visitor::Invalid,
    })
}

/// 401 with a way back in; the stale cookie is cleared.
fn invalid_session(provider: &Provider, context: &PageContext) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let mut response = account_message(
        context,
        StatusCode::UNAUTHORIZED,
        a.session_invalid_title,
        a.session_invalid_body,
        ("/account/sign-in", a.sign_in_again),
    )?;
    set_cookie(&mut response, provider, SESSION_COOKIE, "", Some(0));
    Ok(response)
}

/// The signed-in session, or the response for everyone else: GETs without
/// a cookie go to sign-in, the rest get 401.
pub(crate) async fn require_session(
    provider: &Provider,
    context: &PageContext,
    headers: &HeaderMap,
    redirect_anonymous: bool,
) -> Result<Result<SessionRow, Response>, AppError> {
    match visitor(provider, headers).await? {
        Visitor::Signed(session) => Ok(Ok(session)),
        Visitor::Anonymous if redirect_anonymous => Ok(Err(Redirect::to("/account/sign-in").into_response())),
        Visitor::Anonymous | Visitor::Invalid => Ok(Err(invalid_session(provider, context)?)),
    }
}

// ---------------------------------------------------------------- sign-in

async fn start_sign_in(State(provider): State<Provider>) -> Response {
    let state = domain::new_token();
    let verifier = domain::new_token();
    let issuer = &provider.config().issuer;
    let mut url = match url::Url::parse(&format!("{issuer}/oauth/authorize")) {
        Ok(url) => url,
        Err(error) => return AppError::internal(error).into_response(),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", ACCOUNT_CLIENT)
        .append_pair("redirect_uri", &format!("{issuer}/account/callback"))
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("code_challenge", &domain::token_hash(&verifier))
        .append_pair("code_challenge_method", "S256");
    let mut response = Redirect::to(url.as_str()).into_response();
    set_cookie(
        &mut response,
        &provider,
        FLOW_COOKIE,
        &format!("{state}.{verifier}"),
        Some(600),
    );
    no_store(&mut response);
    response
}

#[derive(Debug, serde::Deserialize)]
struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
}

/// The end of the account sign-in: the state must be the one this browser
/// started with (so no one can sign a victim into the attacker's account).
/// The session cookie set by the sign-in is what the pages use; the code is
/// left to expire unredeemed.
async fn callback(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, AppError> {
    let expected = cookie_value(&headers, FLOW_COOKIE).and_then(|flow| flow.split_once('.').map(|(state, _)| state));
    let state_matches = match (expected, params.state.as_deref()) {
        (Some(expected), Some(state)) => subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), state.as_bytes()).into(),
        _ => false,
    };
    if !state_matches || params.code.is_none() {
        return invalid_session(&provider, &context);
    }
    let mut response = Redirect::to("/account").into_response();
    set_cookie(&mut response, &provider, FLOW_COOKIE, "", Some(0));
    Ok(response)
}

// ---------------------------------------------------------------- registration

#[derive(Template)]
#[template(path = "id_register.html")]
struct RegisterPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static AccountText,
    form: Registration,
    errors: Vec<FieldError>,
    next: String,
}

impl RegisterPage {
    fn error(&self, field: &str) -> &'static str {
        first_error(&self.errors, field)
    }
}

fn register_page(context: &PageContext, form: Registration, errors: Vec<FieldError>) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let status = status_for(&errors);
    let page = RegisterPage {
        page: context.meta(a.register_title),
        shell: context.shell(),
        a,
        form: Registration {
            password: String::new(),
            password_confirm: String::new(),
            ..form
        },
        errors,
        next: String::new(),
    };
    Ok(page_response(status, page.render()?))
}

async fn register_form(context: PageContext) -> Result<Response, AppError> {
    register_page(&context, Registration::default(), Vec::new())
}

async fn register(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    Form(form): Form<Registration>,
) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let too_long = [&form.personal_id, &form.full_name, &form.email, &form.phone_number]
        .iter()
        .any(|value| value.len() > 1024)
        || form.password.len() > 1024;
    if too_long {
        return Err(field_too_long());
    }
    let origin = requester.origin();
    match provider
        .register(&form, context.lang, origin)
        .await
        .map_err(AppError::internal)?
    {
        Ok(()) => account_message(
            &context,
            StatusCode::OK,
            a.check_mail_title,
            a.check_mail_body,
            ("/", text(context.lang).back_home),
        ),
        Err(errors) => register_page(&context, form, errors),
    }
}

// ---------------------------------------------------------------- verification

#[derive(Debug, serde::Deserialize)]
struct TokenParams {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "id_verify.html")]
struct VerifyPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static AccountText,
    token: String,
}

fn link_invalid(context: &PageContext, retry: &'static str) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    account_message(
        context,
        StatusCode::BAD_REQUEST,
        a.link_invalid_title,
        a.link_invalid_body,
        (retry, a.forgot_title),
    )
}

/// The link in the mail shows a button: mail scanners that open links do
/// not verify anything.
async fn verify_form(context: PageContext, Query(params): Query<TokenParams>) -> Result<Response, AppError> {
    if params.token.len() != 43 {
        return link_invalid(&context, "/account/register");
    }
    let a = account_text(context.lang);
    let page = VerifyPage {
        page: context.meta(a.verify_title),
        shell: context.shell(),
        a,
        token: params.token,
    };
    Ok(page_response(StatusCode::OK, page.render()?))
}

async fn verify(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    Form(params): Form<TokenParams>,
) -> Result<Response, AppError> {
    let origin = requester.origin();
    let verified = provider
        .verify_email(&params.token, origin)
        .await
        .map_err(AppError::internal)?;
    if !verified {
        return link_invalid(&context, "/account/register");
    }
    let a = account_text(context.lang);
    account_message(
        &context,
        StatusCode::OK,
        a.verified_title,
        a.verified_body,
        ("/account/sign-in", text(context.lang).sign_in_button),
    )
}

// ---------------------------------------------------------------- forgotten password

#[derive(Template)]
#[template(path = "id_forgot.html")]
struct ForgotPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static IdText,
    a: &'static AccountText,
    login: String,
    error: &'static str,
}

fn forgot_page(
    context: &PageContext,
    login: &str,
    error: &'static str,
    status: StatusCode,
) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let page = ForgotPage {
        page: context.meta(a.forgot_title),
        shell: context.shell(),
        t: text(context.lang),
        a,
        login: login.to_owned(),
        error,
    };
    Ok(page_response(status, page.render()?))
}

async fn forgot_form(context: PageContext) -> Result<Response, AppError> {
    forgot_page(&context, "", "", StatusCode::OK)
}

#[derive(Debug, serde::Deserialize)]
struct ForgotForm {
    #[serde(default)]
    login: String,
}

async fn forgot(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    Form(form): Form<ForgotForm>,
) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let login = form.login.trim();
    if login.is_empty() || login.len() > 256 {
        return forgot_page(&context, "", a.err_login, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let origin = requester.origin();
    match provider
        .request_password_reset(login, context.lang, origin)
        .await
        .map_err(AppError::internal)?
    {
        Ok(()) => account_message(
            &context,
            StatusCode::OK,
            a.forgot_sent_title,
            a.forgot_sent_body,
            ("/", text(context.lang).back_home),
        ),
        Err(SignInFailure::TooManyAttempts | SignInFailure::BadCredentials) => {
            forgot_page(&context, login, a.err_too_many, StatusCode::TOO_MANY_REQUESTS)
        }
    }
}

#[derive(Template)]
#[template(path = "id_reset.html")]
struct ResetPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static AccountText,
    token: String,
    errors: Vec<FieldError>,
}

impl ResetPage {
    fn error(&self, field: &str) -> &'static str {
        first_error(&self.errors, field)
    }
}

fn reset_page(context: &PageContext, token: String, errors: Vec<FieldError>) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let status = status_for(&errors);
    let page = ResetPage {
        page: context.meta(a.reset_title),
        shell: context.shell(),
        a,
        token,
        errors,
    };
    Ok(page_response(status, page.render()?))
}

async fn reset_form(
    State(provider): State<Provider>,
    context: PageContext,
    Query(params): Query<TokenParams>,
) -> Result<Response, AppError> {
    if !provider
        .reset_link_is_live(&params.token)
        .await
        .map_err(AppError::internal)?
    {
        return link_invalid(&context, "/account/forgot");
    }
    reset_page(&context, params.token, Vec::new())
}

#[derive(Debug, serde::Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn reset(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    if form.password.len() > 1024 || form.password_confirm.len() > 1024 {
        return Err(field_too_long());
    }
    let origin = requester.origin();
    let outcome = provider
        .reset_password(
            &form.token,
            &form.password,
            &form.password_confirm,
            context.lang,
            origin,
        )
        .await
        .map_err(AppError::internal)?;
    let a = account_text(context.lang);
    match outcome {
        Ok(()) => {
            let mut response = account_message(
                &context,
                StatusCode::OK,
                a.reset_done_title,
                a.reset_done_body,
                ("/account/sign-in", text(context.lang).sign_in_button),
            )?;
            // This browser's session ended with the others.
            set_cookie(&mut response, &provider, SESSION_COOKIE, "", Some(0));
            Ok(response)
        }
        Err(ResetFailure::InvalidLink) => link_invalid(&context, "/account/forgot"),
        Err(ResetFailure::Fields(errors)) => reset_page(&context, form.token, errors),
    }
}

// ---------------------------------------------------------------- my account

/// One session as the account page shows it.
struct SessionView {
    id: String,
    device: String,
    ip: String,
    signed_in: String,
    last_seen: String,
    level: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "id_account.html")]
struct AccountPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static AccountText,
    user: UserRow,
    totp: bool,
    recovery_left: i64,
    /// (credential id, name, added, last used)
    passkeys: Vec<(String, String, String, String)>,
    passkeys_available: bool,
    sessions: Vec<SessionView>,
    /// (client id, name, what it receives, granted at)
    connected: Vec<(String, String, String, String)>,
    notice: &'static str,
    errors: Vec<FieldError>,
}

impl AccountPage {
    fn error(&self, field: &str) -> &'static str {
        first_error(&self.errors, field)
    }
}

/// Vietnamese local time, `dd/mm/yyyy hh:mm`.
fn local_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| {
            (time + chrono::Duration::seconds(i64::from(egov_core::clock::VN_OFFSET_SECONDS)))
                .format("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

#[derive(Debug, Default, serde::Deserialize)]
struct AccountParams {
    done: Option<String>,
}

async fn account_view(
    provider: &Provider,
    context: &PageContext,
    session: &SessionRow,
    notice: &'static str,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let a = account_text(context.lang);
    let Some(user) = store::user_by_id(provider.db(), session.user_id).await? else {
        return invalid_session(provider, context);
    };
    let totp = store::totp(provider.db(), user.id).await?.totp_secret.is_some();
    let recovery_left = store::recovery_codes_left(provider.db(), user.id).await?;
    let passkeys = provider
        .passkeys(user.id)
        .await
        .map_err(AppError::internal)?
        .into_iter()
        .map(|passkey| {
            let last_used = passkey
                .last_used_at
                .map_or_else(|| a.passkey_never_used.to_owned(), local_time);
            (
                passkey.credential_id,
                passkey.name,
                local_time(passkey.created_at),
                last_used,
            )
        })
        .collect();
    let sessions = provider
        .sessions_of(user.id)
        .await
        .map_err(AppError::internal)?
        .into_iter()
        .map(|row| SessionView {
            current: row.id == session.id,
            device: row.user_agent.unwrap_or_else(|| a.unknown_device.to_owned()),
            ip: row.ip.unwrap_or_default(),
            signed_in: local_time(row.auth_time * 1000),
            last_seen: local_time(row.last_seen_at),
            level: row.acr,
            id: row.id,
        })
        .collect();
    let connected = store::consents_of(provider.db(), user.id)
        .await?
        .into_iter()
        .map(|row| {
            let shared = row
                .scope
                .split_whitespace()
                .map(|scope| a.describe_scope(scope))
                .collect::<Vec<_>>()
                .join("; ");
            (row.client_id, row.name, shared, local_time(row.granted_at))
        })
        .collect();
    let status = status_for(&errors);
    let page = AccountPage {
        page: context.meta(a.account_title),
        shell: context.shell(),
        a,
        user,
        totp,
        recovery_left,
        passkeys,
        passkeys_available: provider.passkeys_available(),
        sessions,
        connected,
        notice,
        errors,
    };
    Ok(page_response(status, page.render()?))
}

async fn account_page(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Query(params): Query<AccountParams>,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, true).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let a = account_text(context.lang);
    let notice = match params.done.as_deref() {
        Some("password") => a.password_changed,
        Some("session") => a.session_revoked,
        Some("sessions") => a.sessions_revoked,
        Some("consent") => a.connected_withdrawn,
        Some("passkey_added") => a.passkey_added,
        Some("passkey_removed") => a.passkey_removed,
        Some("totp_added") => a.totp_added,
        Some("totp_removed") => a.totp_removed,
        _ => "",
    };
    account_view(&provider, &context, &session, notice, Vec::new()).await
}

#[derive(Debug, serde::Deserialize)]
struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn change_password(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Form(form): Form<ChangePasswordForm>,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    if [&form.current_password, &form.password, &form.password_confirm]
        .iter()
        .any(|value| value.len() > 1024)
    {
        return Err(field_too_long());
    }
    let origin = requester.origin();
    match provider
        .change_password(
            &session,
            &form.current_password,
            &form.password,
            &form.password_confirm,
            context.lang,
            origin,
        )
        .await
        .map_err(AppError::internal)?
    {
        Ok(()) => Ok(Redirect::to("/account?done=password").into_response()),
        Err(errors) => account_view(&provider, &context, &session, "", errors).await,
    }
}

#[derive(Debug, serde::Deserialize)]
struct RevokeForm {
    #[serde(default)]
    session: String,
}

async fn revoke_sessions(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let origin = requester.origin();
    let (which, done) = if form.session == "others" {
        (None, "sessions")
    } else if form.session.len() == 43 && form.session != session.id {
        (Some(form.session.as_str()), "session")
    } else {
        return Err(AppError::bad_request(
            "invalid_session",
            egov_web::Localized::new("Phiên đăng nhập không hợp lệ.", "The session is not valid."),
        ));
    };
    provider
        .end_own_sessions(&session, which, origin)
        .await
        .map_err(AppError::internal)?;
    Ok(Redirect::to(&format!("/account?done={done}")).into_response())
}

#[derive(Debug, serde::Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    client_id: String,
}

async fn withdraw_consent(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Form(form): Form<WithdrawForm>,
) -> Result<Response, AppError> {
    let session = match require_session(&provider, &context, &headers, false).await? {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let origin = requester.origin();
    if form.client_id.len() > 128 {
        return Err(field_too_long());
    }
    provider
        .withdraw_consent(&session, &form.client_id, origin)
        .await
        .map_err(AppError::internal)?;
    Ok(Redirect::to("/account?done=consent").into_response())
}
