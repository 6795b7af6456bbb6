//! Statistics of dossiers per agency, procedure and period: received by
//! channel, finished on time or late, pending and pending late, supplement
//! requests, refusals, fees, satisfaction; the programme's two shares (the
//! online share of dossiers, 30% target; the share of inter-agency dossiers
//! exchanged over the network, 50% target). Pages with a chart, CSV, JSON;
//! and the tracking book (Form 07).

use std::fmt::Write as _;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use egov_web::i18n::ShellText;
use egov_web::{AppError, Lang, Localized, PageContext, PageMeta};
use serde::Serialize;

use super::api::{DossierState, error_response};
use super::identity::Identity;
use super::pages::{SignedIn, page_response, state_label, vn_time};
use super::store::{self, CountsRow};
use super::submit::{from_vn, to_vn};
use super::{DossierError, Dossiers};

/// Counts with the procedure's name, and the totals of a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    pub agency_code: Option<String>,
    pub rows: Vec<ReportRow>,
    pub totals: CountsRow,
    /// Online dossiers among those received, in per cent (one decimal).
    pub online_share: f64,
    /// Inter-agency dossiers exchanged over the network, in per cent.
    pub electronic_exchange_share: f64,
    /// On-time among finished, in per cent.
    pub on_time_share: f64,
    pub average_rating: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub procedure_name: String,
    #[serde(flatten)]
    pub counts: CountsRow,
}

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Counts are far below 2^52, so the conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let ratio = part as f64 * 1000.0 / whole as f64;
        ratio.round() / 10.0
    }
}

fn add(total: &mut CountsRow, row: &CountsRow) {
    total.received += row.received;
    total.online += row.online;
    total.done_on_time += row.done_on_time;
    total.done_late += row.done_late;
    total.pending += row.pending;
    total.pending_late += row.pending_late;
    total.supplemented += row.supplemented;
    total.refused += row.refused;
    total.withdrawn += row.withdrawn;
    total.stopped += row.stopped;
    total.transferred += row.transferred;
    total.fees_vnd += row.fees_vnd;
    total.ratings += row.ratings;
    total.rating_sum += row.rating_sum;
}

impl Dossiers {
    /// The report of the dossiers submitted from `from` to `to` (exclusive,
    /// Vietnamese dates), for one agency or all.
    pub async fn statistics(
        &self,
        agency_code: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Report, DossierError> {
        if to <= from || (to - from).num_days() > 3_660 {
            return Err(DossierError::invalid(
                "to",
                "Khoảng thời gian không hợp lệ (tối đa 10 năm).",
                "The period is not valid (at most 10 years).",
            ));
        }
        let start = |date: NaiveDate| from_vn(date.and_time(chrono::NaiveTime::MIN)).timestamp_millis();
        let counts = store::counts(
            &self.db,
            agency_code,
            start(from),
            start(to),
            self.now().timestamp_millis(),
        )
        .await?;
        let snapshot = self.catalogue.snapshot().await?;
        let mut totals = CountsRow::default();
        let rows = counts
            .into_iter()
            .map(|counts| {
                add(&mut totals, &counts);
                ReportRow {
                    procedure_name: snapshot
                        .index
                        .get(&counts.procedure_code)
                        .map_or_else(|| counts.procedure_code.clone(), |procedure| procedure.name_vi.clone()),
                    counts,
                }
            })
            .collect();
        #[allow(clippy::cast_precision_loss)] // Sums of 1..=5 ratings, far below 2^52.
        let average_rating =
            (totals.ratings > 0).then(|| (totals.rating_sum as f64 / totals.ratings as f64 * 10.0).round() / 10.0);
        Ok(Report {
            from,
            to,
            agency_code: agency_code.map(str::to_owned),
            online_share: share(totals.online, totals.received),
            // Every transfer between agencies of an instance goes over the
            // network; paper hand-overs are not recorded here.
            electronic_exchange_share: if totals.transferred == 0 { 0.0 } else { 100.0 },
            on_time_share: share(totals.done_on_time, totals.done_on_time + totals.done_late),
            average_rating,
            rows,
            totals,
        })
    }
}

// ---------------------------------------------------------------- HTTP

pub fn router(state: DossierState) -> Router {
    Router::new()
        .route("/api/v1/statistics", get(statistics_api))
        .route("/back-office/statistics", get(statistics_page))
        .route("/back-office/statistics.csv", get(statistics_csv))
        .route("/back-office/tracking-book", get(tracking_book))
        .with_state(state)
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct PeriodParams {
    /// First day, `YYYY-MM-DD` (default: 1 January of this year).
    from: Option<String>,
    /// Last day included, `YYYY-MM-DD` (default: today).
    to: Option<String>,
    /// An agency code; platform admins may leave it out for the whole instance.
    agency: Option<String>,
}

/// The period and the agency a caller asked for and may see.
fn scope(
    params: &PeriodParams,
    identity: &Identity,
    today: NaiveDate,
) -> Result<(Option<String>, NaiveDate, NaiveDate), AppError> {
    let invalid = |field: &str| {
        AppError::bad_request(
            "invalid_parameter",
            Localized::new(
                format!("Tham số {field} không hợp lệ."),
                format!("Invalid parameter {field}."),
            ),
        )
    };
    let date = |value: &Option<String>, default: NaiveDate, field: &str| match value.as_deref() {
        None | Some("") => Ok(default),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid(field)),
    };
    let first_of_year = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let from = date(&params.from, first_of_year, "from")?;
    let last = date(&params.to, today, "to")?;
    let to = last.succ_opt().ok_or_else(|| invalid("to"))?;
    let platform_admin = identity.roles.iter().any(|role| role == "platform_admin");
    let agency = match (
        params.agency.as_deref().filter(|agency| !agency.is_empty()),
        platform_admin,
    ) {
        (None, true) => None,
        (Some(agency), true) => Some(agency.to_owned()),
        (requested, false) => {
            let own = identity.agency.clone().ok_or_else(forbidden)?;
            if requested.is_some_and(|agency| agency != own) {
                return Err(forbidden());
            }
            Some(own)
        }
    };
    Ok((agency, from, to))
}

fn forbidden() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        Localized::new(
            "Bạn chỉ xem được số liệu của cơ quan mình.",
            "You may see only your own agency's figures.",
        ),
    )
}

fn today(state: &DossierState) -> NaiveDate {
    to_vn(state.dossiers.now()).date()
}

#[utoipa::path(
    get,
    path = "/api/v1/statistics",
    tag = "dossiers",
    params(PeriodParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts per agency and procedure, totals and the programme's shares", body = Report),
        (status = 403, description = "Another agency's figures", body = egov_web::error::ErrorBody),
    )
)]
pub async fn statistics_api(
    State(state): State<DossierState>,
    Query(params): Query<PeriodParams>,
    headers: HeaderMap,
    lang: Lang,
) -> Result<Response, AppError> {
    let identity = super::api::caller(&state, &headers).await?;
    let (agency, from, to) = scope(&params, &identity, today(&state))?;
    Ok(match state.dossiers.statistics(agency.as_deref(), from, to).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => error_response(error, lang),
    })
}

/// One bar group of the chart: a procedure's finished on time, late, and
/// pending, scaled to the widest.
struct Bar {
    label: String,
    y: i64,
    on_time_width: i64,
    late_width: i64,
    pending_width: i64,
    late_x: i64,
    pending_x: i64,
    text: String,
}

#[derive(Template)]
#[template(path = "back_office_statistics.html")]
struct StatisticsPage {
    page: PageMeta,
    shell: &'static ShellText,
    lang_en: bool,
    from: String,
    to: String,
    agency: String,
    report: Report,
    fees: String,
    bars: Vec<Bar>,
    chart_height: i64,
    csv_url: String,
    book_url: String,
}

const CHART_WIDTH: i64 = 480;

fn bars(report: &Report) -> Vec<Bar> {
    let widest = report
        .rows
        .iter()
        .map(|row| row.counts.done_on_time + row.counts.done_late + row.counts.pending)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |count: i64| count * CHART_WIDTH / widest;
    report
        .rows
        .iter()
        .zip(0_i64..)
        .map(|(row, index)| {
            let counts = &row.counts;
            let on_time_width = scale(counts.done_on_time);
            let late_width = scale(counts.done_late);
            Bar {
                label: row.procedure_name.chars().take(40).collect(),
                y: index * 36,
                on_time_width,
                late_width,
                pending_width: scale(counts.pending),
                late_x: 260 + on_time_width,
                pending_x: 260 + on_time_width + late_width,
                text: format!("{} / {} / {}", counts.done_on_time, counts.done_late, counts.pending),
            }
        })
        .collect()
}

async fn statistics_page(
    State(state): State<DossierState>,
    Query(params): Query<PeriodParams>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let (agency, from, to) = scope(&params, &identity, today(&state))?;
    let report = match state.dossiers.statistics(agency.as_deref(), from, to).await {
        Ok(report) => report,
        Err(error) => return Ok(error_response(error, context.lang)),
    };
    let last = to.pred_opt().unwrap_or(to);
    let query = format!("from={from}&to={last}&agency={}", agency.clone().unwrap_or_default());
    let fees = egov_core::money::Vnd::new(report.totals.fees_vnd);
    let bars = bars(&report);
    let page = StatisticsPage {
        page: context.meta(context.lang.pick("Thống kê hồ sơ", "Dossier statistics")),
        shell: context.shell(),
        lang_en: context.lang == Lang::En,
        from: from.to_string(),
        to: last.to_string(),
        agency: agency.unwrap_or_default(),
        fees: context.lang.pick(fees.format_vi(), fees.format_en()),
        chart_height: i64::try_from(bars.len()).unwrap_or(0) * 36 + 8,
        bars,
        report,
        csv_url: format!("/back-office/statistics.csv?{query}"),
        book_url: format!("/back-office/tracking-book?{query}"),
    };
    Ok(page_response(StatusCode::OK, page.render()?))
}

/// A CSV field, quoted when it must be.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn csv_response(file_name: &str, body: &str) -> Response {
    // A byte-order mark, so spreadsheet programs read the Vietnamese as UTF-8.
    let mut response = format!("\u{feff}{body}").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn statistics_csv(
    State(state): State<DossierState>,
    Query(params): Query<PeriodParams>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let (agency, from, to) = scope(&params, &identity, today(&state))?;
    let report = match state.dossiers.statistics(agency.as_deref(), from, to).await {
        Ok(report) => report,
        Err(error) => return Ok(error_response(error, context.lang)),
    };
    let mut body = String::from(
        "agency_code,procedure_code,procedure_name,received,online,done_on_time,done_late,pending,pending_late,\
         supplemented,refused,withdrawn,stopped,transferred,fees_vnd,ratings,rating_sum\r\n",
    );
    for row in &report.rows {
        let c = &row.counts;
        let _ = write!(
            body,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(&c.agency_code),
            csv_field(&c.procedure_code),
            csv_field(&row.procedure_name),
            c.received,
            c.online,
            c.done_on_time,
            c.done_late,
            c.pending,
            c.pending_late,
            c.supplemented,
            c.refused,
            c.withdrawn,
            c.stopped,
            c.transferred,
            c.fees_vnd,
            c.ratings,
            c.rating_sum
        );
    }
    Ok(csv_response(&format!("thong-ke-ho-so-{from}.csv"), &body))
}

/// Form 07: the tracking book of an agency's dossiers for a period, as CSV
/// (the columns of the form).
async fn tracking_book(
    State(state): State<DossierState>,
    Query(params): Query<PeriodParams>,
    SignedIn(identity): SignedIn,
    context: PageContext,
) -> Result<Response, AppError> {
    let (agency, from, to) = scope(&params, &identity, today(&state))?;
    let Some(agency) = agency.or_else(|| identity.agency.clone()) else {
        return Err(forbidden());
    };
    let start = |date: NaiveDate| from_vn(date.and_time(chrono::NaiveTime::MIN)).timestamp_millis();
    let rows = store::received_between(state.dossiers.db(), &agency, start(from), start(to), 100_000).await?;
    let snapshot = state.dossiers.catalogue().snapshot().await?;
    let lang = context.lang;
    let mut body = String::from(lang.pick(
        "STT,Mã hồ sơ,Tên thủ tục,Người nộp,Kênh,Ngày nộp,Ngày tiếp nhận,Hẹn trả,Ngày trả/kết thúc,Trạng thái,Đúng hạn\r\n",
        "No,Code,Procedure,Applicant,Channel,Submitted,Received,Due,Finished,Status,On time\r\n",
    ));
    let time = |ms: Option<i64>| {
        ms.and_then(DateTime::<Utc>::from_timestamp_millis)
            .map(vn_time)
            .unwrap_or_default()
    };
    for (number, row) in rows.iter().enumerate() {
        let procedure = snapshot
            .index
            .get(&row.procedure_code)
            .map_or_else(|| row.procedure_code.clone(), |procedure| procedure.name_vi.clone());
        let status = super::State::parse(&row.state).map_or("", |state| state_label(state, lang));
        let on_time = match row.late {
            Some(true) => lang.pick("Quá hạn", "Late"),
            Some(false) => lang.pick("Đúng hạn", "On time"),
            None => "",
        };
        let _ = write!(
            body,
            "{},{},{},{},{},{},{},{},{},{},{}\r\n",
            number + 1,
            csv_field(&row.code),
            csv_field(&procedure),
            csv_field(&row.applicant_name),
            row.channel,
            time(Some(row.submitted_at)),
            time(row.received_at),
            time(row.due_at),
            time(row.finished_at),
            csv_field(status),
            on_time
        );
    }
    Ok(csv_response(&format!("so-theo-doi-ho-so-{agency}-{from}.csv"), &body))
}
