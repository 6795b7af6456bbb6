//! The portal's sign-in pages and endpoints: `/portal` (who is signed in),
//! `/portal/sign-in` (off to the sign-in service), `/portal/callback` (back
//! with a code), `/portal/sign-out` (here and at the sign-in service) and
//! `/portal/backchannel-logout` (the sign-in service ending a session).

use askama::Template as _;
use axum::extract::{Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use egov_web::error::FinalBody;
use egov_web::i18n::{ShellText, cookie_value};
use egov_web::{AppError, Localized, PageContext, PageMeta};

use crate::{Portal, PortalError, PortalUser};

/// The portal session's cookie.
const SESSION_COOKIE: &str = "egov_portal";
/// The sign-in in progress (state, PKCE verifier, nonce, where to return).
const FLOW_COOKIE: &str = "egov_portal_flow";

pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/portal", get(home))
        .route("/portal/sign-in", get(sign_in))
        .route("/portal/callback", get(callback))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/backchannel-logout", post(backchannel_logout))
        .with_state(portal)
}

fn set_cookie(response: &mut Response, portal: &Portal, name: &str, value: &str, max_age: u32) {
    let secure = if portal.config().secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn portal_error(error: PortalError) -> AppError {
    match error {
        PortalError::Unbound => AppError::bad_request(
            "sign_in_unbound",
            Localized::new(
                "Phiên đăng nhập này không bắt đầu từ trình duyệt của bạn hoặc đã hết hạn. Vui lòng đăng nhập lại.",
                "This sign-in was not started in your browser, or it has expired. Please sign in again.",
            ),
        ),
        PortalError::Refused(reason) => AppError::new(
            StatusCode::BAD_GATEWAY,
            "sign_in_refused",
            Localized::new(
                "Dịch vụ xác thực không chấp nhận lần đăng nhập này. Vui lòng đăng nhập lại.",
                "The sign-in service did not accept this sign-in. Please sign in again.",
            ),
        )
        .with_cause(reason),
        PortalError::Unreachable(reason) => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sign_in_unavailable",
            Localized::new(
                "Tạm thời không kết nối được dịch vụ xác thực. Vui lòng thử lại sau.",
                "The sign-in service cannot be reached just now. Please try again later.",
            ),
        )
        .with_cause(reason),
        PortalError::Db(error) => AppError::internal(error),
    }
}

/// The signed-in user of this browser, if any.
pub async fn current_user(portal: &Portal, headers: &HeaderMap) -> Result<Option<PortalUser>, AppError> {
    match cookie_value(headers, SESSION_COOKIE) {
        Some(cookie) if !cookie.is_empty() => portal.user(cookie).await.map_err(AppError::internal),
        _ => Ok(None),
    }
}

// ---------------------------------------------------------------- pages

#[derive(Debug)]
struct HomeText {
    title: &'static str,
    lead: &'static str,
    sign_in: &'static str,
    greeting: &'static str,
    level: &'static str,
    level_1: &'static str,
    level_2: &'static str,
    sign_out: &'static str,
    account: &'static str,
    data_usage: &'static str,
}

const HOME_VI: HomeText = HomeText {
    title: "Trang cá nhân trên Cổng dịch vụ công",
    lead: "Đăng nhập bằng tài khoản định danh điện tử để nộp và theo dõi hồ sơ trực tuyến.",
    sign_in: "Đăng nhập",
    greeting: "Xin chào",
    level: "Mức xác thực",
    level_1: "mức 1 (một yếu tố)",
    level_2: "mức 2 (hai yếu tố)",
    sign_out: "Đăng xuất",
    account: "Quản lý tài khoản",
    data_usage: "Ai đã xem dữ liệu của tôi",
};

const HOME_EN: HomeText = HomeText {
    title: "Your page on the public service portal",
    lead: "Sign in with your electronic identity account to submit and follow applications online.",
    sign_in: "Sign in",
    greeting: "Hello",
    level: "Assurance level",
    level_1: "level 1 (one factor)",
    level_2: "level 2 (two factors)",
    sign_out: "Sign out",
    account: "Manage your account",
    data_usage: "Who has read my data",
};

#[derive(askama::Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static HomeText,
    user: Option<PortalUser>,
}

async fn home(State(portal): State<Portal>, context: PageContext, headers: HeaderMap) -> Result<Response, AppError> {
    let t = context.lang.pick(&HOME_VI, &HOME_EN);
    let page = HomePage {
        page: context.meta(t.title),
        shell: context.shell(),
        t,
        user: current_user(&portal, &headers).await?,
    };
    let mut response = Html(page.render()?).into_response();
    no_store(&mut response);
    Ok(response)
}

#[derive(Debug, Default, serde::Deserialize)]
struct SignInParams {
    next: Option<String>,
}

async fn sign_in(State(portal): State<Portal>, Query(params): Query<SignInParams>) -> Result<Response, AppError> {
    let start = portal
        .start(params.next.as_deref().unwrap_or("/portal"))
        .await
        .map_err(portal_error)?;
    let mut response = Redirect::to(&start.url).into_response();
    set_cookie(&mut response, &portal, FLOW_COOKIE, &start.flow, 600);
    no_store(&mut response);
    Ok(response)
}

#[derive(Debug, Default, serde::Deserialize)]
struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, AppError> {
    let flow = cookie_value(&headers, FLOW_COOKIE);
    let (Some(state), Some(code)) = (params.state.as_deref(), params.code.as_deref()) else {
        // The user declined, or the sign-in service answered with an error.
        let reason = params.error.unwrap_or_else(|| "no code".to_owned());
        return Err(portal_error(PortalError::Refused(reason)));
    };
    let done = portal.finish(flow, state, code).await.map_err(portal_error)?;
    let mut response = Redirect::to(&done.next).into_response();
    set_cookie(&mut response, &portal, FLOW_COOKIE, "", 0);
    set_cookie(&mut response, &portal, SESSION_COOKIE, &done.cookie, 8 * 3600);
    no_store(&mut response);
    Ok(response)
}

async fn sign_out(State(portal): State<Portal>, headers: HeaderMap) -> Result<Response, AppError> {
    let end_session = match cookie_value(&headers, SESSION_COOKIE) {
        Some(cookie) if !cookie.is_empty() => portal.sign_out(cookie).await.map_err(portal_error)?,
        _ => None,
    };
    let mut response = Redirect::to(end_session.as_deref().unwrap_or("/portal")).into_response();
    set_cookie(&mut response, &portal, SESSION_COOKIE, "", 0);
    no_store(&mut response);
    Ok(response)
}

#[derive(Debug, Default, serde::Deserialize)]
struct LogoutForm {
    #[serde(default)]
    logout_token: String,
}

/// RFC-style answers for the sign-in service: 200 when done, 400 with an
/// OAuth error body otherwise (it retries only on 5xx).
async fn backchannel_logout(State(portal): State<Portal>, Form(form): Form<LogoutForm>) -> Response {
    match portal.backchannel_logout(&form.logout_token).await {
        Ok(_) => {
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            response.extensions_mut().insert(FinalBody);
            response
        }
        Err(PortalError::Db(error)) => AppError::internal(error).into_response(),
        Err(error) => {
            tracing::warn!(%error, "Refused a back-channel logout token");
            let body = serde_json::json!({ "error": "invalid_request", "error_description": error.to_string() });
            let mut response = (StatusCode::BAD_REQUEST, Json(body)).into_response();
            no_store(&mut response);
            response.extensions_mut().insert(FinalBody);
            response
        }
    }
}
