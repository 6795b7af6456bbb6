//! The 12-digit Vietnamese personal identification number (số định danh
//! cá nhân), which is also the citizen ID card number.
//!
//! It owns parsing the number at the edge and reading the facts its layout
//! encodes: `PPP G YY RRRRRR` = province where the birth was registered,
//! century and sex, last two digits of the birth year, and a sequence
//! number (NĐ 137/2015/NĐ-CP Art. 13, TT 07/2016/TT-BCA Art. 7). It must
//! not look anybody up, mask numbers for display, or decide who may see
//! one; those rules live with the callers that hold the data.

use std::fmt;
use std::str::FromStr;

/// The 63 pre-2025 province codes, zero padded, in ascending order.
///
/// Numbers already issued keep these codes after the 2025 merger, and the
/// 34 new province codes are a subset of them, so accepting exactly this
/// list accepts every number issued before or after the merger.
const PROVINCE_CODES: [&str; 63] = [
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020", "022", "024", "025",
    "026", "027", "030", "031", "033", "034", "035", "036", "037", "038", "040", "042", "044", "045", "046", "048",
    "049", "051", "052", "054", "056", "058", "060", "062", "064", "066", "067", "068", "070", "072", "074", "075",
    "077", "079", "080", "082", "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
];

/// A personal identification number that has passed [`PersonalId::parse`].
///
/// It serializes as the bare 12-digit string and deserializes through the
/// same parser, so an invalid number can never enter through JSON either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PersonalId(String);

/// The sex encoded in the century digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

/// Why a typed personal id number was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalIdError {
    #[error("the personal id number is empty")]
    Empty,
    #[error("a personal id number has 12 digits, this one has {len} characters")]
    WrongLength { len: usize },
    #[error("a personal id number contains only digits")]
    NotDigits,
    #[error("{code} is not a Vietnamese province code")]
    UnknownProvince { code: String },
}

impl PersonalId {
    /// Parses a number as typed, ignoring whitespace around it.
    ///
    /// Spaces or dots inside the number are not accepted: the number is
    /// printed on the card without separators, and accepting several
    /// spellings would make the same person appear under different keys
    /// in places that store the raw text.
    pub fn parse(input: &str) -> Result<PersonalId, PersonalIdError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PersonalIdError::Empty);
        }
        let len = trimmed.chars().count();
        if len != 12 {
            return Err(PersonalIdError::WrongLength { len });
        }
        if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PersonalIdError::NotDigits);
        }
        let code = &trimmed[..3];
        if PROVINCE_CODES.binary_search(&code).is_err() {
            return Err(PersonalIdError::UnknownProvince { code: code.to_owned() });
        }
        Ok(PersonalId(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The three-digit code of the province where the birth was
    /// registered, for example `"079"` for Hồ Chí Minh City.
    pub fn province_code(&self) -> &str {
        &self.0[..3]
    }

    /// The sex encoded in the century digit: even digits are male, odd
    /// digits female.
    pub fn sex(&self) -> Sex {
        if self.century_digit().is_multiple_of(2) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The full birth year: the century digit picks the century
    /// (0/1 → 1900s, 2/3 → 2000s, … 8/9 → 2300s) and the next two digits
    /// the year within it.
    pub fn birth_year(&self) -> i32 {
        let century_start = 1900 + i32::from(self.century_digit() / 2) * 100;
        let bytes = self.0.as_bytes();
        let year_in_century = i32::from(bytes[4] - b'0') * 10 + i32::from(bytes[5] - b'0');
        century_start + year_in_century
    }

    fn century_digit(&self) -> u8 {
        // Parsing guarantees twelve ASCII digits, so index 3 exists and the
        // subtraction cannot underflow.
        self.0.as_bytes()[3] - b'0'
    }
}

impl fmt::Display for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PersonalId {
    type Err = PersonalIdError;

    fn from_str(input: &str) -> Result<PersonalId, PersonalIdError> {
        PersonalId::parse(input)
    }
}

impl TryFrom<String> for PersonalId {
    type Error = PersonalIdError;

    fn try_from(value: String) -> Result<PersonalId, PersonalIdError> {
        PersonalId::parse(&value)
    }
}

impl From<PersonalId> for String {
    fn from(id: PersonalId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::{PROVINCE_CODES, PersonalId, PersonalIdError, Sex};
    use proptest::prelude::*;

    fn check(input: &str, expected: &Result<(&str, Sex, i32), PersonalIdError>) {
        let parsed = PersonalId::parse(input);
        let facts = parsed
            .as_ref()
            .map(|id| (id.province_code(), id.sex(), id.birth_year()))
            .map_err(Clone::clone);
        assert_eq!(&facts, expected, "parsing {input:?}");
    }

    #[test]
    fn valid_numbers_reveal_province_sex_and_birth_year() {
        check("079205123456", &Ok(("079", Sex::Male, 2005)));
        check("001190000001", &Ok(("001", Sex::Female, 1990)));
        check("  096099999999\n", &Ok(("096", Sex::Male, 1999)));
        check("048300000000", &Ok(("048", Sex::Female, 2000)));
        check("001400000000", &Ok(("001", Sex::Male, 2100)));
        check("001599000000", &Ok(("001", Sex::Female, 2199)));
        check("001612000000", &Ok(("001", Sex::Male, 2212)));
        check("001912000000", &Ok(("001", Sex::Female, 2312)));
    }

    #[test]
    fn malformed_numbers_say_what_is_wrong() {
        check("", &Err(PersonalIdError::Empty));
        check("   ", &Err(PersonalIdError::Empty));
        check("07920512345", &Err(PersonalIdError::WrongLength { len: 11 }));
        check("0792051234567", &Err(PersonalIdError::WrongLength { len: 13 }));
        check("079 205 123456", &Err(PersonalIdError::WrongLength { len: 14 }));
        check("07920512345a", &Err(PersonalIdError::NotDigits));
        check("０７９２０５１２３４５６", &Err(PersonalIdError::NotDigits));
        check(
            "003205123456",
            &Err(PersonalIdError::UnknownProvince { code: "003".to_owned() }),
        );
        check(
            "097205123456",
            &Err(PersonalIdError::UnknownProvince { code: "097".to_owned() }),
        );
    }

    #[test]
    fn the_province_list_has_the_63_pre_merger_codes_in_order() {
        assert_eq!(PROVINCE_CODES.len(), 63);
        assert!(PROVINCE_CODES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn display_and_from_str_use_the_bare_number() {
        let id: PersonalId = " 079205123456 ".parse().expect("valid id");
        assert_eq!(id.to_string(), "079205123456");
        assert_eq!(id.as_str(), "079205123456");
    }

    #[test]
    fn deserializing_runs_the_parser() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::Error;

        let good = PersonalId::deserialize(IntoDeserializer::<Error>::into_deserializer("079205123456"));
        assert_eq!(good.ok().as_ref().map(PersonalId::as_str), Some("079205123456"));
        let bad = PersonalId::deserialize(IntoDeserializer::<Error>::into_deserializer("999205123456"));
        assert!(bad.is_err());
    }

    proptest! {
        #[test]
        fn every_well_formed_number_parses_and_keeps_its_birth_year_and_sex(
            code in prop::sample::select(PROVINCE_CODES.to_vec()),
            birth_year in 1900_i32..2400,
            female in any::<bool>(),
            sequence in 0_u32..1_000_000,
        ) {
            let century_digit = (birth_year - 1900) / 100 * 2 + i32::from(female);
            let text = format!("{code}{century_digit}{:02}{sequence:06}", birth_year % 100);
            let id = PersonalId::parse(&text);
            prop_assert!(id.is_ok(), "{} did not parse: {:?}", text, id);
            let id = id.expect("checked above");
            prop_assert_eq!(id.birth_year(), birth_year);
            prop_assert_eq!(id.sex(), if female { Sex::Female } else { Sex::Male });
            prop_assert_eq!(id.province_code(), code);
            prop_assert_eq!(id.as_str(), text.as_str());
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,20}") {
            let _ = PersonalId::parse(&text);
        }
    }
}
