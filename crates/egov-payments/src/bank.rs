//! What the bank tells us about transfers to the agency's account: a
//! signed notification per credited transfer (HMAC-SHA256 of the body under
//! a secret shared with the bank, hex in a header), and the statement the
//! bank exports (CSV: value date, amount, transfer note, bank reference)
//! for reconciliation. Banks' own formats differ; this is the one egov
//! accepts and documents.

use hmac::{KeyInit as _, Mac as _};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The header that carries a notification's signature.
pub const SIGNATURE_HEADER: &str = "x-egov-signature";

/// One credited transfer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Transfer {
    /// The bank's unique reference of the transaction.
    pub bank_reference: String,
    /// `YYYY-MM-DD`.
    pub value_date: String,
    pub amount_vnd: i64,
    /// The transfer note the payer's bank carried (the VietQR purpose).
    pub note: String,
}

/// The hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            use std::fmt::Write as _;
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// Whether `signature` (hex) is the HMAC of `body`, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let expected = sign(secret, body);
    let given = signature.trim().to_ascii_lowercase();
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// Why a statement line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct StatementError {
    pub line: usize,
    pub message: String,
}

/// Reads a statement export: a header line, then
/// `value_date,amount_vnd,note,bank_reference` per transfer. Every bad line
/// is reported; good lines are returned only if there are none.
pub fn parse_statement(text: &str) -> Result<Vec<Transfer>, Vec<StatementError>> {
    let mut transfers = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let error = |message: &str| StatementError {
            line: line_number,
            message: message.to_owned(),
        };
        // The note may contain commas: the date and amount come first, the
        // bank's reference last, and the note is whatever lies between.
        let Some((head, reference)) = line.rsplit_once(',') else {
            errors.push(error("expected value_date,amount_vnd,note,bank_reference"));
            continue;
        };
        let mut parts = head.splitn(3, ',').map(str::trim);
        let (Some(date), Some(amount), Some(note)) = (parts.next(), parts.next(), parts.next()) else {
            errors.push(error("expected value_date,amount_vnd,note,bank_reference"));
            continue;
        };
        let reference = reference.trim();
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            errors.push(error("the value date is not YYYY-MM-DD"));
            continue;
        }
        let Ok(amount_vnd) = amount.replace(['.', ' '], "").parse::<i64>() else {
            errors.push(error("the amount is not a whole number of đồng"));
            continue;
        };
        if amount_vnd <= 0 || reference.is_empty() || reference.len() > 64 || note.chars().count() > 500 {
            errors.push(error(
                "the amount must be positive, the reference 1 to 64 characters, the note at most 500",
            ));
            continue;
        }
        transfers.push(Transfer {
            bank_reference: (*reference).to_owned(),
            value_date: (*date).to_owned(),
            amount_vnd,
            note: note.trim_matches('"').to_owned(),
        });
    }
    if errors.is_empty() { Ok(transfers) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_out_only_for_its_body() {
        let signature = sign(b"shared secret", b"{\"amount_vnd\":50000}");
        assert!(verify(b"shared secret", b"{\"amount_vnd\":50000}", &signature));
        assert!(verify(
            b"shared secret",
            b"{\"amount_vnd\":50000}",
            &signature.to_uppercase()
        ));
        assert!(!verify(b"shared secret", b"{\"amount_vnd\":500000}", &signature));
        assert!(!verify(b"other secret", b"{\"amount_vnd\":50000}", &signature));
        assert!(!verify(b"shared secret", b"{\"amount_vnd\":50000}", ""));
    }

    #[test]
    fn statements_read_every_line_or_name_the_bad_ones() {
        let good = "value_date,amount_vnd,note,bank_reference\n\
                    2026-11-27,50.000,000.00.01.H24-261127-0001,FT2633100001\n\
                    2026-11-27,20000,\"Nop phi, ho so 000.00.01.H24-261127-0002\",FT2633100002\n";
        let transfers = parse_statement(good).expect("a good statement");
        assert_eq!(transfers.len(), 2);
        assert_eq!(transfers[0].amount_vnd, 50_000);
        assert_eq!(transfers[1].note, "Nop phi, ho so 000.00.01.H24-261127-0002");
        assert_eq!(transfers[1].bank_reference, "FT2633100002");
        let bad = "header\n27/11/2026,50000,x,FT1\n2026-11-27,abc,x,FT2\n2026-11-27,-5,x,FT3\n";
        let errors = parse_statement(bad).expect_err("bad lines");
        assert_eq!(errors.iter().map(|error| error.line).collect::<Vec<_>>(), [2, 3, 4]);
    }
}
