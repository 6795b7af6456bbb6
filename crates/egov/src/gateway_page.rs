//! The operator's page of the gateway, `/admin/gateway`, for platform
//! admins signed in to the portal: the node's exchanges per side, client
//! and service (counts, errors, latency percentiles, from the gateway's
//! monitor) and the federation's state (membership, configuration age,
//! how far the message log is time-stamped). The same counts are on
//! `/metrics` for Prometheus.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use egov_onestop::dossier::identity::Identify;
use egov_web::i18n::ShellText;
use egov_web::{AppError, PageContext, PageMeta};

#[derive(Clone)]
struct PageState {
    gateway: egov_gateway::Gateway,
    identify: Arc<dyn Identify>,
}

pub fn router(gateway: egov_gateway::Gateway, identify: Arc<dyn Identify>) -> Router {
    Router::new()
        .route("/admin/gateway", get(page))
        .with_state(PageState { gateway, identify })
}

struct Text {
    title: &'static str,
    lead: &'static str,
    federation: &'static str,
    exchanges: &'static str,
    caption: &'static str,
    none: &'static str,
    side: &'static str,
    client: &'static str,
    service: &'static str,
    count: &'static str,
    errors: &'static str,
    metrics: &'static str,
}

const VI: Text = Text {
    title: "Nền tảng tích hợp, chia sẻ dữ liệu",
    lead: "Các giao dịch qua cổng kết nối của máy chủ này từ khi khởi động, và trạng thái liên thông với trục quốc gia.",
    federation: "Liên thông",
    exchanges: "Giao dịch",
    caption: "Số giao dịch, số lỗi và độ trễ theo phía, hệ thống gọi và dịch vụ",
    none: "Chưa có giao dịch nào.",
    side: "Phía",
    client: "Hệ thống gọi",
    service: "Dịch vụ",
    count: "Giao dịch",
    errors: "Lỗi",
    metrics: "Số liệu cho Prometheus:",
};

const EN: Text = Text {
    title: "Integration and data-sharing platform",
    lead: "Exchanges through this node's gateway since it started, and the state of the federation.",
    federation: "Federation",
    exchanges: "Exchanges",
    caption: "Exchanges, errors and latency by side, client and service",
    none: "No exchange yet.",
    side: "Side",
    client: "Client",
    service: "Service",
    count: "Exchanges",
    errors: "Errors",
    metrics: "Metrics for Prometheus:",
};

#[derive(Template)]
#[template(path = "gateway_monitor.html")]
struct MonitorPage {
    page: PageMeta,
    shell: &'static ShellText,
    text: &'static Text,
    facts: Vec<(&'static str, String)>,
    rows: Vec<egov_gateway::monitor::ServiceStats>,
}

fn when(millis: Option<i64>) -> String {
    millis
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map_or_else(
            || "—".to_owned(),
            |at| {
                (at + chrono::Duration::seconds(i64::from(egov_core::clock::VN_OFFSET_SECONDS)))
                    .format("%d/%m/%Y %H:%M:%S")
                    .to_string()
            },
        )
}

async fn page(State(state): State<PageState>, headers: HeaderMap, context: PageContext) -> Result<Response, AppError> {
    let identity = state.identify.session(&headers).await?;
    let Some(identity) = identity else {
        return Ok(Redirect::to("/portal/sign-in?next=/admin/gateway").into_response());
    };
    if !identity.roles.iter().any(|role| role == "platform_admin") {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            egov_web::error::Localized::new(
                "Trang này dành cho quản trị viên nền tảng.",
                "This page is for platform administrators.",
            ),
        ));
    }
    let lang = context.lang;
    let text = lang.pick(&VI, &EN);
    let db = state.gateway.db();
    let membership = egov_gateway::federation::membership(db).await?;
    let mut facts = Vec::new();
    match &membership {
        Some(membership) => {
            facts.push((lang.pick("Cổng kết nối", "Gateway"), membership.gateway_id.clone()));
            facts.push((lang.pick("Trục (hub)", "Hub"), membership.hub_url.clone()));
            facts.push((
                lang.pick("Cấu hình liên thông", "Federation configuration"),
                format!(
                    "#{} · {}",
                    membership.conf_serial.unwrap_or_default(),
                    when(membership.conf_fetched_at)
                ),
            ));
        }
        None => facts.push((
            lang.pick("Cổng kết nối", "Gateway"),
            lang.pick("chưa tham gia liên thông", "not in a federation").to_owned(),
        )),
    }
    let head = egov_gateway::log::head(db).await?;
    facts.push((
        lang.pick("Nhật ký giao dịch", "Message log"),
        format!("{} {}", head.map_or(0, |(seq, _)| seq), lang.pick("bản ghi", "records")),
    ));
    facts.push((
        lang.pick("Đã gắn dấu thời gian đến", "Time-stamped up to"),
        egov_gateway::log::stamped_up_to(db)
            .await?
            .map_or_else(|| "—".to_owned(), |seq| format!("#{seq}")),
    ));
    facts.push((
        lang.pick(
            "Bản ghi cũ nhất chờ dấu thời gian",
            "Oldest record waiting for a time-stamp",
        ),
        when(egov_gateway::log::oldest_unstamped(db).await?),
    ));
    let page = MonitorPage {
        page: context.meta(text.title),
        shell: context.shell(),
        text,
        facts,
        rows: state.gateway.monitor().snapshot(),
    };
    Ok(Html(page.render()?).into_response())
}
