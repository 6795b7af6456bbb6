//! The catalogue's pages and JSON API. Handlers are thin: parse the
//! request, ask the [`Catalogue`], render.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use egov_web::i18n::ShellText;
use egov_web::{AppError, Lang, Localized, PageContext, PageMeta};

use super::domain::{Level, OnlineLevel, PER_PAGE, Procedure, ProcedureCode, QueryError, SearchParams, SearchQuery};
use super::search::SearchPage;
use super::text::{CatalogueText, level_name, online_name, text};
use super::{Catalogue, Snapshot};

/// The catalogue's routes.
pub fn router(catalogue: Catalogue) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/procedures", get(search_page))
        .route("/procedures/{code}", get(procedure_page))
        .route("/api/v1/procedures", get(search_api))
        .route("/api/v1/procedures/{code}", get(procedure_api))
        .route("/api/v1/agencies", get(agencies_api))
        .route("/api/v1/fields", get(fields_api))
        .route("/api/v1/provinces", get(provinces_api))
        .with_state(catalogue)
}

fn query_error(error: &QueryError) -> AppError {
    match error {
        QueryError::TooLong => AppError::bad_request(
            "query_too_long",
            Localized::new(super::text::VI.query_too_long, super::text::EN.query_too_long),
        ),
        QueryError::InvalidParameter { name } => AppError::bad_request(
            "invalid_parameter",
            Localized::new(
                format!("{}: {name}", super::text::VI.invalid_parameter),
                format!("{}: {name}", super::text::EN.invalid_parameter),
            ),
        ),
    }
}

fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "procedure_not_found",
        Localized::new(super::text::VI.procedure_not_found, super::text::EN.procedure_not_found),
    )
}

fn find(snapshot: &Snapshot, code: &str) -> Result<Arc<Procedure>, AppError> {
    let code = ProcedureCode::parse(code).ok_or_else(not_found)?;
    snapshot.index.get(code.as_str()).ok_or_else(not_found)
}

// ---------------------------------------------------------------- pages

/// A procedure as a results list shows it.
#[derive(Debug)]
struct ProcedureItem {
    code: String,
    name: String,
    level: &'static str,
    online: &'static str,
    online_full: bool,
    field: String,
    fee: String,
    days: String,
    agencies: Vec<String>,
}

fn fee_text(procedure: &Procedure, lang: Lang, t: &CatalogueText) -> String {
    match procedure.fee {
        None => t.fee_by_province.to_owned(),
        Some(fee) if fee.is_zero() => t.fee_free.to_owned(),
        Some(fee) => lang.pick(fee.format_vi(), fee.format_en()),
    }
}

fn item(procedure: &Procedure, snapshot: &Snapshot, lang: Lang) -> ProcedureItem {
    let t = text(lang);
    ProcedureItem {
        code: procedure.code.to_string(),
        name: lang.pick(&procedure.name_vi, &procedure.name_en).clone(),
        level: level_name(procedure.level, lang),
        online: online_name(procedure.online, lang),
        online_full: procedure.online == OnlineLevel::Full,
        field: snapshot
            .field(&procedure.field_code)
            .map(|f| lang.pick(&f.name_vi, &f.name_en).clone())
            .unwrap_or_default(),
        fee: fee_text(procedure, lang, t),
        days: format!("{} {}", procedure.processing_days, t.working_days),
        agencies: procedure
            .agency_codes
            .iter()
            .filter_map(|code| snapshot.agency(code))
            .map(|agency| lang.pick(&agency.name_vi, &agency.name_en).clone())
            .collect(),
    }
}

/// One choice of a filter's select.
#[derive(Debug)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<'a>(options: impl Iterator<Item = (&'a str, String)>, current: Option<&str>) -> Vec<Choice> {
    options
        .map(|(value, label)| Choice {
            selected: current == Some(value),
            value: value.to_owned(),
            label,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "catalogue_home.html")]
struct HomePage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static CatalogueText,
    n_procedures: usize,
    n_full_online: usize,
    n_agencies: usize,
    fields: Vec<(String, String, usize)>,
    featured: Vec<ProcedureItem>,
}

async fn home(State(catalogue): State<Catalogue>, context: PageContext) -> Result<Html<String>, AppError> {
    let snapshot = catalogue.snapshot().await?;
    let lang = context.lang;
    let t = text(lang);
    let fields = snapshot
        .fields
        .iter()
        .map(|field| {
            let count = snapshot.index.all().filter(|p| p.field_code == field.code).count();
            (
                field.code.clone(),
                lang.pick(&field.name_vi, &field.name_en).clone(),
                count,
            )
        })
        .filter(|(_, _, count)| *count > 0)
        .collect();
    let featured = snapshot
        .index
        .all()
        .filter(|p| p.online == OnlineLevel::Full)
        .take(6)
        .map(|p| item(p, &snapshot, lang))
        .collect();
    let page = HomePage {
        page: context.meta(t.home_title),
        shell: context.shell(),
        t,
        n_procedures: snapshot.index.len(),
        n_full_online: snapshot.index.all().filter(|p| p.online == OnlineLevel::Full).count(),
        n_agencies: snapshot.agencies.len(),
        fields,
        featured,
    };
    Ok(Html(page.render()?))
}

#[derive(Template)]
#[template(path = "catalogue_search.html")]
struct SearchPageView {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static CatalogueText,
    query_text: String,
    agencies: Vec<Choice>,
    levels: Vec<Choice>,
    fields: Vec<Choice>,
    onlines: Vec<Choice>,
    items: Vec<ProcedureItem>,
    total: usize,
    current_page: u32,
    pages: u32,
    previous_url: Option<String>,
    next_url: Option<String>,
}

fn page_url(query: &SearchQuery, page: u32) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    if !query.text.is_empty() {
        serializer.append_pair("q", &query.text);
    }
    if let Some(agency) = &query.agency {
        serializer.append_pair("agency", agency);
    }
    if let Some(level) = query.level {
        serializer.append_pair("level", level.as_str());
    }
    if let Some(field) = &query.field {
        serializer.append_pair("field", field);
    }
    if let Some(online) = query.online {
        serializer.append_pair("online", online.as_str());
    }
    serializer.append_pair("page", &page.to_string());
    format!("/procedures?{}", serializer.finish())
}

async fn search_page(
    State(catalogue): State<Catalogue>,
    context: PageContext,
    Query(params): Query<SearchParams>,
) -> Result<Html<String>, AppError> {
    let query = SearchQuery::parse(&params).map_err(|error| query_error(&error))?;
    let snapshot = catalogue.snapshot().await?;
    let lang = context.lang;
    let t = text(lang);
    let SearchPage {
        items,
        total,
        page,
        pages,
    } = snapshot.index.search(&query);
    let title = if query.text.is_empty() {
        t.results_title.to_owned()
    } else {
        format!("{} “{}”", t.results_for, query.text)
    };
    let view = SearchPageView {
        page: context.meta(&title),
        shell: context.shell(),
        t,
        agencies: choices(
            snapshot
                .agencies
                .iter()
                .map(|a| (a.code.as_str(), lang.pick(&a.name_vi, &a.name_en).clone())),
            query.agency.as_deref(),
        ),
        levels: choices(
            Level::ALL
                .iter()
                .map(|level| (level.as_str(), level_name(*level, lang).to_owned())),
            query.level.map(Level::as_str),
        ),
        fields: choices(
            snapshot
                .fields
                .iter()
                .map(|f| (f.code.as_str(), lang.pick(&f.name_vi, &f.name_en).clone())),
            query.field.as_deref(),
        ),
        onlines: choices(
            OnlineLevel::ALL
                .iter()
                .map(|online| (online.as_str(), online_name(*online, lang).to_owned())),
            query.online.map(OnlineLevel::as_str),
        ),
        items: items.iter().map(|p| item(p, &snapshot, lang)).collect(),
        total,
        current_page: page,
        pages,
        previous_url: (page > 1).then(|| page_url(&query, page - 1)),
        next_url: (page < pages).then(|| page_url(&query, page + 1)),
        query_text: query.text,
    };
    Ok(Html(view.render()?))
}

#[derive(Template)]
#[template(path = "catalogue_procedure.html")]
struct ProcedurePageView {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static CatalogueText,
    item: ProcedureItem,
    fee_note: String,
    processing_note: String,
    online_note: String,
    documents: Vec<String>,
    legal_basis: String,
    due_date: String,
}

async fn procedure_page(
    State(catalogue): State<Catalogue>,
    context: PageContext,
    Path(code): Path<String>,
) -> Result<Html<String>, AppError> {
    let snapshot = catalogue.snapshot().await?;
    let procedure = find(&snapshot, &code)?;
    let lang = context.lang;
    let item = item(&procedure, &snapshot, lang);
    let view = ProcedurePageView {
        page: context.meta(&item.name),
        shell: context.shell(),
        t: text(lang),
        item,
        fee_note: procedure.fee_note.clone(),
        processing_note: procedure.processing_note.clone(),
        online_note: procedure.online_note.clone(),
        documents: procedure.required_documents.clone(),
        legal_basis: procedure.legal_basis.clone(),
        due_date: super::text::format_date(catalogue.due_if_received_today(&procedure), lang),
    };
    Ok(Html(view.render()?))
}

// ---------------------------------------------------------------- JSON API

/// An agency as the API names it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgencyRef {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
}

/// A procedure in a result list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProcedureSummary {
    /// National procedure code, or the instance's local code.
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub level: Level,
    /// Field (lĩnh vực) code.
    pub field: String,
    pub online: OnlineLevel,
    /// Fee in đồng; absent when set by the Provincial People's Council.
    pub fee_vnd: Option<i64>,
    /// Time limit in working days.
    pub processing_days: u32,
    pub agencies: Vec<AgencyRef>,
}

/// A page of search results.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub total: usize,
    pub page: u32,
    pub pages: u32,
    pub per_page: usize,
    pub items: Vec<ProcedureSummary>,
}

/// Everything the catalogue says about one procedure.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProcedureDetail {
    #[serde(flatten)]
    pub summary: ProcedureSummary,
    pub fee_note: String,
    pub processing_note: String,
    /// The legacy level of Decree 43/2011: 4 for fully online, 3 for partly.
    pub legacy_online_level: u8,
    pub online_note: String,
    pub required_documents: Vec<String>,
    pub legal_basis: String,
    /// When the result is due if a complete dossier is received today, in
    /// working days (public holidays and days off excluded).
    pub due_date_if_received_today: chrono::NaiveDate,
}

fn summary(procedure: &Procedure, snapshot: &Snapshot) -> ProcedureSummary {
    ProcedureSummary {
        code: procedure.code.to_string(),
        name_vi: procedure.name_vi.clone(),
        name_en: procedure.name_en.clone(),
        level: procedure.level,
        field: procedure.field_code.clone(),
        online: procedure.online,
        fee_vnd: procedure.fee.map(egov_core::money::Vnd::amount),
        processing_days: procedure.processing_days,
        agencies: procedure
            .agency_codes
            .iter()
            .filter_map(|code| snapshot.agency(code))
            .map(|agency| AgencyRef {
                code: agency.code.clone(),
                name_vi: agency.name_vi.clone(),
                name_en: agency.name_en.clone(),
            })
            .collect(),
    }
}

/// Search the procedure catalogue.
#[utoipa::path(
    get,
    path = "/api/v1/procedures",
    tag = "catalogue",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of matching procedures, best first", body = SearchResults),
        (status = 400, description = "`query_too_long` or `invalid_parameter`", body = egov_web::error::ErrorBody),
    )
)]
pub async fn search_api(
    State(catalogue): State<Catalogue>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, AppError> {
    let query = SearchQuery::parse(&params).map_err(|error| query_error(&error))?;
    let snapshot = catalogue.snapshot().await?;
    let page = snapshot.index.search(&query);
    Ok(Json(SearchResults {
        total: page.total,
        page: page.page,
        pages: page.pages,
        per_page: PER_PAGE,
        items: page.items.iter().map(|p| summary(p, &snapshot)).collect(),
    }))
}

/// One procedure by its code.
#[utoipa::path(
    get,
    path = "/api/v1/procedures/{code}",
    tag = "catalogue",
    params(("code" = String, Path, description = "Procedure code, e.g. 1.001193")),
    responses(
        (status = 200, description = "The procedure", body = ProcedureDetail),
        (status = 404, description = "`procedure_not_found`", body = egov_web::error::ErrorBody),
    )
)]
pub async fn procedure_api(
    State(catalogue): State<Catalogue>,
    Path(code): Path<String>,
) -> Result<Json<ProcedureDetail>, AppError> {
    let snapshot = catalogue.snapshot().await?;
    let procedure = find(&snapshot, &code)?;
    Ok(Json(ProcedureDetail {
        summary: summary(&procedure, &snapshot),
        fee_note: procedure.fee_note.clone(),
        processing_note: procedure.processing_note.clone(),
        legacy_online_level: procedure.online.legacy_level(),
        online_note: procedure.online_note.clone(),
        required_documents: procedure.required_documents.clone(),
        legal_basis: procedure.legal_basis.clone(),
        due_date_if_received_today: catalogue.due_if_received_today(&procedure),
    }))
}

/// The agencies that settle procedures on this instance.
#[utoipa::path(
    get,
    path = "/api/v1/agencies",
    tag = "catalogue",
    responses((status = 200, description = "Every agency", body = [crate::directory::Agency]))
)]
pub async fn agencies_api(State(catalogue): State<Catalogue>) -> Result<Json<Vec<crate::directory::Agency>>, AppError> {
    let snapshot = catalogue.snapshot().await?;
    Ok(Json(snapshot.agencies.clone()))
}

/// The fields (lĩnh vực) procedures are grouped in.
#[utoipa::path(
    get,
    path = "/api/v1/fields",
    tag = "catalogue",
    responses((status = 200, description = "Every field", body = [super::store::FieldView]))
)]
pub async fn fields_api(State(catalogue): State<Catalogue>) -> Result<Json<Vec<super::store::FieldView>>, AppError> {
    let snapshot = catalogue.snapshot().await?;
    Ok(Json(snapshot.fields.clone()))
}

/// The 34 provincial units in force since 1 July 2025.
#[utoipa::path(
    get,
    path = "/api/v1/provinces",
    tag = "catalogue",
    responses((status = 200, description = "Every provincial unit, by code", body = [crate::directory::Province]))
)]
pub async fn provinces_api(
    State(catalogue): State<Catalogue>,
) -> Result<Json<Vec<crate::directory::Province>>, AppError> {
    Ok(Json(crate::directory::store::provinces(catalogue.db()).await?))
}

/// The catalogue's part of the OpenAPI description.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(search_api, procedure_api, agencies_api, fields_api, provinces_api),
    components(schemas(
        SearchResults,
        ProcedureSummary,
        ProcedureDetail,
        AgencyRef,
        egov_web::error::ErrorBody
    ))
)]
#[derive(Debug)]
pub struct CatalogueApi;
