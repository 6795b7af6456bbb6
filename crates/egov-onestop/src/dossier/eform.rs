//! E-forms (tờ khai điện tử): the schema of a procedure version's form, and
//! the one validation that both the page and the JSON API go through.
//!
//! Pure: values arrive as a JSON object (pages turn their form posts into
//! one, see [`values_from_pairs`]); problems come back per field path, in
//! Vietnamese and English.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest text value accepted in any field, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Most items in a repeating group.
pub const MAX_GROUP_ITEMS: usize = 50;

/// A form as a procedure version defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormSchema {
    pub fields: Vec<Field>,
    /// A file slot per document the procedure requires.
    #[serde(default)]
    pub documents: Vec<DocumentSlot>,
    /// Rules between fields.
    #[serde(default)]
    pub rules: Vec<CrossRule>,
}

/// One field of the form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Field {
    /// `snake_case` ASCII; the key of the value.
    pub name: String,
    pub label_vi: String,
    pub label_en: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// A help line under the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_vi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_en: Option<String>,
}

/// What a field holds, with its own constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldKind {
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chars: Option<usize>,
        /// A whole-value pattern (`regex` syntax, anchored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
        #[serde(default)]
        multiline: bool,
    },
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    Date {
        /// Earliest date accepted, `YYYY-MM-DD`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<chrono::NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<chrono::NaiveDate>,
        /// Reject dates after the day of submission.
        #[serde(default)]
        not_in_future: bool,
    },
    Select {
        options: Vec<Choice>,
    },
    Checkbox,
    /// A 12-digit personal ID number (số định danh cá nhân).
    PersonalId,
    /// Province (one of the 34), commune and street address.
    Address,
    /// Repeating group of fields.
    Group {
        /// Groups do not nest, but the type does: the schema stops here.
        #[schema(no_recursion)]
        fields: Vec<Field>,
        #[serde(default)]
        min_items: usize,
        #[serde(default = "default_max_items")]
        max_items: usize,
    },
}

fn default_max_items() -> usize {
    10
}

/// One option of a select field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    pub value: String,
    pub label_vi: String,
    pub label_en: String,
}

/// A slot for one required (or optional) document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentSlot {
    pub slot: String,
    pub label_vi: String,
    pub label_en: String,
    #[serde(default)]
    pub required: bool,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Media types accepted (checked on the file's bytes).
    pub types: Vec<String>,
}

/// A rule between two fields of the top level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum CrossRule {
    /// `field` (a date or number) must not be after `other`.
    NotAfter { field: String, other: String },
    /// `field` is required when `when` has the value `equals`.
    RequiredIf {
        field: String,
        when: String,
        equals: String,
    },
}

/// A problem with one field, named by its path (`children[1].name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub path: String,
    pub vi: String,
    pub en: String,
}

/// Why a schema cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("field `{0}`: a name is 1 to 40 lowercase ASCII letters, digits and `_`")]
    Name(String),
    #[error("field `{0}` appears twice")]
    Duplicate(String),
    #[error("field `{0}`: the pattern does not compile: {1}")]
    Pattern(String, String),
    #[error("field `{0}`: a select needs at least one option")]
    NoOptions(String),
    #[error("field `{0}`: groups cannot nest, and need fields")]
    Group(String),
    #[error("document slot `{0}`: needs a name, a size limit and at least one known type")]
    Slot(String),
    #[error("rule on `{0}`: names a field the form does not have")]
    Rule(String),
}

/// The media types a document slot may accept.
pub const KNOWN_TYPES: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        && name.bytes().next().is_some_and(|byte| byte.is_ascii_lowercase())
}

impl FormSchema {
    /// Checks that the schema is one this machine can render and enforce.
    pub fn check(&self) -> Result<(), SchemaError> {
        check_fields(&self.fields, false)?;
        let mut slots = std::collections::HashSet::new();
        for slot in &self.documents {
            let known = !slot.types.is_empty() && slot.types.iter().all(|kind| KNOWN_TYPES.contains(&kind.as_str()));
            if !valid_name(&slot.slot) || slot.max_bytes == 0 || !known || !slots.insert(&slot.slot) {
                return Err(SchemaError::Slot(slot.slot.clone()));
            }
        }
        for rule in &self.rules {
            let names: &[&String] = match rule {
                CrossRule::NotAfter { field, other } => &[field, other],
                CrossRule::RequiredIf { field, when, .. } => &[field, when],
            };
            for name in names {
                if !self.fields.iter().any(|field| &field.name == *name) {
                    return Err(SchemaError::Rule((*name).clone()));
                }
            }
        }
        Ok(())
    }

    /// Validates submitted values; returns them normalised (trimmed text,
    /// numbers as numbers, unknown keys dropped) or every problem found.
    pub fn validate(&self, values: &Value, today: chrono::NaiveDate) -> Result<Value, Vec<Problem>> {
        let empty = Map::new();
        let object = values.as_object().unwrap_or(&empty);
        let mut problems = Vec::new();
        let normalised = validate_fields(&self.fields, object, "", today, &mut problems);
        for rule in &self.rules {
            check_rule(rule, &self.fields, &normalised, &mut problems);
        }
        if problems.is_empty() {
            Ok(Value::Object(normalised))
        } else {
            Err(problems)
        }
    }

    pub fn slot(&self, name: &str) -> Option<&DocumentSlot> {
        self.documents.iter().find(|slot| slot.slot == name)
    }
}

fn check_fields(fields: &[Field], nested: bool) -> Result<(), SchemaError> {
    let mut names = std::collections::HashSet::new();
    for field in fields {
        if !valid_name(&field.name) {
            return Err(SchemaError::Name(field.name.clone()));
        }
        if !names.insert(&field.name) {
            return Err(SchemaError::Duplicate(field.name.clone()));
        }
        match &field.kind {
            FieldKind::Text {
                pattern: Some(pattern), ..
            } => {
                regex_lite::Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|error| SchemaError::Pattern(field.name.clone(), error.to_string()))?;
            }
            FieldKind::Select { options } if options.is_empty() => {
                return Err(SchemaError::NoOptions(field.name.clone()));
            }
            FieldKind::Group { fields, .. } => {
                if nested || fields.is_empty() {
                    return Err(SchemaError::Group(field.name.clone()));
                }
                check_fields(fields, true)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn problem(problems: &mut Vec<Problem>, path: &str, vi: impl Into<String>, en: impl Into<String>) {
    problems.push(Problem {
        path: path.to_owned(),
        vi: vi.into(),
        en: en.into(),
    });
}

/// The text of a value as a form post or JSON would give it.
fn as_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
    .filter(|text| !text.is_empty())
}

fn validate_fields(
    fields: &[Field],
    object: &Map<String, Value>,
    prefix: &str,
    today: chrono::NaiveDate,
    problems: &mut Vec<Problem>,
) -> Map<String, Value> {
    let mut normalised = Map::new();
    for field in fields {
        let path = format!("{prefix}{}", field.name);
        let raw = object.get(&field.name);
        if let Some(value) = validate_field(field, raw, &path, today, problems) {
            normalised.insert(field.name.clone(), value);
        }
    }
    normalised
}

#[allow(clippy::too_many_lines)] // One arm per field kind reads best together.
fn validate_field(
    field: &Field,
    raw: Option<&Value>,
    path: &str,
    today: chrono::NaiveDate,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    let missing = |problems: &mut Vec<Problem>| {
        if field.required {
            problem(problems, path, "Bắt buộc nhập.", "This field is required.");
        }
    };
    match &field.kind {
        FieldKind::Group {
            fields,
            min_items,
            max_items,
        } => {
            let items = match raw {
                Some(Value::Array(items)) => items.as_slice(),
                None | Some(Value::Null) => &[],
                Some(_) => {
                    problem(problems, path, "Dữ liệu không hợp lệ.", "Not a list.");
                    return None;
                }
            };
            let items: Vec<&Value> = items.iter().filter(|item| !is_blank_item(item)).collect();
            let min = (*min_items).max(usize::from(field.required));
            if items.len() < min {
                problem(
                    problems,
                    path,
                    format!("Cần ít nhất {min} mục."),
                    format!("At least {min} entries are needed."),
                );
            }
            let max = (*max_items).min(MAX_GROUP_ITEMS);
            if items.len() > max {
                problem(
                    problems,
                    path,
                    format!("Nhiều nhất {max} mục."),
                    format!("At most {max} entries."),
                );
                return None;
            }
            let empty = Map::new();
            let normalised: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let object = item.as_object().unwrap_or(&empty);
                    Value::Object(validate_fields(
                        fields,
                        object,
                        &format!("{path}[{index}]."),
                        today,
                        problems,
                    ))
                })
                .collect();
            Some(Value::Array(normalised))
        }
        FieldKind::Address => {
            let empty = Map::new();
            let object = raw.and_then(Value::as_object).unwrap_or(&empty);
            let part = |name: &str| as_text(object.get(name));
            let (province, mut commune, street) = (part("province"), part("commune"), part("street"));
            if province.is_none() && commune.is_none() && street.is_none() {
                missing(problems);
                return None;
            }
            let mut ok = true;
            match &province {
                Some(code) if crate::directory::is_province_code(code) => {}
                Some(_) => {
                    ok = false;
                    problem(
                        problems,
                        &format!("{path}.province"),
                        "Tỉnh, thành phố không hợp lệ.",
                        "Not a province.",
                    );
                }
                None => {
                    ok = false;
                    problem(
                        problems,
                        &format!("{path}.province"),
                        "Chọn tỉnh, thành phố.",
                        "Choose a province.",
                    );
                }
            }
            for (name, value, vi, en) in [
                ("commune", &commune, "Nhập xã, phường.", "Enter the commune or ward."),
                (
                    "street",
                    &street,
                    "Nhập số nhà, đường, thôn.",
                    "Enter the street address.",
                ),
            ] {
                match value {
                    None => {
                        ok = false;
                        problem(problems, &format!("{path}.{name}"), vi, en);
                    }
                    Some(text) if text.chars().count() > 200 => {
                        ok = false;
                        problem(
                            problems,
                            &format!("{path}.{name}"),
                            "Dài quá 200 ký tự.",
                            "Longer than 200 characters.",
                        );
                    }
                    Some(_) => {}
                }
            }
            // The commune must be one of the chosen province's (since 1 July
            // 2025); it is kept under its official name and code.
            let mut commune_code = None;
            if ok && let (Some(province), Some(text)) = (&province, &commune) {
                if let Some(found) = crate::directory::find_commune(province, text) {
                    commune = Some(found.name_vi.clone());
                    commune_code = Some(found.code.clone());
                } else {
                    ok = false;
                    problem(
                        problems,
                        &format!("{path}.commune"),
                        "Không có xã, phường, đặc khu này trong tỉnh, thành phố đã chọn.",
                        "No such commune or ward in the chosen province.",
                    );
                }
            }
            ok.then(|| {
                serde_json::json!({
                    "province": province,
                    "commune": commune,
                    "commune_code": commune_code,
                    "street": street,
                })
            })
        }
        FieldKind::Checkbox => {
            let checked = match raw {
                Some(Value::Bool(flag)) => *flag,
                other => matches!(as_text(other).as_deref(), Some("on" | "true" | "1" | "yes")),
            };
            if field.required && !checked {
                problem(problems, path, "Cần đánh dấu ô này.", "This box must be ticked.");
            }
            Some(Value::Bool(checked))
        }
        _ => {
            let Some(text) = as_text(raw) else {
                missing(problems);
                return None;
            };
            if text.chars().count() > MAX_TEXT_CHARS {
                problem(
                    problems,
                    path,
                    format!("Dài quá {MAX_TEXT_CHARS} ký tự."),
                    format!("Longer than {MAX_TEXT_CHARS} characters."),
                );
                return None;
            }
            scalar(&field.kind, text, path, today, problems)
        }
    }
}

fn is_blank_item(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|object| object.values().all(|value| as_text(Some(value)).is_none()))
}

#[allow(clippy::single_match_else, clippy::too_many_lines)] // Each kind parses, then checks what it parsed.
fn scalar(
    kind: &FieldKind,
    text: String,
    path: &str,
    today: chrono::NaiveDate,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    let before = problems.len();
    let value = match kind {
        FieldKind::Text { max_chars, pattern, .. } => {
            if let Some(max) = max_chars
                && text.chars().count() > *max
            {
                problem(
                    problems,
                    path,
                    format!("Dài quá {max} ký tự."),
                    format!("Longer than {max} characters."),
                );
            }
            if let Some(pattern) = pattern
                && let Ok(regex) = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
                && !regex.is_match(&text)
            {
                problem(problems, path, "Không đúng định dạng.", "Not in the expected format.");
            }
            Value::String(text)
        }
        FieldKind::Number { min, max } => match text.replace(['.', ' '], "").parse::<i64>() {
            Ok(number) => {
                if min.is_some_and(|min| number < min) || max.is_some_and(|max| number > max) {
                    let range = match (min, max) {
                        (Some(min), Some(max)) => format!("{min}–{max}"),
                        (Some(min), None) => format!("≥ {min}"),
                        (None, Some(max)) => format!("≤ {max}"),
                        (None, None) => String::new(),
                    };
                    problem(
                        problems,
                        path,
                        format!("Ngoài khoảng cho phép ({range})."),
                        format!("Outside the allowed range ({range})."),
                    );
                }
                Value::from(number)
            }
            Err(_) => {
                problem(problems, path, "Nhập một số nguyên.", "Enter a whole number.");
                return None;
            }
        },
        FieldKind::Date {
            min,
            max,
            not_in_future,
        } => match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) => {
                if min.is_some_and(|min| date < min) || max.is_some_and(|max| date > max) {
                    problem(
                        problems,
                        path,
                        "Ngày ngoài khoảng cho phép.",
                        "The date is out of range.",
                    );
                } else if *not_in_future && date > today {
                    problem(
                        problems,
                        path,
                        "Ngày không được sau hôm nay.",
                        "The date cannot be after today.",
                    );
                }
                Value::String(date.to_string())
            }
            Err(_) => {
                problem(
                    problems,
                    path,
                    "Nhập ngày theo dạng năm-tháng-ngày.",
                    "Enter a date as year-month-day.",
                );
                return None;
            }
        },
        FieldKind::Select { options } => {
            if !options.iter().any(|choice| choice.value == text) {
                problem(
                    problems,
                    path,
                    "Chọn một giá trị trong danh sách.",
                    "Choose one of the options.",
                );
            }
            Value::String(text)
        }
        FieldKind::PersonalId => match egov_core::personal_id::PersonalId::parse(&text) {
            Ok(id) => Value::String(id.as_str().to_owned()),
            Err(_) => {
                problem(
                    problems,
                    path,
                    "Số định danh cá nhân gồm 12 chữ số hợp lệ.",
                    "A personal ID number is 12 valid digits.",
                );
                return None;
            }
        },
        FieldKind::Checkbox | FieldKind::Address | FieldKind::Group { .. } => return None,
    };
    (problems.len() == before).then_some(value)
}

fn check_rule(rule: &CrossRule, fields: &[Field], values: &Map<String, Value>, problems: &mut Vec<Problem>) {
    match rule {
        CrossRule::NotAfter { field, other } => {
            let (Some(value), Some(limit)) = (values.get(field), values.get(other)) else {
                return;
            };
            let after = match (value, limit) {
                (Value::Number(a), Value::Number(b)) => a.as_i64() > b.as_i64(),
                (Value::String(a), Value::String(b)) => a > b,
                _ => false,
            };
            if after {
                let label = |name: &str| fields.iter().find(|field| field.name == name);
                let (vi, en) = label(other).map_or((String::new(), String::new()), |other| {
                    (other.label_vi.clone(), other.label_en.clone())
                });
                problem(
                    problems,
                    field,
                    format!("Không được sau “{vi}”."),
                    format!("Cannot be after “{en}”."),
                );
            }
        }
        CrossRule::RequiredIf { field, when, equals } => {
            let triggered = values.get(when).is_some_and(|value| match value {
                Value::String(text) => text == equals,
                Value::Bool(flag) => flag.to_string() == *equals,
                other => *other == Value::String(equals.clone()),
            });
            if triggered && !values.contains_key(field) {
                problem(
                    problems,
                    field,
                    "Bắt buộc nhập trong trường hợp này.",
                    "Required in this case.",
                );
            }
        }
    }
}

/// Turns a form post's pairs into the JSON object the schema validates:
/// `name` → value, `address.province` → nested, `children[0].name` →
/// array item. Unknown shapes are kept as plain keys and then ignored.
pub fn values_from_pairs(pairs: &[(String, String)]) -> Value {
    let mut root = Map::new();
    let mut groups: BTreeMap<String, BTreeMap<usize, Map<String, Value>>> = BTreeMap::new();
    for (key, value) in pairs {
        if let Some((group, rest)) = key.split_once('[')
            && let Some((index, field)) = rest.split_once("].")
            && let Ok(index) = index.parse::<usize>()
            && index < MAX_GROUP_ITEMS
        {
            groups
                .entry(group.to_owned())
                .or_default()
                .entry(index)
                .or_default()
                .insert(field.to_owned(), Value::String(value.clone()));
        } else if let Some((parent, child)) = key.split_once('.') {
            let entry = root
                .entry(parent.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(object) = entry {
                object.insert(child.to_owned(), Value::String(value.clone()));
            }
        } else {
            root.insert(key.clone(), Value::String(value.clone()));
        }
    }
    for (group, items) in groups {
        let items = items.into_values().map(Value::Object).collect();
        root.insert(group, Value::Array(items));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> FormSchema {
        serde_json::from_value(json!({
            "fields": [
                {"name": "full_name", "label_vi": "Họ tên", "label_en": "Full name", "kind": "text", "required": true, "max_chars": 100},
                {"name": "birth_date", "label_vi": "Ngày sinh", "label_en": "Date of birth", "kind": "date", "required": true, "not_in_future": true},
                {"name": "registered_on", "label_vi": "Ngày đăng ký", "label_en": "Registration date", "kind": "date"},
                {"name": "sex", "label_vi": "Giới tính", "label_en": "Sex", "kind": "select", "required": true,
                 "options": [{"value": "nam", "label_vi": "Nam", "label_en": "Male"}, {"value": "nu", "label_vi": "Nữ", "label_en": "Female"}]},
                {"name": "children", "label_vi": "Số con", "label_en": "Children", "kind": "number", "min": 0, "max": 20},
                {"name": "mother_id", "label_vi": "Số định danh của mẹ", "label_en": "Mother's ID", "kind": "personal_id"},
                {"name": "postcode", "label_vi": "Mã bưu chính", "label_en": "Postcode", "kind": "text", "pattern": "[0-9]{5,6}"},
                {"name": "residence", "label_vi": "Nơi cư trú", "label_en": "Residence", "kind": "address", "required": true},
                {"name": "agree", "label_vi": "Cam đoan", "label_en": "I declare", "kind": "checkbox", "required": true},
                {"name": "witnesses", "label_vi": "Người làm chứng", "label_en": "Witnesses", "kind": "group", "min_items": 1, "max_items": 2,
                 "fields": [{"name": "name", "label_vi": "Họ tên", "label_en": "Name", "kind": "text", "required": true}]}
            ],
            "documents": [{"slot": "birth_certificate", "label_vi": "Giấy chứng sinh", "label_en": "Birth certificate",
                           "required": true, "max_bytes": 5_000_000, "types": ["application/pdf"]}],
            "rules": [{"rule": "not_after", "field": "birth_date", "other": "registered_on"}]
        }))
        .expect("the test schema parses")
    }

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date")
    }

    fn good() -> Value {
        json!({
            "full_name": "  Nguyễn Thị Mai ", "birth_date": "2026-11-20", "registered_on": "2026-11-25",
            "sex": "nu", "children": "2", "mother_id": "001190000123", "postcode": "100000",
            "residence": {"province": "01", "commune": "Phường Ba Đình", "street": "1 Hoàng Hoa Thám"},
            "agree": "on", "witnesses": [{"name": "Trần Văn An"}], "unexpected": "dropped"
        })
    }

    fn paths(result: Result<Value, Vec<Problem>>) -> Vec<String> {
        result
            .expect_err("problems expected")
            .into_iter()
            .map(|problem| problem.path)
            .collect()
    }

    #[test]
    fn the_test_schema_is_publishable() {
        assert_eq!(schema().check(), Ok(()));
    }

    #[test]
    fn good_values_come_back_normalised() {
        let values = schema().validate(&good(), today()).expect("valid");
        assert_eq!(values["full_name"], "Nguyễn Thị Mai");
        assert_eq!(values["children"], 2);
        assert_eq!(values["agree"], true);
        assert_eq!(values["residence"]["province"], "01");
        assert!(values.get("unexpected").is_none());
    }

    #[test]
    fn a_commune_must_be_one_of_the_chosen_provinces_and_is_kept_by_its_official_name() {
        let mut typed = good();
        typed["residence"] = json!({"province": "01", "commune": "phuong ba dinh", "street": "1 Hoàng Hoa Thám"});
        let values = schema().validate(&typed, today()).expect("valid");
        assert_eq!(values["residence"]["commune"], "Phường Ba Đình");
        assert_eq!(values["residence"]["commune_code"], "00004");
        let mut elsewhere = good();
        elsewhere["residence"] = json!({"province": "24", "commune": "Phường Ba Đình", "street": "1 Hoàng Hoa Thám"});
        assert_eq!(paths(schema().validate(&elsewhere, today())), ["residence.commune"]);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let mut bad = good();
        bad["full_name"] = json!("");
        bad["birth_date"] = json!("2026-12-01");
        bad["sex"] = json!("x");
        bad["children"] = json!("21");
        bad["mother_id"] = json!("123");
        bad["postcode"] = json!("12ab");
        bad["residence"] = json!({"province": "99", "commune": "", "street": "x"});
        bad["agree"] = json!("");
        bad["witnesses"] = json!([{"name": ""}, {"name": "A"}, {"name": "B"}]);
        assert_eq!(
            paths(schema().validate(&bad, today())),
            [
                "full_name",
                "birth_date",
                "sex",
                "children",
                "mother_id",
                "postcode",
                "residence.province",
                "residence.commune",
                "agree",
            ]
        );
    }

    #[test]
    fn groups_count_their_items_and_name_item_fields() {
        let mut bad = good();
        bad["witnesses"] = json!([{"name": "A"}, {"name": "B"}, {"name": "C"}]);
        assert_eq!(paths(schema().validate(&bad, today())), ["witnesses"]);
        bad["witnesses"] = json!([{"name": "A"}, {"name": "  ", "extra": "x"}]);
        assert_eq!(paths(schema().validate(&bad, today())), ["witnesses[1].name"]);
        bad["witnesses"] = json!([]);
        assert_eq!(paths(schema().validate(&bad, today())), ["witnesses"]);
    }

    #[test]
    fn cross_field_rules_apply() {
        let mut bad = good();
        bad["registered_on"] = json!("2026-11-19");
        assert_eq!(paths(schema().validate(&bad, today())), ["birth_date"]);
    }

    #[test]
    fn form_posts_become_nested_values() {
        let pairs = [
            ("full_name", "Mai"),
            ("residence.province", "01"),
            ("witnesses[1].name", "B"),
            ("witnesses[0].name", "A"),
            ("witnesses[99999].name", "ignored as a group"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));
        let values = values_from_pairs(&pairs);
        assert_eq!(values["residence"]["province"], "01");
        assert_eq!(values["witnesses"], json!([{"name": "A"}, {"name": "B"}]));
        assert_eq!(values["full_name"], "Mai");
    }

    #[test]
    fn unusable_schemas_are_refused() {
        let mut bad = schema();
        bad.fields[0].name = "Full Name".to_owned();
        assert!(matches!(bad.check(), Err(SchemaError::Name(_))));
        let mut bad = schema();
        bad.fields[6].kind = FieldKind::Text {
            max_chars: None,
            pattern: Some("(".to_owned()),
            multiline: false,
        };
        assert!(matches!(bad.check(), Err(SchemaError::Pattern(..))));
        let mut bad = schema();
        bad.documents[0].types = vec!["text/html".to_owned()];
        assert!(matches!(bad.check(), Err(SchemaError::Slot(_))));
        let mut bad = schema();
        bad.rules.push(CrossRule::NotAfter {
            field: "nope".to_owned(),
            other: "birth_date".to_owned(),
        });
        assert!(matches!(bad.check(), Err(SchemaError::Rule(_))));
    }
}
