//! The NAPAS VietQR bank-transfer payload ("QR chuyển khoản"): building it from a bank BIN, an account number,
//! an optional amount and a transfer note, reading one back with its CRC checked, and drawing it as an accessible
//! SVG. It owns the EMVCo Merchant-Presented Mode layout as VietQR fills it for transfers to an account
//! (service code `QRIBFTTA`) and the folding of Vietnamese text to the ASCII that banks accept. It must not know
//! about dossiers, fees or how a bank reports the transfer: callers put the dossier code in the note and match
//! bank notifications with [`VietQr::parse`].

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};
use thiserror::Error;

/// The globally unique identifier NAPAS registered for VietQR in the merchant account information template.
pub const NAPAS_GUID: &str = "A000000727";

/// The service code of an inter-bank transfer to an account number (as opposed to `QRIBFTTC`, to a card).
pub const SERVICE_CODE_TRANSFER_TO_ACCOUNT: &str = "QRIBFTTA";

/// ISO 4217 numeric code of the Vietnamese đồng.
pub const CURRENCY_CODE_VND: &str = "704";

/// ISO 3166-1 alpha-2 code of Viet Nam.
pub const COUNTRY_CODE_VIET_NAM: &str = "VN";

/// The longest transfer note, counted after folding: the EMVCo "purpose of transaction" holds 25 characters.
pub const MAX_TRANSFER_NOTE_CHARS: usize = 25;

/// The longest account number VietQR carries in the consumer field.
pub const MAX_ACCOUNT_NUMBER_CHARS: usize = 19;

/// The largest amount: field 54 holds at most 13 characters, and đồng have no decimals.
pub const MAX_AMOUNT_VND: i64 = 9_999_999_999_999;

/// Modules of light margin around the symbol; ISO/IEC 18004 asks for four so scanners find the edges.
pub const QUIET_ZONE_MODULES: usize = 4;

/// Why the parts of a VietQR payload were refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VietQrError {
    #[error("the bank BIN must be exactly 6 digits, got {0:?}")]
    BankBinInvalid(String),
    #[error("the account number must be 1 to 19 letters or digits, got {0:?}")]
    AccountNumberInvalid(String),
    #[error("the amount must be more than 0 đồng, got {0}")]
    AmountNotPositive(i64),
    #[error("the amount must have at most 13 digits, got {0}")]
    AmountTooLarge(i64),
    #[error("the transfer note has {length} characters once diacritics are removed; at most {max} are allowed")]
    TransferNoteTooLong { length: usize, max: usize },
    #[error("the transfer note contains {0:?}, which has no plain-letter form banks accept")]
    TransferNoteCharacter(char),
}

/// Why a scanned or received payload could not be read as a VietQR transfer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VietQrParseError {
    #[error("the payload contains characters outside printable ASCII")]
    NotAscii,
    #[error("the data object starting at position {position} is cut short or has a malformed length")]
    Malformed { position: usize },
    #[error("the data object {tag} appears twice")]
    DuplicateTag { tag: String },
    #[error("the payload does not end with a CRC data object (63)")]
    CrcNotLast,
    #[error("the CRC says {stated} but the payload computes to {computed}")]
    CrcMismatch { stated: String, computed: String },
    #[error("the mandatory data object {0} is missing")]
    MissingField(&'static str),
    #[error("the data object {tag} holds {value:?}, which a VietQR transfer does not use")]
    UnexpectedValue { tag: &'static str, value: String },
    #[error(transparent)]
    Invalid(#[from] VietQrError),
}

/// Why a payload could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrRenderError {
    #[error("the payload does not fit in a QR code: {0}")]
    DoesNotFit(String),
}

/// A VietQR transfer, every part already checked: building its payload cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VietQr {
    bank_bin: String,
    account_number: String,
    amount_vnd: Option<i64>,
    transfer_note: String,
}

impl VietQr {
    /// Checks the parts of a transfer. The note is folded to plain ASCII first (banks reject diacritics), so the
    /// 25-character limit applies to what will actually be sent; an empty note leaves the field out.
    ///
    /// # Errors
    /// A [`VietQrError`] naming the first part that is out of bounds.
    pub fn new(
        bank_bin: &str,
        account_number: &str,
        amount_vnd: Option<i64>,
        transfer_note: &str,
    ) -> Result<Self, VietQrError> {
        if bank_bin.len() != 6 || !bank_bin.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(VietQrError::BankBinInvalid(bank_bin.to_owned()));
        }
        if account_number.is_empty()
            || account_number.len() > MAX_ACCOUNT_NUMBER_CHARS
            || !account_number.bytes().all(|byte| byte.is_ascii_alphanumeric())
        {
            return Err(VietQrError::AccountNumberInvalid(account_number.to_owned()));
        }
        if let Some(amount_vnd) = amount_vnd {
            if amount_vnd <= 0 {
                return Err(VietQrError::AmountNotPositive(amount_vnd));
            }
            if amount_vnd > MAX_AMOUNT_VND {
                return Err(VietQrError::AmountTooLarge(amount_vnd));
            }
        }
        let folded_note = fold_vietnamese_diacritics(transfer_note.trim());
        if let Some(refused) = folded_note.chars().find(|character| !(' '..='~').contains(character)) {
            return Err(VietQrError::TransferNoteCharacter(refused));
        }
        if folded_note.len() > MAX_TRANSFER_NOTE_CHARS {
            return Err(VietQrError::TransferNoteTooLong {
                length: folded_note.len(),
                max: MAX_TRANSFER_NOTE_CHARS,
            });
        }
        Ok(Self {
            bank_bin: bank_bin.to_owned(),
            account_number: account_number.to_owned(),
            amount_vnd,
            transfer_note: folded_note,
        })
    }

    /// The six-digit NAPAS BIN of the beneficiary's bank.
    #[must_use]
    pub fn bank_bin(&self) -> &str {
        &self.bank_bin
    }

    /// The beneficiary's account number.
    #[must_use]
    pub fn account_number(&self) -> &str {
        &self.account_number
    }

    /// The amount in đồng; `None` for a static QR where the payer types the amount.
    #[must_use]
    pub fn amount_vnd(&self) -> Option<i64> {
        self.amount_vnd
    }

    /// The transfer note as it is sent: folded to ASCII and trimmed.
    #[must_use]
    pub fn transfer_note(&self) -> &str {
        &self.transfer_note
    }

    /// The full EMVCo string, CRC included, ready to be drawn as a QR code.
    #[must_use]
    pub fn payload(&self) -> String {
        let beneficiary_organization = [tlv("00", &self.bank_bin), tlv("01", &self.account_number)].concat();
        let merchant_account_information = [
            tlv("00", NAPAS_GUID),
            tlv("01", &beneficiary_organization),
            tlv("02", SERVICE_CODE_TRANSFER_TO_ACCOUNT),
        ]
        .concat();
        // A QR that fixes the amount is "dynamic" (12) in EMVCo terms: it is meant for one payment. One without an
        // amount can be printed and reused, which is what "static" (11) tells the payer's app.
        let point_of_initiation = if self.amount_vnd.is_some() { "12" } else { "11" };

        let mut payload = String::with_capacity(160);
        payload.push_str(&tlv("00", "01"));
        payload.push_str(&tlv("01", point_of_initiation));
        payload.push_str(&tlv("38", &merchant_account_information));
        payload.push_str(&tlv("53", CURRENCY_CODE_VND));
        if let Some(amount_vnd) = self.amount_vnd {
            payload.push_str(&tlv("54", &amount_vnd.to_string()));
        }
        payload.push_str(&tlv("58", COUNTRY_CODE_VIET_NAM));
        if !self.transfer_note.is_empty() {
            payload.push_str(&tlv("62", &tlv("08", &self.transfer_note)));
        }
        // The CRC covers its own tag and length, so they are appended before it is computed.
        payload.push_str("6304");
        let crc = crc16_ccitt_false(payload.as_bytes());
        let _ = write!(payload, "{crc:04X}");
        payload
    }

    /// Reads a VietQR transfer payload back into its parts after checking its CRC. Data objects that VietQR
    /// allows but a transfer does not need (merchant name, city, bill number…) are skipped, so payloads printed
    /// by banks can be read too; the parts must still pass [`VietQr::new`].
    ///
    /// # Errors
    /// A [`VietQrParseError`] for a damaged payload, a wrong CRC, or parts that are not a transfer to an account.
    pub fn parse(payload: &str) -> Result<Self, VietQrParseError> {
        if !payload.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
            return Err(VietQrParseError::NotAscii);
        }
        let objects = read_data_objects(payload, 0)?;
        let Some(last) = objects
            .last()
            .filter(|object| object.tag == "63" && object.value.len() == 4)
        else {
            return Err(VietQrParseError::CrcNotLast);
        };
        let covered_length = payload.len() - 4;
        let computed = format!("{:04X}", crc16_ccitt_false(&payload.as_bytes()[..covered_length]));
        if !computed.eq_ignore_ascii_case(last.value) {
            return Err(VietQrParseError::CrcMismatch {
                stated: last.value.to_owned(),
                computed,
            });
        }

        expect_value(&objects, "00", "01")?;
        let point_of_initiation = required(&objects, "01")?;
        if point_of_initiation != "11" && point_of_initiation != "12" {
            return Err(VietQrParseError::UnexpectedValue {
                tag: "01",
                value: point_of_initiation.to_owned(),
            });
        }
        expect_value(&objects, "53", CURRENCY_CODE_VND)?;
        expect_value(&objects, "58", COUNTRY_CODE_VIET_NAM)?;

        let merchant_account_objects = read_data_objects(required(&objects, "38")?, 0)?;
        expect_value(&merchant_account_objects, "00", NAPAS_GUID)?;
        expect_value(&merchant_account_objects, "02", SERVICE_CODE_TRANSFER_TO_ACCOUNT)?;
        let beneficiary_objects = read_data_objects(required(&merchant_account_objects, "01")?, 0)?;
        let bank_bin = required(&beneficiary_objects, "00")?;
        let account_number = required(&beneficiary_objects, "01")?;

        let amount_vnd = match find(&objects, "54") {
            None => None,
            Some(amount_text) => Some(parse_amount(amount_text)?),
        };
        let transfer_note = match find(&objects, "62") {
            None => "",
            Some(additional_data) => find(&read_data_objects(additional_data, 0)?, "08").unwrap_or(""),
        };
        Ok(Self::new(bank_bin, account_number, amount_vnd, transfer_note)?)
    }

    /// A Vietnamese sentence describing the transfer for screen readers, in place of the picture.
    #[must_use]
    pub fn accessible_label(&self) -> String {
        let mut label = String::from("Mã VietQR chuyển khoản");
        if let Some(amount_vnd) = self.amount_vnd {
            let _ = write!(label, " {} đồng", group_thousands(amount_vnd));
        }
        let _ = write!(
            label,
            " vào tài khoản {} tại ngân hàng có mã BIN {}",
            self.account_number, self.bank_bin
        );
        if !self.transfer_note.is_empty() {
            let _ = write!(label, ", nội dung {}", self.transfer_note);
        }
        label
    }

    /// The payload drawn as an SVG, labelled with [`VietQr::accessible_label`].
    ///
    /// # Errors
    /// [`QrRenderError`] if the payload does not fit in a QR code, which cannot happen within VietQR's limits.
    pub fn to_svg(&self) -> Result<String, QrRenderError> {
        render_svg(&self.payload(), &self.accessible_label())
    }
}

/// Replaces Vietnamese letters with their plain Latin base (ắ→a, Ư→U, đ→d, Đ→D) and drops combining marks, so
/// both precomposed and decomposed input fold the same way. Other characters pass through unchanged.
#[must_use]
pub fn fold_vietnamese_diacritics(text: &str) -> String {
    // Each base letter with every Vietnamese variant of it, lower case; upper case is found by lowering first.
    const FAMILIES: [(char, &str); 7] = [
        ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
        ('e', "èéẻẽẹêềếểễệ"),
        ('i', "ìíỉĩị"),
        ('o', "òóỏõọôồốổỗộơờớởỡợ"),
        ('u', "ùúủũụưừứửữự"),
        ('y', "ỳýỷỹỵ"),
        ('d', "đ"),
    ];
    let mut folded = String::with_capacity(text.len());
    for character in text.chars() {
        if ('\u{0300}'..='\u{036F}').contains(&character) {
            continue;
        }
        let lower = character.to_lowercase().next().unwrap_or(character);
        match FAMILIES.iter().find(|(_, variants)| variants.contains(lower)) {
            Some((base, _)) if character.is_uppercase() => folded.push(base.to_ascii_uppercase()),
            Some((base, _)) => folded.push(*base),
            None => folded.push(character),
        }
    }
    folded
}

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR), the checksum
/// EMVCo puts in data object 63.
#[must_use]
pub fn crc16_ccitt_false(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc
}

/// Draws any text as a QR code in an SVG with a four-module quiet zone, `role="img"` and the given label, so a
/// screen reader announces what the code is for. Dark modules are drawn as one path of horizontal runs, which
/// keeps the file small and crisp at any size.
///
/// # Errors
/// [`QrRenderError`] if the text is too long for the largest QR code.
pub fn render_svg(payload: &str, accessible_label: &str) -> Result<String, QrRenderError> {
    // Level M restores up to 15 % of damaged modules, the usual choice of Vietnamese banking apps for VietQR.
    let code = QrCode::with_error_correction_level(payload, EcLevel::M)
        .map_err(|error| QrRenderError::DoesNotFit(error.to_string()))?;
    let width = code.width();
    let colors = code.to_colors();
    let side = width + 2 * QUIET_ZONE_MODULES;
    let label = escape_xml(accessible_label);

    let mut svg = String::with_capacity(colors.len() * 4 + 400);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="{pixels}" height="{pixels}" role="img" aria-label="{label}" shape-rendering="crispEdges"><title>{label}</title><rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d=""##,
        pixels = side * 8,
    );
    for (row_index, row) in colors.chunks(width).enumerate() {
        let mut column_index = 0;
        while column_index < width {
            if row[column_index] != Color::Dark {
                column_index += 1;
                continue;
            }
            let run_start = column_index;
            while column_index < width && row[column_index] == Color::Dark {
                column_index += 1;
            }
            let run_length = column_index - run_start;
            let _ = write!(
                svg,
                "M{} {}h{run_length}v1h-{run_length}z",
                run_start + QUIET_ZONE_MODULES,
                row_index + QUIET_ZONE_MODULES,
            );
        }
    }
    svg.push_str(r#""/></svg>"#);
    Ok(svg)
}

/// One data object: two-digit tag, two-digit length, value.
fn tlv(tag: &str, value: &str) -> String {
    format!("{tag}{:02}{value}", value.len())
}

#[derive(Debug)]
struct DataObject<'payload> {
    tag: &'payload str,
    value: &'payload str,
}

/// Splits a run of data objects. `offset` only shifts positions in error messages for nested templates.
fn read_data_objects(text: &str, offset: usize) -> Result<Vec<DataObject<'_>>, VietQrParseError> {
    let mut objects: Vec<DataObject<'_>> = Vec::new();
    let mut position = 0;
    while position < text.len() {
        let malformed = VietQrParseError::Malformed {
            position: offset + position,
        };
        let tag = text.get(position..position + 2).ok_or_else(|| malformed.clone())?;
        let length: usize = text
            .get(position + 2..position + 4)
            .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| malformed.clone())?;
        let value = text.get(position + 4..position + 4 + length).ok_or(malformed)?;
        if objects.iter().any(|object| object.tag == tag) {
            return Err(VietQrParseError::DuplicateTag { tag: tag.to_owned() });
        }
        objects.push(DataObject { tag, value });
        position += 4 + length;
    }
    Ok(objects)
}

fn find<'payload>(objects: &[DataObject<'payload>], tag: &str) -> Option<&'payload str> {
    objects
        .iter()
        .find(|object| object.tag == tag)
        .map(|object| object.value)
}

fn required<'payload>(objects: &[DataObject<'payload>], tag: &'static str) -> Result<&'payload str, VietQrParseError> {
    find(objects, tag).ok_or(VietQrParseError::MissingField(tag))
}

fn expect_value(objects: &[DataObject<'_>], tag: &'static str, expected: &str) -> Result<(), VietQrParseError> {
    let value = required(objects, tag)?;
    if value == expected {
        Ok(())
    } else {
        Err(VietQrParseError::UnexpectedValue {
            tag,
            value: value.to_owned(),
        })
    }
}

/// Field 54 for đồng: digits only, since the currency has no minor unit.
fn parse_amount(amount_text: &str) -> Result<i64, VietQrParseError> {
    let unexpected = || VietQrParseError::UnexpectedValue {
        tag: "54",
        value: amount_text.to_owned(),
    };
    if amount_text.is_empty() || !amount_text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(unexpected());
    }
    amount_text.parse().map_err(|_| unexpected())
}

/// 1943000 → "1.943.000", the Vietnamese way of grouping digits.
pub(crate) fn group_thousands(amount_vnd: i64) -> String {
    let digits = amount_vnd.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if amount_vnd < 0 {
        grouped.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    grouped
}

fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published examples whose CRC was checked independently (Python's `binascii.crc_hqx(data, 0xFFFF)` is
    /// CRC-16/CCITT-FALSE): the README of `subiz/vietqr` and a VietQR string printed in a Vietcombank sample.
    const PUBLISHED_VIETINBANK_EXAMPLE: &str = "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA530370454061200005802VN62170813ung ho lu lut6304C15C";
    const PUBLISHED_VIETCOMBANK_EXAMPLE: &str = "00020101021238540010A00000072701240006970436011010234567890208QRIBFTTA5303704540719430005802VN62120808TT0000696304A8E5";

    /// A second CRC, table-driven and written from the CRC catalogue's parameters, so a slip in the bitwise loop
    /// is not mirrored by the test.
    fn reference_crc16_ccitt_false(bytes: &[u8]) -> u16 {
        let table: Vec<u16> = (0u16..256)
            .map(|index| {
                (0..8).fold(index << 8, |value, _| {
                    if value & 0x8000 != 0 {
                        (value << 1) ^ 0x1021
                    } else {
                        value << 1
                    }
                })
            })
            .collect();
        bytes.iter().fold(0xFFFF_u16, |crc, &byte| {
            (crc << 8) ^ table[usize::from(u8::try_from(crc >> 8).expect("a byte") ^ byte)]
        })
    }

    fn check_rejected(bank_bin: &str, account: &str, amount: Option<i64>, note: &str, expected: &VietQrError) {
        assert_eq!(VietQr::new(bank_bin, account, amount, note).as_ref(), Err(expected));
    }

    #[test]
    fn crc_matches_the_catalogue_check_value_and_the_reference_implementation() {
        // "123456789" → 0x29B1 is the check value of CRC-16/CCITT-FALSE in the CRC RevEng catalogue.
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_eq!(reference_crc16_ccitt_false(b"123456789"), 0x29B1);
        for payload in [PUBLISHED_VIETINBANK_EXAMPLE, PUBLISHED_VIETCOMBANK_EXAMPLE] {
            let covered = &payload.as_bytes()[..payload.len() - 4];
            assert_eq!(crc16_ccitt_false(covered), reference_crc16_ccitt_false(covered));
        }
    }

    #[test]
    fn built_payloads_equal_published_examples_byte_for_byte() {
        let vietinbank = VietQr::new("970415", "0011001932418", Some(120_000), "ủng hộ lũ lụt").expect("valid");
        assert_eq!(vietinbank.payload(), PUBLISHED_VIETINBANK_EXAMPLE);
        let vietcombank = VietQr::new("970436", "1023456789", Some(1_943_000), "TT000069").expect("valid");
        assert_eq!(vietcombank.payload(), PUBLISHED_VIETCOMBANK_EXAMPLE);
    }

    #[test]
    fn a_static_qr_has_no_amount_and_initiation_11() {
        let static_qr = VietQr::new("970436", "0011000123456", None, "").expect("valid");
        let payload = static_qr.payload();
        assert!(payload.starts_with("000201010211"), "{payload}");
        assert!(
            !payload.contains("5802VN62"),
            "an empty note leaves out object 62: {payload}"
        );
        let covered = &payload.as_bytes()[..payload.len() - 4];
        assert_eq!(
            &payload[payload.len() - 4..],
            format!("{:04X}", reference_crc16_ccitt_false(covered))
        );
        assert_eq!(VietQr::parse(&payload), Ok(static_qr));
    }

    #[test]
    fn build_then_parse_gives_back_the_same_transfer() {
        let transfer =
            VietQr::new("970436", "AB0123456789", Some(250_000), "000.00.01.H24-261127-0001").expect("valid");
        let parsed = VietQr::parse(&transfer.payload()).expect("parses");
        assert_eq!(parsed, transfer);
        assert_eq!(parsed.transfer_note(), "000.00.01.H24-261127-0001");
        assert_eq!(parsed.amount_vnd(), Some(250_000));
    }

    #[test]
    fn parse_reads_published_examples_and_skips_unused_objects() {
        let parsed = VietQr::parse(PUBLISHED_VIETCOMBANK_EXAMPLE).expect("parses");
        assert_eq!((parsed.bank_bin(), parsed.account_number()), ("970436", "1023456789"));
        // A bank-printed QR may add a merchant name (59); it is skipped, and the CRC still has to match.
        let base =
            "00020101021238540010A00000072701240006970436011010234567890208QRIBFTTA53037045802VN5910UBND XA AB6304";
        let with_name = format!("{base}{:04X}", reference_crc16_ccitt_false(base.as_bytes()));
        assert_eq!(VietQr::parse(&with_name).expect("parses").amount_vnd(), None);
    }

    #[test]
    fn parse_refuses_a_payload_with_a_wrong_crc_or_any_flipped_character() {
        let damaged = PUBLISHED_VIETCOMBANK_EXAMPLE.replace("1943000", "1948000");
        assert!(matches!(
            VietQr::parse(&damaged),
            Err(VietQrParseError::CrcMismatch { .. })
        ));
        let wrong_crc = PUBLISHED_VIETCOMBANK_EXAMPLE.replace("A8E5", "A8E6");
        assert!(matches!(
            VietQr::parse(&wrong_crc),
            Err(VietQrParseError::CrcMismatch { .. })
        ));
        assert_eq!(
            VietQr::parse("00020101021"),
            Err(VietQrParseError::Malformed { position: 6 })
        );
        assert_eq!(VietQr::parse("000201"), Err(VietQrParseError::CrcNotLast));
        assert_eq!(VietQr::parse("0002Đ1"), Err(VietQrParseError::NotAscii));
    }

    #[test]
    fn parse_refuses_a_card_transfer_and_a_foreign_currency() {
        let card_base =
            PUBLISHED_VIETCOMBANK_EXAMPLE[..PUBLISHED_VIETCOMBANK_EXAMPLE.len() - 4].replace("QRIBFTTA", "QRIBFTTC");
        let card = format!("{card_base}{:04X}", reference_crc16_ccitt_false(card_base.as_bytes()));
        assert_eq!(
            VietQr::parse(&card),
            Err(VietQrParseError::UnexpectedValue {
                tag: "02",
                value: "QRIBFTTC".to_owned()
            })
        );
        let dollar_base =
            PUBLISHED_VIETCOMBANK_EXAMPLE[..PUBLISHED_VIETCOMBANK_EXAMPLE.len() - 4].replace("5303704", "5303840");
        let dollar = format!(
            "{dollar_base}{:04X}",
            reference_crc16_ccitt_false(dollar_base.as_bytes())
        );
        assert_eq!(
            VietQr::parse(&dollar),
            Err(VietQrParseError::UnexpectedValue {
                tag: "53",
                value: "840".to_owned()
            })
        );
    }

    #[test]
    fn each_invalid_part_is_named() {
        check_rejected("97043", "1", None, "", &VietQrError::BankBinInvalid("97043".to_owned()));
        check_rejected(
            "97043a",
            "1",
            None,
            "",
            &VietQrError::BankBinInvalid("97043a".to_owned()),
        );
        check_rejected(
            "970436",
            "",
            None,
            "",
            &VietQrError::AccountNumberInvalid(String::new()),
        );
        check_rejected(
            "970436",
            "12345678901234567890",
            None,
            "",
            &VietQrError::AccountNumberInvalid("12345678901234567890".to_owned()),
        );
        check_rejected(
            "970436",
            "0123-456",
            None,
            "",
            &VietQrError::AccountNumberInvalid("0123-456".to_owned()),
        );
        check_rejected("970436", "1", Some(0), "", &VietQrError::AmountNotPositive(0));
        check_rejected("970436", "1", Some(-5), "", &VietQrError::AmountNotPositive(-5));
        check_rejected(
            "970436",
            "1",
            Some(10_000_000_000_000),
            "",
            &VietQrError::AmountTooLarge(10_000_000_000_000),
        );
        check_rejected(
            "970436",
            "1",
            None,
            "HS 000.00.01.H24-261127-0001",
            &VietQrError::TransferNoteTooLong { length: 28, max: 25 },
        );
        check_rejected("970436", "1", None, "phí 💳", &VietQrError::TransferNoteCharacter('💳'));
        assert!(VietQr::new("970436", "1234567890123456789", Some(MAX_AMOUNT_VND), "Đ").is_ok());
    }

    #[test]
    fn the_limit_counts_folded_characters_not_bytes() {
        // 25 letters with diacritics are 50+ bytes in UTF-8 but 25 characters once folded.
        let note = "ĐƯỜNG ĐẤT ĐỎ ĐỒNG ĐĂNG ĐÔ";
        let transfer = VietQr::new("970436", "1", None, note).expect("25 folded characters fit");
        assert_eq!(transfer.transfer_note(), "DUONG DAT DO DONG DANG DO");
    }

    #[test]
    fn diacritics_fold_to_plain_letters_in_both_cases_and_both_unicode_forms() {
        assert_eq!(
            fold_vietnamese_diacritics("Nộp phí hồ sơ đăng ký"),
            "Nop phi ho so dang ky"
        );
        assert_eq!(fold_vietnamese_diacritics("ĐẶNG THỊ HƯƠNG Ỷ"), "DANG THI HUONG Y");
        assert_eq!(fold_vietnamese_diacritics("ăâêôơưđ ĂÂÊÔƠƯĐ"), "aaeooud AAEOOUD");
        // "ệ" decomposed: e + circumflex (U+0302) + dot below (U+0323).
        assert_eq!(fold_vietnamese_diacritics("Vie\u{0302}\u{0323}t"), "Viet");
        assert_eq!(fold_vietnamese_diacritics("HS-000.00.01"), "HS-000.00.01");
    }

    #[test]
    fn the_svg_is_labelled_has_a_quiet_zone_and_draws_every_dark_module() {
        let payload = "HS";
        let svg = render_svg(payload, "Mã <thử> & \"kiểm\"").expect("fits");
        let code = QrCode::with_error_correction_level(payload, EcLevel::M).expect("fits");
        assert_eq!(code.width(), 21, "a two-letter payload is a version 1 symbol");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 29 29\""),
            "{svg}"
        );
        assert!(
            svg.contains(r#"role="img" aria-label="Mã &lt;thử&gt; &amp; &quot;kiểm&quot;""#),
            "{svg}"
        );
        assert!(svg.ends_with("\"/></svg>"));

        // Read the path back: every "M x y h n v1 h-n z" run paints n modules of row y from column x.
        let path_data = svg
            .split(" d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a path");
        let mut painted = std::collections::HashSet::new();
        for run in path_data.split('M').filter(|run| !run.is_empty()) {
            let (start, rest) = run.split_once('h').expect("h");
            let (column, row) = start.split_once(' ').expect("x y");
            let length: usize = rest.split_once('v').expect("v").0.parse().expect("n");
            let column: usize = column.parse().expect("x");
            let row: usize = row.parse().expect("y");
            for offset in 0..length {
                assert!(painted.insert((column + offset, row)), "no module is painted twice");
            }
        }
        let dark_in_matrix = code.to_colors().iter().filter(|color| **color == Color::Dark).count();
        assert_eq!(painted.len(), dark_in_matrix);
        // The quiet zone stays blank and the top-left finder pattern starts right after it.
        assert!(
            painted
                .iter()
                .all(|&(column, row)| (4..25).contains(&column) && (4..25).contains(&row))
        );
        assert!(
            (4..11).all(|column| painted.contains(&(column, 4))),
            "finder pattern top edge"
        );
        assert!(!painted.contains(&(5, 5)), "finder pattern light ring");
        assert!(
            (6..9).all(|column| painted.contains(&(column, 6))),
            "finder pattern centre"
        );
    }

    #[test]
    fn a_transfer_renders_with_its_description_as_label() {
        let transfer = VietQr::new("970436", "1023456789", Some(1_943_000), "TT000069").expect("valid");
        let svg = transfer.to_svg().expect("fits");
        assert!(svg.contains(
            "aria-label=\"Mã VietQR chuyển khoản 1.943.000 đồng vào tài khoản 1023456789 tại ngân hàng có mã BIN 970436, nội dung TT000069\""
        ));
        assert_eq!(group_thousands(5_000), "5.000");
        assert_eq!(group_thousands(999), "999");
    }
}
