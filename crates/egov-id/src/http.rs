//! The provider's endpoints: discovery, JWKS, authorize (with the sign-in
//! page), token, userinfo, revocation, introspection and logout.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::Engine as _;
use egov_web::error::FinalBody;
use egov_web::i18n::{ShellText, cookie_value};
use egov_web::layout::ClientAddress;
use egov_web::{AppError, PageContext, PageMeta};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use crate::domain::{self, AuthorizeError, AuthorizeParams, AuthorizeRequest, OAuthErrorCode, ResponseMode, Scopes};
use crate::passkey::SecondFactors;
use crate::provider::{AfterPassword, IdError, Provider, SecondFactorOutcome, SignInFailure};
use crate::store::{self, ClientRow, SessionRow};
use crate::text::{IdText, text};

/// The session cookie of the sign-in service.
pub const SESSION_COOKIE: &str = "egov_sid";
/// The cookie of a sign-in waiting for its second factor.
pub const PENDING_COOKIE: &str = "egov_pending";

pub fn router(provider: Provider) -> Router {
    let document = axum::body::Bytes::from(discovery_document(&provider.config().issuer));
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery).with_state(document))
        .route("/oauth/jwks", get(jwks))
        .route("/oauth/authorize", get(authorize).post(sign_in))
        .route("/oauth/authorize/second-factor", axum::routing::post(second_factor))
        .route("/oauth/authorize/consent", axum::routing::post(consent))
        .route("/oauth/token", axum::routing::post(token))
        .route("/oauth/userinfo", get(userinfo).post(userinfo))
        .route("/oauth/revoke", axum::routing::post(revoke))
        .route("/oauth/introspect", axum::routing::post(introspect))
        .route("/oauth/logout", get(logout))
        .merge(crate::account_http::router())
        .merge(crate::account_totp_http::router())
        .merge(crate::passkey_http::router())
        .merge(crate::upstream_http::router())
        .merge(crate::manage_http::router())
        .merge(crate::platform_http::router())
        .merge(crate::platform_pages::router())
        .with_state(provider)
}

// ---------------------------------------------------------------- helpers

fn oauth_json(status: StatusCode, code: OAuthErrorCode, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": code.as_str(), "error_description": description })),
    )
        .into_response();
    response.extensions_mut().insert(FinalBody);
    no_store(&mut response);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"egov\""),
        );
    }
    response
}

pub(crate) fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn id_error_response(error: &IdError) -> Response {
    match error {
        IdError::OAuth(code, description) => {
            let status = match code {
                OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
                OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            oauth_json(status, *code, description)
        }
        other => {
            tracing::error!(error = %other, "Sign-in service failed");
            oauth_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                OAuthErrorCode::ServerError,
                "internal error",
            )
        }
    }
}

/// Who sent a request, as the audit log records it: address and user agent.
#[derive(Debug)]
pub struct Requester {
    ip: Option<String>,
    user_agent: Option<String>,
}

impl Requester {
    pub fn origin(&self) -> crate::account::Origin<'_> {
        crate::account::Origin {
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Requester {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientAddress(ip) = ClientAddress::from_request_parts(parts, state).await?;
        Ok(Requester {
            ip: ip.map(|ip| ip.to_string()),
            user_agent: user_agent(&parts.headers),
        })
    }
}

pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(256).collect())
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The origin (scheme://host:port) of a URL, for the CSP's form-action.
fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// The strict policy, but letting forms (and the redirects that follow
/// them) go to `origin`: the client's redirect URI.
fn csp_allowing_form_action(origin: &str) -> HeaderValue {
    let policy = egov_web::security::CONTENT_SECURITY_POLICY
        .replace("form-action 'self'", &format!("form-action 'self' {origin}"));
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static(egov_web::security::CONTENT_SECURITY_POLICY))
}

// ---------------------------------------------------------------- discovery

/// The discovery document; it depends only on the issuer, so it is built
/// once per router.
fn discovery_document(issuer: &str) -> String {
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": domain::SUPPORTED_SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
            "name", "birthdate", "gender", "email", "email_verified", "phone_number", "personal_id", "agency", "department", "roles"],
        "acr_values_supported": [domain::ACR_LEVEL_1, domain::ACR_LEVEL_2],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["vi", "en"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    });
    document.to_string()
}

async fn discovery(State(document): State<axum::body::Bytes>) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        document,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

async fn jwks(State(provider): State<Provider>) -> Response {
    match provider.jwks().await {
        Ok(keys) => {
            let mut response = Json(keys).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            response
        }
        Err(error) => id_error_response(&error),
    }
}

// ---------------------------------------------------------------- authorize

#[derive(Template)]
#[template(path = "id_login.html")]
struct LoginPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static IdText,
    a: &'static crate::account_text::AccountText,
    client_name: String,
    hidden: Vec<(&'static str, String)>,
    login: String,
    error: &'static str,
    /// Offer a passkey sign-in (the instance's address allows one).
    passkeys: bool,
    /// Sign-in through upstream providers: (link, provider name).
    upstreams: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "id_message.html")]
struct MessagePage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static IdText,
    title: &'static str,
    message: &'static str,
}

#[derive(Template)]
#[template(path = "id_form_post.html")]
struct FormPostPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static IdText,
    action: String,
    fields: Vec<(&'static str, String)>,
}

pub(crate) fn message_page(
    context: &PageContext,
    status: StatusCode,
    title: &'static str,
    message: &'static str,
) -> Result<Response, AppError> {
    let page = MessagePage {
        page: context.meta(title),
        shell: context.shell(),
        t: text(context.lang),
        title,
        message,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    // The page is the error page: the shell must not replace it.
    response.extensions_mut().insert(FinalBody);
    Ok(response)
}

/// The parameters that travel through the sign-in form.
pub(crate) fn hidden_fields(params: &AuthorizeParams) -> Vec<(&'static str, String)> {
    let pairs: [(&'static str, &Option<String>); 13] = [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("prompt", &params.prompt),
        ("max_age", &params.max_age),
        ("acr_values", &params.acr_values),
        ("login_hint", &params.login_hint),
        ("response_mode", &params.response_mode),
    ];
    pairs
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
        .collect()
}

/// Sends the browser back to the client with `pairs`, by query or form post.
fn respond_to_client(
    context: &PageContext,
    redirect_uri: &str,
    mode: ResponseMode,
    pairs: Vec<(&'static str, String)>,
) -> Result<Response, AppError> {
    match mode {
        ResponseMode::Query => {
            let mut url = url::Url::parse(redirect_uri).map_err(AppError::internal)?;
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in &pairs {
                    query.append_pair(name, value);
                }
            }
            let mut response = Redirect::to(url.as_str()).into_response();
            no_store(&mut response);
            Ok(response)
        }
        ResponseMode::FormPost => {
            let t = text(context.lang);
            let page = FormPostPage {
                page: context.meta(t.form_post_title),
                shell: context.shell(),
                t,
                action: redirect_uri.to_owned(),
                fields: pairs,
            };
            let mut response = Html(page.render()?).into_response();
            if let Some(origin) = origin(redirect_uri) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp_allowing_form_action(&origin));
            }
            no_store(&mut response);
            Ok(response)
        }
    }
}

fn error_to_client(
    context: &PageContext,
    request: &AuthorizeRequest,
    code: OAuthErrorCode,
    description: &str,
) -> Result<Response, AppError> {
    let mut pairs = vec![
        ("error", code.as_str().to_owned()),
        ("error_description", description.to_owned()),
    ];
    if let Some(state) = &request.state {
        pairs.push(("state", state.clone()));
    }
    respond_to_client(context, &request.redirect_uri, request.response_mode, pairs)
}

/// An authorization request as parsed, or why it is refused with enough of
/// it to answer the client.
type ParsedRequest = Result<AuthorizeRequest, (AuthorizeError, AuthorizeRequest)>;

/// Checks client and redirect URI; errors here are shown, never redirected,
/// so the provider cannot be used as an open redirector.
async fn checked_request(
    provider: &Provider,
    context: &PageContext,
    params: &AuthorizeParams,
) -> Result<Result<(std::sync::Arc<ClientRow>, ParsedRequest), Response>, AppError> {
    let t = text(context.lang);
    let client_id = params.client_id.as_deref().unwrap_or_default();
    let client = if client_id.is_empty() || client_id.len() > 128 {
        None
    } else {
        provider.client(client_id).await.map_err(AppError::internal)?
    };
    let Some(client) = client else {
        return Ok(Err(message_page(
            context,
            StatusCode::BAD_REQUEST,
            t.request_error_title,
            t.unknown_client,
        )?));
    };
    let redirect_uri = params.redirect_uri.as_deref().unwrap_or_default();
    if !domain::redirect_uri_registered(&json_list(&client.redirect_uris), redirect_uri) {
        return Ok(Err(message_page(
            context,
            StatusCode::BAD_REQUEST,
            t.request_error_title,
            t.bad_redirect_uri,
        )?));
    }
    let parsed = AuthorizeRequest::parse(params, &client.client_id, redirect_uri, &Scopes::parse(&client.scopes));
    let parsed = parsed.map_err(|error| {
        // Enough of the request to send the error back where it belongs.
        let fallback = AuthorizeRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scopes: Scopes::default(),
            state: params.state.clone().filter(|state| state.len() <= 1024),
            nonce: None,
            code_challenge: String::new(),
            prompt: domain::Prompt::default(),
            max_age: None,
            acr_values: Vec::new(),
            login_hint: None,
            response_mode: if params.response_mode.as_deref() == Some("form_post") {
                ResponseMode::FormPost
            } else {
                ResponseMode::Query
            },
        };
        (error, fallback)
    });
    Ok(Ok((client, parsed)))
}

/// The client and the validated request, or the response that ends the
/// request: an error page (unknown client or redirect URI) or an error sent
/// back to the client.
pub(crate) async fn valid_request(
    provider: &Provider,
    context: &PageContext,
    params: &AuthorizeParams,
) -> Result<Result<(std::sync::Arc<ClientRow>, AuthorizeRequest), Response>, AppError> {
    let (client, parsed) = match checked_request(provider, context, params).await? {
        Ok(checked) => checked,
        Err(page) => return Ok(Err(page)),
    };
    match parsed {
        Ok(request) => Ok(Ok((client, request))),
        Err((error, fallback)) => Ok(Err(error_to_client(context, &fallback, error.code, error.description)?)),
    }
}

pub(crate) async fn current_session(provider: &Provider, headers: &HeaderMap) -> Result<Option<SessionRow>, AppError> {
    match cookie_value(headers, SESSION_COOKIE) {
        Some(cookie) => provider.session(cookie).await.map_err(AppError::internal),
        None => Ok(None),
    }
}

/// Ends an authorization for a signed-in session: asks for consent when a
/// third-party client wants more than the user granted it (or `prompt`
/// says so), otherwise issues the code.
pub(crate) async fn complete(
    provider: &Provider,
    context: &PageContext,
    client: &ClientRow,
    params: &AuthorizeParams,
    request: &AuthorizeRequest,
    session: &SessionRow,
) -> Result<Response, AppError> {
    if !client.first_party {
        let granted = store::consented_scope(provider.db(), session.user_id, &client.client_id).await?;
        let covered = granted
            .as_deref()
            .is_some_and(|granted| request.scopes.outside(&Scopes::parse(granted)).next().is_none());
        if request.prompt.consent || !covered {
            if request.prompt.none {
                return error_to_client(
                    context,
                    request,
                    OAuthErrorCode::ConsentRequired,
                    "the user has not consented",
                );
            }
            return consent_page(context, client, params, request);
        }
    }
    issue_and_return(provider, context, request, session).await
}

#[derive(Template)]
#[template(path = "id_consent.html")]
struct ConsentPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static crate::account_text::AccountText,
    client_name: String,
    shared: Vec<String>,
    hidden: Vec<(&'static str, String)>,
}

fn consent_page(
    context: &PageContext,
    client: &ClientRow,
    params: &AuthorizeParams,
    request: &AuthorizeRequest,
) -> Result<Response, AppError> {
    let a = crate::account_text::account_text(context.lang);
    let requested = request.scopes.to_string();
    let page = ConsentPage {
        page: context.meta(a.consent_title),
        shell: context.shell(),
        a,
        client_name: client.name.clone(),
        shared: requested
            .split_whitespace()
            .map(|scope| a.describe_scope(scope).to_owned())
            .collect(),
        hidden: hidden_fields(params),
    };
    let mut response = Html(page.render()?).into_response();
    if let Some(origin) = origin(&request.redirect_uri) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp_allowing_form_action(&origin));
    }
    no_store(&mut response);
    Ok(response)
}

#[derive(Debug, serde::Deserialize)]
struct ConsentForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    decision: String,
}

/// The user's answer on the consent page.
async fn consent(
    State(provider): State<Provider>,
    context: PageContext,
    address: ClientAddress,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Result<Response, AppError> {
    let (client, request) = match valid_request(&provider, &context, &form.params).await? {
        Ok(valid) => valid,
        Err(response) => return Ok(response),
    };
    let Some(session) = current_session(&provider, &headers).await? else {
        return login_page(&provider, &context, &client, &form.params, "", "", StatusCode::OK).await;
    };
    let ip = address.0.map(|ip| ip.to_string());
    let agent = user_agent(&headers);
    let allowed = form.decision == "allow";
    provider
        .record_consent(
            &session,
            &client,
            &request.scopes,
            allowed,
            ip.as_deref(),
            agent.as_deref(),
        )
        .await
        .map_err(AppError::internal)?;
    if allowed {
        issue_and_return(&provider, &context, &request, &session).await
    } else {
        error_to_client(
            &context,
            &request,
            OAuthErrorCode::AccessDenied,
            "the user denied the request",
        )
    }
}

async fn issue_and_return(
    provider: &Provider,
    context: &PageContext,
    request: &AuthorizeRequest,
    session: &SessionRow,
) -> Result<Response, AppError> {
    let code = provider
        .issue_code(request, session)
        .await
        .map_err(AppError::internal)?;
    let mut pairs = vec![("code", code)];
    if let Some(state) = &request.state {
        pairs.push(("state", state.clone()));
    }
    pairs.push(("iss", provider.config().issuer.clone()));
    respond_to_client(context, &request.redirect_uri, request.response_mode, pairs)
}

/// Links that sign in through each enabled upstream provider, carrying the
/// authorization request along.
async fn upstream_links(provider: &Provider, params: &AuthorizeParams) -> Result<Vec<(String, String)>, AppError> {
    let upstreams = provider.upstreams().await.map_err(AppError::internal)?;
    if upstreams.is_empty() {
        return Ok(Vec::new());
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(hidden_fields(params))
        .finish();
    Ok(upstreams
        .into_iter()
        .map(|upstream| (format!("/oauth/upstream/{}?{query}", upstream.id), upstream.name))
        .collect())
}

pub(crate) async fn login_page(
    provider: &Provider,
    context: &PageContext,
    client: &ClientRow,
    params: &AuthorizeParams,
    login: &str,
    error: &'static str,
    status: StatusCode,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let page = LoginPage {
        page: context.meta(t.sign_in_title),
        shell: context.shell(),
        t,
        a: crate::account_text::account_text(context.lang),
        client_name: client.name.clone(),
        hidden: hidden_fields(params),
        login: login.to_owned(),
        error,
        passkeys: provider.passkeys_available(),
        upstreams: upstream_links(provider, params).await?,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    response.extensions_mut().insert(FinalBody);
    if let Some(origin) = params.redirect_uri.as_deref().and_then(origin) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp_allowing_form_action(&origin));
    }
    no_store(&mut response);
    Ok(response)
}

async fn authorize(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, AppError> {
    let (client, request) = match valid_request(&provider, &context, &params).await? {
        Ok(valid) => valid,
        Err(response) => return Ok(response),
    };
    let session = current_session(&provider, &headers).await?;
    let now = provider.now().timestamp();
    let fresh_enough = |session: &SessionRow| request.max_age.is_none_or(|max_age| now - session.auth_time <= max_age);
    let level_ok = |session: &SessionRow| !request.wants_level_2() || session.acr == domain::ACR_LEVEL_2;
    match session {
        Some(session) if !request.prompt.login && fresh_enough(&session) && level_ok(&session) => {
            complete(&provider, &context, &client, &params, &request, &session).await
        }
        _ if request.prompt.none => error_to_client(
            &context,
            &request,
            OAuthErrorCode::LoginRequired,
            "the user is not signed in",
        ),
        _ => {
            login_page(
                &provider,
                &context,
                &client,
                &params,
                request.login_hint.as_deref().unwrap_or_default(),
                "",
                StatusCode::OK,
            )
            .await
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct SignInForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

async fn sign_in(
    State(provider): State<Provider>,
    context: PageContext,
    address: ClientAddress,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let (client, request) = match valid_request(&provider, &context, &form.params).await? {
        Ok(valid) => valid,
        Err(response) => return Ok(response),
    };
    let t = text(context.lang);
    if form.login.trim().is_empty() || form.password.is_empty() || form.login.len() > 256 || form.password.len() > 1024
    {
        return login_page(
            &provider,
            &context,
            &client,
            &form.params,
            form.login.trim(),
            t.missing_fields,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let ip = address.0.map(|ip| ip.to_string());
    let agent = user_agent(&headers);
    let outcome = provider
        .sign_in_with_password(&form.login, &form.password, ip.as_deref(), agent.as_deref())
        .await
        .map_err(AppError::internal)?;
    let user = match outcome {
        Ok(user) => user,
        Err(SignInFailure::BadCredentials) => {
            return login_page(
                &provider,
                &context,
                &client,
                &form.params,
                form.login.trim(),
                t.bad_credentials,
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
        Err(SignInFailure::TooManyAttempts) => {
            return login_page(
                &provider,
                &context,
                &client,
                &form.params,
                form.login.trim(),
                t.too_many_attempts,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await;
        }
    };
    let next = provider
        .after_password(&user, request.wants_level_2(), ip.as_deref(), agent.as_deref())
        .await
        .map_err(AppError::internal)?;
    match next {
        AfterPassword::Session(cookie, session) => {
            let mut response = complete(&provider, &context, &client, &form.params, &request, &session).await?;
            set_cookie(&mut response, &provider, SESSION_COOKIE, &cookie, None);
            Ok(response)
        }
        AfterPassword::SecondFactor { pending, enrol } => {
            let factors = if enrol.is_some() {
                SecondFactors::ENROLMENT
            } else {
                provider.second_factors(user.id).await.map_err(AppError::internal)?
            };
            let enrol = enrol_view(&provider, &user, enrol.as_ref());
            let mut response = second_factor_page(&context, &form.params, enrol, factors, "", StatusCode::OK)?;
            set_cookie(&mut response, &provider, PENDING_COOKIE, &pending, Some(300));
            Ok(response)
        }
    }
}

pub(crate) fn set_cookie(response: &mut Response, provider: &Provider, name: &str, value: &str, max_age: Option<u32>) {
    let secure = if provider.config().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age
        .map(|seconds| format!("; Max-Age={seconds}"))
        .unwrap_or_default();
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{max_age}{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The secret and otpauth URI shown while enrolling.
fn enrol_view(
    provider: &Provider,
    user: &store::UserRow,
    secret: Option<&crate::totp::TotpSecret>,
) -> Option<(String, String)> {
    let secret = secret?;
    Some((secret.to_base32(), provider.otpauth_uri(secret, &user.personal_id)))
}

#[derive(Template)]
#[template(path = "id_second_factor.html")]
struct SecondFactorPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static IdText,
    hidden: Vec<(&'static str, String)>,
    enrol: Option<(String, String)>,
    error: &'static str,
    factors: SecondFactors,
}

#[derive(Template)]
#[template(path = "id_recovery_codes.html")]
struct RecoveryCodesPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static IdText,
    codes: Vec<String>,
    continue_url: String,
}

pub(crate) fn second_factor_page(
    context: &PageContext,
    params: &AuthorizeParams,
    enrol: Option<(String, String)>,
    factors: SecondFactors,
    error: &'static str,
    status: StatusCode,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let title = if enrol.is_some() {
        t.enrol_title
    } else {
        t.second_factor_title
    };
    let page = SecondFactorPage {
        page: context.meta(title),
        shell: context.shell(),
        t,
        hidden: hidden_fields(params),
        enrol,
        error,
        factors,
    };
    let mut response = (status, Html(page.render()?)).into_response();
    response.extensions_mut().insert(FinalBody);
    if let Some(origin) = params.redirect_uri.as_deref().and_then(origin) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp_allowing_form_action(&origin));
    }
    no_store(&mut response);
    Ok(response)
}

/// The recovery codes, shown once after enrolment, with the way on to the
/// client.
fn recovery_codes_page(
    context: &PageContext,
    params: &AuthorizeParams,
    codes: Vec<String>,
) -> Result<Response, AppError> {
    let t = text(context.lang);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(hidden_fields(params))
        .finish();
    let page = RecoveryCodesPage {
        page: context.meta(t.recovery_title),
        shell: context.shell(),
        t,
        codes,
        continue_url: format!("/oauth/authorize?{query}"),
    };
    let mut response = Html(page.render()?).into_response();
    no_store(&mut response);
    Ok(response)
}

#[derive(Debug, serde::Deserialize)]
struct SecondFactorForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    code: String,
    /// A passkey instead of a code: the ceremony and its credential.
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
}

async fn second_factor(
    State(provider): State<Provider>,
    context: PageContext,
    requester: Requester,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, AppError> {
    let (client, request) = match valid_request(&provider, &context, &form.params).await? {
        Ok(valid) => valid,
        Err(response) => return Ok(response),
    };
    let t = text(context.lang);
    let Some(pending) = cookie_value(&headers, PENDING_COOKIE)
        .filter(|cookie| cookie.len() == 43)
        .map(str::to_owned)
    else {
        return login_page(
            &provider,
            &context,
            &client,
            &form.params,
            "",
            t.step_expired,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    };
    if !form.credential.is_empty() {
        let passkey = crate::passkey_http::PasskeyAnswer {
            pending: &pending,
            ceremony: &form.ceremony,
            credential: &form.credential,
        };
        return crate::passkey_http::second_factor(
            &provider,
            &context,
            &requester,
            &client,
            &form.params,
            &request,
            passkey,
        )
        .await;
    }
    let origin = requester.origin();
    let code = form.code.chars().take(32).collect::<String>();
    let outcome = provider
        .second_factor(&pending, &code, origin.ip, origin.user_agent)
        .await
        .map_err(AppError::internal)?;
    match outcome {
        SecondFactorOutcome::Done {
            cookie,
            session,
            recovery_codes,
        } => {
            let mut response = if recovery_codes.is_empty() {
                complete(&provider, &context, &client, &form.params, &request, &session).await?
            } else {
                recovery_codes_page(&context, &form.params, recovery_codes)?
            };
            set_cookie(&mut response, &provider, SESSION_COOKIE, &cookie, None);
            set_cookie(&mut response, &provider, PENDING_COOKIE, "", Some(0));
            Ok(response)
        }
        SecondFactorOutcome::Wrong { enrol } => {
            let user = store::user_by_id(provider.db(), session_user(&provider, &pending).await?).await?;
            let factors = match (&user, &enrol) {
                (_, Some(_)) | (None, None) => SecondFactors::ENROLMENT,
                (Some(user), None) => provider.second_factors(user.id).await.map_err(AppError::internal)?,
            };
            let enrol = user
                .as_ref()
                .and_then(|user| enrol_view(&provider, user, enrol.as_ref()));
            second_factor_page(
                &context,
                &form.params,
                enrol,
                factors,
                t.wrong_code,
                StatusCode::UNAUTHORIZED,
            )
        }
        SecondFactorOutcome::Expired => {
            let mut response = login_page(
                &provider,
                &context,
                &client,
                &form.params,
                "",
                t.step_expired,
                StatusCode::UNAUTHORIZED,
            )
            .await?;
            set_cookie(&mut response, &provider, PENDING_COOKIE, "", Some(0));
            Ok(response)
        }
    }
}

/// The account a pending sign-in belongs to (for redisplaying enrolment).
async fn session_user(provider: &Provider, pending: &str) -> Result<uuid::Uuid, AppError> {
    Ok(store::pending_user(provider.db(), &domain::token_hash(pending))
        .await?
        .unwrap_or_default())
}

// ---------------------------------------------------------------- token

#[derive(Debug, Default, serde::Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    token: Option<String>,
    #[allow(dead_code)] // Accepted as RFC 7009 allows; every token type is looked up anyway.
    token_type_hint: Option<String>,
}

fn percent_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The assertion type of `private_key_jwt` (RFC 7523).
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Authenticates the client: client_secret_basic, client_secret_post,
/// private_key_jwt, or a public client (no secret, no keys) by its id
/// alone. One method per request: a request carrying two is refused.
async fn authenticate_client(
    provider: &Provider,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<std::sync::Arc<ClientRow>, Response> {
    let invalid = || {
        oauth_json(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        )
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .map(|encoded| -> Option<(String, String)> {
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            Some((percent_decode(id), percent_decode(secret)))
        });
    if let Some(assertion) = form.client_assertion.as_deref() {
        let only_method = basic.is_none() && form.client_secret.is_none();
        if !only_method || form.client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
            return Err(invalid());
        }
        return match provider
            .authenticate_with_assertion(form.client_id.as_deref(), assertion)
            .await
        {
            Ok(client) => Ok(client),
            Err(IdError::OAuth(..)) => Err(invalid()),
            Err(error) => Err(id_error_response(&error)),
        };
    }
    let (client_id, secret) = match basic {
        Some(Some((id, secret))) => (id, Some(secret)),
        Some(None) => return Err(invalid()),
        None => (form.client_id.clone().unwrap_or_default(), form.client_secret.clone()),
    };
    if client_id.is_empty() || client_id.len() > 128 {
        return Err(invalid());
    }
    let client = match provider.client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(invalid()),
        Err(error) => return Err(id_error_response(&error)),
    };
    match (&client.secret_hash, secret) {
        (None, None) if client.is_public() => Ok(client),
        (Some(hash), Some(secret)) => {
            let given = domain::token_hash(&secret);
            if bool::from(given.as_bytes().ct_eq(hash.as_bytes())) {
                Ok(client)
            } else {
                Err(invalid())
            }
        }
        _ => Err(invalid()),
    }
}

async fn token(State(provider): State<Provider>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let client = match authenticate_client(&provider, &headers, &form).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let grant = form.grant_type.as_deref().unwrap_or_default();
    if !client.grant_types.split_whitespace().any(|allowed| allowed == grant) {
        let code = if matches!(grant, "authorization_code" | "refresh_token" | "client_credentials") {
            OAuthErrorCode::UnauthorizedClient
        } else {
            OAuthErrorCode::UnsupportedGrantType
        };
        return oauth_json(
            StatusCode::BAD_REQUEST,
            code,
            "this grant type is not allowed for this client",
        );
    }
    let missing = |name: &'static str| oauth_json(StatusCode::BAD_REQUEST, OAuthErrorCode::InvalidRequest, name);
    let result = match grant {
        "authorization_code" => {
            let (Some(code), Some(redirect_uri)) = (form.code.as_deref(), form.redirect_uri.as_deref()) else {
                return missing("code and redirect_uri are required");
            };
            let Some(verifier) = form.code_verifier.as_deref() else {
                return missing("code_verifier is required (PKCE)");
            };
            provider.exchange_code(&client, code, redirect_uri, verifier).await
        }
        "refresh_token" => {
            let Some(refresh_token) = form.refresh_token.as_deref() else {
                return missing("refresh_token is required");
            };
            provider.refresh(&client, refresh_token).await
        }
        "client_credentials" => {
            if client.is_public() {
                return oauth_json(
                    StatusCode::BAD_REQUEST,
                    OAuthErrorCode::UnauthorizedClient,
                    "public clients cannot use client_credentials",
                );
            }
            provider.client_credentials(&client, form.scope.as_deref()).await
        }
        _ => {
            return oauth_json(
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::UnsupportedGrantType,
                "unsupported grant type",
            );
        }
    };
    match result {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => id_error_response(&error),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

async fn userinfo(State(provider): State<Provider>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        let mut response = oauth_json(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidToken,
            "a bearer token is required",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    match provider.userinfo(token).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => {
            let mut response = id_error_response(&error);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            response
        }
    }
}

async fn revoke(State(provider): State<Provider>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let client = match authenticate_client(&provider, &headers, &form).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Some(token) = form.token.as_deref() else {
        return oauth_json(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "token is required",
        );
    };
    match provider.revoke(&client, token).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => id_error_response(&error),
    }
}

async fn introspect(State(provider): State<Provider>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let client = match authenticate_client(&provider, &headers, &form).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    if client.is_public() {
        return oauth_json(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "introspection needs a confidential client",
        );
    }
    let Some(token) = form.token.as_deref() else {
        return oauth_json(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "token is required",
        );
    };
    match provider.introspect(&client, token).await {
        Ok(body) => {
            let mut response = Json(body).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => id_error_response(&error),
    }
}

// ---------------------------------------------------------------- logout

#[derive(Debug, Default, serde::Deserialize)]
struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// RP-initiated logout: ends the session and its tokens, then returns to
/// the client only at a registered post-logout URI.
async fn logout(
    State(provider): State<Provider>,
    context: PageContext,
    address: ClientAddress,
    headers: HeaderMap,
    Query(params): Query<LogoutParams>,
) -> Result<Response, AppError> {
    if let Some(session) = current_session(&provider, &headers).await? {
        let ip = address.0.map(|ip| ip.to_string());
        provider
            .end_session(&session, ip.as_deref())
            .await
            .map_err(AppError::internal)?;
    }
    let client_id = match (&params.id_token_hint, &params.client_id) {
        (Some(hint), _) if hint.len() < 8192 => provider.id_token_hint_client(hint).await,
        (_, Some(client_id)) => Some(client_id.clone()),
        _ => None,
    };
    let client = match client_id {
        Some(client_id) if client_id.len() <= 128 => store::client(provider.db(), &client_id).await?,
        _ => None,
    };
    let secure = if provider.config().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    let mut response = match (client, params.post_logout_redirect_uri.as_deref()) {
        (Some(client), Some(uri))
            if domain::redirect_uri_registered(&json_list(&client.post_logout_redirect_uris), uri) =>
        {
            let mut url = url::Url::parse(uri).map_err(AppError::internal)?;
            if let Some(state) = params.state.as_deref().filter(|state| state.len() <= 1024) {
                url.query_pairs_mut().append_pair("state", state);
            }
            Redirect::to(url.as_str()).into_response()
        }
        _ => {
            let t = text(context.lang);
            message_page(&context, StatusCode::OK, t.signed_out_title, t.signed_out_body)?
        }
    };
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
