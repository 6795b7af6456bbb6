//! The merchant side of a redirect payment gateway speaking VNPAY's protocol 2.1.0: building the signed payment
//! URL the payer's browser is sent to, checking the signed parameters the gateway sends back (the browser's return
//! URL and the server-to-server IPN), the JSON replies the IPN expects, and the refund command of the gateway's
//! merchant API (a signed JSON request and a signed JSON answer). It owns the signing rules (for redirects and IPN:
//! parameters sorted by name, form-urlencoded; for the merchant API: fixed fields joined by '|'; both HMAC-SHA512
//! under the merchant's hash secret) and the ×100 amount encoding. It must not decide what a payment pays for or
//! record anything: callers look the order up, pick the [`IpnReply`] and keep the refund's outcome. Its only I/O is
//! [`MerchantApiClient`], the one HTTP call to the gateway's API; everything else is pure.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::Deserialize;
use sha2::Sha512;
use subtle::ConstantTimeEq as _;
use thiserror::Error;

use crate::vietqr::fold_vietnamese_diacritics;

/// The protocol version this adapter speaks.
pub const PROTOCOL_VERSION: &str = "2.1.0";

/// The only currency the gateway takes.
pub const CURRENCY_VND: &str = "VND";

/// The order type VNPAY lists for paying a bill, which is what a dossier fee is.
pub const ORDER_TYPE_BILL_PAYMENT: &str = "billpayment";

/// The response code of a successful payment.
pub const RESPONSE_CODE_SUCCESS: &str = "00";

/// The response code the gateway sends when the payer cancels on its page.
pub const RESPONSE_CODE_CANCELLED_BY_PAYER: &str = "24";

/// The name of the signature parameter.
pub const SECURE_HASH_PARAMETER: &str = "vnp_SecureHash";

/// The name of the parameter that once named the hash algorithm; it is never part of the signed data.
pub const SECURE_HASH_TYPE_PARAMETER: &str = "vnp_SecureHashType";

/// The longest order description accepted.
pub const MAX_ORDER_INFO_CHARS: usize = 255;

/// The longest payment reference accepted.
pub const MAX_PAYMENT_REFERENCE_CHARS: usize = 100;

/// The gateway reads and writes every date as Vietnam's wall-clock time (UTC+7, no daylight saving).
pub const VIETNAM_TIME: FixedOffset = match FixedOffset::east_opt(7 * 3600) {
    Some(offset) => offset,
    // Evaluated at compile time: seven hours is within a day, so this arm is never built into the program.
    None => panic!("UTC+7 is a valid offset"),
};

/// Format of `vnp_CreateDate`, `vnp_ExpireDate` and `vnp_PayDate`: yyyyMMddHHmmss.
const TIMESTAMP_FORMAT: &str = "%Y%m%d%H%M%S";

type HmacSha512 = Hmac<Sha512>;

/// The merchant's hash secret (`vnp_HashSecret`); it never prints.
#[derive(Clone)]
pub struct HashSecret(String);

impl HashSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for HashSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("HashSecret(redacted)")
    }
}

/// What the gateway issued to the merchant, and where the payer comes back to.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `vnp_TmnCode`, the merchant's terminal code.
    pub terminal_code: String,
    pub hash_secret: HashSecret,
    /// The gateway's payment page, e.g. `https://sandbox.vnpayment.vn/paymentv2/vpcpay.html`.
    pub payment_endpoint: String,
    /// Where the gateway sends the payer's browser back, `vnp_ReturnUrl`.
    pub return_url: String,
    /// The gateway's merchant API, where refunds are posted, e.g.
    /// `https://sandbox.vnpayment.vn/merchant_webapi/api/transaction`.
    pub api_endpoint: String,
}

/// The language of the gateway's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Vietnamese,
    English,
}

impl Locale {
    /// The `vnp_Locale` value.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Locale::Vietnamese => "vn",
            Locale::English => "en",
        }
    }
}

/// A payment as the caller describes it, before any check.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// Our reference, `vnp_TxnRef`; the gateway refuses a reference reused on the same day.
    pub payment_reference: String,
    pub amount_vnd: i64,
    /// Shown to the payer; Vietnamese diacritics are folded because the gateway asks for plain letters.
    pub order_info: String,
    pub order_type: String,
    pub locale: Locale,
    /// The payer's address as seen by us, `vnp_IpAddr`.
    pub client_ip: IpAddr,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why a payment could not be turned into a payment URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentRequestError {
    #[error("the amount must be more than 0 đồng, got {0}")]
    AmountNotPositive(i64),
    #[error("the amount {0} đồng is too large to send in hundredths")]
    AmountTooLarge(i64),
    #[error("the payment reference must be 1 to 100 letters, digits, '.', '-' or '_', got {0:?}")]
    PaymentReferenceInvalid(String),
    #[error("the order description is empty")]
    OrderInfoEmpty,
    #[error("the order description has {length} characters; at most {max} are allowed")]
    OrderInfoTooLong { length: usize, max: usize },
    #[error("the order description contains {0:?}; only letters, digits, spaces and . , : ; - _ / # ( ) are sent")]
    OrderInfoCharacter(char),
    #[error("the order type must be 1 to 20 letters, digits or '_', got {0:?}")]
    OrderTypeInvalid(String),
    #[error("the payment must expire after it is created")]
    ExpiryNotAfterCreation,
}

/// A payment whose every field has been checked; building its URL cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    payment_reference: String,
    amount_vnd: i64,
    order_info: String,
    order_type: String,
    locale: Locale,
    client_ip: IpAddr,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl TryFrom<NewPayment> for PaymentRequest {
    type Error = PaymentRequestError;

    fn try_from(payment: NewPayment) -> Result<Self, Self::Error> {
        check_amount(payment.amount_vnd)?;
        check_payment_reference(&payment.payment_reference)?;
        let order_info = checked_order_info(&payment.order_info)?;
        let order_type = &payment.order_type;
        if order_type.is_empty()
            || order_type.len() > 20
            || !order_type
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            return Err(PaymentRequestError::OrderTypeInvalid(payment.order_type));
        }
        if payment.expires_at <= payment.created_at {
            return Err(PaymentRequestError::ExpiryNotAfterCreation);
        }
        Ok(Self {
            payment_reference: payment.payment_reference,
            amount_vnd: payment.amount_vnd,
            order_info,
            order_type: payment.order_type,
            locale: payment.locale,
            client_ip: payment.client_ip,
            created_at: payment.created_at,
            expires_at: payment.expires_at,
        })
    }
}

/// The amount must be positive and still fit once multiplied by 100.
fn check_amount(amount_vnd: i64) -> Result<(), PaymentRequestError> {
    if amount_vnd <= 0 {
        return Err(PaymentRequestError::AmountNotPositive(amount_vnd));
    }
    if amount_vnd.checked_mul(100).is_none() {
        return Err(PaymentRequestError::AmountTooLarge(amount_vnd));
    }
    Ok(())
}

fn check_payment_reference(reference: &str) -> Result<(), PaymentRequestError> {
    if reference.is_empty()
        || reference.len() > MAX_PAYMENT_REFERENCE_CHARS
        || !reference
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-_".contains(&byte))
    {
        return Err(PaymentRequestError::PaymentReferenceInvalid(reference.to_owned()));
    }
    Ok(())
}

/// An order description as sent: trimmed, diacritics folded, and only characters that both ends encode alike.
fn checked_order_info(text: &str) -> Result<String, PaymentRequestError> {
    let order_info = fold_vietnamese_diacritics(text.trim());
    if order_info.is_empty() {
        return Err(PaymentRequestError::OrderInfoEmpty);
    }
    // PHP's urlencode and the WHATWG form encoder disagree on a few marks such as '*' and '~'; keeping to
    // characters both leave alone or both escape keeps our signature equal to the gateway's.
    if let Some(refused) = order_info
        .chars()
        .find(|character| !(character.is_ascii_alphanumeric() || " .,:;-_/#()".contains(*character)))
    {
        return Err(PaymentRequestError::OrderInfoCharacter(refused));
    }
    if order_info.len() > MAX_ORDER_INFO_CHARS {
        return Err(PaymentRequestError::OrderInfoTooLong {
            length: order_info.len(),
            max: MAX_ORDER_INFO_CHARS,
        });
    }
    Ok(order_info)
}

impl PaymentRequest {
    #[must_use]
    pub fn payment_reference(&self) -> &str {
        &self.payment_reference
    }

    #[must_use]
    pub fn amount_vnd(&self) -> i64 {
        self.amount_vnd
    }

    /// The description as sent, diacritics folded.
    #[must_use]
    pub fn order_info(&self) -> &str {
        &self.order_info
    }

    /// The parameters of the payment URL, signature excluded, sorted by name as the signature needs them.
    #[must_use]
    pub fn parameters(&self, config: &GatewayConfig) -> BTreeMap<String, String> {
        // The gateway counts in hundredths of the currency unit even though the đồng has none; the multiplication
        // was checked when the request was built.
        let amount_in_hundredths = self.amount_vnd.saturating_mul(100);
        [
            ("vnp_Version", PROTOCOL_VERSION.to_owned()),
            ("vnp_Command", "pay".to_owned()),
            ("vnp_TmnCode", config.terminal_code.clone()),
            ("vnp_Amount", amount_in_hundredths.to_string()),
            ("vnp_CurrCode", CURRENCY_VND.to_owned()),
            ("vnp_TxnRef", self.payment_reference.clone()),
            ("vnp_OrderInfo", self.order_info.clone()),
            ("vnp_OrderType", self.order_type.clone()),
            ("vnp_Locale", self.locale.code().to_owned()),
            ("vnp_ReturnUrl", config.return_url.clone()),
            ("vnp_IpAddr", self.client_ip.to_string()),
            ("vnp_CreateDate", vietnam_timestamp(self.created_at)),
            ("vnp_ExpireDate", vietnam_timestamp(self.expires_at)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

/// The URL to send the payer's browser to: the gateway's payment page with the signed parameters.
#[must_use]
pub fn payment_url(config: &GatewayConfig, request: &PaymentRequest) -> String {
    let separator = if config.payment_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let query = sign_parameters(&config.hash_secret, &request.parameters(config));
    format!("{}{separator}{query}", config.payment_endpoint)
}

/// The signed query string of some parameters: the signed data itself followed by `vnp_SecureHash`.
///
/// The signed data is every parameter in name order, each name and value form-urlencoded (spaces as '+'), joined
/// with '&'; the signature is the lower-case hex HMAC-SHA512 of it under the hash secret. Empty values are sent
/// like any other, so callers leave out parameters they have no value for.
#[must_use]
pub fn sign_parameters(secret: &HashSecret, parameters: &BTreeMap<String, String>) -> String {
    let signed_data = signed_data(parameters);
    let signature = to_lower_hex(&hmac_sha512(secret, &signed_data));
    let mut query = signed_data;
    if !query.is_empty() {
        query.push('&');
    }
    let _ = write!(query, "{SECURE_HASH_PARAMETER}={signature}");
    query
}

/// Why a set of parameters does not carry a valid signature.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("there is no vnp_SecureHash parameter")]
    Missing,
    #[error("vnp_SecureHash is not 128 hexadecimal digits")]
    Malformed,
    #[error("vnp_SecureHash does not match the parameters")]
    Mismatch,
    #[error("the parameter {0} appears more than once")]
    DuplicateParameter(String),
}

/// Checks the signature of received parameters and returns the signed ones by name.
///
/// Only `vnp_` parameters are signed; anything else is dropped, as are `vnp_SecureHash` and
/// `vnp_SecureHashType`. A repeated parameter is refused outright, since frameworks disagree on which copy wins
/// and an attacker could make us read a different one from the one that was signed.
///
/// # Errors
/// A [`SignatureError`] for a missing, malformed or wrong signature, or a repeated parameter.
pub fn check_signature(
    secret: &HashSecret,
    query_pairs: &[(String, String)],
) -> Result<BTreeMap<String, String>, SignatureError> {
    let mut signed_parameters = BTreeMap::new();
    let mut stated_signature: Option<&str> = None;
    let mut seen_hash_type = false;
    for (name, value) in query_pairs {
        if !name.starts_with("vnp_") {
            continue;
        }
        let duplicate = match name.as_str() {
            SECURE_HASH_PARAMETER => stated_signature.replace(value).is_some(),
            SECURE_HASH_TYPE_PARAMETER => std::mem::replace(&mut seen_hash_type, true),
            _ => signed_parameters.insert(name.clone(), value.clone()).is_some(),
        };
        if duplicate {
            return Err(SignatureError::DuplicateParameter(name.clone()));
        }
    }
    let stated_signature = stated_signature.ok_or(SignatureError::Missing)?;
    let stated_bytes = from_hex(stated_signature)
        .filter(|bytes| bytes.len() == 64)
        .ok_or(SignatureError::Malformed)?;
    let computed_bytes = hmac_sha512(secret, &signed_data(&signed_parameters));
    if bool::from(computed_bytes.as_slice().ct_eq(stated_bytes.as_slice())) {
        Ok(signed_parameters)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A result the gateway reported, signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `vnp_TmnCode`: callers serving several terminals check it is theirs.
    pub terminal_code: String,
    /// `vnp_TxnRef`, our reference.
    pub payment_reference: String,
    /// `vnp_Amount` divided by 100.
    pub amount_vnd: i64,
    /// `vnp_ResponseCode`: "00" for success, "24" when the payer cancelled, other codes for failures.
    pub response_code: String,
    /// `vnp_TransactionStatus`: "00" once the money has moved.
    pub transaction_status: Option<String>,
    /// `vnp_TransactionNo`, the gateway's own number for the transaction.
    pub gateway_transaction_no: Option<String>,
    pub bank_code: Option<String>,
    /// `vnp_PayDate`, read as Vietnam time.
    pub paid_at: Option<DateTime<Utc>>,
    pub order_info: Option<String>,
}

/// What a callback means for the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Succeeded,
    CancelledByPayer,
    Failed { response_code: String },
}

impl Callback {
    /// Success needs both codes: the response code says the payer's bank approved, the transaction status says
    /// the gateway settled it. A callback without a status is judged on its response code alone.
    #[must_use]
    pub fn outcome(&self) -> PaymentOutcome {
        let settled = self
            .transaction_status
            .as_deref()
            .is_none_or(|status| status == RESPONSE_CODE_SUCCESS);
        if self.response_code == RESPONSE_CODE_SUCCESS && settled {
            PaymentOutcome::Succeeded
        } else if self.response_code == RESPONSE_CODE_CANCELLED_BY_PAYER {
            PaymentOutcome::CancelledByPayer
        } else {
            PaymentOutcome::Failed {
                response_code: self.response_code.clone(),
            }
        }
    }
}

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the signed parameters lack {0}")]
    MissingParameter(&'static str),
    #[error("vnp_Amount {0:?} is not a whole number of đồng in hundredths")]
    AmountInvalid(String),
    #[error("vnp_PayDate {0:?} is not a yyyyMMddHHmmss date")]
    PayDateInvalid(String),
}

/// Checks a return-URL or IPN call and reads its result. The amount is only decoded here; comparing it with the
/// order (and answering [`IpnReply::InvalidAmount`]) is the caller's job.
///
/// # Errors
/// A [`CallbackError`] for a bad signature or a signed parameter that is missing or malformed.
pub fn verify_callback(secret: &HashSecret, query_pairs: &[(String, String)]) -> Result<Callback, CallbackError> {
    let mut parameters = check_signature(secret, query_pairs)?;
    let mut required = |name: &'static str| parameters.remove(name).ok_or(CallbackError::MissingParameter(name));
    let terminal_code = required("vnp_TmnCode")?;
    let payment_reference = required("vnp_TxnRef")?;
    let amount_text = required("vnp_Amount")?;
    let response_code = required("vnp_ResponseCode")?;
    let amount_vnd = parse_amount_in_hundredths(&amount_text).ok_or(CallbackError::AmountInvalid(amount_text))?;
    let paid_at = match parameters.remove("vnp_PayDate") {
        None => None,
        Some(text) => Some(parse_vietnam_timestamp(&text).ok_or(CallbackError::PayDateInvalid(text))?),
    };
    Ok(Callback {
        terminal_code,
        payment_reference,
        amount_vnd,
        response_code,
        transaction_status: parameters.remove("vnp_TransactionStatus"),
        gateway_transaction_no: parameters.remove("vnp_TransactionNo"),
        bank_code: parameters.remove("vnp_BankCode"),
        paid_at,
        order_info: parameters.remove("vnp_OrderInfo"),
    })
}

/// The merchant's answer to an IPN call, as the protocol defines it. The gateway acts on `RspCode`; the messages
/// follow VNPAY's samples, except their spelling slips ("Unknow error"), which nothing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpnReply {
    ConfirmSuccess,
    OrderNotFound,
    OrderAlreadyConfirmed,
    InvalidAmount,
    InvalidSignature,
    UnknownError,
}

impl IpnReply {
    const ALL: [IpnReply; 6] = [
        IpnReply::ConfirmSuccess,
        IpnReply::OrderNotFound,
        IpnReply::OrderAlreadyConfirmed,
        IpnReply::InvalidAmount,
        IpnReply::InvalidSignature,
        IpnReply::UnknownError,
    ];

    /// The `RspCode` value.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            IpnReply::ConfirmSuccess => "00",
            IpnReply::OrderNotFound => "01",
            IpnReply::OrderAlreadyConfirmed => "02",
            IpnReply::InvalidAmount => "04",
            IpnReply::InvalidSignature => "97",
            IpnReply::UnknownError => "99",
        }
    }

    /// The `Message` value.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            IpnReply::ConfirmSuccess => "Confirm Success",
            IpnReply::OrderNotFound => "Order not found",
            IpnReply::OrderAlreadyConfirmed => "Order already confirmed",
            IpnReply::InvalidAmount => "Invalid amount",
            IpnReply::InvalidSignature => "Invalid signature",
            IpnReply::UnknownError => "Unknown error",
        }
    }

    /// The reply body, `{"RspCode":"00","Message":"Confirm Success"}`.
    #[must_use]
    pub fn to_json(self) -> String {
        // Both values are fixed ASCII without quotes or backslashes, so no JSON escaping is needed, and writing the
        // object by hand keeps the field order of the protocol's examples.
        format!(r#"{{"RspCode":"{}","Message":"{}"}}"#, self.code(), self.message())
    }

    /// Reads a reply body back, by its `RspCode`; `None` for anything else.
    #[must_use]
    pub fn from_json(body: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct IpnReplyBody {
            #[serde(rename = "RspCode")]
            response_code: String,
        }
        let body: IpnReplyBody = serde_json::from_str(body).ok()?;
        Self::ALL.into_iter().find(|reply| reply.code() == body.response_code)
    }

    /// The reply to a callback that could not be verified.
    #[must_use]
    pub fn for_callback_error(error: &CallbackError) -> Self {
        match error {
            CallbackError::Signature(_) => IpnReply::InvalidSignature,
            CallbackError::MissingParameter(_) | CallbackError::AmountInvalid(_) | CallbackError::PayDateInvalid(_) => {
                IpnReply::UnknownError
            }
        }
    }
}

/// An instant as the gateway writes it: Vietnam wall-clock time, yyyyMMddHHmmss.
#[must_use]
pub fn vietnam_timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&VIETNAM_TIME).format(TIMESTAMP_FORMAT).to_string()
}

/// Reads a yyyyMMddHHmmss Vietnam wall-clock time; `None` if it is not one.
#[must_use]
pub fn parse_vietnam_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 14 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let wall_clock = NaiveDateTime::parse_from_str(text, TIMESTAMP_FORMAT).ok()?;
    wall_clock
        .and_local_timezone(VIETNAM_TIME)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// `vnp_Amount` back to đồng: digits only, and a multiple of 100 since the đồng has no hundredths.
#[must_use]
pub fn parse_amount_in_hundredths(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let hundredths: i64 = text.parse().ok()?;
    (hundredths > 0 && hundredths % 100 == 0).then_some(hundredths / 100)
}

// ---------------------------------------------------------------- refunds through the merchant API

/// The merchant API's command for a refund.
pub const REFUND_COMMAND: &str = "refund";

/// The fields of a refund request its signature covers, in the order the signed data joins them with '|'.
pub const REFUND_REQUEST_SIGNED_FIELDS: [&str; 13] = [
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TransactionType",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_TransactionNo",
    "vnp_TransactionDate",
    "vnp_CreateBy",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
];

/// The fields of the merchant API's answer to a refund its signature covers, in order.
pub const REFUND_RESPONSE_SIGNED_FIELDS: [&str; 13] = [
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
];

/// `vnp_ResponseCode` values of the refund command. VNPAY has published two tables over the years; the codes both
/// give the same meaning are used as they are, and where they differ the current one wins (02 is the terminal
/// code there, where an older table used it for "the refunds add up to more than the payment": 93 covers that).
pub mod refund_code {
    /// The gateway took the refund.
    pub const SUCCESS: &str = "00";
    /// `vnp_TmnCode` names no terminal of the gateway.
    pub const UNKNOWN_TERMINAL: &str = "02";
    /// A field is missing or not in its format (including a version other than 2.1.0).
    pub const MALFORMED: &str = "03";
    /// A full refund was asked after a partial one.
    pub const FULL_AFTER_PARTIAL: &str = "04";
    /// No payment with this `vnp_TxnRef`, `vnp_TransactionDate` (and `vnp_TransactionNo`, when given).
    pub const TRANSACTION_NOT_FOUND: &str = "91";
    /// The amount is more than what is left to refund of the payment (or, for a full refund, not the payment's).
    pub const AMOUNT_INVALID: &str = "93";
    /// The gateway already has this `vnp_RequestId` for another refund, or a refund of this payment in progress:
    /// the outcome of the earlier request stands, and sending a new one would risk refunding twice.
    pub const DUPLICATE_REQUEST: &str = "94";
    /// The payment did not succeed at the gateway, so there is nothing to refund.
    pub const PAYMENT_NOT_SUCCESSFUL: &str = "95";
    /// The request's `vnp_SecureHash` is missing or wrong.
    pub const INVALID_CHECKSUM: &str = "97";
    /// Anything else, such as a command the API does not offer.
    pub const OTHER: &str = "99";
}

/// How long the merchant waits for the gateway's API before giving up on an answer.
pub const MERCHANT_API_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest answer read from the gateway's API; its answers are a few hundred bytes.
const MAX_MERCHANT_API_ANSWER_BYTES: usize = 64 * 1024;

/// The longest `vnp_RequestId`.
pub const MAX_REFUND_REQUEST_ID_CHARS: usize = 32;

/// What a refund gives back: `vnp_TransactionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundKind {
    /// "02": the whole payment.
    Full,
    /// "03": part of it.
    Partial,
}

impl RefundKind {
    /// The `vnp_TransactionType` value.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            RefundKind::Full => "02",
            RefundKind::Partial => "03",
        }
    }

    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        [RefundKind::Full, RefundKind::Partial]
            .into_iter()
            .find(|kind| kind.code() == code)
    }
}

/// A refund as the caller describes it, before any check.
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// `vnp_RequestId`: 1 to 32 letters or digits, one per refund the merchant means. Sending the same request
    /// again (after an answer was lost) must reuse it, so the gateway can tell a retry from a second refund.
    pub request_id: String,
    pub kind: RefundKind,
    /// The payment's `vnp_TxnRef`.
    pub payment_reference: String,
    pub amount_vnd: i64,
    /// Why; diacritics are folded as for payments.
    pub order_info: String,
    /// The payment's `vnp_TransactionNo` from its IPN or return, if it was kept; "0" is sent otherwise.
    pub gateway_transaction_no: Option<String>,
    /// When the payment was created: the `vnp_CreateDate` it was sent with, which the gateway files it under.
    pub payment_created_at: DateTime<Utc>,
    /// Who asks for the refund at the merchant; diacritics are folded.
    pub created_by: String,
    /// `vnp_IpAddr`.
    pub client_ip: IpAddr,
    pub created_at: DateTime<Utc>,
}

/// Why a refund could not be described to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RefundRequestError {
    #[error("the refund request id must be 1 to 32 letters or digits, got {0:?}")]
    RequestIdInvalid(String),
    #[error("the gateway transaction number must be 1 to 50 letters or digits, got {0:?}")]
    TransactionNoInvalid(String),
    #[error("the refund's author must be 1 to 255 letters, digits, spaces or . - _ @ once folded, got {0:?}")]
    CreatedByInvalid(String),
    /// The amount, the payment reference or the description, checked as for a payment.
    #[error(transparent)]
    Field(#[from] PaymentRequestError),
}

/// A refund whose every field has been checked: no field holds the '|' that separates them in the signed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    request_id: String,
    kind: RefundKind,
    payment_reference: String,
    amount_vnd: i64,
    order_info: String,
    gateway_transaction_no: String,
    payment_created_at: DateTime<Utc>,
    created_by: String,
    client_ip: IpAddr,
    created_at: DateTime<Utc>,
}

impl TryFrom<NewRefund> for RefundRequest {
    type Error = RefundRequestError;

    fn try_from(refund: NewRefund) -> Result<Self, Self::Error> {
        let request_id = &refund.request_id;
        if request_id.is_empty()
            || request_id.len() > MAX_REFUND_REQUEST_ID_CHARS
            || !request_id.bytes().all(|byte| byte.is_ascii_alphanumeric())
        {
            return Err(RefundRequestError::RequestIdInvalid(refund.request_id));
        }
        check_amount(refund.amount_vnd)?;
        check_payment_reference(&refund.payment_reference)?;
        let order_info = checked_order_info(&refund.order_info)?;
        let gateway_transaction_no = match refund.gateway_transaction_no {
            None => "0".to_owned(),
            Some(number) if number.is_empty() => "0".to_owned(),
            Some(number) => {
                if number.len() > 50 || !number.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
                    return Err(RefundRequestError::TransactionNoInvalid(number));
                }
                number
            }
        };
        let created_by = fold_vietnamese_diacritics(refund.created_by.trim());
        if created_by.is_empty()
            || created_by.len() > 255
            || !created_by
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b" .-_@".contains(&byte))
        {
            return Err(RefundRequestError::CreatedByInvalid(refund.created_by));
        }
        Ok(Self {
            request_id: refund.request_id,
            kind: refund.kind,
            payment_reference: refund.payment_reference,
            amount_vnd: refund.amount_vnd,
            order_info,
            gateway_transaction_no,
            payment_created_at: refund.payment_created_at,
            created_by,
            client_ip: refund.client_ip,
            created_at: refund.created_at,
        })
    }
}

impl RefundRequest {
    #[must_use]
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    #[must_use]
    pub fn amount_vnd(&self) -> i64 {
        self.amount_vnd
    }

    /// The signed fields by name, in the order of [`REFUND_REQUEST_SIGNED_FIELDS`].
    #[must_use]
    pub fn fields(&self, config: &GatewayConfig) -> BTreeMap<String, String> {
        // Checked when the request was built.
        let amount_in_hundredths = self.amount_vnd.saturating_mul(100);
        [
            ("vnp_RequestId", self.request_id.clone()),
            ("vnp_Version", PROTOCOL_VERSION.to_owned()),
            ("vnp_Command", REFUND_COMMAND.to_owned()),
            ("vnp_TmnCode", config.terminal_code.clone()),
            ("vnp_TransactionType", self.kind.code().to_owned()),
            ("vnp_TxnRef", self.payment_reference.clone()),
            ("vnp_Amount", amount_in_hundredths.to_string()),
            ("vnp_TransactionNo", self.gateway_transaction_no.clone()),
            ("vnp_TransactionDate", vietnam_timestamp(self.payment_created_at)),
            ("vnp_CreateBy", self.created_by.clone()),
            ("vnp_CreateDate", vietnam_timestamp(self.created_at)),
            ("vnp_IpAddr", self.client_ip.to_string()),
            ("vnp_OrderInfo", self.order_info.clone()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// The data the request's signature covers: the fields' values joined by '|'.
    #[must_use]
    pub fn signed_data(&self, config: &GatewayConfig) -> String {
        piped_data(&REFUND_REQUEST_SIGNED_FIELDS, &self.fields(config))
    }

    /// The JSON body posted to the merchant API: every field as a string, and `vnp_SecureHash`.
    #[must_use]
    pub fn to_json(&self, config: &GatewayConfig) -> String {
        let mut fields = self.fields(config);
        let signature = to_lower_hex(&hmac_sha512(&config.hash_secret, &self.signed_data(config)));
        fields.insert(SECURE_HASH_PARAMETER.to_owned(), signature);
        // A map of strings always serialises.
        serde_json::to_string(&fields).unwrap_or_default()
    }

    /// What a verified answer means for this request. A success must be about this very refund (terminal,
    /// reference, amount, kind and command), or it is not trusted; a refusal is taken as it comes, since trusting
    /// it wrongly only leaves a fee still to be refunded.
    ///
    /// # Errors
    /// [`RefundResponseError::Mismatch`] for a success that answers something else.
    pub fn outcome(
        &self,
        config: &GatewayConfig,
        response: &RefundResponse,
    ) -> Result<RefundOutcome, RefundResponseError> {
        match response.response_code.as_str() {
            refund_code::SUCCESS => {
                let fields = self.fields(config);
                for (name, value) in [
                    ("vnp_Command", &response.command),
                    ("vnp_TmnCode", &response.terminal_code),
                    ("vnp_TxnRef", &response.payment_reference),
                    ("vnp_Amount", &response.amount),
                    ("vnp_TransactionType", &response.transaction_type),
                ] {
                    if fields.get(name) != Some(value) {
                        return Err(RefundResponseError::Mismatch(name));
                    }
                }
                Ok(RefundOutcome::Refunded {
                    transaction_no: response.transaction_no.clone(),
                })
            }
            refund_code::DUPLICATE_REQUEST => Ok(RefundOutcome::AlreadyRequested),
            _ => Ok(RefundOutcome::Refused {
                response_code: response.response_code.clone(),
                message: response.message.clone(),
            }),
        }
    }
}

/// The merchant API's answer to a refund, as signed. Fields the gateway left out are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundResponse {
    pub response_id: String,
    pub command: String,
    /// See [`refund_code`].
    pub response_code: String,
    pub message: String,
    pub terminal_code: String,
    pub payment_reference: String,
    /// `vnp_Amount` as sent, in hundredths.
    pub amount: String,
    pub bank_code: String,
    pub pay_date: String,
    /// The gateway's number for the refund.
    pub transaction_no: String,
    pub transaction_type: String,
    pub transaction_status: String,
    pub order_info: String,
}

impl RefundResponse {
    /// The signed fields by name.
    #[must_use]
    pub fn fields(&self) -> BTreeMap<String, String> {
        let values = [
            &self.response_id,
            &self.command,
            &self.response_code,
            &self.message,
            &self.terminal_code,
            &self.payment_reference,
            &self.amount,
            &self.bank_code,
            &self.pay_date,
            &self.transaction_no,
            &self.transaction_type,
            &self.transaction_status,
            &self.order_info,
        ];
        REFUND_RESPONSE_SIGNED_FIELDS
            .iter()
            .zip(values)
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    fn from_fields(fields: &mut BTreeMap<String, String>) -> Self {
        let mut take = |name: &str| fields.remove(name).unwrap_or_default();
        RefundResponse {
            response_id: take("vnp_ResponseId"),
            command: take("vnp_Command"),
            response_code: take("vnp_ResponseCode"),
            message: take("vnp_Message"),
            terminal_code: take("vnp_TmnCode"),
            payment_reference: take("vnp_TxnRef"),
            amount: take("vnp_Amount"),
            bank_code: take("vnp_BankCode"),
            pay_date: take("vnp_PayDate"),
            transaction_no: take("vnp_TransactionNo"),
            transaction_type: take("vnp_TransactionType"),
            transaction_status: take("vnp_TransactionStatus"),
            order_info: take("vnp_OrderInfo"),
        }
    }

    /// The data the answer's signature covers: the fields' values joined by '|'.
    #[must_use]
    pub fn signed_data(&self) -> String {
        piped_data(&REFUND_RESPONSE_SIGNED_FIELDS, &self.fields())
    }

    /// The answer as the gateway sends it, signed with `secret` (the simulator's side).
    #[must_use]
    pub fn to_json(&self, secret: &HashSecret) -> String {
        let mut fields = self.fields();
        let signature = to_lower_hex(&hmac_sha512(secret, &self.signed_data()));
        fields.insert(SECURE_HASH_PARAMETER.to_owned(), signature);
        serde_json::to_string(&fields).unwrap_or_default()
    }
}

/// Why an answer of the merchant API is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RefundResponseError {
    #[error("the answer is not a JSON object of plain values")]
    NotJson,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the answer's {0} is not the request's")]
    Mismatch(&'static str),
}

/// Checks the signature of an answer of the merchant API and reads it.
///
/// # Errors
/// [`RefundResponseError::NotJson`] for a body that is not a flat JSON object, or a [`SignatureError`] for a
/// missing, malformed or wrong `vnp_SecureHash`.
pub fn verify_refund_response(secret: &HashSecret, body: &str) -> Result<RefundResponse, RefundResponseError> {
    let mut fields = json_fields(body).ok_or(RefundResponseError::NotJson)?;
    check_piped_signature(secret, &REFUND_RESPONSE_SIGNED_FIELDS, &fields)?;
    Ok(RefundResponse::from_fields(&mut fields))
}

/// What the gateway did with a refund request whose answer checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// "00": refunded; the gateway's number for the refund.
    Refunded { transaction_no: String },
    /// "94": the gateway already has this request, or another refund of the payment in progress. Nothing tells
    /// whether the money moved, so the request must not be replaced by a new one.
    AlreadyRequested,
    /// Any other code: refused, nothing was refunded.
    Refused { response_code: String, message: String },
}

/// The values of `fields`, in order, joined by '|'; a field not in `values` counts as empty.
#[must_use]
pub fn piped_data(fields: &[&str], values: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|name| values.get(*name).map_or("", String::as_str))
        .collect::<Vec<_>>()
        .join("|")
}

/// Checks the `vnp_SecureHash` among `values` against the '|'-joined data of `fields`, in constant time.
///
/// # Errors
/// A [`SignatureError`] for a missing, malformed or wrong signature.
pub fn check_piped_signature(
    secret: &HashSecret,
    fields: &[&str],
    values: &BTreeMap<String, String>,
) -> Result<(), SignatureError> {
    let stated = values.get(SECURE_HASH_PARAMETER).ok_or(SignatureError::Missing)?;
    let stated_bytes = from_hex(stated)
        .filter(|bytes| bytes.len() == 64)
        .ok_or(SignatureError::Malformed)?;
    let computed_bytes = hmac_sha512(secret, &piped_data(fields, values));
    if bool::from(computed_bytes.as_slice().ct_eq(stated_bytes.as_slice())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A flat JSON object read as strings: numbers and booleans as written, `null` as absent; `None` for anything
/// else (the merchant API sends neither arrays nor nested objects).
#[must_use]
pub fn json_fields(body: &str) -> Option<BTreeMap<String, String>> {
    let serde_json::Value::Object(object) = serde_json::from_str(body).ok()? else {
        return None;
    };
    let mut fields = BTreeMap::new();
    for (name, value) in object {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => return None,
        };
        fields.insert(name, text);
    }
    Some(fields)
}

/// Why a call to the merchant API gave no trusted outcome. Each leaves it open whether the gateway refunded:
/// the caller retries with the same request id.
#[derive(Debug, Error)]
pub enum MerchantApiError {
    #[error("the gateway's API was not reached or did not answer in time: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("the gateway's API answered HTTP {0}")]
    Status(u16),
    #[error("the gateway's API answered more than {MAX_MERCHANT_API_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the gateway's answer is not trusted: {0}")]
    Answer(#[from] RefundResponseError),
}

/// The merchant's HTTP client for the gateway's API: one JSON POST per call, a deadline, and no redirects
/// followed (the API answers in place; following one would post the signed request elsewhere).
#[derive(Debug, Clone)]
pub struct MerchantApiClient {
    http: reqwest::Client,
}

impl MerchantApiClient {
    /// # Errors
    /// When the TLS backend or the system's resolver configuration cannot be loaded.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(MERCHANT_API_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http })
    }

    /// Posts a refund to the gateway's API and reads its signed answer.
    ///
    /// # Errors
    /// A [`MerchantApiError`] when no trusted answer came back: the refund may or may not have been made.
    pub async fn refund(
        &self,
        config: &GatewayConfig,
        request: &RefundRequest,
    ) -> Result<RefundOutcome, MerchantApiError> {
        let mut response = self
            .http
            .post(&config.api_endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.to_json(config))
            .send()
            .await
            .map_err(MerchantApiError::Unreachable)?;
        if !response.status().is_success() {
            return Err(MerchantApiError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(MerchantApiError::Unreachable)? {
            if body.len() + chunk.len() > MAX_MERCHANT_API_ANSWER_BYTES {
                return Err(MerchantApiError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(body).map_err(|_| RefundResponseError::NotJson)?;
        let answer = verify_refund_response(&config.hash_secret, &body)?;
        Ok(request.outcome(config, &answer)?)
    }
}

fn signed_data(parameters: &BTreeMap<String, String>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(parameters.iter())
        .finish()
}

fn hmac_sha512(secret: &HashSecret, signed_data: &str) -> Vec<u8> {
    // HMAC hashes long keys and pads short ones, so `new_from_slice` accepts every length; hmac 0.13 returns
    // `Ok` unconditionally and keeps the `Result` only for the shared `KeyInit` trait.
    let mut mac =
        HmacSha512::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(signed_data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn to_lower_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Hex digits in either case, since the gateway's samples differ; `None` for anything else.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let [high, low] = pair else { return None };
            let value = char::from(*high).to_digit(16)? * 16 + char::from(*low).to_digit(16)?;
            u8::try_from(value).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use chrono::TimeZone as _;

    use super::*;

    const TEST_SECRET: &str = "SECRETKEYFORTESTSONLY0123456789AB";

    fn config() -> GatewayConfig {
        GatewayConfig {
            terminal_code: "EGOVTEST".to_owned(),
            hash_secret: HashSecret::new(TEST_SECRET),
            payment_endpoint: "https://sandbox.example/paymentv2/vpcpay.html".to_owned(),
            return_url: "https://dichvucong.example/thanh-toan/ket-qua".to_owned(),
            api_endpoint: "https://sandbox.example/merchant_webapi/api/transaction".to_owned(),
        }
    }

    fn new_payment() -> NewPayment {
        let created_at = Utc
            .with_ymd_and_hms(2026, 11, 27, 3, 4, 5)
            .single()
            .expect("a valid date");
        NewPayment {
            payment_reference: "PAY-000.00.01.H24-261127-0001".to_owned(),
            amount_vnd: 150_000,
            order_info: "Nộp phí hồ sơ 000.00.01.H24-261127-0001".to_owned(),
            order_type: ORDER_TYPE_BILL_PAYMENT.to_owned(),
            locale: Locale::Vietnamese,
            client_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            created_at,
            expires_at: created_at + chrono::Duration::minutes(15),
        }
    }

    fn query_pairs(url_or_query: &str) -> Vec<(String, String)> {
        let query = url_or_query.split_once('?').map_or(url_or_query, |(_, query)| query);
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    /// A callback as the gateway would send it for `new_payment`, signed with `secret`.
    fn signed_callback(secret: &str, amount_in_hundredths: &str, response_code: &str) -> Vec<(String, String)> {
        let parameters: BTreeMap<String, String> = [
            ("vnp_Amount", amount_in_hundredths),
            ("vnp_BankCode", "NCB"),
            ("vnp_OrderInfo", "Nop phi ho so 000.00.01.H24-261127-0001"),
            ("vnp_PayDate", "20261127101500"),
            ("vnp_ResponseCode", response_code),
            ("vnp_TmnCode", "EGOVTEST"),
            ("vnp_TransactionNo", "14271027"),
            ("vnp_TransactionStatus", if response_code == "00" { "00" } else { "02" }),
            ("vnp_TxnRef", "PAY-000.00.01.H24-261127-0001"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        query_pairs(&sign_parameters(&HashSecret::new(secret), &parameters))
    }

    /// An HMAC-SHA512 written from RFC 2104 on top of the plain SHA-512, so the signature is not only checked by
    /// the code that makes it.
    fn reference_hmac_sha512_hex(key: &[u8], message: &[u8]) -> String {
        use sha2::Digest as _;
        let mut block_key = [0_u8; 128];
        if key.len() > 128 {
            block_key[..64].copy_from_slice(&Sha512::digest(key));
        } else {
            block_key[..key.len()].copy_from_slice(key);
        }
        let inner_pad: Vec<u8> = block_key.iter().map(|byte| byte ^ 0x36).collect();
        let outer_pad: Vec<u8> = block_key.iter().map(|byte| byte ^ 0x5c).collect();
        let inner = Sha512::digest([inner_pad.as_slice(), message].concat());
        let outer = Sha512::digest([outer_pad.as_slice(), inner.as_slice()].concat());
        to_lower_hex(&outer)
    }

    #[test]
    fn the_payment_url_carries_sorted_encoded_parameters_and_their_signature() {
        let request = PaymentRequest::try_from(new_payment()).expect("valid");
        let url = payment_url(&config(), &request);
        let (endpoint, query) = url.split_once('?').expect("a query");
        assert_eq!(endpoint, "https://sandbox.example/paymentv2/vpcpay.html");
        let (signed_data, signature) = query.split_once("&vnp_SecureHash=").expect("signature last");
        assert_eq!(
            signed_data,
            "vnp_Amount=15000000&vnp_Command=pay&vnp_CreateDate=20261127100405&vnp_CurrCode=VND\
             &vnp_ExpireDate=20261127101905&vnp_IpAddr=203.0.113.7&vnp_Locale=vn\
             &vnp_OrderInfo=Nop+phi+ho+so+000.00.01.H24-261127-0001&vnp_OrderType=billpayment\
             &vnp_ReturnUrl=https%3A%2F%2Fdichvucong.example%2Fthanh-toan%2Fket-qua&vnp_TmnCode=EGOVTEST\
             &vnp_TxnRef=PAY-000.00.01.H24-261127-0001&vnp_Version=2.1.0"
        );
        assert_eq!(
            signature,
            reference_hmac_sha512_hex(TEST_SECRET.as_bytes(), signed_data.as_bytes())
        );
    }

    #[test]
    fn a_signed_payment_url_verifies_and_gives_back_its_parameters() {
        let request = PaymentRequest::try_from(new_payment()).expect("valid");
        let url = payment_url(&config(), &request);
        let parameters = check_signature(&HashSecret::new(TEST_SECRET), &query_pairs(&url)).expect("verifies");
        assert_eq!(parameters, request.parameters(&config()));
    }

    #[test]
    fn sign_then_verify_round_trips_a_callback() {
        let callback = verify_callback(
            &HashSecret::new(TEST_SECRET),
            &signed_callback(TEST_SECRET, "15000000", "00"),
        )
        .expect("verifies");
        assert_eq!(callback.amount_vnd, 150_000);
        assert_eq!(callback.payment_reference, "PAY-000.00.01.H24-261127-0001");
        assert_eq!(callback.outcome(), PaymentOutcome::Succeeded);
        assert_eq!(callback.paid_at, Utc.with_ymd_and_hms(2026, 11, 27, 3, 15, 0).single());
        assert_eq!(callback.gateway_transaction_no.as_deref(), Some("14271027"));
    }

    #[test]
    fn a_flipped_character_in_any_parameter_or_in_the_signature_fails() {
        let secret = HashSecret::new(TEST_SECRET);
        let genuine = signed_callback(TEST_SECRET, "15000000", "00");
        for index in 0..genuine.len() {
            let mut forged = genuine.clone();
            let value = &mut forged[index].1;
            let last = value.pop().expect("no empty values");
            // Changing a digit to another digit, or a hex digit to another hex digit, keeps the signature well
            // formed, so this checks the comparison itself and not only the format check.
            value.push(if last == '0' { '1' } else { '0' });
            assert_eq!(
                verify_callback(&secret, &forged),
                Err(CallbackError::Signature(SignatureError::Mismatch)),
                "changed {}",
                forged[index].0
            );
        }
        assert_eq!(
            verify_callback(&HashSecret::new("another secret"), &genuine),
            Err(CallbackError::Signature(SignatureError::Mismatch))
        );
    }

    #[test]
    fn signatures_are_accepted_in_upper_case_and_refused_when_missing_malformed_or_repeated() {
        let secret = HashSecret::new(TEST_SECRET);
        let mut upper = signed_callback(TEST_SECRET, "15000000", "00");
        for (name, value) in &mut upper {
            if name == SECURE_HASH_PARAMETER {
                *value = value.to_ascii_uppercase();
            }
        }
        upper.push((SECURE_HASH_TYPE_PARAMETER.to_owned(), "HmacSHA512".to_owned()));
        upper.push(("utm_source".to_owned(), "unsigned and ignored".to_owned()));
        assert!(verify_callback(&secret, &upper).is_ok());

        let genuine = signed_callback(TEST_SECRET, "15000000", "00");
        let without: Vec<_> = genuine
            .iter()
            .filter(|(name, _)| name != SECURE_HASH_PARAMETER)
            .cloned()
            .collect();
        assert_eq!(verify_callback(&secret, &without), Err(SignatureError::Missing.into()));

        let mut truncated = genuine.clone();
        truncated.last_mut().expect("signature").1.pop();
        assert_eq!(
            verify_callback(&secret, &truncated),
            Err(SignatureError::Malformed.into())
        );

        let mut repeated = genuine.clone();
        repeated.push(("vnp_Amount".to_owned(), "100".to_owned()));
        assert_eq!(
            verify_callback(&secret, &repeated),
            Err(SignatureError::DuplicateParameter("vnp_Amount".to_owned()).into())
        );
    }

    #[test]
    fn amounts_travel_in_hundredths_and_must_be_whole_dong() {
        let request = PaymentRequest::try_from(NewPayment {
            amount_vnd: 1,
            ..new_payment()
        })
        .expect("valid");
        assert_eq!(request.parameters(&config())["vnp_Amount"], "100");
        let large = PaymentRequest::try_from(NewPayment {
            amount_vnd: 9_999_999_999,
            ..new_payment()
        })
        .expect("ok");
        assert_eq!(large.parameters(&config())["vnp_Amount"], "999999999900");

        assert_eq!(parse_amount_in_hundredths("100"), Some(1));
        assert_eq!(parse_amount_in_hundredths("15000000"), Some(150_000));
        for refused in ["", "150", "0", "-100", "1e5", "+100", "1000000000000000000000"] {
            assert_eq!(parse_amount_in_hundredths(refused), None, "{refused:?}");
        }
        let secret = HashSecret::new(TEST_SECRET);
        assert_eq!(
            verify_callback(&secret, &signed_callback(TEST_SECRET, "15000050", "00")),
            Err(CallbackError::AmountInvalid("15000050".to_owned()))
        );
    }

    #[test]
    fn invalid_payments_are_refused_with_the_reason() {
        let check = |payment: NewPayment, expected: PaymentRequestError| {
            assert_eq!(PaymentRequest::try_from(payment), Err(expected));
        };
        check(
            NewPayment {
                amount_vnd: 0,
                ..new_payment()
            },
            PaymentRequestError::AmountNotPositive(0),
        );
        check(
            NewPayment {
                amount_vnd: i64::MAX,
                ..new_payment()
            },
            PaymentRequestError::AmountTooLarge(i64::MAX),
        );
        check(
            NewPayment {
                payment_reference: "a b".to_owned(),
                ..new_payment()
            },
            PaymentRequestError::PaymentReferenceInvalid("a b".to_owned()),
        );
        check(
            NewPayment {
                order_info: "  ".to_owned(),
                ..new_payment()
            },
            PaymentRequestError::OrderInfoEmpty,
        );
        check(
            NewPayment {
                order_info: "Phí * 2".to_owned(),
                ..new_payment()
            },
            PaymentRequestError::OrderInfoCharacter('*'),
        );
        check(
            NewPayment {
                order_info: "a".repeat(256),
                ..new_payment()
            },
            PaymentRequestError::OrderInfoTooLong { length: 256, max: 255 },
        );
        check(
            NewPayment {
                order_type: "bill payment".to_owned(),
                ..new_payment()
            },
            PaymentRequestError::OrderTypeInvalid("bill payment".to_owned()),
        );
        let payment = new_payment();
        check(
            NewPayment {
                expires_at: payment.created_at,
                ..payment
            },
            PaymentRequestError::ExpiryNotAfterCreation,
        );
    }

    #[test]
    fn outcomes_distinguish_success_cancellation_and_failure() {
        let secret = HashSecret::new(TEST_SECRET);
        let cancelled = verify_callback(&secret, &signed_callback(TEST_SECRET, "15000000", "24")).expect("verifies");
        assert_eq!(cancelled.outcome(), PaymentOutcome::CancelledByPayer);
        let declined = verify_callback(&secret, &signed_callback(TEST_SECRET, "15000000", "51")).expect("verifies");
        assert_eq!(
            declined.outcome(),
            PaymentOutcome::Failed {
                response_code: "51".to_owned()
            }
        );
        let unsettled = Callback {
            transaction_status: Some("01".to_owned()),
            ..declined.clone()
        };
        let unsettled = Callback {
            response_code: "00".to_owned(),
            ..unsettled
        };
        assert_eq!(
            unsettled.outcome(),
            PaymentOutcome::Failed {
                response_code: "00".to_owned()
            }
        );
    }

    #[test]
    fn ipn_replies_are_the_protocol_json_and_read_back() {
        assert_eq!(
            IpnReply::ConfirmSuccess.to_json(),
            r#"{"RspCode":"00","Message":"Confirm Success"}"#
        );
        for reply in IpnReply::ALL {
            let value: serde_json::Value = serde_json::from_str(&reply.to_json()).expect("valid JSON");
            assert_eq!(value["RspCode"], reply.code());
            assert_eq!(IpnReply::from_json(&reply.to_json()), Some(reply));
        }
        let codes: Vec<_> = IpnReply::ALL.iter().map(|reply| reply.code()).collect();
        assert_eq!(codes, ["00", "01", "02", "04", "97", "99"]);
        assert_eq!(IpnReply::from_json(r#"{"RspCode":"42"}"#), None);
        assert_eq!(
            IpnReply::for_callback_error(&SignatureError::Mismatch.into()),
            IpnReply::InvalidSignature
        );
    }

    #[test]
    fn timestamps_are_vietnam_wall_clock_time() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 31, 17, 30, 0)
            .single()
            .expect("a valid date");
        assert_eq!(vietnam_timestamp(at), "20270101003000");
        assert_eq!(parse_vietnam_timestamp("20270101003000"), Some(at));
        assert_eq!(parse_vietnam_timestamp("20271301003000"), None);
        assert_eq!(parse_vietnam_timestamp("2027-01-01 00:3"), None);
    }

    fn new_refund() -> NewRefund {
        let payment = new_payment();
        NewRefund {
            request_id: "0194f3a1b2c37d4e8f9a0b1c2d3e4f50".to_owned(),
            kind: RefundKind::Full,
            payment_reference: payment.payment_reference,
            amount_vnd: 150_000,
            order_info: "Hoàn phí hồ sơ 000.00.01.H24-261127-0001".to_owned(),
            gateway_transaction_no: Some("14271027".to_owned()),
            payment_created_at: payment.created_at,
            created_by: "Trần Thị Bình".to_owned(),
            client_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
            created_at: Utc
                .with_ymd_and_hms(2026, 12, 1, 2, 0, 0)
                .single()
                .expect("a valid date"),
        }
    }

    /// The gateway's answer to `new_refund`, before signing.
    fn refund_answer(response_code: &str) -> RefundResponse {
        RefundResponse {
            response_id: "a1b2c3".to_owned(),
            command: "refund".to_owned(),
            response_code: response_code.to_owned(),
            message: "Refund success".to_owned(),
            terminal_code: "EGOVTEST".to_owned(),
            payment_reference: "PAY-000.00.01.H24-261127-0001".to_owned(),
            amount: "15000000".to_owned(),
            bank_code: "NCB".to_owned(),
            pay_date: "20261201090001".to_owned(),
            transaction_no: "90000001".to_owned(),
            transaction_type: "02".to_owned(),
            transaction_status: "05".to_owned(),
            order_info: "Hoan phi ho so 000.00.01.H24-261127-0001".to_owned(),
        }
    }

    #[test]
    fn a_refund_request_signs_its_fields_joined_by_bars_in_the_protocol_order() {
        let request = RefundRequest::try_from(new_refund()).expect("valid");
        let signed_data = request.signed_data(&config());
        assert_eq!(
            signed_data,
            "0194f3a1b2c37d4e8f9a0b1c2d3e4f50|2.1.0|refund|EGOVTEST|02|PAY-000.00.01.H24-261127-0001|15000000\
             |14271027|20261127100405|Tran Thi Binh|20261201090000|203.0.113.9\
             |Hoan phi ho so 000.00.01.H24-261127-0001"
        );
        let body = json_fields(&request.to_json(&config())).expect("a JSON object");
        assert_eq!(body.len(), 14, "the 13 signed fields and the signature: {body:?}");
        assert_eq!(
            body[SECURE_HASH_PARAMETER],
            reference_hmac_sha512_hex(TEST_SECRET.as_bytes(), signed_data.as_bytes())
        );
        assert_eq!(
            check_piped_signature(&HashSecret::new(TEST_SECRET), &REFUND_REQUEST_SIGNED_FIELDS, &body),
            Ok(())
        );
        assert_eq!(body["vnp_TransactionDate"], vietnam_timestamp(new_payment().created_at));

        let unknown_number = RefundRequest::try_from(NewRefund {
            gateway_transaction_no: None,
            kind: RefundKind::Partial,
            ..new_refund()
        })
        .expect("valid");
        let fields = unknown_number.fields(&config());
        assert_eq!(
            (
                fields["vnp_TransactionNo"].as_str(),
                fields["vnp_TransactionType"].as_str()
            ),
            ("0", "03")
        );
    }

    #[test]
    fn invalid_refunds_are_refused_with_the_reason() {
        let check = |refund: NewRefund, expected: RefundRequestError| {
            assert_eq!(RefundRequest::try_from(refund), Err(expected));
        };
        for request_id in ["", "a-b", &"a".repeat(33)] {
            check(
                NewRefund {
                    request_id: request_id.to_owned(),
                    ..new_refund()
                },
                RefundRequestError::RequestIdInvalid(request_id.to_owned()),
            );
        }
        check(
            NewRefund {
                created_by: "Bình|00".to_owned(),
                ..new_refund()
            },
            RefundRequestError::CreatedByInvalid("Bình|00".to_owned()),
        );
        check(
            NewRefund {
                gateway_transaction_no: Some("1|2".to_owned()),
                ..new_refund()
            },
            RefundRequestError::TransactionNoInvalid("1|2".to_owned()),
        );
        check(
            NewRefund {
                order_info: "Hoàn | phí".to_owned(),
                ..new_refund()
            },
            PaymentRequestError::OrderInfoCharacter('|').into(),
        );
        check(
            NewRefund {
                amount_vnd: 0,
                ..new_refund()
            },
            PaymentRequestError::AmountNotPositive(0).into(),
        );
    }

    #[test]
    fn a_refund_answer_is_verified_over_its_fields_joined_by_bars() {
        let answer = refund_answer("00");
        assert_eq!(
            answer.signed_data(),
            "a1b2c3|refund|00|Refund success|EGOVTEST|PAY-000.00.01.H24-261127-0001|15000000|NCB|20261201090001\
             |90000001|02|05|Hoan phi ho so 000.00.01.H24-261127-0001"
        );
        let body = answer.to_json(&HashSecret::new(TEST_SECRET));
        let fields = json_fields(&body).expect("JSON");
        assert_eq!(
            fields[SECURE_HASH_PARAMETER],
            reference_hmac_sha512_hex(TEST_SECRET.as_bytes(), answer.signed_data().as_bytes())
        );
        let verified = verify_refund_response(&HashSecret::new(TEST_SECRET), &body).expect("verifies");
        assert_eq!(verified, answer);
        let request = RefundRequest::try_from(new_refund()).expect("valid");
        assert_eq!(
            request.outcome(&config(), &verified),
            Ok(RefundOutcome::Refunded {
                transaction_no: "90000001".to_owned()
            })
        );

        // The gateway may write amounts as JSON numbers; they are signed as written.
        let mut numeric: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        numeric["vnp_Amount"] = serde_json::json!(15_000_000);
        assert!(verify_refund_response(&HashSecret::new(TEST_SECRET), &numeric.to_string()).is_ok());
    }

    #[test]
    fn a_forged_or_unsigned_refund_answer_is_refused() {
        let secret = HashSecret::new(TEST_SECRET);
        let genuine: serde_json::Value = serde_json::from_str(&refund_answer("91").to_json(&secret)).expect("JSON");
        // A refusal turned into a success, or any other signed field changed, no longer verifies.
        for name in REFUND_RESPONSE_SIGNED_FIELDS {
            let mut forged = genuine.clone();
            forged[name] = serde_json::json!(if name == "vnp_ResponseCode" { "00" } else { "forged" });
            assert_eq!(
                verify_refund_response(&secret, &forged.to_string()),
                Err(RefundResponseError::Signature(SignatureError::Mismatch)),
                "changed {name}"
            );
        }
        let signed_elsewhere = refund_answer("00").to_json(&HashSecret::new("a guessed secret"));
        assert_eq!(
            verify_refund_response(&secret, &signed_elsewhere),
            Err(SignatureError::Mismatch.into())
        );
        let mut unsigned = genuine.clone();
        unsigned
            .as_object_mut()
            .expect("an object")
            .remove(SECURE_HASH_PARAMETER);
        assert_eq!(
            verify_refund_response(&secret, &unsigned.to_string()),
            Err(SignatureError::Missing.into())
        );
        let mut truncated = genuine.clone();
        truncated[SECURE_HASH_PARAMETER] = serde_json::json!("abc");
        assert_eq!(
            verify_refund_response(&secret, &truncated.to_string()),
            Err(SignatureError::Malformed.into())
        );
        for not_json in ["", "<html>502</html>", "[]", r#"{"vnp_ResponseCode":["00"]}"#] {
            assert_eq!(
                verify_refund_response(&secret, not_json),
                Err(RefundResponseError::NotJson),
                "{not_json}"
            );
        }
    }

    #[test]
    fn a_signed_success_for_another_refund_is_not_taken_and_other_codes_are_told_apart() {
        let request = RefundRequest::try_from(new_refund()).expect("valid");
        let check = |answer: RefundResponse, expected: Result<RefundOutcome, RefundResponseError>| {
            assert_eq!(request.outcome(&config(), &answer), expected);
        };
        check(
            RefundResponse {
                amount: "100".to_owned(),
                ..refund_answer("00")
            },
            Err(RefundResponseError::Mismatch("vnp_Amount")),
        );
        check(
            RefundResponse {
                payment_reference: "PAY-OTHER".to_owned(),
                ..refund_answer("00")
            },
            Err(RefundResponseError::Mismatch("vnp_TxnRef")),
        );
        check(
            RefundResponse {
                command: "querydr".to_owned(),
                ..refund_answer("00")
            },
            Err(RefundResponseError::Mismatch("vnp_Command")),
        );
        check(refund_answer("94"), Ok(RefundOutcome::AlreadyRequested));
        check(
            RefundResponse {
                message: "Transaction not found".to_owned(),
                ..refund_answer("91")
            },
            Ok(RefundOutcome::Refused {
                response_code: "91".to_owned(),
                message: "Transaction not found".to_owned(),
            }),
        );
    }

    #[test]
    fn the_secret_never_prints() {
        assert_eq!(format!("{:?}", config()).matches(TEST_SECRET).count(), 0);
    }
}
