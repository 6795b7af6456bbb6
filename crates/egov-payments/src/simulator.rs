//! A local stand-in for the payment gateway, for tests and the demo: it checks a signed payment URL, shows the
//! payer a page with "Thanh toán" and "Hủy", then calls the merchant's IPN server to server and sends the browser
//! back to the return URL, both with signed results, as the real gateway does. It keeps no state: everything it
//! needs travels in the signed query, so a forged or altered request is refused. It must not be mounted in
//! production, and it moves no money.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use thiserror::Error;

use crate::gateway::{
    self, CURRENCY_VND, HashSecret, IpnReply, PROTOCOL_VERSION, RESPONSE_CODE_CANCELLED_BY_PAYER,
    RESPONSE_CODE_SUCCESS, SECURE_HASH_PARAMETER, SignatureError,
};
use crate::vietqr::group_thousands;

/// A boxed future that can cross threads, as the IPN hook returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Delivers an IPN call: given the full IPN URL with its signed query, returns the merchant's reply body, or why
/// it could not be reached. The embedding application decides how (HTTP client, in-process router…).
pub type IpnCaller = Arc<dyn Fn(String) -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// The header on the redirect that tells a test or a demo operator what the merchant answered to the IPN: its
/// `RspCode`, `unreadable` for a body that is not an IPN reply, or `unreachable`.
pub const IPN_REPLY_HEADER: HeaderName = HeaderName::from_static("x-simulator-ipn-reply");

/// The form field carrying the payer's choice on the simulated page.
const DECISION_FIELD: &str = "decision";

/// What the simulated gateway knows about the one merchant it serves.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// The terminal code the merchant signs with.
    pub terminal_code: String,
    pub hash_secret: HashSecret,
    /// The merchant's IPN URL; the real gateway has it registered per terminal, not sent in the request.
    pub ipn_url: String,
    pub ipn_caller: IpnCaller,
}

impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SimulatorConfig")
            .field("terminal_code", &self.terminal_code)
            .field("hash_secret", &self.hash_secret)
            .field("ipn_url", &self.ipn_url)
            .finish_non_exhaustive()
    }
}

/// Why the simulator refused a request; every refusal is a 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SimulatorError {
    #[error("invalid signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the request lacks {0}")]
    MissingParameter(&'static str),
    #[error("{name} has the unexpected value {value:?}")]
    UnexpectedValue { name: &'static str, value: String },
    #[error("vnp_Amount {0:?} is not a positive whole number of đồng in hundredths")]
    AmountInvalid(String),
    #[error("vnp_ExpireDate {0:?} is not a yyyyMMddHHmmss date")]
    ExpireDateInvalid(String),
    #[error("the payment expired at {0} (Vietnam time)")]
    Expired(String),
    #[error("vnp_ReturnUrl must be an http or https URL made of visible ASCII characters")]
    ReturnUrlInvalid,
    #[error("the decision must be \"pay\" or \"cancel\"")]
    DecisionInvalid,
}

impl IntoResponse for SimulatorError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            format!("Yêu cầu thanh toán bị từ chối: {self}"),
        )
            .into_response()
    }
}

/// The simulator's routes: `GET /vnpay/pay` and `POST /vnpay/pay/confirm`.
pub fn router(config: SimulatorConfig) -> Router {
    Router::new()
        .route("/vnpay/pay", get(show_payment_page))
        .route("/vnpay/pay/confirm", post(confirm_payment))
        .with_state(Arc::new(config))
}

/// A payment request whose signature and fields were checked.
#[derive(Debug)]
struct SignedPayment {
    parameters: BTreeMap<String, String>,
    amount_vnd: i64,
    return_url: String,
    /// The request's own `vnp_SecureHash`, already checked.
    request_signature: String,
}

impl SignedPayment {
    fn parameter(&self, name: &str) -> &str {
        self.parameters.get(name).map_or("", String::as_str)
    }
}

fn check_payment_request(
    config: &SimulatorConfig,
    query_pairs: &[(String, String)],
) -> Result<SignedPayment, SimulatorError> {
    let parameters = gateway::check_signature(&config.hash_secret, query_pairs)?;
    let required = |name: &'static str| {
        parameters
            .get(name)
            .filter(|value| !value.is_empty())
            .ok_or(SimulatorError::MissingParameter(name))
    };
    let expect = |name: &'static str, expected: &str| {
        let value = required(name)?;
        if value == expected {
            Ok(())
        } else {
            Err(SimulatorError::UnexpectedValue {
                name,
                value: value.clone(),
            })
        }
    };
    expect("vnp_Version", PROTOCOL_VERSION)?;
    expect("vnp_Command", "pay")?;
    expect("vnp_TmnCode", &config.terminal_code)?;
    expect("vnp_CurrCode", CURRENCY_VND)?;
    required("vnp_TxnRef")?;
    required("vnp_OrderInfo")?;

    let amount_text = required("vnp_Amount")?;
    let amount_vnd = gateway::parse_amount_in_hundredths(amount_text)
        .ok_or_else(|| SimulatorError::AmountInvalid(amount_text.clone()))?;

    let expire_text = required("vnp_ExpireDate")?;
    let expires_at = gateway::parse_vietnam_timestamp(expire_text)
        .ok_or_else(|| SimulatorError::ExpireDateInvalid(expire_text.clone()))?;
    if expires_at <= Utc::now() {
        return Err(SimulatorError::Expired(expire_text.clone()));
    }

    // The return URL ends up in a Location header; refusing anything but plain http(s) in visible ASCII keeps
    // out both header injection and `javascript:` targets, even from a merchant whose secret leaked.
    let return_url = required("vnp_ReturnUrl")?.clone();
    let plain_web_url = return_url.starts_with("https://") || return_url.starts_with("http://");
    if !plain_web_url || !return_url.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(SimulatorError::ReturnUrlInvalid);
    }
    let request_signature = query_pairs
        .iter()
        .find(|(name, _)| name == SECURE_HASH_PARAMETER)
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    Ok(SignedPayment {
        parameters,
        amount_vnd,
        return_url,
        request_signature,
    })
}

async fn show_payment_page(
    State(config): State<Arc<SimulatorConfig>>,
    Query(query_pairs): Query<Vec<(String, String)>>,
) -> Result<Response, SimulatorError> {
    let payment = check_payment_request(&config, &query_pairs)?;
    let mut hidden_fields = String::new();
    for (name, value) in &query_pairs {
        let _ = writeln!(
            hidden_fields,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape_html(name),
            escape_html(value)
        );
    }
    let page = format!(
        "<!doctype html>
<html lang=\"vi\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>Cổng thanh toán mô phỏng</title>
</head>
<body>
<main>
<h1>Cổng thanh toán mô phỏng</h1>
<p>Trang này giả lập cổng thanh toán để kiểm thử: không có khoản tiền nào được chuyển.</p>
<dl>
<dt>Đơn vị nhận</dt><dd>{terminal_code}</dd>
<dt>Mã giao dịch</dt><dd>{payment_reference}</dd>
<dt>Nội dung</dt><dd>{order_info}</dd>
<dt>Số tiền</dt><dd>{amount} đồng</dd>
</dl>
<form method=\"post\" action=\"pay/confirm\">
{hidden_fields}<button type=\"submit\" name=\"{DECISION_FIELD}\" value=\"pay\">Thanh toán</button>
<button type=\"submit\" name=\"{DECISION_FIELD}\" value=\"cancel\">Hủy</button>
</form>
</main>
</body>
</html>
",
        terminal_code = escape_html(payment.parameter("vnp_TmnCode")),
        payment_reference = escape_html(payment.parameter("vnp_TxnRef")),
        order_info = escape_html(payment.parameter("vnp_OrderInfo")),
        amount = group_thousands(payment.amount_vnd),
    );
    // Nothing on the page needs scripts, styles or frames. `form-action` is left out on purpose: browsers apply
    // it to the redirect that follows the form, which goes to the merchant's origin.
    let headers = [
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
        ),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((headers, Html(page)).into_response())
}

async fn confirm_payment(
    State(config): State<Arc<SimulatorConfig>>,
    Form(form_pairs): Form<Vec<(String, String)>>,
) -> Result<Response, SimulatorError> {
    let mut decision = None;
    let mut query_pairs = Vec::with_capacity(form_pairs.len());
    for (name, value) in form_pairs {
        if name == DECISION_FIELD {
            if decision.replace(value).is_some() {
                return Err(SimulatorError::DecisionInvalid);
            }
        } else {
            query_pairs.push((name, value));
        }
    }
    // The signature is checked again: the form is as much in the payer's hands as the URL was.
    let payment = check_payment_request(&config, &query_pairs)?;
    let paid = match decision.as_deref() {
        Some("pay") => true,
        Some("cancel") => false,
        _ => return Err(SimulatorError::DecisionInvalid),
    };

    let result_query = gateway::sign_parameters(&config.hash_secret, &result_parameters(&payment, paid));
    let ipn_reply = match (config.ipn_caller)(append_query(&config.ipn_url, &result_query)).await {
        Ok(body) => IpnReply::from_json(&body).map_or("unreadable", IpnReply::code),
        Err(_) => "unreachable",
    };
    let location = HeaderValue::try_from(append_query(&payment.return_url, &result_query))
        .map_err(|_| SimulatorError::ReturnUrlInvalid)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (LOCATION, location),
            (IPN_REPLY_HEADER, HeaderValue::from_static(ipn_reply)),
        ],
    )
        .into_response())
}

/// The parameters the gateway reports for a payment, before signing.
fn result_parameters(payment: &SignedPayment, paid: bool) -> BTreeMap<String, String> {
    let mut result = BTreeMap::new();
    let mut put = |name: &str, value: String| {
        result.insert(name.to_owned(), value);
    };
    for copied in ["vnp_Amount", "vnp_OrderInfo", "vnp_TmnCode", "vnp_TxnRef"] {
        put(copied, payment.parameter(copied).to_owned());
    }
    put("vnp_PayDate", gateway::vietnam_timestamp(Utc::now()));
    if paid {
        let transaction_no = simulated_transaction_no(payment);
        put("vnp_BankCode", "NCB".to_owned());
        put("vnp_BankTranNo", format!("VNP{transaction_no}"));
        put("vnp_CardType", "ATM".to_owned());
        put("vnp_ResponseCode", RESPONSE_CODE_SUCCESS.to_owned());
        put("vnp_TransactionNo", transaction_no);
        put("vnp_TransactionStatus", "00".to_owned());
    } else {
        put("vnp_BankCode", "VNPAY".to_owned());
        put("vnp_ResponseCode", RESPONSE_CODE_CANCELLED_BY_PAYER.to_owned());
        put("vnp_TransactionNo", "0".to_owned());
        put("vnp_TransactionStatus", "02".to_owned());
    }
    result
}

/// A stable eight-digit transaction number taken from the request's signature, so the same request always gets
/// the same number without the simulator remembering anything.
fn simulated_transaction_no(payment: &SignedPayment) -> String {
    let seed = payment
        .request_signature
        .get(..8)
        .and_then(|prefix| u32::from_str_radix(prefix, 16).ok())
        .unwrap_or(0);
    format!("{:08}", seed % 100_000_000)
}

fn append_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::http::Request;
    use axum::http::header::CONTENT_TYPE;
    use tower::ServiceExt as _;

    use super::*;
    use crate::gateway::{Callback, GatewayConfig, Locale, NewPayment, PaymentOutcome, PaymentRequest};

    const SECRET: &str = "SIMULATOR-TEST-SECRET-0123456789";
    const GATEWAY_ORIGIN: &str = "http://gateway.test";
    const MERCHANT_ORIGIN: &str = "http://merchant.test";
    const AMOUNT_DUE_VND: i64 = 150_000;

    /// What the merchant's IPN endpoint received, in order.
    type IpnLog = Arc<Mutex<Vec<Callback>>>;

    /// A merchant that checks IPN calls like the real one will: signature, amount, then whether it was
    /// already confirmed.
    fn merchant_router(ipn_log: IpnLog) -> Router {
        // axum clones a closure handler for every request, so each call gets its own handle on the log.
        let ipn = move |Query(query_pairs): Query<Vec<(String, String)>>| async move {
            let callback = match gateway::verify_callback(&HashSecret::new(SECRET), &query_pairs) {
                Ok(callback) => callback,
                Err(error) => return IpnReply::for_callback_error(&error).to_json(),
            };
            if callback.amount_vnd != AMOUNT_DUE_VND {
                return IpnReply::InvalidAmount.to_json();
            }
            let mut log = ipn_log.lock().expect("not poisoned");
            let already_confirmed = log
                .iter()
                .any(|earlier| earlier.payment_reference == callback.payment_reference);
            log.push(callback);
            if already_confirmed {
                IpnReply::OrderAlreadyConfirmed
            } else {
                IpnReply::ConfirmSuccess
            }
            .to_json()
        };
        let payment_result = |Query(query_pairs): Query<Vec<(String, String)>>| async move {
            match gateway::verify_callback(&HashSecret::new(SECRET), &query_pairs) {
                Ok(callback) => format!("{:?}", callback.outcome()),
                Err(error) => error.to_string(),
            }
        };
        Router::new()
            .route("/thanh-toan/ipn", get(ipn))
            .route("/thanh-toan/ket-qua", get(payment_result))
    }

    /// The simulator wired to the merchant router in-process, with the merchant's IPN log.
    fn simulator_and_merchant() -> (Router, Router, IpnLog) {
        let ipn_log = IpnLog::default();
        let merchant = merchant_router(ipn_log.clone());
        let merchant_for_ipn = merchant.clone();
        let ipn_caller: IpnCaller = Arc::new(move |url: String| {
            let merchant = merchant_for_ipn.clone();
            Box::pin(async move {
                let path_and_query = url
                    .strip_prefix(MERCHANT_ORIGIN)
                    .ok_or("the IPN URL names another host")?;
                let request = Request::get(path_and_query)
                    .body(Body::empty())
                    .map_err(|error| error.to_string())?;
                let response = merchant.oneshot(request).await.map_err(|error| error.to_string())?;
                let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                    .await
                    .map_err(|error| error.to_string())?;
                String::from_utf8(body.to_vec()).map_err(|error| error.to_string())
            })
        });
        let simulator = router(SimulatorConfig {
            terminal_code: "EGOVTEST".to_owned(),
            hash_secret: HashSecret::new(SECRET),
            ipn_url: format!("{MERCHANT_ORIGIN}/thanh-toan/ipn"),
            ipn_caller,
        });
        (simulator, merchant, ipn_log)
    }

    fn gateway_config(secret: &str, return_url: &str) -> GatewayConfig {
        GatewayConfig {
            terminal_code: "EGOVTEST".to_owned(),
            hash_secret: HashSecret::new(secret),
            payment_endpoint: format!("{GATEWAY_ORIGIN}/vnpay/pay"),
            return_url: return_url.to_owned(),
        }
    }

    /// A payment URL path (origin stripped) created `minutes_ago` and valid for 15 minutes.
    fn payment_path(secret: &str, return_url: &str, minutes_ago: i64) -> String {
        let created_at = Utc::now() - chrono::Duration::minutes(minutes_ago);
        let request = PaymentRequest::try_from(NewPayment {
            payment_reference: "PAY-000.00.01.H24-261127-0001".to_owned(),
            amount_vnd: AMOUNT_DUE_VND,
            order_info: "Nộp phí hồ sơ 000.00.01.H24-261127-0001".to_owned(),
            order_type: gateway::ORDER_TYPE_BILL_PAYMENT.to_owned(),
            locale: Locale::Vietnamese,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            created_at,
            expires_at: created_at + chrono::Duration::minutes(15),
        })
        .expect("valid payment");
        let url = gateway::payment_url(&gateway_config(secret, return_url), &request);
        url.strip_prefix(GATEWAY_ORIGIN).expect("the gateway origin").to_owned()
    }

    fn default_return_url() -> String {
        format!("{MERCHANT_ORIGIN}/thanh-toan/ket-qua")
    }

    async fn send(router: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1024 * 1024)
            .await
            .expect("a body");
        (status, headers, String::from_utf8(body.to_vec()).expect("UTF-8"))
    }

    async fn get_path(router: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        send(router, Request::get(path).body(Body::empty()).expect("a request")).await
    }

    async fn post_form(router: &Router, fields: &[(String, String)]) -> (StatusCode, axum::http::HeaderMap, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = Request::post("/vnpay/pay/confirm")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("a request");
        send(router, request).await
    }

    /// The hidden fields of the page, read back the way a browser would submit them.
    fn hidden_fields(page: &str) -> Vec<(String, String)> {
        let unescape = |text: &str| {
            text.replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        };
        page.split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|rest| {
                let (name, rest) = rest.split_once("\" value=\"").expect("a value");
                let (value, _) = rest.split_once("\">").expect("closed");
                (unescape(name), unescape(value))
            })
            .collect()
    }

    fn with_decision(mut fields: Vec<(String, String)>, decision: &str) -> Vec<(String, String)> {
        fields.push((DECISION_FIELD.to_owned(), decision.to_owned()));
        fields
    }

    fn location_path(headers: &axum::http::HeaderMap) -> String {
        let location = headers.get(LOCATION).expect("a Location").to_str().expect("ASCII");
        location
            .strip_prefix(MERCHANT_ORIGIN)
            .expect("back to the merchant")
            .to_owned()
    }

    #[tokio::test]
    async fn paying_calls_the_ipn_once_and_sends_the_payer_back_with_a_signed_success() {
        let (simulator, merchant, ipn_log) = simulator_and_merchant();
        let (status, headers, page) = get_path(&simulator, &payment_path(SECRET, &default_return_url(), 0)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            headers[CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("ASCII")
                .starts_with("default-src 'none'")
        );
        assert!(
            page.contains(">Thanh toán</button>") && page.contains(">Hủy</button>"),
            "{page}"
        );
        assert!(page.contains("<dd>150.000 đồng</dd>"), "{page}");
        assert!(
            !page.contains("<script") && !page.contains("style"),
            "no inline script or style"
        );

        let (status, headers, _) = post_form(&simulator, &with_decision(hidden_fields(&page), "pay")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[IPN_REPLY_HEADER], "00");
        {
            let log = ipn_log.lock().expect("not poisoned");
            assert_eq!(log.len(), 1);
            assert_eq!(log[0].outcome(), PaymentOutcome::Succeeded);
            assert_eq!(log[0].amount_vnd, AMOUNT_DUE_VND);
            assert_eq!(log[0].payment_reference, "PAY-000.00.01.H24-261127-0001");
            assert_eq!(log[0].gateway_transaction_no.as_ref().map(String::len), Some(8));
        }

        let return_path = location_path(&headers);
        assert!(return_path.starts_with("/thanh-toan/ket-qua?"), "{return_path}");
        let (status, _, outcome) = get_path(&merchant, &return_path).await;
        assert_eq!((status, outcome.as_str()), (StatusCode::OK, "Succeeded"));

        // The gateway may deliver the same result twice; the merchant's second answer says so.
        let (_, headers, _) = post_form(&simulator, &with_decision(hidden_fields(&page), "pay")).await;
        assert_eq!(headers[IPN_REPLY_HEADER], "02");
    }

    #[tokio::test]
    async fn cancelling_reports_response_code_24_to_both_ipn_and_browser() {
        let (simulator, merchant, ipn_log) = simulator_and_merchant();
        let (_, _, page) = get_path(&simulator, &payment_path(SECRET, &default_return_url(), 0)).await;
        let (status, headers, _) = post_form(&simulator, &with_decision(hidden_fields(&page), "cancel")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            ipn_log.lock().expect("not poisoned")[0].outcome(),
            PaymentOutcome::CancelledByPayer
        );
        let return_path = location_path(&headers);
        assert!(return_path.contains("vnp_ResponseCode=24"), "{return_path}");
        assert_eq!(get_path(&merchant, &return_path).await.2, "CancelledByPayer");
    }

    #[tokio::test]
    async fn a_forged_or_altered_payment_request_is_refused() {
        let (simulator, _, ipn_log) = simulator_and_merchant();
        let genuine = payment_path(SECRET, &default_return_url(), 0);

        let cheaper = genuine.replace("vnp_Amount=15000000", "vnp_Amount=100");
        let (status, _, message) = get_path(&simulator, &cheaper).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("invalid signature"), "{message}");

        let forged = payment_path("a guessed secret", &default_return_url(), 0);
        assert_eq!(get_path(&simulator, &forged).await.0, StatusCode::BAD_REQUEST);

        let unsigned = genuine.split("&vnp_SecureHash=").next().expect("a query").to_owned();
        let (status, _, message) = get_path(&simulator, &unsigned).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("no vnp_SecureHash"), "{message}");

        let (_, _, page) = get_path(&simulator, &genuine).await;
        let mut altered = hidden_fields(&page);
        for (name, value) in &mut altered {
            if name == "vnp_TxnRef" {
                *value = "PAY-SOMEONE-ELSE".to_owned();
            }
        }
        let (status, headers, _) = post_form(&simulator, &with_decision(altered, "pay")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(headers.get(LOCATION).is_none());
        assert_eq!(
            post_form(&simulator, &with_decision(hidden_fields(&page), "refund"))
                .await
                .0,
            StatusCode::BAD_REQUEST
        );
        assert!(
            ipn_log.lock().expect("not poisoned").is_empty(),
            "no IPN for a refused request"
        );
    }

    #[tokio::test]
    async fn an_expired_request_or_a_script_return_url_is_refused_even_when_signed() {
        let (simulator, _, _) = simulator_and_merchant();
        let (status, _, message) = get_path(&simulator, &payment_path(SECRET, &default_return_url(), 30)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("expired"), "{message}");
        let script = payment_path(SECRET, "javascript:alert(1)", 0);
        assert_eq!(get_path(&simulator, &script).await.0, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_unreachable_merchant_still_gets_the_payer_back() {
        let simulator = router(SimulatorConfig {
            terminal_code: "EGOVTEST".to_owned(),
            hash_secret: HashSecret::new(SECRET),
            ipn_url: format!("{MERCHANT_ORIGIN}/thanh-toan/ipn"),
            ipn_caller: Arc::new(|_| Box::pin(async { Err("connection refused".to_owned()) })),
        });
        let (_, _, page) = get_path(&simulator, &payment_path(SECRET, &default_return_url(), 0)).await;
        let (status, headers, _) = post_form(&simulator, &with_decision(hidden_fields(&page), "pay")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[IPN_REPLY_HEADER], "unreachable");
    }
}
