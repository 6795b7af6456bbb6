//! The pure rules of the base registries: a dataset's schema, the
//! validation of a record against it (one error per field), the two
//! shipped schemas (population, enterprise), and the purpose a reader
//! states in `X-Road-Issue`. No IO; neither axum nor sqlx.

use std::fmt;

use egov_core::personal_id::PersonalId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The population registry's name in URLs and tables.
pub const POPULATION: &str = "population";
/// The enterprise registry's name in URLs and tables.
pub const ENTERPRISE: &str = "enterprise";

/// A text in both UI languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    pub vi: String,
    pub en: String,
}

impl Labels {
    fn new(vi: &str, en: &str) -> Labels {
        Labels {
            vi: vi.to_owned(),
            en: en.to_owned(),
        }
    }
}

/// What a field holds. Every value is a JSON string (or absent), so CSV
/// and JSON records validate alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    /// `YYYY-MM-DD`.
    Date,
    /// One of the field's `values`.
    Enum,
    /// A 12-digit personal identification number.
    PersonalId,
    /// A Vietnamese tax code: 10 digits, or 10 digits, `-` and 3 digits.
    TaxCode,
    /// A 2-digit province code (the 34 units since 1 July 2025).
    Province,
    /// A 5-digit commune code.
    Commune,
}

/// One field of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    pub labels: Labels,
    /// The allowed values of an `enum` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A dataset's schema: its fields, which one is the record's key, and,
/// for registries of people, which field holds the person's personal ID
/// (reads of such records are tracked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSchema {
    pub name: String,
    pub version: String,
    pub labels: Labels,
    /// The name of the field that identifies a record.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_field: Option<String>,
    pub fields: Vec<FieldDef>,
}

/// Why a schema cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("a dataset name is 1 to 64 lowercase letters, digits, `-` or `_`")]
    BadName,
    #[error("a version is 1 to 16 digits and dots")]
    BadVersion,
    #[error("the schema has no field named `{0}`")]
    MissingField(String),
    #[error("the key field `{0}` must be required")]
    OptionalKey(String),
    #[error("the field `{0}` appears twice or has a bad name")]
    BadField(String),
    #[error("the enum field `{0}` lists no values")]
    EmptyEnum(String),
}

fn is_name(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl DatasetSchema {
    /// Checks that the schema is usable: names, key, person field, enums.
    pub fn check(&self) -> Result<(), SchemaError> {
        if !is_name(&self.name, 64) {
            return Err(SchemaError::BadName);
        }
        if self.version.is_empty()
            || self.version.len() > 16
            || !self.version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(SchemaError::BadVersion);
        }
        for (index, field) in self.fields.iter().enumerate() {
            let repeated = self.fields[..index].iter().any(|other| other.name == field.name);
            if repeated || !is_name(&field.name, 64) {
                return Err(SchemaError::BadField(field.name.clone()));
            }
            if field.kind == FieldKind::Enum && field.values.is_empty() {
                return Err(SchemaError::EmptyEnum(field.name.clone()));
            }
        }
        let key = self
            .field(&self.key)
            .ok_or_else(|| SchemaError::MissingField(self.key.clone()))?;
        if !key.required {
            return Err(SchemaError::OptionalKey(self.key.clone()));
        }
        if let Some(person_field) = &self.person_field
            && self.field(person_field).is_none()
        {
            return Err(SchemaError::MissingField(person_field.clone()));
        }
        Ok(())
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Whether records of this dataset describe people, whose reads are
    /// tracked.
    pub fn is_personal(&self) -> bool {
        self.person_field.is_some()
    }

    /// Validates a record: every problem, one per field, in schema order
    /// (unknown fields last). On success, the record's key and search text.
    pub fn validate(&self, content: &Map<String, Value>) -> Result<ValidRecord, Vec<FieldError>> {
        let mut errors = Vec::new();
        for field in &self.fields {
            match content.get(&field.name) {
                None | Some(Value::Null) => {
                    if field.required {
                        errors.push(FieldError::new(&field.name, FieldProblem::Required));
                    }
                }
                Some(Value::String(text)) if text.trim().is_empty() => {
                    if field.required {
                        errors.push(FieldError::new(&field.name, FieldProblem::Required));
                    }
                }
                Some(Value::String(text)) => {
                    if let Err(problem) = check_value(field, text) {
                        errors.push(FieldError::new(&field.name, problem));
                    }
                }
                Some(_) => errors.push(FieldError::new(&field.name, FieldProblem::NotText)),
            }
        }
        for name in content.keys() {
            if self.field(name).is_none() {
                errors.push(FieldError::new(name, FieldProblem::Unknown));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let text_of = |name: &str| content.get(name).and_then(Value::as_str).map(str::trim);
        let key = text_of(&self.key).unwrap_or_default().to_owned();
        let mut search = key.clone();
        for field in &self.fields {
            if field.kind == FieldKind::String
                && let Some(text) = text_of(&field.name)
            {
                search.push(' ');
                search.push_str(text);
            }
        }
        let person = self.person_field.as_deref().and_then(text_of).map(str::to_owned);
        Ok(ValidRecord {
            key,
            search_text: egov_core::text::fold(&search),
            personal_id: person,
        })
    }
}

/// What validation found out about a good record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    pub key: String,
    /// Folded key and text fields, for search.
    pub search_text: String,
    pub personal_id: Option<String>,
}

/// What is wrong with one field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    Required,
    NotText,
    Unknown,
    BadDate,
    NotInList,
    BadPersonalId(String),
    BadTaxCode,
    BadProvince,
    BadCommune,
    TooLong,
}

impl FieldProblem {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            FieldProblem::Required => "required",
            FieldProblem::NotText => "not_text",
            FieldProblem::Unknown => "unknown_field",
            FieldProblem::BadDate => "bad_date",
            FieldProblem::NotInList => "not_in_list",
            FieldProblem::BadPersonalId(_) => "bad_personal_id",
            FieldProblem::BadTaxCode => "bad_tax_code",
            FieldProblem::BadProvince => "bad_province",
            FieldProblem::BadCommune => "bad_commune",
            FieldProblem::TooLong => "too_long",
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::Required => f.write_str("is required"),
            FieldProblem::NotText => f.write_str("must be a string"),
            FieldProblem::Unknown => f.write_str("is not a field of this dataset"),
            FieldProblem::BadDate => f.write_str("must be a date YYYY-MM-DD"),
            FieldProblem::NotInList => f.write_str("is not one of the allowed values"),
            FieldProblem::BadPersonalId(why) => write!(f, "is not a personal ID: {why}"),
            FieldProblem::BadTaxCode => f.write_str("must be a tax code of 10 digits or 10-3 digits"),
            FieldProblem::BadProvince => f.write_str("must be a 2-digit province code"),
            FieldProblem::BadCommune => f.write_str("must be a 5-digit commune code"),
            FieldProblem::TooLong => write!(f, "is longer than {MAX_VALUE_CHARS} characters"),
        }
    }
}

/// One field's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: FieldProblem,
}

impl FieldError {
    fn new(field: &str, problem: FieldProblem) -> FieldError {
        FieldError {
            field: field.to_owned(),
            problem,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

/// The longest value a field takes, in characters.
pub const MAX_VALUE_CHARS: usize = 500;

fn all_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is a Vietnamese tax code (mã số thuế): 10 digits for an
/// enterprise, 10 digits, `-` and 3 digits for a branch.
pub fn is_tax_code(text: &str) -> bool {
    match text.split_once('-') {
        None => all_digits(text, 10),
        Some((head, branch)) => all_digits(head, 10) && all_digits(branch, 3),
    }
}

fn check_value(field: &FieldDef, text: &str) -> Result<(), FieldProblem> {
    let text = text.trim();
    if text.chars().count() > MAX_VALUE_CHARS {
        return Err(FieldProblem::TooLong);
    }
    match field.kind {
        FieldKind::String => Ok(()),
        FieldKind::Date => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|_| ())
            .map_err(|_| FieldProblem::BadDate),
        FieldKind::Enum => {
            if field.values.iter().any(|value| value == text) {
                Ok(())
            } else {
                Err(FieldProblem::NotInList)
            }
        }
        FieldKind::PersonalId => PersonalId::parse(text)
            .map(|_| ())
            .map_err(|error| FieldProblem::BadPersonalId(error.to_string())),
        FieldKind::TaxCode => {
            if is_tax_code(text) {
                Ok(())
            } else {
                Err(FieldProblem::BadTaxCode)
            }
        }
        FieldKind::Province => {
            if all_digits(text, 2) {
                Ok(())
            } else {
                Err(FieldProblem::BadProvince)
            }
        }
        FieldKind::Commune => {
            if all_digits(text, 5) {
                Ok(())
            } else {
                Err(FieldProblem::BadCommune)
            }
        }
    }
}

fn field(name: &str, kind: FieldKind, required: bool, vi: &str, en: &str) -> FieldDef {
    FieldDef {
        name: name.to_owned(),
        kind,
        required,
        labels: Labels::new(vi, en),
        values: Vec::new(),
    }
}

fn enum_field(name: &str, required: bool, vi: &str, en: &str, values: &[&str]) -> FieldDef {
    FieldDef {
        values: values.iter().map(|value| (*value).to_owned()).collect(),
        ..field(name, FieldKind::Enum, required, vi, en)
    }
}

/// The population registry (Cơ sở dữ liệu quốc gia về dân cư), as shipped.
pub fn population_schema() -> DatasetSchema {
    DatasetSchema {
        name: POPULATION.to_owned(),
        version: "1.0".to_owned(),
        labels: Labels::new("Cơ sở dữ liệu dân cư", "Population registry"),
        key: "personal_id".to_owned(),
        person_field: Some("personal_id".to_owned()),
        fields: vec![
            field(
                "personal_id",
                FieldKind::PersonalId,
                true,
                "Số định danh cá nhân",
                "Personal ID",
            ),
            field("full_name", FieldKind::String, true, "Họ, chữ đệm và tên", "Full name"),
            field("date_of_birth", FieldKind::Date, true, "Ngày sinh", "Date of birth"),
            enum_field("sex", true, "Giới tính", "Sex", &["male", "female"]),
            field(
                "place_of_birth",
                FieldKind::Province,
                true,
                "Nơi sinh (tỉnh)",
                "Place of birth (province)",
            ),
            field(
                "residence_province",
                FieldKind::Province,
                true,
                "Nơi thường trú (tỉnh)",
                "Permanent residence (province)",
            ),
            field(
                "residence_commune",
                FieldKind::Commune,
                true,
                "Nơi thường trú (xã, phường)",
                "Permanent residence (commune)",
            ),
            field(
                "household_head",
                FieldKind::PersonalId,
                false,
                "Số định danh của chủ hộ",
                "Personal ID of the household head",
            ),
            enum_field(
                "status",
                true,
                "Tình trạng",
                "Status",
                &["living", "deceased", "missing"],
            ),
        ],
    }
}

/// The enterprise registry (Cơ sở dữ liệu quốc gia về đăng ký doanh
/// nghiệp), as shipped.
pub fn enterprise_schema() -> DatasetSchema {
    DatasetSchema {
        name: ENTERPRISE.to_owned(),
        version: "1.0".to_owned(),
        labels: Labels::new("Cơ sở dữ liệu doanh nghiệp", "Enterprise registry"),
        key: "tax_code".to_owned(),
        person_field: None,
        fields: vec![
            field("tax_code", FieldKind::TaxCode, true, "Mã số thuế", "Tax code"),
            field("name", FieldKind::String, true, "Tên doanh nghiệp", "Name"),
            field(
                "legal_representative",
                FieldKind::String,
                true,
                "Người đại diện theo pháp luật",
                "Legal representative",
            ),
            field("address", FieldKind::String, true, "Địa chỉ trụ sở", "Address"),
            enum_field(
                "status",
                true,
                "Tình trạng",
                "Status",
                &["active", "suspended", "dissolved"],
            ),
        ],
    }
}

/// The schemas every instance starts with.
pub fn shipped_schemas() -> Vec<DatasetSchema> {
    vec![population_schema(), enterprise_schema()]
}

/// Why a reader may read: `X-Road-Issue` carries `{purpose}` or
/// `{purpose}:{reference}` (a dossier code, a case number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose {
    pub code: String,
    pub reference: Option<String>,
}

/// Why an `X-Road-Issue` value is not a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PurposeError {
    #[error("the purpose is empty")]
    Empty,
    #[error("a purpose code is 1 to 64 lowercase letters, digits, `-`, `_` or `.`")]
    BadCode,
    #[error("a purpose reference is 1 to 200 printable characters")]
    BadReference,
}

impl Purpose {
    pub fn parse(issue: &str) -> Result<Purpose, PurposeError> {
        let issue = issue.trim();
        if issue.is_empty() {
            return Err(PurposeError::Empty);
        }
        let (code, reference) = match issue.split_once(':') {
            Some((code, reference)) => (code, Some(reference)),
            None => (issue, None),
        };
        let code_ok = !code.is_empty()
            && code.len() <= 64
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
        if !code_ok {
            return Err(PurposeError::BadCode);
        }
        if let Some(reference) = reference
            && (reference.is_empty() || reference.chars().count() > 200 || reference.chars().any(char::is_control))
        {
            return Err(PurposeError::BadReference);
        }
        Ok(Purpose {
            code: code.to_owned(),
            reference: reference.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_schemas_are_usable() {
        for schema in shipped_schemas() {
            assert_eq!(schema.check(), Ok(()), "{}", schema.name);
        }
    }

    #[test]
    fn tax_codes_have_ten_or_ten_and_three_digits() {
        assert!(is_tax_code("0101234567"));
        assert!(is_tax_code("0101234567-001"));
        assert!(!is_tax_code("010123456"));
        assert!(!is_tax_code("0101234567-01"));
        assert!(!is_tax_code("0101234567-"));
        assert!(!is_tax_code("010123456a"));
    }

    #[test]
    fn purposes_parse_with_and_without_reference() {
        assert_eq!(
            Purpose::parse("onestop-verify:000.00.25.H12-261127-0001"),
            Ok(Purpose {
                code: "onestop-verify".to_owned(),
                reference: Some("000.00.25.H12-261127-0001".to_owned())
            })
        );
        assert_eq!(
            Purpose::parse("onestop-prefill"),
            Ok(Purpose {
                code: "onestop-prefill".to_owned(),
                reference: None
            })
        );
        assert_eq!(Purpose::parse("  "), Err(PurposeError::Empty));
        assert_eq!(Purpose::parse("Bad Code"), Err(PurposeError::BadCode));
        assert_eq!(Purpose::parse("ok:"), Err(PurposeError::BadReference));
    }
}
