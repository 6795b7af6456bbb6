//! Amounts of Vietnamese đồng (VND) for fees, charges and payments.
//!
//! It owns the [`Vnd`] type, its checked arithmetic, its display in
//! Vietnamese and English, and parsing of amounts typed by people. The đồng
//! has no minor unit in use, so amounts are whole numbers: this module must
//! never touch floating point, and it must not know about payment providers
//! or exchange rates.

use std::fmt::Write as _;
use std::str::FromStr;

/// An amount of Vietnamese đồng, always a whole number.
///
/// Negative amounts are allowed because refunds and corrections need them;
/// whether a given amount may be negative is the caller's rule, not this
/// type's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Vnd(i64);

impl Vnd {
    /// No money at all.
    pub const ZERO: Vnd = Vnd(0);

    /// Wraps a whole number of đồng.
    pub const fn new(amount: i64) -> Vnd {
        Vnd(amount)
    }

    /// The whole number of đồng.
    pub const fn amount(self) -> i64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Adds two amounts, or `None` when the sum does not fit in an `i64`.
    pub const fn checked_add(self, other: Vnd) -> Option<Vnd> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Vnd(sum)),
            None => None,
        }
    }

    /// Subtracts `other`, or `None` when the difference does not fit.
    pub const fn checked_sub(self, other: Vnd) -> Option<Vnd> {
        match self.0.checked_sub(other.0) {
            Some(difference) => Some(Vnd(difference)),
            None => None,
        }
    }

    /// Multiplies by a count (for example a per-copy fee times the number
    /// of copies), or `None` when the product does not fit.
    pub const fn checked_mul(self, factor: u32) -> Option<Vnd> {
        match self.0.checked_mul(factor as i64) {
            Some(product) => Some(Vnd(product)),
            None => None,
        }
    }

    /// Formats the amount the way Vietnamese forms and receipts print it:
    /// `1.000.000 ₫`, `-5.000 ₫`.
    pub fn format_vi(self) -> String {
        let mut out = String::new();
        if self.0 < 0 {
            out.push('-');
        }
        push_grouped(&mut out, self.0.unsigned_abs(), '.');
        out.push_str(" ₫");
        out
    }

    /// Formats the amount for English pages: `VND 1,000,000`,
    /// `VND -5,000`.
    pub fn format_en(self) -> String {
        let mut out = String::from("VND ");
        if self.0 < 0 {
            out.push('-');
        }
        push_grouped(&mut out, self.0.unsigned_abs(), ',');
        out
    }
}

/// Appends `magnitude` with `separator` between groups of three digits.
fn push_grouped(out: &mut String, magnitude: u64, separator: char) {
    let mut digits = String::new();
    // Writing to a `String` cannot fail, so the result carries no
    // information worth handling.
    let _ = write!(digits, "{magnitude}");
    let first_group_len = match digits.len() % 3 {
        0 => 3,
        rest => rest,
    };
    for (index, digit) in digits.chars().enumerate() {
        if index >= first_group_len && (index - first_group_len) % 3 == 0 {
            out.push(separator);
        }
        out.push(digit);
    }
}

/// Why a typed amount was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyParseError {
    #[error("the amount is empty")]
    Empty,
    #[error("the amount has a fractional part; đồng amounts are whole numbers")]
    Decimal,
    #[error("the amount is too large")]
    Overflow,
    #[error("the amount is not a number of đồng")]
    Invalid,
}

impl FromStr for Vnd {
    type Err = MoneyParseError;

    /// Accepts what people type into a fee field: `1000000`, `1.000.000`,
    /// `1,000,000`, `-5.000`, with an optional currency marker (`₫`, `đ` or
    /// `VND`) before or after the number and spaces around it.
    ///
    /// Both `.` and `,` are read as thousands separators because Vietnamese
    /// and English writing disagree about which one groups digits. The
    /// price of that is that a separator must be followed by exactly three
    /// digits; anything else looks like a decimal and is rejected rather
    /// than silently read as a different amount.
    fn from_str(input: &str) -> Result<Vnd, MoneyParseError> {
        let number = strip_currency(input.trim()).trim();
        let (negative, body) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number),
        };
        if body.is_empty() {
            return Err(if negative {
                MoneyParseError::Invalid
            } else {
                MoneyParseError::Empty
            });
        }
        if !body.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
            return Err(MoneyParseError::Invalid);
        }
        let magnitude = parse_grouped_digits(body)?;
        let signed = if negative { -magnitude } else { magnitude };
        i64::try_from(signed).map(Vnd).map_err(|_| MoneyParseError::Overflow)
    }
}

/// Removes one currency marker from either end of the text.
fn strip_currency(text: &str) -> &str {
    for marker in ["₫", "đ", "Đ"] {
        if let Some(rest) = text.strip_suffix(marker) {
            return rest;
        }
        if let Some(rest) = text.strip_prefix(marker) {
            return rest;
        }
    }
    // "VND" is matched without regard to case because people type "vnd".
    let bytes = text.as_bytes();
    if bytes.len() >= 3 {
        let (head, tail) = (&bytes[..3], &bytes[bytes.len() - 3..]);
        if tail.eq_ignore_ascii_case(b"vnd") {
            // The three bytes are ASCII, so slicing before them stays on a
            // character boundary.
            return &text[..text.len() - 3];
        }
        if head.eq_ignore_ascii_case(b"vnd") {
            return &text[3..];
        }
    }
    text
}

/// Reads digits that may be grouped by threes with one kind of separator.
///
/// The result is an `i128` so that `i64::MIN`, whose magnitude does not fit
/// in an `i64`, still parses.
fn parse_grouped_digits(body: &str) -> Result<i128, MoneyParseError> {
    let separators: Vec<char> = body.chars().filter(|c| *c == '.' || *c == ',').collect();
    if let Some(&first_separator) = separators.first() {
        let groups: Vec<&str> = body.split(['.', ',']).collect();
        let last_group_len = groups.last().map_or(0, |group| group.len());
        if last_group_len != 3 {
            // "12.5", "1.000,50" and "10.0000" all read as decimals to
            // someone, so the amount is rejected instead of guessed.
            return Err(MoneyParseError::Decimal);
        }
        let first_group_len = groups.first().map_or(0, |group| group.len());
        let same_separator = separators.iter().all(|c| *c == first_separator);
        let middle_groups_ok = groups[1..].iter().all(|group| group.len() == 3);
        if !same_separator || !(1..=3).contains(&first_group_len) || !middle_groups_ok {
            return Err(MoneyParseError::Invalid);
        }
    }
    let mut value: i128 = 0;
    for digit in body.bytes().filter(u8::is_ascii_digit) {
        value = value
            .checked_mul(10)
            .and_then(|shifted| shifted.checked_add(i128::from(digit - b'0')))
            .ok_or(MoneyParseError::Overflow)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::{MoneyParseError, Vnd};
    use proptest::prelude::*;

    fn check_format(amount: i64, vi: &str, en: &str) {
        assert_eq!(Vnd::new(amount).format_vi(), vi, "format_vi({amount})");
        assert_eq!(Vnd::new(amount).format_en(), en, "format_en({amount})");
    }

    #[test]
    fn amounts_are_grouped_by_thousands_in_each_language() {
        check_format(0, "0 ₫", "VND 0");
        check_format(5, "5 ₫", "VND 5");
        check_format(999, "999 ₫", "VND 999");
        check_format(1_000, "1.000 ₫", "VND 1,000");
        check_format(50_000, "50.000 ₫", "VND 50,000");
        check_format(1_000_000, "1.000.000 ₫", "VND 1,000,000");
        check_format(123_456_789, "123.456.789 ₫", "VND 123,456,789");
        check_format(-5_000, "-5.000 ₫", "VND -5,000");
        check_format(
            i64::MIN,
            "-9.223.372.036.854.775.808 ₫",
            "VND -9,223,372,036,854,775,808",
        );
    }

    fn check_parse(input: &str, expected: Result<i64, MoneyParseError>) {
        assert_eq!(input.parse::<Vnd>(), expected.map(Vnd::new), "parsing {input:?}");
    }

    #[test]
    fn typed_amounts_parse_in_every_accepted_spelling() {
        check_parse("1000000", Ok(1_000_000));
        check_parse("1.000.000", Ok(1_000_000));
        check_parse("1,000,000", Ok(1_000_000));
        check_parse("  1.000.000 ₫ ", Ok(1_000_000));
        check_parse("50.000đ", Ok(50_000));
        check_parse("50.000 VND", Ok(50_000));
        check_parse("50000 vnd", Ok(50_000));
        check_parse("VND 1,000,000", Ok(1_000_000));
        check_parse("-5.000 ₫", Ok(-5_000));
        check_parse("0", Ok(0));
        check_parse("-9223372036854775808", Ok(i64::MIN));
        check_parse("9.223.372.036.854.775.807", Ok(i64::MAX));
    }

    #[test]
    fn decimals_empty_overflow_and_junk_are_rejected() {
        check_parse("", Err(MoneyParseError::Empty));
        check_parse("   ", Err(MoneyParseError::Empty));
        check_parse("₫", Err(MoneyParseError::Empty));
        check_parse("-", Err(MoneyParseError::Invalid));
        check_parse("12.5", Err(MoneyParseError::Decimal));
        check_parse("1.000,50", Err(MoneyParseError::Decimal));
        check_parse("1000.00", Err(MoneyParseError::Decimal));
        check_parse("1.000,000", Err(MoneyParseError::Invalid));
        check_parse("1000.000", Err(MoneyParseError::Invalid));
        check_parse(".000", Err(MoneyParseError::Invalid));
        check_parse("1..000", Err(MoneyParseError::Invalid));
        check_parse("9223372036854775808", Err(MoneyParseError::Overflow));
        check_parse(
            "99999999999999999999999999999999999999999",
            Err(MoneyParseError::Overflow),
        );
        check_parse("abc", Err(MoneyParseError::Invalid));
        check_parse("10 000", Err(MoneyParseError::Invalid));
        check_parse("1e6", Err(MoneyParseError::Invalid));
        check_parse("+5", Err(MoneyParseError::Invalid));
        check_parse("₫ 5 ₫", Err(MoneyParseError::Invalid));
    }

    #[test]
    fn amounts_deserialize_from_bare_numbers() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::Error;

        // A non-transparent newtype would ask for a newtype struct and
        // reject a bare integer, so this proves the wire form is a number.
        let amount = Vnd::deserialize(IntoDeserializer::<Error>::into_deserializer(25_000_i64));
        assert_eq!(amount.ok(), Some(Vnd::new(25_000)));
    }

    #[test]
    fn checked_arithmetic_reports_overflow_instead_of_wrapping() {
        let max = Vnd::new(i64::MAX);
        assert_eq!(max.checked_add(Vnd::new(1)), None);
        assert_eq!(Vnd::new(i64::MIN).checked_sub(Vnd::new(1)), None);
        assert_eq!(max.checked_mul(2), None);
        assert_eq!(Vnd::new(25_000).checked_mul(3), Some(Vnd::new(75_000)));
        assert_eq!(Vnd::new(25_000).checked_sub(Vnd::new(30_000)), Some(Vnd::new(-5_000)));
        assert!(Vnd::ZERO.is_zero());
        assert!(Vnd::default().is_zero());
        assert!(!Vnd::new(-1).is_zero());
    }

    proptest! {
        #[test]
        fn vietnamese_formatting_parses_back_to_the_same_amount(amount in any::<i64>()) {
            let text = Vnd::new(amount).format_vi();
            prop_assert_eq!(text.parse::<Vnd>(), Ok(Vnd::new(amount)));
        }

        #[test]
        fn english_formatting_parses_back_to_the_same_amount(amount in any::<i64>()) {
            let text = Vnd::new(amount).format_en();
            prop_assert_eq!(text.parse::<Vnd>(), Ok(Vnd::new(amount)));
        }

        #[test]
        fn checked_operations_never_panic_and_agree_with_wide_arithmetic(
            a in any::<i64>(),
            b in any::<i64>(),
            factor in any::<u32>(),
        ) {
            let (x, y) = (Vnd::new(a), Vnd::new(b));
            let wide_sum = i128::from(a) + i128::from(b);
            let wide_difference = i128::from(a) - i128::from(b);
            let wide_product = i128::from(a) * i128::from(factor);
            prop_assert_eq!(x.checked_add(y).map(|v| i128::from(v.amount())),
                i64::try_from(wide_sum).ok().map(i128::from));
            prop_assert_eq!(x.checked_sub(y).map(|v| i128::from(v.amount())),
                i64::try_from(wide_difference).ok().map(i128::from));
            prop_assert_eq!(x.checked_mul(factor).map(|v| i128::from(v.amount())),
                i64::try_from(wide_product).ok().map(i128::from));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = text.parse::<Vnd>();
        }
    }
}
