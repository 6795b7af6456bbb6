//! Account administration over HTTP: the JSON API under `/api/v1/id/users`
//! (bearer access tokens of egov-id, for scripts and other consoles) and the
//! pages under `/admin/users` (the administrator's session, CSRF-protected
//! forms). Both call [`crate::manage`], which decides who may act on whom.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use egov_web::i18n::ShellText;
use egov_web::{AppError, Localized, PageContext, PageMeta};
use uuid::Uuid;

use crate::http::{Requester, current_session, no_store};
use crate::manage::{Action, ManageError, is_administrator};
use crate::provider::Provider;
use crate::store::{self, UserRow};

/// Most accounts one search returns.
const SEARCH_LIMIT: u32 = 50;

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/api/v1/id/users", get(search_api))
        .route("/api/v1/id/users/{id}/{action}", post(act_api))
        .route("/admin/users", get(users_page))
        .route("/admin/users/{id}/{action}", post(act_page))
}

/// An account as administrators see it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ManagedUser {
    pub id: Uuid,
    /// `citizen` or `official`.
    pub kind: String,
    pub personal_id: String,
    pub full_name: String,
    pub email: Option<String>,
    /// The official's agency code.
    pub agency: Option<String>,
    /// The official's department code in the agency, if any.
    pub department: Option<String>,
    pub roles: Vec<String>,
    pub locked: bool,
}

impl From<UserRow> for ManagedUser {
    fn from(user: UserRow) -> Self {
        ManagedUser {
            id: user.id,
            kind: user.kind,
            personal_id: user.personal_id,
            full_name: user.full_name,
            email: user.email,
            agency: user.agency_code,
            department: user.department,
            roles: user.roles.split_whitespace().map(str::to_owned).collect(),
            locked: user.locked,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct SearchParams {
    /// Personal ID or e-mail prefix, or words of the name (diacritics ignored).
    #[serde(default)]
    q: String,
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

pub(crate) fn forbidden() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        Localized::new(
            "Bạn không có quyền quản lý tài khoản này.",
            "You may not manage this account.",
        ),
    )
}

fn manage_error(error: ManageError) -> AppError {
    match error {
        ManageError::Forbidden => forbidden(),
        ManageError::NotFound => AppError::new(
            StatusCode::NOT_FOUND,
            "user_not_found",
            Localized::new("Không có tài khoản này.", "No such account."),
        ),
        ManageError::Id(error) => AppError::internal(error),
    }
}

fn unknown_action() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "unknown_action",
        Localized::new(
            "Thao tác phải là lock, unlock hoặc reset-factors.",
            "The action must be lock, unlock or reset-factors.",
        ),
    )
}

/// The administrator behind a bearer access token.
pub(crate) async fn bearer_actor(provider: &Provider, headers: &HeaderMap) -> Result<UserRow, AppError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .filter(|token| token.len() < 8192)
        .ok_or_else(unauthorized)?;
    let (_, row) = provider
        .check_access_token(token.trim())
        .await
        .map_err(|_| unauthorized())?;
    let user_id = row.user_id.ok_or_else(forbidden)?;
    let user = store::user_by_id(provider.db(), user_id)
        .await?
        .ok_or_else(unauthorized)?;
    if is_administrator(&user) {
        Ok(user)
    } else {
        Err(forbidden())
    }
}

/// Accounts the caller may manage.
#[utoipa::path(
    get,
    path = "/api/v1/id/users",
    tag = "sign-in administration",
    params(SearchParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Matching accounts in the caller's scope (at most 50), by name", body = [ManagedUser]),
        (status = 401, description = "`unauthorized`: no valid access token", body = egov_web::error::ErrorBody),
        (status = 403, description = "`forbidden`: the caller is no administrator", body = egov_web::error::ErrorBody),
    )
)]
pub async fn search_api(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Result<Json<Vec<ManagedUser>>, AppError> {
    let actor = bearer_actor(&provider, &headers).await?;
    if params.q.len() > 256 {
        return Err(AppError::bad_request(
            "query_too_long",
            Localized::new("Từ khóa quá dài.", "The query is too long."),
        ));
    }
    let users = provider
        .admin_search(&actor, &params.q, SEARCH_LIMIT)
        .await
        .map_err(manage_error)?;
    Ok(Json(users.into_iter().map(ManagedUser::from).collect()))
}

/// Locks or unlocks an account, or resets its second factors. Locking and
/// resetting end the account's sessions and tokens.
#[utoipa::path(
    post,
    path = "/api/v1/id/users/{id}/{action}",
    tag = "sign-in administration",
    params(
        ("id" = Uuid, Path, description = "The account's id"),
        ("action" = String, Path, description = "`lock`, `unlock` or `reset-factors`"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account after the action", body = ManagedUser),
        (status = 401, description = "`unauthorized`", body = egov_web::error::ErrorBody),
        (status = 403, description = "`forbidden`: outside the caller's scope", body = egov_web::error::ErrorBody),
        (status = 404, description = "`user_not_found` or `unknown_action`", body = egov_web::error::ErrorBody),
    )
)]
pub async fn act_api(
    State(provider): State<Provider>,
    requester: Requester,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<ManagedUser>, AppError> {
    let actor = bearer_actor(&provider, &headers).await?;
    let action = Action::parse(&action).ok_or_else(unknown_action)?;
    let id = Uuid::parse_str(&id).map_err(|_| manage_error(ManageError::NotFound))?;
    let origin = requester.origin();
    let user = provider
        .admin_act(&actor, id, action, origin)
        .await
        .map_err(manage_error)?;
    Ok(Json(ManagedUser::from(user)))
}

// ---------------------------------------------------------------- pages

/// The strings of the administration page.
#[derive(Debug)]
struct AdminText {
    title: &'static str,
    search_label: &'static str,
    search_button: &'static str,
    name: &'static str,
    personal_id: &'static str,
    agency: &'static str,
    roles: &'static str,
    status: &'static str,
    actions: &'static str,
    locked: &'static str,
    active: &'static str,
    lock: &'static str,
    unlock: &'static str,
    reset_factors: &'static str,
    none_found: &'static str,
}

static ADMIN_VI: AdminText = AdminText {
    title: "Quản lý tài khoản",
    search_label: "Tìm theo số định danh, thư điện tử hoặc họ tên",
    search_button: "Tìm",
    name: "Họ và tên",
    personal_id: "Số định danh",
    agency: "Cơ quan",
    roles: "Vai trò",
    status: "Trạng thái",
    actions: "Thao tác",
    locked: "Đã khóa",
    active: "Hoạt động",
    lock: "Khóa",
    unlock: "Mở khóa",
    reset_factors: "Xóa xác thực hai yếu tố",
    none_found: "Không có tài khoản nào trong phạm vi quản lý của bạn khớp với từ khóa.",
};

static ADMIN_EN: AdminText = AdminText {
    title: "Manage accounts",
    search_label: "Search by personal ID, e-mail or name",
    search_button: "Search",
    name: "Full name",
    personal_id: "Personal ID",
    agency: "Agency",
    roles: "Roles",
    status: "Status",
    actions: "Actions",
    locked: "Locked",
    active: "Active",
    lock: "Lock",
    unlock: "Unlock",
    reset_factors: "Remove second factors",
    none_found: "No account in your scope matches.",
};

#[derive(Template)]
#[template(path = "id_admin_users.html")]
struct UsersPage {
    page: PageMeta,
    shell: &'static ShellText,
    a: &'static AdminText,
    query: String,
    users: Vec<UserRow>,
    notice: &'static str,
}

/// The administrator behind the session cookie, or the page that says why
/// not: sign in first, or 403.
pub(crate) async fn session_actor(
    provider: &Provider,
    headers: &HeaderMap,
) -> Result<Result<UserRow, Response>, AppError> {
    let Some(session) = current_session(provider, headers).await? else {
        return Ok(Err(Redirect::to("/account/sign-in").into_response()));
    };
    let user = store::user_by_id(provider.db(), session.user_id).await?;
    match user {
        Some(user) if is_administrator(&user) => Ok(Ok(user)),
        _ => Err(forbidden()),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct PageParams {
    #[serde(default)]
    q: String,
    done: Option<String>,
}

async fn users_page(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Result<Response, AppError> {
    let actor = match session_actor(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    let query: String = params.q.chars().take(256).collect();
    let users = provider
        .admin_search(&actor, &query, SEARCH_LIMIT)
        .await
        .map_err(manage_error)?;
    let notice = match params.done.as_deref() {
        Some("lock") => context.lang.pick("Đã khóa tài khoản.", "The account is locked."),
        Some("unlock") => context.lang.pick("Đã mở khóa tài khoản.", "The account is unlocked."),
        Some("reset-factors") => context.lang.pick(
            "Đã xóa xác thực hai yếu tố; lần đăng nhập tới phải thiết lập lại.",
            "Second factors removed; the next sign-in sets them up again.",
        ),
        _ => "",
    };
    let page = UsersPage {
        page: context.meta(context.lang.pick(ADMIN_VI.title, ADMIN_EN.title)),
        shell: context.shell(),
        a: context.lang.pick(&ADMIN_VI, &ADMIN_EN),
        query,
        users,
        notice,
    };
    let mut response = Html(page.render()?).into_response();
    no_store(&mut response);
    Ok(response)
}

async fn act_page(
    State(provider): State<Provider>,
    requester: Requester,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let actor = match session_actor(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    let parsed = Action::parse(&action).ok_or_else(unknown_action)?;
    let id = Uuid::parse_str(&id).map_err(|_| manage_error(ManageError::NotFound))?;
    let origin = requester.origin();
    provider
        .admin_act(&actor, id, parsed, origin)
        .await
        .map_err(manage_error)?;
    Ok(Redirect::to(&format!("/admin/users?done={action}")).into_response())
}

/// The administration API's part of the OpenAPI description.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        search_api,
        act_api,
        crate::platform_http::list_clients,
        crate::platform_http::add_client,
        crate::platform_http::update_client,
        crate::platform_http::rotate_secret,
        crate::platform_http::list_keys,
        crate::platform_http::rotate_key,
        crate::platform_http::list_upstreams,
        crate::platform_http::add_upstream,
        crate::platform_http::update_upstream,
    ),
    components(schemas(
        ManagedUser,
        egov_web::error::ErrorBody,
        crate::platform_http::ClientSummary,
        crate::platform_http::ClientRequest,
        crate::platform_http::ClientUpdate,
        crate::platform_http::ClientCredentials,
        crate::platform_http::KeySummary,
        crate::platform_http::RotateRequest,
        crate::platform_http::UpstreamSummary,
        crate::admin::NewUpstream,
        crate::admin::UpstreamChanges,
    )),
    modifiers(&BearerAuth)
)]
#[derive(Debug)]
pub struct AdminApi;

/// Declares the bearer scheme the administration API uses.
#[derive(Debug)]
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token issued by this instance's sign-in service"))
                    .build(),
            ),
        );
    }
}
