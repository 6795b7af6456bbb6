//! Procedures as the catalogue knows them, and the rules for reading them.
//!
//! Pure: parsing and validation of procedure records and of search queries.
//! No IO, no axum, no sqlx.

use egov_core::money::Vnd;

/// Longest search text accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Results per page.
pub const PER_PAGE: usize = 20;
/// Highest page number accepted.
pub const MAX_PAGE: u32 = 10_000;

/// The administrative level that settles a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Commune,
    Province,
    Ministry,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Commune, Level::Province, Level::Ministry];

    pub fn parse(value: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Commune => "commune",
            Level::Province => "province",
            Level::Ministry => "ministry",
        }
    }
}

/// How much of a procedure can be done online (Decree 42/2022).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnlineLevel {
    /// Toàn trình: submit, pay and receive the result online (old level 4).
    Full,
    /// Một phần: some step happens in person.
    Partial,
}

impl OnlineLevel {
    pub const ALL: [OnlineLevel; 2] = [OnlineLevel::Full, OnlineLevel::Partial];

    pub fn parse(value: &str) -> Option<OnlineLevel> {
        OnlineLevel::ALL.into_iter().find(|online| online.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnlineLevel::Full => "full",
            OnlineLevel::Partial => "partial",
        }
    }

    /// The legacy level of Decree 43/2011 that this corresponds to.
    pub fn legacy_level(self) -> u8 {
        match self {
            OnlineLevel::Full => 4,
            OnlineLevel::Partial => 3,
        }
    }
}

/// A procedure code: the national code of the procedure database
/// (`1.001193`) or a local code an instance assigns (`H24.DP.001`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcedureCode(String);

impl ProcedureCode {
    /// Accepts 3 to 32 characters of ASCII letters, digits, `.`, `-`, `_`,
    /// starting with a letter or digit.
    pub fn parse(value: &str) -> Option<ProcedureCode> {
        let value = value.trim();
        let valid_length = (3..=32).contains(&value.len());
        let valid_chars = value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_'));
        let starts_well = value.bytes().next().is_some_and(|byte| byte.is_ascii_alphanumeric());
        (valid_length && valid_chars && starts_well).then(|| ProcedureCode(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProcedureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a value looks like an agency or field code: short, plain ASCII.
pub fn is_plain_code(value: &str) -> bool {
    (1..=40).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_'))
}

/// A procedure as stored and shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Procedure {
    pub code: ProcedureCode,
    pub name_vi: String,
    pub name_en: String,
    pub level: Level,
    pub field_code: String,
    /// `None`: the fee is set by the provincial People's Council.
    pub fee: Option<Vnd>,
    pub fee_note: String,
    pub processing_days: u32,
    pub processing_note: String,
    pub online: OnlineLevel,
    pub online_note: String,
    pub required_documents: Vec<String>,
    pub legal_basis: String,
    pub agency_codes: Vec<String>,
}

/// Why a procedure record is not acceptable; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("code: `{0}` is not a procedure code (3–32 letters, digits, '.', '-', '_')")]
    Code(String),
    #[error("{field}: is required")]
    Missing { field: &'static str },
    #[error("{field}: longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("level: `{0}` is not one of commune, province, ministry")]
    Level(String),
    #[error("online: `{0}` is not one of full, partial")]
    Online(String),
    #[error("fee_vnd: `{0}` is not a whole, non-negative amount of đồng")]
    Fee(String),
    #[error("processing_days: `{0}` is not a number of working days between 0 and 365")]
    ProcessingDays(String),
    #[error("field: `{0}` is not a known field code")]
    UnknownField(String),
    #[error("agency_codes: `{0}` is not a known agency")]
    UnknownAgency(String),
    #[error("required_documents: more than 50 documents")]
    TooManyDocuments,
}

/// A procedure record as it arrives from an import file, all text.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureRecord {
    #[serde(default, deserialize_with = "text_or_number")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub name_vi: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub name_en: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub level: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub field: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub fee_vnd: Option<String>,
    #[serde(default)]
    pub fee_note: String,
    #[serde(default, deserialize_with = "text_or_number")]
    pub processing_days: Option<String>,
    #[serde(default)]
    pub processing_note: String,
    #[serde(default, deserialize_with = "text_or_number")]
    pub online: Option<String>,
    #[serde(default)]
    pub online_note: String,
    #[serde(default)]
    pub required_documents: Vec<String>,
    #[serde(default)]
    pub legal_basis: String,
    #[serde(default)]
    pub agency_codes: Vec<String>,
}

/// Accepts a JSON string, number or null as optional text, so that
/// `"fee_vnd": 20000` and `"fee_vnd": "20.000"` read alike.
fn text_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Integer(i64),
        Float(f64),
    }
    Ok(
        match <Option<TextOrNumber> as serde::Deserialize>::deserialize(deserializer)? {
            None => None,
            Some(TextOrNumber::Text(text)) => Some(text),
            Some(TextOrNumber::Integer(number)) => Some(number.to_string()),
            Some(TextOrNumber::Float(number)) => Some(number.to_string()),
        },
    )
}

fn required(value: Option<&str>, field: &'static str, max: usize) -> Result<String, RecordError> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(RecordError::Missing { field });
    }
    bounded(value, field, max)
}

fn bounded(value: &str, field: &'static str, max: usize) -> Result<String, RecordError> {
    if value.chars().count() > max {
        return Err(RecordError::TooLong { field, max });
    }
    Ok(value.trim().to_owned())
}

/// The reference data a record is checked against.
pub trait KnownCodes {
    fn is_field(&self, code: &str) -> bool;
    fn is_agency(&self, code: &str) -> bool;
}

impl ProcedureRecord {
    /// Checks every field and builds the procedure.
    pub fn validate(&self, known: &dyn KnownCodes) -> Result<Procedure, RecordError> {
        let code_text = self.code.as_deref().unwrap_or_default();
        if code_text.trim().is_empty() {
            return Err(RecordError::Missing { field: "code" });
        }
        let code = ProcedureCode::parse(code_text).ok_or_else(|| RecordError::Code(code_text.to_owned()))?;
        let name_vi = required(self.name_vi.as_deref(), "name_vi", 500)?;
        let name_en = required(self.name_en.as_deref(), "name_en", 500)?;
        let level_text = required(self.level.as_deref(), "level", 20)?;
        let level = Level::parse(&level_text).ok_or(RecordError::Level(level_text))?;
        let field_code = required(self.field.as_deref(), "field", 40)?;
        if !known.is_field(&field_code) {
            return Err(RecordError::UnknownField(field_code));
        }
        let fee = match self.fee_vnd.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let fee: Vnd = text.parse().map_err(|_| RecordError::Fee(text.to_owned()))?;
                if fee.amount() < 0 {
                    return Err(RecordError::Fee(text.to_owned()));
                }
                Some(fee)
            }
        };
        let days_text = required(self.processing_days.as_deref(), "processing_days", 10)?;
        let processing_days = days_text
            .parse::<u32>()
            .ok()
            .filter(|days| *days <= 365)
            .ok_or(RecordError::ProcessingDays(days_text))?;
        let online_text = required(self.online.as_deref(), "online", 20)?;
        let online = OnlineLevel::parse(&online_text).ok_or(RecordError::Online(online_text))?;
        if self.required_documents.len() > 50 {
            return Err(RecordError::TooManyDocuments);
        }
        let required_documents = self
            .required_documents
            .iter()
            .map(|document| bounded(document, "required_documents", 1000))
            .filter(|document| document.as_ref().map_or(true, |text| !text.is_empty()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut agency_codes = Vec::with_capacity(self.agency_codes.len());
        for agency in &self.agency_codes {
            let agency = agency.trim();
            if !known.is_agency(agency) {
                return Err(RecordError::UnknownAgency(agency.to_owned()));
            }
            if !agency_codes.iter().any(|known: &String| known == agency) {
                agency_codes.push(agency.to_owned());
            }
        }
        if agency_codes.is_empty() {
            return Err(RecordError::Missing { field: "agency_codes" });
        }
        Ok(Procedure {
            code,
            name_vi,
            name_en,
            level,
            field_code,
            fee,
            fee_note: bounded(&self.fee_note, "fee_note", 2000)?,
            processing_days,
            processing_note: bounded(&self.processing_note, "processing_note", 2000)?,
            online,
            online_note: bounded(&self.online_note, "online_note", 2000)?,
            required_documents,
            legal_basis: bounded(&self.legal_basis, "legal_basis", 2000)?,
            agency_codes,
        })
    }
}

/// A validated catalogue search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// The text as typed, trimmed.
    pub text: String,
    pub agency: Option<String>,
    pub level: Option<Level>,
    pub field: Option<String>,
    pub online: Option<OnlineLevel>,
    /// 1-based.
    pub page: u32,
}

/// Search parameters as they arrive, before validation.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Search text; diacritics and case are ignored (`dang ky khai sinh` finds `Đăng ký khai sinh`).
    pub q: Option<String>,
    /// Competent agency code.
    pub agency: Option<String>,
    /// `commune`, `province` or `ministry`.
    pub level: Option<String>,
    /// Field (lĩnh vực) code.
    pub field: Option<String>,
    /// `full` (toàn trình) or `partial` (một phần).
    pub online: Option<String>,
    /// Page number, from 1.
    pub page: Option<String>,
    /// UI language of a page: `vi` or `en`.
    #[serde(default)]
    pub lang: Option<String>,
}

/// Why a search cannot be run; each variant is one stable error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    TooLong,
    InvalidParameter { name: &'static str },
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|value| value.trim()).filter(|value| !value.is_empty())
}

impl SearchQuery {
    pub fn parse(params: &SearchParams) -> Result<SearchQuery, QueryError> {
        let text = params.q.as_deref().map(str::trim).unwrap_or_default();
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(QueryError::InvalidParameter { name: "q" });
        }
        let code = |value: Option<&String>, name: &'static str| -> Result<Option<String>, QueryError> {
            match non_empty(value) {
                None => Ok(None),
                Some(value) if is_plain_code(value) => Ok(Some(value.to_owned())),
                Some(_) => Err(QueryError::InvalidParameter { name }),
            }
        };
        let level = match non_empty(params.level.as_ref()) {
            None => None,
            Some(value) => Some(Level::parse(value).ok_or(QueryError::InvalidParameter { name: "level" })?),
        };
        let online = match non_empty(params.online.as_ref()) {
            None => None,
            Some(value) => Some(OnlineLevel::parse(value).ok_or(QueryError::InvalidParameter { name: "online" })?),
        };
        let page = match non_empty(params.page.as_ref()) {
            None => 1,
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|page| (1..=MAX_PAGE).contains(page))
                .ok_or(QueryError::InvalidParameter { name: "page" })?,
        };
        Ok(SearchQuery {
            text: text.to_owned(),
            agency: code(params.agency.as_ref(), "agency")?,
            level,
            field: code(params.field.as_ref(), "field")?,
            online,
            page,
        })
    }

    /// Whether any filter or text narrows the catalogue.
    pub fn is_filtered(&self) -> bool {
        !self.text.is_empty()
            || self.agency.is_some()
            || self.level.is_some()
            || self.field.is_some()
            || self.online.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Known;
    impl KnownCodes for Known {
        fn is_field(&self, code: &str) -> bool {
            code == "ho_tich"
        }
        fn is_agency(&self, code: &str) -> bool {
            code == "000.01.01.H24"
        }
    }

    fn record() -> ProcedureRecord {
        ProcedureRecord {
            code: Some("1.001193".into()),
            name_vi: Some("Đăng ký khai sinh".into()),
            name_en: Some("Birth registration".into()),
            level: Some("commune".into()),
            field: Some("ho_tich".into()),
            fee_vnd: Some("0".into()),
            processing_days: Some("1".into()),
            online: Some("full".into()),
            agency_codes: vec!["000.01.01.H24".into()],
            ..ProcedureRecord::default()
        }
    }

    fn check(change: impl FnOnce(&mut ProcedureRecord), expected: &Result<(), RecordError>) {
        let mut record = record();
        change(&mut record);
        assert_eq!(&record.validate(&Known).map(|_| ()), expected);
    }

    #[test]
    fn a_complete_record_is_accepted() {
        check(|_| {}, &Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        check(|r| r.code = Some("x".into()), &Err(RecordError::Code("x".into())));
        check(|r| r.code = None, &Err(RecordError::Missing { field: "code" }));
        check(
            |r| r.name_en = Some("  ".into()),
            &Err(RecordError::Missing { field: "name_en" }),
        );
        check(
            |r| r.level = Some("district".into()),
            &Err(RecordError::Level("district".into())),
        );
        check(
            |r| r.online = Some("level4".into()),
            &Err(RecordError::Online("level4".into())),
        );
        check(
            |r| r.fee_vnd = Some("12.5".into()),
            &Err(RecordError::Fee("12.5".into())),
        );
        check(|r| r.fee_vnd = Some("-5".into()), &Err(RecordError::Fee("-5".into())));
        check(
            |r| r.processing_days = Some("400".into()),
            &Err(RecordError::ProcessingDays("400".into())),
        );
        check(
            |r| r.field = Some("dat_dai".into()),
            &Err(RecordError::UnknownField("dat_dai".into())),
        );
        check(
            |r| r.agency_codes = vec!["nowhere".into()],
            &Err(RecordError::UnknownAgency("nowhere".into())),
        );
        check(
            |r| r.agency_codes.clear(),
            &Err(RecordError::Missing { field: "agency_codes" }),
        );
    }

    #[test]
    fn an_empty_fee_means_set_by_the_province() {
        let mut record = record();
        record.fee_vnd = Some(String::new());
        assert_eq!(record.validate(&Known).expect("valid").fee, None);
        record.fee_vnd = Some("1.200.000".into());
        assert_eq!(record.validate(&Known).expect("valid").fee, Some(Vnd::new(1_200_000)));
    }

    fn params(q: &str) -> SearchParams {
        SearchParams {
            q: Some(q.into()),
            ..SearchParams::default()
        }
    }

    #[test]
    fn an_over_long_query_is_refused() {
        assert_eq!(SearchQuery::parse(&params(&"a".repeat(201))), Err(QueryError::TooLong));
        assert!(SearchQuery::parse(&params(&"ă".repeat(200))).is_ok());
    }

    #[test]
    fn malformed_parameters_are_named() {
        let bad = |params: SearchParams, name| {
            assert_eq!(SearchQuery::parse(&params), Err(QueryError::InvalidParameter { name }));
        };
        bad(
            SearchParams {
                page: Some("0".into()),
                ..SearchParams::default()
            },
            "page",
        );
        bad(
            SearchParams {
                page: Some("abc".into()),
                ..SearchParams::default()
            },
            "page",
        );
        bad(
            SearchParams {
                level: Some("district".into()),
                ..SearchParams::default()
            },
            "level",
        );
        bad(
            SearchParams {
                online: Some("4".into()),
                ..SearchParams::default()
            },
            "online",
        );
        bad(
            SearchParams {
                agency: Some("<script>".into()),
                ..SearchParams::default()
            },
            "agency",
        );
        bad(params("a\u{0}b"), "q");
    }

    #[test]
    fn empty_parameters_mean_no_filter() {
        let query = SearchQuery::parse(&SearchParams {
            q: Some("  khai sinh ".into()),
            level: Some(String::new()),
            page: Some(String::new()),
            ..SearchParams::default()
        })
        .expect("valid");
        assert_eq!(
            query,
            SearchQuery {
                text: "khai sinh".into(),
                page: 1,
                ..SearchQuery::default()
            }
        );
    }
}
