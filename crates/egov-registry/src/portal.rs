//! The citizen's side of the data tracker: the page "Ai đã xem dữ liệu của
//! tôi" (`/portal/my-data-usage`), which lists every read of the signed-in
//! citizen's records: when, by which system, which official or user, and
//! why. It only reads; tracker records cannot be changed from anywhere.
//!
//! Who is signed in comes from the composition through [`Citizen`], so this
//! crate knows neither the portal nor the sign-in service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset};
use egov_web::i18n::ShellText;
use egov_web::{AppError, Lang, Localized, PageContext, PageMeta};
use serde_json::json;

use crate::service::Registry;
use crate::store::ReadRow;

/// A signed-in user as this page needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInCitizen {
    pub name: String,
    /// The 12-digit personal ID, if the account has one.
    pub personal_id: Option<String>,
}

/// A boxed future, so that [`Citizen`] can be a trait object.
pub type CitizenFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<SignedInCitizen>, AppError>> + Send + 'a>>;

/// How the composition says who is signed in.
pub trait Citizen: Send + Sync + std::fmt::Debug {
    /// The user signed in to the portal in this browser.
    fn session<'a>(&'a self, headers: &'a HeaderMap) -> CitizenFuture<'a>;
    /// The user behind a bearer access token; `None` if it is not valid.
    fn bearer<'a>(&'a self, token: &'a str) -> CitizenFuture<'a>;
}

/// What the citizen's page needs.
#[derive(Debug, Clone)]
pub struct PortalState {
    pub registry: Registry,
    pub citizen: Arc<dyn Citizen>,
}

/// The most tracker lines a page shows.
const PAGE_LIMIT: u32 = 500;

/// The page and its JSON twin (GovStack `myPersonalDataUsage`, for a
/// bearer-token caller).
pub fn portal_router(registry: Registry, citizen: Arc<dyn Citizen>) -> Router {
    Router::new()
        .route("/portal/my-data-usage", get(page))
        .route("/api/v1/registry/my-personal-data-usage", get(usage_json))
        .with_state(PortalState { registry, citizen })
}

#[derive(Debug)]
struct UsageText {
    title: &'static str,
    lead: &'static str,
    personal_id: &'static str,
    none: &'static str,
    caption: &'static str,
    when: &'static str,
    system: &'static str,
    user: &'static str,
    purpose: &'static str,
    registry: &'static str,
    immutable: &'static str,
    no_personal_id: &'static str,
}

const USAGE_VI: UsageText = UsageText {
    title: "Ai đã xem dữ liệu của tôi",
    lead: "Mỗi lần một hệ thống thông tin của cơ quan nhà nước đọc dữ liệu của bạn trong cơ sở dữ liệu dùng chung, lần đọc đó được ghi lại ở đây: khi nào, hệ thống nào, cán bộ nào và vì mục đích gì.",
    personal_id: "Số định danh cá nhân",
    none: "Chưa có lần đọc nào dữ liệu của bạn.",
    caption: "Các lần đọc dữ liệu, mới nhất trước",
    when: "Thời gian",
    system: "Hệ thống",
    user: "Cán bộ, người dùng",
    purpose: "Mục đích",
    registry: "Cơ sở dữ liệu",
    immutable: "Nhật ký này chỉ được ghi thêm; không ai có thể sửa hay xóa một dòng đã ghi.",
    no_personal_id: "Tài khoản của bạn không gắn với số định danh cá nhân nên không có dữ liệu dân cư để hiển thị.",
};

const USAGE_EN: UsageText = UsageText {
    title: "Who has read my data",
    lead: "Every time a government information system reads your data in a shared registry, the read is recorded here: when, which system, which official, and why.",
    personal_id: "Personal ID",
    none: "Nobody has read your data yet.",
    caption: "Reads of your data, newest first",
    when: "When",
    system: "System",
    user: "Official or user",
    purpose: "Purpose",
    registry: "Registry",
    immutable: "This log is append-only: nobody can change or delete a line once written.",
    no_personal_id: "Your account has no personal ID, so there is no population data to show.",
};

/// One line of the page.
#[derive(Debug)]
struct UsageRow {
    when: String,
    system: String,
    user: String,
    purpose: String,
    registry: String,
}

fn purpose_label(code: &str, lang: Lang) -> &str {
    match code {
        "onestop-prefill" => lang.pick("Điền sẵn hồ sơ thủ tục hành chính", "Pre-filling an application"),
        "onestop-verify" => lang.pick("Xác minh thông tin hồ sơ", "Verifying an application"),
        other => other,
    }
}

fn operation_label(operation: &str, lang: Lang) -> &str {
    match operation {
        "read" => lang.pick("đọc", "read"),
        "exists" => lang.pick("kiểm tra", "checked"),
        "search" => lang.pick("tìm kiếm", "search"),
        other => other,
    }
}

fn dataset_label(dataset: &str, lang: Lang) -> &str {
    match dataset {
        crate::domain::POPULATION => lang.pick("Dân cư", "Population"),
        crate::domain::ENTERPRISE => lang.pick("Doanh nghiệp", "Enterprise"),
        other => other,
    }
}

/// Vietnam's wall-clock time of a millisecond timestamp.
fn vn_time(at_ms: i64) -> String {
    let offset = FixedOffset::east_opt(egov_core::clock::VN_OFFSET_SECONDS);
    match (DateTime::from_timestamp_millis(at_ms), offset) {
        (Some(at), Some(offset)) => at.with_timezone(&offset).format("%H:%M:%S %d/%m/%Y").to_string(),
        _ => String::new(),
    }
}

fn usage_row(read: &ReadRow, lang: Lang) -> UsageRow {
    let mut purpose = purpose_label(&read.purpose, lang).to_owned();
    if let Some(reference) = &read.reference {
        purpose.push_str(" (");
        purpose.push_str(reference);
        purpose.push(')');
    }
    UsageRow {
        when: vn_time(read.at),
        system: read.client.clone(),
        user: read.user_id.clone(),
        purpose,
        registry: format!(
            "{} ({})",
            dataset_label(&read.dataset, lang),
            operation_label(&read.operation, lang)
        ),
    }
}

#[derive(Template)]
#[template(path = "registry_my_data_usage.html")]
struct UsagePage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static UsageText,
    personal_id: Option<String>,
    rows: Vec<UsageRow>,
}

async fn page(
    State(state): State<PortalState>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(citizen) = state.citizen.session(&headers).await? else {
        let next: String = form_urlencoded::byte_serialize(context.current.as_bytes()).collect();
        return Ok(Redirect::to(&format!("/portal/sign-in?next={next}")).into_response());
    };
    let t = context.lang.pick(&USAGE_VI, &USAGE_EN);
    let rows = match &citizen.personal_id {
        Some(personal_id) => state
            .registry
            .reads_of_person(personal_id, PAGE_LIMIT)
            .await
            .map_err(AppError::internal)?
            .iter()
            .map(|read| usage_row(read, context.lang))
            .collect(),
        None => Vec::new(),
    };
    let page = UsagePage {
        page: context.meta(t.title),
        shell: context.shell(),
        t,
        personal_id: citizen.personal_id,
        rows,
    };
    let mut response = Html(page.render()?).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The JSON API of this module, for the instance's OpenAPI description.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(usage_json))]
pub struct DataUsageApi;

#[utoipa::path(
    get,
    path = "/api/v1/registry/my-personal-data-usage",
    tag = "registry",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Who read the signed-in citizen's records, newest first (GovStack PersonalDataUsage)"),
        (status = 401, description = "No valid bearer token")
    )
)]
/// GovStack `myPersonalDataUsage` for the citizen behind a bearer token.
pub async fn usage_json(State(state): State<PortalState>, headers: HeaderMap) -> Result<Response, AppError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.len() < 8192);
    let unauthorized = || {
        AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            Localized::new("Cần đăng nhập.", "Sign-in is required."),
        )
    };
    let citizen = match token {
        Some(token) => state.citizen.bearer(token).await?.ok_or_else(unauthorized)?,
        None => return Err(unauthorized()),
    };
    let Some(personal_id) = citizen.personal_id else {
        return Ok(Json(json!([])).into_response());
    };
    let reads = state
        .registry
        .reads_of_person(&personal_id, PAGE_LIMIT)
        .await
        .map_err(AppError::internal)?;
    let body: Vec<_> = reads
        .iter()
        .map(|read| {
            json!({
                "id": read.id,
                "readerId": read.user_id,
                "readerApplicationName": read.client,
                "readerInstitutionId": read.client.split('/').take(3).collect::<Vec<_>>().join("/"),
                "searchDateTime": DateTime::from_timestamp_millis(read.at).map(|at| at.to_rfc3339()),
                "purpose": read.purpose,
                "reference": read.reference,
                "databaseId": read.dataset,
                "refrences": [{ "ReferenceID": read.record_key }],
            })
        })
        .collect();
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}
