//! An e-form as a page renders it: each field's input name, label in the
//! page's language, the value typed so far and its problem, from the schema
//! the server validates with. Pure; the templates only lay it out.

use serde_json::Value;

use super::eform::{Field, FieldKind, FormSchema, Problem};

/// One option of a select.
#[derive(Debug, Clone)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One scalar input.
#[derive(Debug, Clone)]
pub struct InputView {
    /// The form-post name (`residence.province`, `witnesses[1].name`).
    pub name: String,
    /// The element id, safe in HTML ids and fragment links.
    pub id: String,
    pub label: String,
    pub hint: String,
    /// `text`, `textarea`, `number`, `date`, `select`, `checkbox`,
    /// `personal_id`, `commune` (text with a datalist of `options`).
    pub kind: &'static str,
    pub required: bool,
    pub value: String,
    pub checked: bool,
    pub options: Vec<OptionView>,
    pub error: String,
    pub max_chars: usize,
    /// The value is the population registry's, unchanged (once-only
    /// prefill).
    pub from_registry: bool,
}

/// A field of the form: a scalar, an address (three inputs) or a group of
/// repeated rows.
#[derive(Debug, Clone)]
pub struct FieldView {
    pub id: String,
    pub label: String,
    pub required: bool,
    /// `scalar`, `address` or `group`.
    pub shape: &'static str,
    pub inputs: Vec<InputView>,
    /// For groups: one row of inputs per item (with blank rows to add more).
    pub rows: Vec<Vec<InputView>>,
    pub error: String,
}

/// A document slot as an upload input.
#[derive(Debug, Clone)]
pub struct SlotView {
    pub name: String,
    pub id: String,
    pub label: String,
    pub required: bool,
    pub accept: String,
    pub limit: String,
    pub error: String,
}

fn html_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("f-{id}")
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

fn problem_at(problems: &[Problem], path: &str, english: bool) -> String {
    problems
        .iter()
        .find(|problem| problem.path == path)
        .map(|problem| {
            if english {
                problem.en.clone()
            } else {
                problem.vi.clone()
            }
        })
        .unwrap_or_default()
}

struct Context<'a> {
    problems: &'a [Problem],
    english: bool,
    provinces: &'a [(String, String)],
}

impl Context<'_> {
    fn pick<'s>(&self, vi: &'s str, en: &'s str) -> &'s str {
        if self.english { en } else { vi }
    }

    fn scalar(&self, field: &Field, name: String, value: Option<&Value>) -> InputView {
        let (kind, max_chars, options) = match &field.kind {
            FieldKind::Text {
                multiline, max_chars, ..
            } => (
                if *multiline { "textarea" } else { "text" },
                max_chars.unwrap_or(super::eform::MAX_TEXT_CHARS),
                Vec::new(),
            ),
            FieldKind::Number { .. } => ("number", 20, Vec::new()),
            FieldKind::Date { .. } => ("date", 10, Vec::new()),
            FieldKind::Select { options } => {
                let current = text_of(value);
                let options = options
                    .iter()
                    .map(|choice| OptionView {
                        selected: choice.value == current,
                        value: choice.value.clone(),
                        label: self.pick(&choice.label_vi, &choice.label_en).to_owned(),
                    })
                    .collect();
                ("select", 0, options)
            }
            FieldKind::Checkbox => ("checkbox", 0, Vec::new()),
            FieldKind::PersonalId => ("personal_id", 12, Vec::new()),
            FieldKind::Address | FieldKind::Group { .. } => ("text", 200, Vec::new()),
        };
        let hint = match (&field.hint_vi, &field.hint_en) {
            (Some(vi), Some(en)) => self.pick(vi, en).to_owned(),
            (Some(vi), None) => vi.clone(),
            _ => String::new(),
        };
        InputView {
            id: html_id(&name),
            error: problem_at(self.problems, &name, self.english),
            label: self.pick(&field.label_vi, &field.label_en).to_owned(),
            hint,
            kind,
            required: field.required,
            checked: matches!(value, Some(Value::Bool(true))) || matches!(text_of(value).as_str(), "on" | "true" | "1"),
            value: text_of(value),
            options,
            max_chars,
            from_registry: false,
            name,
        }
    }

    fn address(&self, field: &Field, value: Option<&Value>) -> Vec<InputView> {
        let part = |key: &str| value.and_then(|value| value.get(key));
        let name = |key: &str| format!("{}.{key}", field.name);
        let province = text_of(part("province"));
        let chosen_province = province.clone();
        let province_input = InputView {
            id: html_id(&name("province")),
            error: problem_at(self.problems, &name("province"), self.english),
            label: self.pick("Tỉnh, thành phố", "Province or city").to_owned(),
            hint: String::new(),
            kind: "select",
            required: field.required,
            checked: false,
            options: self
                .provinces
                .iter()
                .map(|(code, label)| OptionView {
                    selected: *code == province,
                    value: code.clone(),
                    label: label.clone(),
                })
                .collect(),
            value: province,
            max_chars: 0,
            from_registry: false,
            name: name("province"),
        };
        let text_input = |key: &str, vi: &str, en: &str| InputView {
            id: html_id(&name(key)),
            error: problem_at(self.problems, &name(key), self.english),
            label: self.pick(vi, en).to_owned(),
            hint: String::new(),
            kind: "text",
            required: field.required,
            checked: false,
            options: Vec::new(),
            value: text_of(part(key)),
            max_chars: 200,
            from_registry: false,
            name: name(key),
        };
        // The commune is typed with suggestions (a datalist, no script):
        // the chosen province's communes, or every one until a province is
        // chosen. The server checks it against the province.
        let communes: Vec<OptionView> = if crate::directory::is_province_code(&chosen_province) {
            crate::directory::communes_of(&chosen_province)
                .iter()
                .map(|commune| OptionView {
                    value: commune.name_vi.clone(),
                    label: String::new(),
                    selected: false,
                })
                .collect()
        } else {
            self.provinces
                .iter()
                .flat_map(|(code, province)| {
                    crate::directory::communes_of(code)
                        .iter()
                        .map(move |commune| OptionView {
                            value: commune.name_vi.clone(),
                            label: province.clone(),
                            selected: false,
                        })
                })
                .collect()
        };
        let commune_input = InputView {
            kind: "commune",
            options: communes,
            hint: self
                .pick(
                    "Gõ vài chữ để chọn trong danh sách xã, phường, đặc khu của tỉnh, thành phố.",
                    "Type a few letters to pick from the province's communes and wards.",
                )
                .to_owned(),
            ..text_input("commune", "Xã, phường, đặc khu", "Commune or ward")
        };
        vec![
            province_input,
            commune_input,
            text_input("street", "Số nhà, đường, thôn, tổ", "Street address"),
        ]
    }

    fn field(&self, field: &Field, values: &Value) -> FieldView {
        let value = values.get(&field.name);
        let id = html_id(&field.name);
        let label = self.pick(&field.label_vi, &field.label_en).to_owned();
        let error = problem_at(self.problems, &field.name, self.english);
        match &field.kind {
            FieldKind::Address => FieldView {
                id,
                label,
                required: field.required,
                shape: "address",
                inputs: self.address(field, value),
                rows: Vec::new(),
                error,
            },
            FieldKind::Group {
                fields,
                min_items,
                max_items,
            } => {
                let items = value.and_then(Value::as_array).cloned().unwrap_or_default();
                let wanted = (items.len() + 1).max(*min_items).max(1).min((*max_items).max(1));
                let rows = (0..wanted)
                    .map(|index| {
                        fields
                            .iter()
                            .map(|inner| {
                                let name = format!("{}[{index}].{}", field.name, inner.name);
                                self.scalar(inner, name, items.get(index).and_then(|item| item.get(&inner.name)))
                            })
                            .collect()
                    })
                    .collect();
                FieldView {
                    id,
                    label,
                    required: field.required,
                    shape: "group",
                    inputs: Vec::new(),
                    rows,
                    error,
                }
            }
            _ => FieldView {
                id,
                label,
                required: field.required,
                shape: "scalar",
                inputs: vec![self.scalar(field, field.name.clone(), value)],
                rows: Vec::new(),
                error: String::new(),
            },
        }
    }
}

/// The form's fields with `values` typed so far and `problems` beside them.
/// `provinces` are (code, name) for the address pickers.
pub fn fields(
    schema: &FormSchema,
    values: &Value,
    problems: &[Problem],
    english: bool,
    provinces: &[(String, String)],
) -> Vec<FieldView> {
    let context = Context {
        problems,
        english,
        provinces,
    };
    schema.fields.iter().map(|field| context.field(field, values)).collect()
}

/// Marks the inputs whose value is still the one the population registry
/// gave.
pub fn mark_from_registry(fields: &mut [FieldView], marks: &super::population::Marks) {
    if marks.is_empty() {
        return;
    }
    for field in fields {
        for input in field.inputs.iter_mut().chain(field.rows.iter_mut().flatten()) {
            input.from_registry = marks.holds(&input.name, &input.value);
        }
    }
}

/// The form's document slots as upload inputs.
pub fn slots(schema: &FormSchema, problems: &[Problem], english: bool) -> Vec<SlotView> {
    schema
        .documents
        .iter()
        .map(|slot| {
            let name = format!("documents.{}", slot.slot);
            let types: Vec<&str> = slot.types.iter().map(|kind| super::upload::type_name(kind)).collect();
            let megabytes = slot.max_bytes / 1_000_000;
            SlotView {
                id: html_id(&name),
                error: problem_at(problems, &name, english),
                label: if english {
                    slot.label_en.clone()
                } else {
                    slot.label_vi.clone()
                },
                required: slot.required,
                accept: slot.types.join(","),
                limit: if english {
                    format!("{}, up to {megabytes} MB", types.join(", "))
                } else {
                    format!("{}, tối đa {megabytes} MB", types.join(", "))
                },
                name,
            }
        })
        .collect()
}

/// Every problem as a line of the summary at the top of the form, linking to
/// its input.
pub fn summary(problems: &[Problem], english: bool) -> Vec<(String, String)> {
    problems
        .iter()
        .map(|problem| {
            (
                html_id(&problem.path),
                if english {
                    problem.en.clone()
                } else {
                    problem.vi.clone()
                },
            )
        })
        .collect()
}
