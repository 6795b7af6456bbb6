//! The pages of sign-in service administration, for platform
//! administrators signed in with their browser: `/admin/sign-in` lists
//! clients, signing keys and upstream providers; forms register and edit
//! clients and upstream providers; buttons rotate a client's secret and
//! the signing keys. The same operations as the JSON API in
//! [`crate::platform_http`] and `egov id …`, checked and audited by
//! [`crate::admin`] the same way. Field problems come back on the form, in
//! the page's language, with what was typed kept.

use askama::Template as _;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use egov_web::error::FinalBody;
use egov_web::i18n::ShellText;
use egov_web::{AppError, Localized, PageContext, PageMeta};

use crate::admin::{self, AdminError, ClientChanges, NewClient, NewUpstream, UpstreamChanges};
use crate::keys::Algorithm;
use crate::manage::is_platform_administrator;
use crate::manage_http::forbidden;
use crate::platform_http::{ClientSummary, KeySummary, UpstreamSummary, admin_error, invalid, no_secret_client};
use crate::provider::Provider;
use crate::store::{self, UserRow};

pub(crate) fn router() -> Router<Provider> {
    Router::new()
        .route("/admin/sign-in", get(service_view))
        .route("/admin/sign-in/clients", post(add_client))
        .route("/admin/sign-in/clients/new", get(new_client_form))
        .route("/admin/sign-in/clients/{id}", get(edit_client_form).post(update_client))
        .route("/admin/sign-in/clients/{id}/secret", post(rotate_secret))
        .route("/admin/sign-in/keys/rotate", post(rotate_key))
        .route("/admin/sign-in/upstreams", post(add_upstream))
        .route("/admin/sign-in/upstreams/new", get(new_upstream_form))
        .route(
            "/admin/sign-in/upstreams/{id}",
            get(edit_upstream_form).post(update_upstream),
        )
}

/// The platform administrator signed in with this browser, or the answer.
async fn page_admin(provider: &Provider, headers: &HeaderMap) -> Result<Result<UserRow, Response>, AppError> {
    match crate::manage_http::session_actor(provider, headers).await? {
        Ok(actor) if is_platform_administrator(&actor) => Ok(Ok(actor)),
        Ok(_) => Err(forbidden()),
        Err(response) => Ok(Err(response)),
    }
}

fn actor_name(actor: &UserRow) -> String {
    format!("user:{}", actor.id)
}

/// A page; a form returned with problems (422) is final, not replaced by
/// the shell's error page.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    response.extensions_mut().insert(FinalBody);
    crate::http::no_store(&mut response);
    response
}

/// One field's problem, shown at the top of a form and beside the field.
#[derive(Debug)]
struct FieldProblem {
    /// The form element's id.
    field: &'static str,
    message: String,
}

/// Where an administrative refusal goes on a form: the admin module names
/// fields as the API does; the forms' elements are named a little apart.
fn field_problem(error: AdminError, lang: egov_web::i18n::Lang) -> Result<FieldProblem, AppError> {
    match error {
        AdminError::Invalid { field, message } => Ok(FieldProblem {
            field: match field {
                "redirect_uri" => "redirect_uris",
                "scope" => "scopes",
                "grant_type" => "grant_authorization_code",
                other => other,
            },
            message: message.get(lang).to_owned(),
        }),
        AdminError::Exists(_) => Ok(FieldProblem {
            field: "id",
            message: lang
                .pick("Mã này đã được dùng.", "This id is taken already.")
                .to_owned(),
        }),
        other => Err(admin_error(other)),
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------- the overview

/// The administration page's strings.
#[derive(Debug)]
struct ServiceText {
    title: &'static str,
    clients: &'static str,
    name: &'static str,
    authentication: &'static str,
    rotate_secret: &'static str,
    edit: &'static str,
    new_client: &'static str,
    keys: &'static str,
    status: &'static str,
    algorithm: &'static str,
    rotate_now: &'static str,
    upstreams: &'static str,
    no_upstreams: &'static str,
    new_upstream: &'static str,
    disabled: &'static str,
    also_api: &'static str,
}

const SERVICE_VI: ServiceText = ServiceText {
    title: "Quản trị dịch vụ xác thực",
    clients: "Ứng dụng kết nối",
    name: "Tên",
    authentication: "Xác thực ứng dụng",
    rotate_secret: "Đổi khóa bí mật",
    edit: "Sửa",
    new_client: "Đăng ký ứng dụng mới",
    keys: "Khóa ký",
    status: "Trạng thái",
    algorithm: "Thuật toán",
    rotate_now: "Xoay khóa ngay",
    upstreams: "Nhà cung cấp định danh cấp trên",
    no_upstreams: "Chưa cấu hình nhà cung cấp nào.",
    new_upstream: "Thêm nhà cung cấp",
    disabled: "đã tắt",
    also_api: "Các thao tác này cũng có qua API JSON (/api/docs) và lệnh `egov id`.",
};

const SERVICE_EN: ServiceText = ServiceText {
    title: "Sign-in service administration",
    clients: "Clients",
    name: "Name",
    authentication: "Client authentication",
    rotate_secret: "Rotate the secret",
    edit: "Edit",
    new_client: "Register a client",
    keys: "Signing keys",
    status: "Status",
    algorithm: "Algorithm",
    rotate_now: "Rotate now",
    upstreams: "Upstream identity providers",
    no_upstreams: "No upstream provider is configured.",
    new_upstream: "Add a provider",
    disabled: "turned off",
    also_api: "The same operations are in the JSON API (/api/docs) and `egov id`.",
};

#[derive(askama::Template)]
#[template(path = "id_admin_service.html")]
struct ServicePage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static ServiceText,
    notice: String,
    new_secret: Option<String>,
    clients: Vec<ClientSummary>,
    keys: Vec<KeySummary>,
    upstreams: Vec<UpstreamSummary>,
}

async fn service_page(
    provider: &Provider,
    context: &PageContext,
    notice: String,
    new_secret: Option<String>,
) -> Result<Response, AppError> {
    let t = context.lang.pick(&SERVICE_VI, &SERVICE_EN);
    let clients = store::clients(provider.db())
        .await?
        .into_iter()
        .map(ClientSummary::from)
        .collect();
    let keys = store::keys(provider.db())
        .await?
        .into_iter()
        .map(KeySummary::from)
        .collect();
    let upstreams = store::upstreams(provider.db())
        .await?
        .into_iter()
        .map(UpstreamSummary::from)
        .collect();
    let page = ServicePage {
        page: context.meta(t.title),
        shell: context.shell(),
        t,
        notice,
        new_secret,
        clients,
        keys,
        upstreams,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

#[derive(Debug, Default, serde::Deserialize)]
struct ServiceParams {
    done: Option<String>,
}

async fn service_view(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Query(params): Query<ServiceParams>,
) -> Result<Response, AppError> {
    if let Err(response) = page_admin(&provider, &headers).await? {
        return Ok(response);
    }
    let lang = context.lang;
    let notice = match params.done.as_deref() {
        Some("rotated") => lang.pick(
            "Đã thực hiện một bước xoay khóa (công bố khóa mới, hoặc đưa khóa đã công bố vào dùng).",
            "One rotation step done (a new key published, or the published one put to use).",
        ),
        Some("client") => lang.pick(
            "Đã lưu ứng dụng. Mọi máy chủ dùng thay đổi trong vòng 10 giây.",
            "The client is saved. Every node uses the change within 10 seconds.",
        ),
        Some("upstream") => lang.pick(
            "Đã lưu nhà cung cấp. Nút đăng nhập thay đổi trong vòng 10 giây.",
            "The provider is saved. Its sign-in button changes within 10 seconds.",
        ),
        _ => "",
    };
    service_page(&provider, &context, notice.to_owned(), None).await
}

async fn rotate_secret(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, AppError> {
    let actor = match page_admin(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    let Some(secret) = admin::rotate_client_secret(provider.db(), &client_id, &actor_name(&actor), provider.now())
        .await
        .map_err(admin_error)?
    else {
        return Err(no_secret_client());
    };
    provider.forget_client(&client_id);
    let notice = context.lang.pick(
        "Khóa bí mật mới (chỉ hiển thị lần này; khóa cũ đã hết hiệu lực):",
        "The new secret (shown only now; the old one no longer works):",
    );
    service_page(&provider, &context, notice.to_owned(), Some(secret)).await
}

#[derive(Debug, serde::Deserialize)]
struct RotateForm {
    #[serde(default)]
    alg: String,
}

async fn rotate_key(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(form): Form<RotateForm>,
) -> Result<Response, AppError> {
    if let Err(response) = page_admin(&provider, &headers).await? {
        return Ok(response);
    }
    let alg = Algorithm::parse(&form.alg).ok_or_else(|| invalid("alg", "must be RS256, ES256 or EdDSA"))?;
    provider.rotate_key(alg).await.map_err(AppError::internal)?;
    Ok(Redirect::to("/admin/sign-in?done=rotated").into_response())
}

// ---------------------------------------------------------------- clients

/// The client form's strings.
#[derive(Debug)]
struct ClientText {
    new_title: &'static str,
    edit_title: &'static str,
    problem: &'static str,
    client_id: &'static str,
    client_id_hint: &'static str,
    name: &'static str,
    authentication: &'static str,
    auth_secret: &'static str,
    auth_none: &'static str,
    auth_keys: &'static str,
    redirect_uris: &'static str,
    lines_hint: &'static str,
    post_logout_redirect_uris: &'static str,
    scopes: &'static str,
    scopes_hint: &'static str,
    grant_types: &'static str,
    signing_alg: &'static str,
    backchannel: &'static str,
    optional: &'static str,
    pairwise: &'static str,
    pairwise_hint: &'static str,
    sector: &'static str,
    jwks: &'static str,
    jwks_edit_hint: &'static str,
    save: &'static str,
    back: &'static str,
}

const CLIENT_VI: ClientText = ClientText {
    new_title: "Đăng ký ứng dụng",
    edit_title: "Sửa ứng dụng",
    problem: "Chưa lưu được:",
    client_id: "Mã ứng dụng (client_id)",
    client_id_hint: "3–64 chữ cái, chữ số, '-', '_' hoặc '.'; không đổi được sau khi đăng ký.",
    name: "Tên hiển thị với người dùng",
    authentication: "Cách ứng dụng xác thực",
    auth_secret: "Khóa bí mật (client_secret_basic hoặc client_secret_post)",
    auth_none: "Ứng dụng công khai, chỉ PKCE (ứng dụng di động, trang chạy trên trình duyệt)",
    auth_keys: "Khóa riêng của ứng dụng (private_key_jwt)",
    redirect_uris: "Địa chỉ chuyển hướng (redirect_uri)",
    lines_hint: "Mỗi dòng một địa chỉ; so khớp chính xác từng ký tự. https, hoặc http trên máy chủ loopback.",
    post_logout_redirect_uris: "Địa chỉ quay về sau khi đăng xuất",
    scopes: "Phạm vi được phép",
    scopes_hint: "Cách nhau bằng dấu cách, ví dụ: openid profile email personal_id",
    grant_types: "Kiểu cấp quyền",
    signing_alg: "Thuật toán ký ID token",
    backchannel: "Địa chỉ nhận thông báo đăng xuất (back-channel logout)",
    optional: "không bắt buộc",
    pairwise: "Mỗi lĩnh vực một mã người dùng (sub pairwise)",
    pairwise_hint: "Ứng dụng thuộc các lĩnh vực khác nhau không đối chiếu được người dùng qua sub. Không đổi được sau khi đăng ký.",
    sector: "Lĩnh vực (tên máy chủ; mặc định là máy chủ duy nhất của các địa chỉ chuyển hướng)",
    jwks: "Khóa công khai của ứng dụng (JWKS, JSON)",
    jwks_edit_hint: "Để trống để giữ các khóa hiện có.",
    save: "Lưu",
    back: "Quay lại trang quản trị",
};

const CLIENT_EN: ClientText = ClientText {
    new_title: "Register a client",
    edit_title: "Edit a client",
    problem: "Not saved yet:",
    client_id: "Client id (client_id)",
    client_id_hint: "3–64 letters, digits, '-', '_' or '.'; it cannot change once registered.",
    name: "Name shown to users",
    authentication: "How the client authenticates",
    auth_secret: "A secret (client_secret_basic or client_secret_post)",
    auth_none: "Public client, PKCE only (mobile apps, pages running in the browser)",
    auth_keys: "The client's own keys (private_key_jwt)",
    redirect_uris: "Redirect URIs",
    lines_hint: "One per line; matched character for character. https, or http on a loopback host.",
    post_logout_redirect_uris: "Where to return after signing out",
    scopes: "Allowed scopes",
    scopes_hint: "Separated by spaces, for example: openid profile email personal_id",
    grant_types: "Grant types",
    signing_alg: "ID token signing algorithm",
    backchannel: "Back-channel logout URI",
    optional: "optional",
    pairwise: "A different user id per sector (pairwise sub)",
    pairwise_hint: "Clients of different sectors cannot match users by sub. It cannot change once registered.",
    sector: "Sector (a host name; by default the single host of the redirect URIs)",
    jwks: "The client's public keys (JWKS, JSON)",
    jwks_edit_hint: "Leave empty to keep the current keys.",
    save: "Save",
    back: "Back to administration",
};

/// The client form as typed (and as the page shows it).
#[derive(Debug, Default, serde::Deserialize)]
struct ClientForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    /// `client_secret`, `none` or `private_key_jwt`.
    #[serde(default)]
    authentication: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    scopes: String,
    grant_authorization_code: Option<String>,
    grant_refresh_token: Option<String>,
    grant_client_credentials: Option<String>,
    #[serde(default)]
    signing_alg: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    pairwise: Option<String>,
    #[serde(default)]
    sector_identifier: String,
    #[serde(default)]
    jwks: String,
}

impl ClientForm {
    fn blank() -> ClientForm {
        ClientForm {
            authentication: "client_secret".to_owned(),
            scopes: "openid profile email".to_owned(),
            grant_authorization_code: Some("on".to_owned()),
            grant_refresh_token: Some("on".to_owned()),
            signing_alg: "RS256".to_owned(),
            ..ClientForm::default()
        }
    }

    fn of(client: ClientSummary) -> ClientForm {
        let has = |grant: &str| {
            client
                .grant_types
                .iter()
                .any(|given| given == grant)
                .then(|| "on".to_owned())
        };
        ClientForm {
            authentication: client.authentication.to_owned(),
            redirect_uris: client.redirect_uris.join("\n"),
            post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
            scopes: client.scopes.join(" "),
            grant_authorization_code: has("authorization_code"),
            grant_refresh_token: has("refresh_token"),
            grant_client_credentials: has("client_credentials"),
            signing_alg: client.signing_alg,
            backchannel_logout_uri: client.backchannel_logout_uri.unwrap_or_default(),
            pairwise: (client.subject_type == "pairwise").then(|| "on".to_owned()),
            sector_identifier: client.sector_identifier.unwrap_or_default(),
            client_id: client.client_id,
            name: client.name,
            jwks: String::new(),
        }
    }

    fn grant_types(&self) -> Vec<String> {
        [
            (&self.grant_authorization_code, "authorization_code"),
            (&self.grant_refresh_token, "refresh_token"),
            (&self.grant_client_credentials, "client_credentials"),
        ]
        .into_iter()
        .filter(|(checked, _)| checked.is_some())
        .map(|(_, grant)| grant.to_owned())
        .collect()
    }

    fn signing_alg(&self) -> Result<Algorithm, AdminError> {
        Algorithm::parse(&self.signing_alg).ok_or_else(|| AdminError::Invalid {
            field: "signing_alg",
            message: Localized::new("phải là RS256, ES256 hoặc EdDSA", "must be RS256, ES256 or EdDSA"),
        })
    }

    fn new_client(&self) -> Result<NewClient, AdminError> {
        let uses_keys = self.authentication == "private_key_jwt";
        if uses_keys && self.jwks.trim().is_empty() {
            return Err(AdminError::Invalid {
                field: "jwks",
                message: Localized::new(
                    "bắt buộc khi ứng dụng xác thực bằng khóa",
                    "is required for a client with keys",
                ),
            });
        }
        let mut client = NewClient::web(self.client_id.trim(), self.name.trim(), "");
        client.redirect_uris = lines(&self.redirect_uris);
        client.post_logout_redirect_uris = lines(&self.post_logout_redirect_uris);
        client.public = self.authentication == "none";
        client.scopes = self.scopes.split_whitespace().map(str::to_owned).collect();
        client.grant_types = self.grant_types();
        client.signing_alg = self.signing_alg()?;
        client.pairwise = self.pairwise.is_some();
        client.sector_identifier = Some(self.sector_identifier.trim().to_owned()).filter(|sector| !sector.is_empty());
        client.jwks = uses_keys.then(|| self.jwks.clone());
        client.backchannel_logout_uri =
            Some(self.backchannel_logout_uri.trim().to_owned()).filter(|uri| !uri.is_empty());
        Ok(client)
    }

    fn changes(&self, uses_keys: bool) -> Result<ClientChanges, AdminError> {
        Ok(ClientChanges {
            name: Some(self.name.trim().to_owned()),
            redirect_uris: Some(lines(&self.redirect_uris)),
            post_logout_redirect_uris: Some(lines(&self.post_logout_redirect_uris)),
            scopes: Some(self.scopes.split_whitespace().map(str::to_owned).collect()),
            grant_types: Some(self.grant_types()),
            signing_alg: Some(self.signing_alg()?),
            backchannel_logout_uri: Some(
                Some(self.backchannel_logout_uri.trim().to_owned()).filter(|uri| !uri.is_empty()),
            ),
            jwks: (uses_keys && !self.jwks.trim().is_empty()).then(|| self.jwks.clone()),
        })
    }
}

#[derive(askama::Template)]
#[template(path = "id_admin_client.html")]
struct ClientPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static ClientText,
    /// The client being edited; `None` on the registration form.
    editing: Option<String>,
    form: ClientForm,
    problem: Option<FieldProblem>,
}

impl ClientPage {
    fn invalid(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|problem| problem.field == field)
    }
}

fn client_page(
    context: &PageContext,
    editing: Option<String>,
    form: ClientForm,
    problem: Option<FieldProblem>,
) -> Result<Response, AppError> {
    let t = context.lang.pick(&CLIENT_VI, &CLIENT_EN);
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let title = if editing.is_some() { t.edit_title } else { t.new_title };
    let page = ClientPage {
        page: context.meta(title),
        shell: context.shell(),
        t,
        editing,
        form,
        problem,
    };
    Ok(html(status, page.render()?))
}

async fn new_client_form(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Err(response) = page_admin(&provider, &headers).await? {
        return Ok(response);
    }
    client_page(&context, None, ClientForm::blank(), None)
}

async fn add_client(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Form(form): Form<ClientForm>,
) -> Result<Response, AppError> {
    let actor = match page_admin(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    let added = match form.new_client() {
        Ok(client) => admin::add_client(provider.db(), &client, &actor_name(&actor), provider.now()).await,
        Err(error) => Err(error),
    };
    match added {
        Ok(secret) => {
            let lang = context.lang;
            let notice = match &secret {
                Some(_) => {
                    format!(
                        "{} {}",
                        lang.pick("Đã đăng ký ứng dụng", "Registered the client"),
                        form.client_id.trim()
                    ) + lang.pick(
                        ". Khóa bí mật (chỉ hiển thị lần này):",
                        ". Its secret (shown only now):",
                    )
                }
                None => format!(
                    "{} {}.",
                    lang.pick("Đã đăng ký ứng dụng", "Registered the client"),
                    form.client_id.trim()
                ),
            };
            service_page(&provider, &context, notice, secret).await
        }
        Err(error) => {
            let mut problem = field_problem(error, context.lang)?;
            if problem.field == "id" {
                problem.field = "client_id";
            }
            client_page(&context, None, form, Some(problem))
        }
    }
}

async fn client_summary(provider: &Provider, client_id: &str) -> Result<ClientSummary, AppError> {
    store::client(provider.db(), client_id)
        .await?
        .map(ClientSummary::from)
        .ok_or_else(client_not_found)
}

fn client_not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "client_not_found",
        Localized::new("Không có ứng dụng với mã này.", "No client has this id."),
    )
}

async fn edit_client_form(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, AppError> {
    if let Err(response) = page_admin(&provider, &headers).await? {
        return Ok(response);
    }
    let client = client_summary(&provider, &client_id).await?;
    client_page(&context, Some(client_id), ClientForm::of(client), None)
}

async fn update_client(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    Form(mut form): Form<ClientForm>,
) -> Result<Response, AppError> {
    let actor = match page_admin(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    let current = client_summary(&provider, &client_id).await?;
    // What cannot change is shown as it is, whatever the form sent.
    form.authentication = current.authentication.to_owned();
    form.pairwise = (current.subject_type == "pairwise").then(|| "on".to_owned());
    form.sector_identifier = current.sector_identifier.clone().unwrap_or_default();
    form.client_id.clone_from(&client_id);
    let updated = match form.changes(current.authentication == "private_key_jwt") {
        Ok(changes) => {
            admin::update_client(provider.db(), &client_id, changes, &actor_name(&actor), provider.now()).await
        }
        Err(error) => Err(error),
    };
    match updated {
        Ok(Some(_)) => {
            provider.forget_client(&client_id);
            Ok(Redirect::to("/admin/sign-in?done=client").into_response())
        }
        Ok(None) => Err(client_not_found()),
        Err(error) => {
            let problem = field_problem(error, context.lang)?;
            client_page(&context, Some(client_id), form, Some(problem))
        }
    }
}

// ---------------------------------------------------------------- upstream providers

/// The upstream form's strings.
#[derive(Debug)]
struct UpstreamText {
    new_title: &'static str,
    edit_title: &'static str,
    problem: &'static str,
    id: &'static str,
    id_hint: &'static str,
    name: &'static str,
    name_hint: &'static str,
    issuer: &'static str,
    issuer_hint: &'static str,
    client_id: &'static str,
    client_secret: &'static str,
    secret_edit_hint: &'static str,
    scopes: &'static str,
    scopes_hint: &'static str,
    enabled: &'static str,
    redirect_hint: &'static str,
    save: &'static str,
    back: &'static str,
}

const UPSTREAM_VI: UpstreamText = UpstreamText {
    new_title: "Thêm nhà cung cấp định danh",
    edit_title: "Sửa nhà cung cấp định danh",
    problem: "Chưa lưu được:",
    id: "Mã",
    id_hint: "2–32 chữ cái thường, chữ số hoặc '-', ví dụ vneid; không đổi được sau khi thêm.",
    name: "Tên",
    name_hint: "Hiện trên nút \"Đăng nhập bằng …\".",
    issuer: "Issuer (địa chỉ của nhà cung cấp OpenID Connect)",
    issuer_hint: "Cấu hình được đọc từ issuer/.well-known/openid-configuration.",
    client_id: "Mã ứng dụng do nhà cung cấp cấp (client_id)",
    client_secret: "Khóa bí mật do nhà cung cấp cấp",
    secret_edit_hint: "Để trống để giữ khóa hiện có.",
    scopes: "Phạm vi yêu cầu",
    scopes_hint: "Cách nhau bằng dấu cách; openid luôn được yêu cầu. Để trống: profile personal_id email.",
    enabled: "Đang bật (hiện nút đăng nhập)",
    redirect_hint: "Đăng ký với nhà cung cấp địa chỉ chuyển hướng:",
    save: "Lưu",
    back: "Quay lại trang quản trị",
};

const UPSTREAM_EN: UpstreamText = UpstreamText {
    new_title: "Add an identity provider",
    edit_title: "Edit an identity provider",
    problem: "Not saved yet:",
    id: "Id",
    id_hint: "2–32 lowercase letters, digits or '-', such as vneid; it cannot change once added.",
    name: "Name",
    name_hint: "Shown on the \"Sign in with …\" button.",
    issuer: "Issuer (the OpenID Connect provider's URL)",
    issuer_hint: "Its settings are read from issuer/.well-known/openid-configuration.",
    client_id: "Client id given by the provider",
    client_secret: "Client secret given by the provider",
    secret_edit_hint: "Leave empty to keep the current secret.",
    scopes: "Scopes to ask for",
    scopes_hint: "Separated by spaces; openid is always asked. Empty: profile personal_id email.",
    enabled: "Turned on (its sign-in button shows)",
    redirect_hint: "Register this redirect URI with the provider:",
    save: "Save",
    back: "Back to administration",
};

/// The upstream form as typed. The secret is never shown back.
#[derive(Default, serde::Deserialize)]
struct UpstreamForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scopes: String,
    enabled: Option<String>,
}

impl std::fmt::Debug for UpstreamForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamForm")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(askama::Template)]
#[template(path = "id_admin_upstream.html")]
struct UpstreamPage {
    page: PageMeta,
    shell: &'static ShellText,
    t: &'static UpstreamText,
    editing: Option<String>,
    form: UpstreamForm,
    problem: Option<FieldProblem>,
    redirect_uri: String,
}

impl UpstreamPage {
    fn invalid(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|problem| problem.field == field)
    }
}

fn upstream_page(
    provider: &Provider,
    context: &PageContext,
    editing: Option<String>,
    mut form: UpstreamForm,
    problem: Option<FieldProblem>,
) -> Result<Response, AppError> {
    let t = context.lang.pick(&UPSTREAM_VI, &UPSTREAM_EN);
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    form.client_secret.clear();
    let title = if editing.is_some() { t.edit_title } else { t.new_title };
    let page = UpstreamPage {
        page: context.meta(title),
        shell: context.shell(),
        t,
        editing,
        form,
        problem,
        redirect_uri: format!("{}/oauth/upstream/callback", provider.config().issuer),
    };
    Ok(html(status, page.render()?))
}

async fn new_upstream_form(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Err(response) = page_admin(&provider, &headers).await? {
        return Ok(response);
    }
    let form = UpstreamForm {
        enabled: Some("on".to_owned()),
        ..UpstreamForm::default()
    };
    upstream_page(&provider, &context, None, form, None)
}

async fn add_upstream(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Form(form): Form<UpstreamForm>,
) -> Result<Response, AppError> {
    let actor = match page_admin(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    let upstream = NewUpstream {
        id: form.id.trim().to_owned(),
        name: form.name.trim().to_owned(),
        issuer: form.issuer.trim().to_owned(),
        client_id: form.client_id.trim().to_owned(),
        client_secret: form.client_secret.clone(),
        scopes: vec![form.scopes.clone()],
    };
    match admin::add_upstream(provider.db(), &upstream, &actor_name(&actor), provider.now()).await {
        Ok(()) => {
            provider.forget_upstreams();
            Ok(Redirect::to("/admin/sign-in?done=upstream").into_response())
        }
        Err(error) => {
            let problem = field_problem(error, context.lang)?;
            upstream_page(&provider, &context, None, form, Some(problem))
        }
    }
}

fn upstream_not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "upstream_not_found",
        Localized::new("Không có nhà cung cấp với mã này.", "No upstream provider has this id."),
    )
}

async fn edit_upstream_form(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    if let Err(response) = page_admin(&provider, &headers).await? {
        return Ok(response);
    }
    let upstream = store::upstreams(provider.db())
        .await?
        .into_iter()
        .find(|upstream| upstream.id == id)
        .ok_or_else(upstream_not_found)?;
    let form = UpstreamForm {
        name: upstream.name,
        issuer: upstream.issuer,
        client_id: upstream.client_id,
        client_secret: String::new(),
        scopes: upstream.scopes,
        enabled: upstream.enabled.then(|| "on".to_owned()),
        id: upstream.id,
    };
    upstream_page(&provider, &context, Some(id), form, None)
}

async fn update_upstream(
    State(provider): State<Provider>,
    context: PageContext,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(mut form): Form<UpstreamForm>,
) -> Result<Response, AppError> {
    let actor = match page_admin(&provider, &headers).await? {
        Ok(actor) => actor,
        Err(response) => return Ok(response),
    };
    form.id.clone_from(&id);
    let changes = UpstreamChanges {
        name: Some(form.name.trim().to_owned()),
        issuer: Some(form.issuer.trim().to_owned()),
        client_id: Some(form.client_id.trim().to_owned()),
        client_secret: Some(form.client_secret.clone()).filter(|secret| !secret.is_empty()),
        scopes: Some(vec![form.scopes.clone()]),
        enabled: Some(form.enabled.is_some()),
    };
    match admin::update_upstream(provider.db(), &id, changes, &actor_name(&actor), provider.now()).await {
        Ok(true) => {
            provider.forget_upstreams();
            Ok(Redirect::to("/admin/sign-in?done=upstream").into_response())
        }
        Ok(false) => Err(upstream_not_found()),
        Err(error) => {
            let problem = field_problem(error, context.lang)?;
            upstream_page(&provider, &context, Some(id), form, Some(problem))
        }
    }
}
