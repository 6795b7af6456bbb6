//! A local stand-in for the payment gateway, for tests and the demo: it checks a signed payment URL, shows the
//! payer a page with "Thanh toán" and "Hủy", then calls the merchant's IPN server to server and sends the browser
//! back to the return URL, both with signed results, as the real gateway does. A payment request keeps no state:
//! everything it needs travels in the signed query, so a forged or altered request is refused. The merchant API's
//! refund command (`POST /vnpay/merchant_webapi/api/transaction`, signed JSON both ways) needs to know what was
//! paid, so the simulator keeps a ledger in memory of the payments decided on its page and of the refunds it
//! answered; a restarted simulator has forgotten them and answers 91 (transaction not found). It must not be
//! mounted in production, and it moves no money.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use thiserror::Error;

use crate::gateway::{
    self, CURRENCY_VND, HashSecret, IpnReply, PROTOCOL_VERSION, REFUND_COMMAND, REFUND_REQUEST_SIGNED_FIELDS,
    RESPONSE_CODE_CANCELLED_BY_PAYER, RESPONSE_CODE_SUCCESS, RefundKind, RefundResponse, SECURE_HASH_PARAMETER,
    SignatureError, refund_code,
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

/// Where the simulator serves the gateway's merchant API, VNPAY's `/merchant_webapi/api/transaction` under
/// `/vnpay`.
pub const MERCHANT_API_PATH: &str = "/vnpay/merchant_webapi/api/transaction";

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

/// The simulator's routes: `GET /vnpay/pay`, `POST /vnpay/pay/confirm` and the merchant API at
/// [`MERCHANT_API_PATH`]. Each call makes a simulator with an empty ledger.
pub fn router(config: SimulatorConfig) -> Router {
    Router::new()
        .route("/vnpay/pay", get(show_payment_page))
        .route("/vnpay/pay/confirm", post(confirm_payment))
        .route(MERCHANT_API_PATH, post(merchant_api))
        .with_state(Arc::new(Simulator {
            config,
            ledger: Mutex::default(),
        }))
}

/// The simulator's configuration and what it remembers.
#[derive(Debug)]
struct Simulator {
    config: SimulatorConfig,
    ledger: Mutex<Ledger>,
}

impl std::ops::Deref for Simulator {
    type Target = SimulatorConfig;

    fn deref(&self) -> &SimulatorConfig {
        &self.config
    }
}

impl Simulator {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // The ledger is only touched by short, non-panicking sections; a poisoned lock still holds whole entries.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The payments decided on the simulated page and the refunds answered, by reference and request id.
#[derive(Debug, Default)]
struct Ledger {
    payments: HashMap<String, LedgerPayment>,
    refunds: HashMap<String, LedgerRefund>,
    /// Numbers the answers' `vnp_ResponseId` and the refunds' `vnp_TransactionNo`.
    sequence: u64,
}

#[derive(Debug)]
struct LedgerPayment {
    amount_vnd: i64,
    succeeded: bool,
    transaction_no: String,
    /// The payment request's `vnp_CreateDate`, which a refund names as `vnp_TransactionDate`.
    create_date: String,
    bank_code: String,
    refunded_vnd: i64,
}

/// A refund request as first received, and the answer it got, given again to a repeat of the request.
#[derive(Debug)]
struct LedgerRefund {
    payment_reference: String,
    amount: String,
    transaction_type: String,
    answer: RefundResponse,
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
    State(config): State<Arc<Simulator>>,
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
    State(config): State<Arc<Simulator>>,
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

    let result = result_parameters(&payment, paid);
    config.ledger().record_payment(&payment, &result, paid);
    let result_query = gateway::sign_parameters(&config.hash_secret, &result);
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

impl Ledger {
    /// Remembers a payment decided on the page. A reference paid once stays paid: a repeated confirmation (the
    /// payer's second click) neither resets its refunds nor turns it into a cancellation.
    fn record_payment(&mut self, payment: &SignedPayment, result: &BTreeMap<String, String>, paid: bool) {
        let reference = payment.parameter("vnp_TxnRef").to_owned();
        if self.payments.get(&reference).is_some_and(|known| known.succeeded) {
            return;
        }
        let result_value = |name: &str| result.get(name).cloned().unwrap_or_default();
        self.payments.insert(
            reference,
            LedgerPayment {
                amount_vnd: payment.amount_vnd,
                succeeded: paid,
                transaction_no: result_value("vnp_TransactionNo"),
                create_date: payment.parameter("vnp_CreateDate").to_owned(),
                bank_code: result_value("vnp_BankCode"),
                refunded_vnd: 0,
            },
        );
    }

    fn next_number(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

/// The merchant API: reads the command and answers with a signed JSON object, HTTP 200 whatever the outcome, as
/// the real API does.
async fn merchant_api(State(simulator): State<Arc<Simulator>>, body: Bytes) -> Response {
    let answer = answer_api_request(&simulator, &body);
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        answer.to_json(&simulator.hash_secret),
    )
        .into_response()
}

/// The answer to one call of the merchant API.
///
/// Checks come in the order a gateway can make them: the body, the signature (97), the version (03) and command
/// (99), the terminal (02), each field's format (03); then, under the ledger's lock, a request id seen before
/// (the same refund gets its first answer again, another one 94), the payment (91, 95) and the amount (04, 93).
fn answer_api_request(simulator: &Simulator, body: &[u8]) -> RefundResponse {
    let early_refusal = |fields: &BTreeMap<String, String>, response_code: &str, message: &str| {
        let mut answer = refusal(fields, response_code, message);
        answer.response_id = response_id(simulator.ledger().next_number());
        answer
    };
    let Some(fields) = std::str::from_utf8(body).ok().and_then(gateway::json_fields) else {
        return early_refusal(&BTreeMap::new(), refund_code::MALFORMED, "Invalid request data");
    };
    if gateway::check_piped_signature(&simulator.hash_secret, &REFUND_REQUEST_SIGNED_FIELDS, &fields).is_err() {
        return early_refusal(&fields, refund_code::INVALID_CHECKSUM, "Invalid checksum");
    }
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    if field("vnp_Version") != PROTOCOL_VERSION {
        return early_refusal(&fields, refund_code::MALFORMED, "Unsupported version");
    }
    if field("vnp_Command") != REFUND_COMMAND {
        return early_refusal(&fields, refund_code::OTHER, "Unsupported command");
    }
    if field("vnp_TmnCode") != simulator.terminal_code {
        return early_refusal(&fields, refund_code::UNKNOWN_TERMINAL, "Invalid terminal code");
    }
    let Some(amount_vnd) = well_formed_refund_amount(&fields) else {
        return early_refusal(&fields, refund_code::MALFORMED, "Invalid request data");
    };

    let request_id = field("vnp_RequestId").to_owned();
    let mut ledger = simulator.ledger();
    if let Some(earlier) = ledger.refunds.get(&request_id) {
        let same_refund = earlier.payment_reference == field("vnp_TxnRef")
            && earlier.amount == field("vnp_Amount")
            && earlier.transaction_type == field("vnp_TransactionType");
        if same_refund {
            return earlier.answer.clone();
        }
        let mut answer = refusal(&fields, refund_code::DUPLICATE_REQUEST, "Duplicate request");
        answer.response_id = response_id(ledger.next_number());
        return answer;
    }
    let mut answer = refund_against_ledger(&mut ledger, &fields, amount_vnd);
    answer.response_id = response_id(ledger.next_number());
    ledger.refunds.insert(
        request_id,
        LedgerRefund {
            payment_reference: field("vnp_TxnRef").to_owned(),
            amount: field("vnp_Amount").to_owned(),
            transaction_type: field("vnp_TransactionType").to_owned(),
            answer: answer.clone(),
        },
    );
    answer
}

fn response_id(number: u64) -> String {
    format!("SIM{number:017}")
}

/// The refund's amount in đồng if every field is in its format, `None` otherwise. A '|' anywhere is refused: it
/// separates the fields of the signed data, so it would let one signature stand for two requests.
fn well_formed_refund_amount(fields: &BTreeMap<String, String>) -> Option<i64> {
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    if REFUND_REQUEST_SIGNED_FIELDS
        .iter()
        .any(|name| field(name).is_empty() || field(name).contains('|'))
    {
        return None;
    }
    let request_id = field("vnp_RequestId");
    let request_id_ok = request_id.len() <= gateway::MAX_REFUND_REQUEST_ID_CHARS
        && request_id.bytes().all(|byte| byte.is_ascii_alphanumeric());
    let dates_ok = gateway::parse_vietnam_timestamp(field("vnp_TransactionDate")).is_some()
        && gateway::parse_vietnam_timestamp(field("vnp_CreateDate")).is_some();
    let kind_ok = RefundKind::from_code(field("vnp_TransactionType")).is_some();
    if !(request_id_ok && dates_ok && kind_ok) {
        return None;
    }
    gateway::parse_amount_in_hundredths(field("vnp_Amount"))
}

/// Looks the payment up and refunds it if the amount allows, in the ledger.
fn refund_against_ledger(ledger: &mut Ledger, fields: &BTreeMap<String, String>, amount_vnd: i64) -> RefundResponse {
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let refund_number = ledger.sequence + 1;
    let Some(payment) = ledger.payments.get_mut(field("vnp_TxnRef")) else {
        return refusal(fields, refund_code::TRANSACTION_NOT_FOUND, "Transaction not found");
    };
    let transaction_no = field("vnp_TransactionNo");
    let same_transaction_no = transaction_no == "0" || transaction_no == payment.transaction_no;
    if payment.create_date != field("vnp_TransactionDate") || !same_transaction_no {
        return refusal(fields, refund_code::TRANSACTION_NOT_FOUND, "Transaction not found");
    }
    if !payment.succeeded {
        return refusal(
            fields,
            refund_code::PAYMENT_NOT_SUCCESSFUL,
            "The transaction was not successful",
        );
    }
    let full = field("vnp_TransactionType") == RefundKind::Full.code();
    let left = payment.amount_vnd - payment.refunded_vnd;
    if full && payment.refunded_vnd > 0 && left > 0 {
        return refusal(
            fields,
            refund_code::FULL_AFTER_PARTIAL,
            "A full refund is not allowed after a partial refund",
        );
    }
    if amount_vnd > left || (full && amount_vnd != payment.amount_vnd) {
        return refusal(fields, refund_code::AMOUNT_INVALID, "Invalid refund amount");
    }
    payment.refunded_vnd += amount_vnd;
    let bank_code = payment.bank_code.clone();
    ledger.sequence = refund_number;
    RefundResponse {
        response_code: refund_code::SUCCESS.to_owned(),
        message: "Refund success".to_owned(),
        bank_code,
        // A refund number of its own, out of the range the payments' numbers are drawn from.
        transaction_no: format!("9{:07}", refund_number % 10_000_000),
        // "05": the gateway is processing the refund, the status its real answers carry.
        transaction_status: "05".to_owned(),
        ..refusal(fields, "", "")
    }
}

/// An answer echoing the request's fields, with a code and a message; the response id is set by the caller.
fn refusal(fields: &BTreeMap<String, String>, response_code: &str, message: &str) -> RefundResponse {
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    RefundResponse {
        response_id: String::new(),
        command: field("vnp_Command"),
        response_code: response_code.to_owned(),
        message: message.to_owned(),
        terminal_code: field("vnp_TmnCode"),
        payment_reference: field("vnp_TxnRef"),
        amount: field("vnp_Amount"),
        bank_code: String::new(),
        pay_date: gateway::vietnam_timestamp(Utc::now()),
        transaction_no: String::new(),
        transaction_type: field("vnp_TransactionType"),
        transaction_status: String::new(),
        order_info: field("vnp_OrderInfo"),
    }
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
    use crate::gateway::{
        Callback, GatewayConfig, Locale, NewPayment, NewRefund, PaymentOutcome, PaymentRequest, RefundRequest,
    };

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
            api_endpoint: format!("{GATEWAY_ORIGIN}{MERCHANT_API_PATH}"),
        }
    }

    /// A payment URL path (origin stripped) created `minutes_ago` and valid for 15 minutes.
    fn payment_path(secret: &str, return_url: &str, minutes_ago: i64) -> String {
        payment_path_at(secret, return_url, Utc::now() - chrono::Duration::minutes(minutes_ago))
    }

    fn payment_path_at(secret: &str, return_url: &str, created_at: chrono::DateTime<Utc>) -> String {
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

    /// Pays (or cancels) the test payment on the simulated page; when it was created and the gateway's number.
    async fn decide_payment(simulator: &Router, ipn_log: &IpnLog, decision: &str) -> (chrono::DateTime<Utc>, String) {
        let created_at = Utc::now();
        let path = payment_path_at(SECRET, &default_return_url(), created_at);
        let (_, _, page) = get_path(simulator, &path).await;
        let (status, _, _) = post_form(simulator, &with_decision(hidden_fields(&page), decision)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let log = ipn_log.lock().expect("not poisoned");
        let transaction_no = log
            .last()
            .and_then(|callback| callback.gateway_transaction_no.clone())
            .expect("a transaction number");
        (created_at, transaction_no)
    }

    fn refund(
        request_id: &str,
        kind: RefundKind,
        amount_vnd: i64,
        paid: &(chrono::DateTime<Utc>, String),
    ) -> NewRefund {
        NewRefund {
            request_id: request_id.to_owned(),
            kind,
            payment_reference: "PAY-000.00.01.H24-261127-0001".to_owned(),
            amount_vnd,
            order_info: "Hoàn phí hồ sơ 000.00.01.H24-261127-0001".to_owned(),
            gateway_transaction_no: Some(paid.1.clone()),
            payment_created_at: paid.0,
            created_by: "Trần Thị Bình".to_owned(),
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            created_at: Utc::now(),
        }
    }

    /// Posts a JSON body to the merchant API; the answer, its signature checked with the merchant's secret.
    async fn post_api(simulator: &Router, body: String) -> RefundResponse {
        let request = Request::post(MERCHANT_API_PATH)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a request");
        let (status, headers, answer) = send(simulator, request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        gateway::verify_refund_response(&HashSecret::new(SECRET), &answer).expect("a signed answer")
    }

    async fn ask_refund(simulator: &Router, refund: NewRefund) -> RefundResponse {
        let request = RefundRequest::try_from(refund).expect("a valid refund");
        post_api(
            simulator,
            request.to_json(&gateway_config(SECRET, &default_return_url())),
        )
        .await
    }

    #[tokio::test]
    async fn a_paid_transaction_is_refunded_once_and_a_repeated_request_gets_the_same_answer() {
        let (simulator, _, ipn_log) = simulator_and_merchant();
        let paid = decide_payment(&simulator, &ipn_log, "pay").await;
        let first = ask_refund(&simulator, refund("R1", RefundKind::Full, AMOUNT_DUE_VND, &paid)).await;
        assert_eq!(first.response_code, refund_code::SUCCESS, "{first:?}");
        assert_eq!(
            (
                first.command.as_str(),
                first.amount.as_str(),
                first.transaction_type.as_str()
            ),
            ("refund", "15000000", "02")
        );
        assert_eq!(first.transaction_no.len(), 8);
        assert_ne!(first.transaction_no, paid.1, "the refund has a number of its own");

        // The answer was lost and the merchant asks again with the same request id: the same answer, no second
        // refund.
        let again = ask_refund(&simulator, refund("R1", RefundKind::Full, AMOUNT_DUE_VND, &paid)).await;
        assert_eq!(again, first);
        // A new request id for the same money is a second refund, and there is nothing left to refund.
        let second = ask_refund(&simulator, refund("R2", RefundKind::Full, AMOUNT_DUE_VND, &paid)).await;
        assert_eq!(second.response_code, refund_code::AMOUNT_INVALID);
        let more = ask_refund(&simulator, refund("R3", RefundKind::Partial, 1, &paid)).await;
        assert_eq!(more.response_code, refund_code::AMOUNT_INVALID);
        // The first request id reused for another refund is a duplicate.
        let reused = ask_refund(&simulator, refund("R1", RefundKind::Partial, 1, &paid)).await;
        assert_eq!(reused.response_code, refund_code::DUPLICATE_REQUEST);
    }

    #[tokio::test]
    async fn partial_refunds_add_up_to_at_most_the_payment() {
        let (simulator, _, ipn_log) = simulator_and_merchant();
        let paid = decide_payment(&simulator, &ipn_log, "pay").await;
        let code = |answer: RefundResponse| answer.response_code;
        assert_eq!(
            code(ask_refund(&simulator, refund("P1", RefundKind::Partial, 50_000, &paid)).await),
            "00"
        );
        assert_eq!(
            code(ask_refund(&simulator, refund("P2", RefundKind::Full, AMOUNT_DUE_VND, &paid)).await),
            refund_code::FULL_AFTER_PARTIAL
        );
        assert_eq!(
            code(ask_refund(&simulator, refund("P3", RefundKind::Partial, 100_001, &paid)).await),
            refund_code::AMOUNT_INVALID
        );
        assert_eq!(
            code(ask_refund(&simulator, refund("P4", RefundKind::Partial, 100_000, &paid)).await),
            "00"
        );
    }

    #[tokio::test]
    async fn refunds_of_unknown_or_unpaid_transactions_and_forged_requests_get_the_gateway_codes() {
        let (simulator, _, ipn_log) = simulator_and_merchant();
        let nothing_paid = (Utc::now(), "12345678".to_owned());
        let unknown = ask_refund(
            &simulator,
            refund("U1", RefundKind::Full, AMOUNT_DUE_VND, &nothing_paid),
        )
        .await;
        assert_eq!(unknown.response_code, refund_code::TRANSACTION_NOT_FOUND);

        let cancelled = decide_payment(&simulator, &ipn_log, "cancel").await;
        assert_eq!(cancelled.1, "0");
        let unpaid = ask_refund(&simulator, refund("U2", RefundKind::Full, AMOUNT_DUE_VND, &cancelled)).await;
        assert_eq!(unpaid.response_code, refund_code::PAYMENT_NOT_SUCCESSFUL);

        let paid = decide_payment(&simulator, &ipn_log, "pay").await;
        let wrong_date = (paid.0 - chrono::Duration::days(1), paid.1.clone());
        let answer = ask_refund(&simulator, refund("U3", RefundKind::Full, AMOUNT_DUE_VND, &wrong_date)).await;
        assert_eq!(answer.response_code, refund_code::TRANSACTION_NOT_FOUND);
        let wrong_number = (paid.0, "87654321".to_owned());
        let answer = ask_refund(
            &simulator,
            refund("U4", RefundKind::Full, AMOUNT_DUE_VND, &wrong_number),
        )
        .await;
        assert_eq!(answer.response_code, refund_code::TRANSACTION_NOT_FOUND);
        let wrong_amount = ask_refund(&simulator, refund("U5", RefundKind::Full, 1_000, &paid)).await;
        assert_eq!(wrong_amount.response_code, refund_code::AMOUNT_INVALID);

        // Forged: signed with another secret, altered after signing, unsigned, another terminal, not JSON.
        let genuine = RefundRequest::try_from(refund("F1", RefundKind::Full, AMOUNT_DUE_VND, &paid)).expect("valid");
        let guessed = genuine.to_json(&gateway_config("a guessed secret", &default_return_url()));
        assert_eq!(
            post_api(&simulator, guessed).await.response_code,
            refund_code::INVALID_CHECKSUM
        );
        let body = genuine.to_json(&gateway_config(SECRET, &default_return_url()));
        let altered = body.replace("\"vnp_Amount\":\"15000000\"", "\"vnp_Amount\":\"14000000\"");
        assert_ne!(altered, body);
        assert_eq!(
            post_api(&simulator, altered).await.response_code,
            refund_code::INVALID_CHECKSUM
        );
        let mut unsigned: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        unsigned
            .as_object_mut()
            .expect("an object")
            .remove(SECURE_HASH_PARAMETER);
        assert_eq!(
            post_api(&simulator, unsigned.to_string()).await.response_code,
            refund_code::INVALID_CHECKSUM
        );
        let other_terminal = GatewayConfig {
            terminal_code: "OTHERTMN".to_owned(),
            ..gateway_config(SECRET, &default_return_url())
        };
        assert_eq!(
            post_api(&simulator, genuine.to_json(&other_terminal))
                .await
                .response_code,
            refund_code::UNKNOWN_TERMINAL
        );
        assert_eq!(
            post_api(&simulator, "not json".to_owned()).await.response_code,
            refund_code::MALFORMED
        );

        // None of that refunded anything: the genuine request still goes through.
        assert_eq!(post_api(&simulator, body).await.response_code, refund_code::SUCCESS);
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
