//! The merchant side of a redirect payment gateway speaking VNPAY's protocol 2.1.0: building the signed payment
//! URL the payer's browser is sent to, checking the signed parameters the gateway sends back (the browser's return
//! URL and the server-to-server IPN), and the JSON replies the IPN expects. It owns the signing rule (parameters
//! sorted by name, form-urlencoded, HMAC-SHA512 under the merchant's hash secret) and the ×100 amount encoding.
//! It must not decide what a payment pays for or record anything: callers look the order up and pick the
//! [`IpnReply`]. It does no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;

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
        if payment.amount_vnd <= 0 {
            return Err(PaymentRequestError::AmountNotPositive(payment.amount_vnd));
        }
        if payment.amount_vnd.checked_mul(100).is_none() {
            return Err(PaymentRequestError::AmountTooLarge(payment.amount_vnd));
        }
        let reference = &payment.payment_reference;
        if reference.is_empty()
            || reference.len() > MAX_PAYMENT_REFERENCE_CHARS
            || !reference
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b".-_".contains(&byte))
        {
            return Err(PaymentRequestError::PaymentReferenceInvalid(payment.payment_reference));
        }
        let order_info = fold_vietnamese_diacritics(payment.order_info.trim());
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

    #[test]
    fn the_secret_never_prints() {
        assert_eq!(format!("{:?}", config()).matches(TEST_SECRET).count(), 0);
    }
}
