//! Once-only: the applicant's own data from the population registry
//! (Cơ sở dữ liệu quốc gia về dân cư), filled into the e-form when they ask
//! for it. Their click is the consent; the read is of their own record only
//! (the personal ID comes from their sign-in, never from the form).
//!
//! The one-stop shop does not know how the registry is reached: the
//! composition supplies a [`PopulationLookup`] (in the binary, a call
//! through the gateway with the X-Road protocol, so the registry records the
//! read in the citizen's data tracker). This module maps the registry's
//! fields onto the form's applicant fields ([`filled`]) and carries which
//! values came from the registry across form posts ([`Marks`], signed so
//! that a posted form cannot claim a value the registry never gave).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use egov_db::audit;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::eform::{FieldKind, FormSchema};
use super::{Applicant, DossierError, Dossiers};

/// The purpose stated to the registry for a prefill (`X-Road-Issue` is
/// `onestop-prefill:<procedure code>`).
pub const PREFILL_PURPOSE: &str = "onestop-prefill";

/// The source a prefilled value is marked with in the JSON API.
pub const SOURCE_POPULATION: &str = "population_registry";

/// A person's record as the population registry gives it, in the
/// registry's own terms (codes, ISO dates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopulationRecord {
    pub personal_id: String,
    pub full_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// `male` or `female`.
    pub sex: Option<String>,
    /// The 2-digit code of the province of permanent residence.
    pub residence_province: Option<String>,
    /// The 5-digit code of the commune of permanent residence.
    pub residence_commune: Option<String>,
}

/// Why the registry gave no record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The registry has no record of this person.
    #[error("the population registry has no record of this person")]
    NotFound,
    /// The registry (or the gateway in front of it) refused this system or
    /// this purpose.
    #[error("the population registry refused the read: {0}")]
    NotAllowed(String),
    /// The gateway or the registry did not answer as they should.
    #[error("the population registry cannot be reached: {0}")]
    Unavailable(String),
}

/// One read of the applicant's own record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRead {
    /// The applicant's personal ID, from their sign-in.
    pub personal_id: String,
    /// The procedure whose form is filled: the read's stated reference.
    pub procedure_code: String,
}

/// A boxed future, so that [`PopulationLookup`] can be a trait object.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<PopulationRecord, LookupError>> + Send + 'a>>;

/// How the one-stop shop reads the population registry; the composition
/// implements it (through the gateway).
pub trait PopulationLookup: Send + Sync + std::fmt::Debug {
    /// The record of `read.personal_id`, read on that person's behalf for
    /// [`PREFILL_PURPOSE`].
    fn read_own<'a>(&'a self, read: &'a OwnRead) -> LookupFuture<'a>;
}

/// A value filled from the registry: its form path (`applicant_name`,
/// `residence.province`) and the value as the form takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub path: String,
    pub value: String,
}

/// Names of the form fields that hold the applicant's own data. Only these
/// are filled: a form may hold other people's names and dates (a child's
/// birth, a witness), which the applicant's record must not fill.
const NAME_FIELDS: [&str; 2] = ["applicant_name", "applicant_full_name"];
const PERSONAL_ID_FIELDS: [&str; 1] = ["applicant_personal_id"];
const BIRTH_DATE_FIELDS: [&str; 2] = ["applicant_date_of_birth", "applicant_birth_date"];
const SEX_FIELDS: [&str; 2] = ["applicant_sex", "applicant_gender"];
const RESIDENCE_FIELDS: [&str; 4] = [
    "residence",
    "applicant_residence",
    "permanent_residence",
    "applicant_permanent_residence",
];

/// The option of a sex select that means the registry's `male` or
/// `female`, whatever the form calls it.
fn sex_option(options: &[super::eform::Choice], sex: &str) -> Option<String> {
    let wanted: &[&str] = match sex {
        "male" => &["male", "nam", "m"],
        "female" => &["female", "nu", "f"],
        _ => return None,
    };
    options
        .iter()
        .find(|choice| wanted.contains(&egov_core::text::fold(&choice.value).as_str()))
        .map(|choice| choice.value.clone())
}

/// The applicant fields of `schema` that `record` fills, in form order.
/// Pure.
pub fn filled(schema: &FormSchema, record: &PopulationRecord) -> Vec<Filled> {
    let mut out = Vec::new();
    let mut push = |path: String, value: &str| {
        if !value.trim().is_empty() {
            out.push(Filled {
                path,
                value: value.to_owned(),
            });
        }
    };
    for field in &schema.fields {
        let name = field.name.as_str();
        match &field.kind {
            FieldKind::Text { .. } if NAME_FIELDS.contains(&name) => push(field.name.clone(), &record.full_name),
            FieldKind::PersonalId if PERSONAL_ID_FIELDS.contains(&name) => {
                push(field.name.clone(), &record.personal_id);
            }
            FieldKind::Date { .. } if BIRTH_DATE_FIELDS.contains(&name) => {
                if let Some(date) = &record.date_of_birth {
                    push(field.name.clone(), date);
                }
            }
            FieldKind::Select { options } if SEX_FIELDS.contains(&name) => {
                if let Some(value) = record.sex.as_deref().and_then(|sex| sex_option(options, sex)) {
                    push(field.name.clone(), &value);
                }
            }
            FieldKind::Address if RESIDENCE_FIELDS.contains(&name) => {
                let Some(province) = record
                    .residence_province
                    .as_deref()
                    .filter(|code| crate::directory::is_province_code(code))
                else {
                    continue;
                };
                push(format!("{name}.province"), province);
                // The form names the commune; the registry gives its code.
                if let Some(commune) = record
                    .residence_commune
                    .as_deref()
                    .and_then(|code| crate::directory::find_commune(province, code))
                {
                    push(format!("{name}.commune"), &commune.name_vi);
                }
            }
            _ => {}
        }
    }
    out
}

/// `values` with `filled` written over them; everything else typed is kept.
pub fn apply(values: &Value, filled: &[Filled]) -> Value {
    let mut root = values.as_object().cloned().unwrap_or_default();
    for item in filled {
        match item.path.split_once('.') {
            Some((parent, child)) => {
                let entry = root
                    .entry(parent.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(object) = entry {
                    object.insert(child.to_owned(), Value::String(item.value.clone()));
                }
            }
            None => {
                root.insert(item.path.clone(), Value::String(item.value.clone()));
            }
        }
    }
    Value::Object(root)
}

/// The text at a form path (`name` or `parent.child`) of `values`.
fn value_at<'v>(values: &'v Value, path: &str) -> Option<&'v str> {
    match path.split_once('.') {
        Some((parent, child)) => values.get(parent)?.get(child)?.as_str(),
        None => values.get(path)?.as_str(),
    }
}

/// Which form values came from the registry: path → the value it gave.
/// A mark holds only while the value is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks(BTreeMap<String, String>);

/// The reserved key a draft keeps its marks under (not a field name: field
/// names never contain `$`).
pub const DRAFT_MARKS_KEY: &str = "$from_registry";

impl Marks {
    pub fn from_filled(filled: &[Filled]) -> Marks {
        Marks(
            filled
                .iter()
                .map(|item| (item.path.clone(), item.value.clone()))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the input at `path`, showing `value`, is still the
    /// registry's.
    pub fn holds(&self, path: &str, value: &str) -> bool {
        self.0.get(path).is_some_and(|given| given == value)
    }

    /// These marks and those of `filled` (which win).
    #[must_use]
    pub fn with(&self, filled: &[Filled]) -> Marks {
        let mut marks = self.0.clone();
        marks.extend(filled.iter().map(|item| (item.path.clone(), item.value.clone())));
        Marks(marks)
    }

    /// Only the marks whose value is still what `values` hold: a value the
    /// applicant changed is theirs, no longer the registry's.
    #[must_use]
    pub fn still_in(&self, values: &Value) -> Marks {
        Marks(
            self.0
                .iter()
                .filter(|(path, given)| value_at(values, path) == Some(given.as_str()))
                .map(|(path, given)| (path.clone(), given.clone()))
                .collect(),
        )
    }

    fn mac(key: &[u8], subject: &str, procedure_code: &str, payload: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        for part in ["egov-prefill-v1", subject, procedure_code, payload] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The marks as a token for a hidden input or a draft, bound to the
    /// applicant and the procedure; empty when there is none.
    pub fn seal(&self, key: &[u8], subject: &str, procedure_code: &str) -> String {
        if self.0.is_empty() || key.is_empty() {
            return String::new();
        }
        let payload = URL_SAFE_NO_PAD.encode(json!(self.0).to_string());
        let signature = URL_SAFE_NO_PAD.encode(
            Self::mac(key, subject, procedure_code, &payload)
                .finalize()
                .into_bytes(),
        );
        format!("{payload}.{signature}")
    }

    /// The marks a token carries, if this instance sealed it for this
    /// applicant and procedure; none otherwise.
    pub fn open(key: &[u8], subject: &str, procedure_code: &str, token: &str) -> Marks {
        let opened = || -> Option<Marks> {
            if key.is_empty() || token.len() > 16 * 1024 {
                return None;
            }
            let (payload, signature) = token.split_once('.')?;
            let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
            Self::mac(key, subject, procedure_code, payload)
                .verify_slice(&signature)
                .ok()?;
            let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
            serde_json::from_slice(&json).ok().map(Marks)
        };
        opened().unwrap_or_default()
    }
}

/// Why a prefill did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PrefillError {
    /// This instance does not read the registry (not configured).
    #[error("prefill from the population registry is not offered")]
    NotOffered,
    /// The applicant's sign-in carries no personal ID.
    #[error("the applicant has no personal ID")]
    NoPersonalId,
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Dossier(#[from] DossierError),
}

impl Dossiers {
    /// Reads the population registry with this.
    #[must_use]
    pub fn with_population(mut self, lookup: std::sync::Arc<dyn PopulationLookup>) -> Dossiers {
        self.population = Some(lookup);
        self
    }

    /// The key that signs the marks of prefilled values.
    #[must_use]
    pub fn with_prefill_key(mut self, key: &[u8]) -> Dossiers {
        self.prefill_key = std::sync::Arc::from(key);
        self
    }

    pub(crate) fn prefill_key(&self) -> &[u8] {
        &self.prefill_key
    }

    /// Whether the forms offer to fill in the applicant's data from the
    /// population registry.
    pub fn prefill_offered(&self) -> bool {
        self.population.is_some()
    }

    /// Reads the applicant's own record from the population registry and
    /// returns the fields of `procedure_code`'s form in force that it
    /// fills. The read is audited here and recorded in the citizen's data
    /// tracker by the registry.
    pub async fn prefill(&self, applicant: &Applicant, procedure_code: &str) -> Result<Vec<Filled>, PrefillError> {
        let lookup = self.population.as_ref().ok_or(PrefillError::NotOffered)?;
        let personal_id = applicant
            .personal_id
            .as_deref()
            .filter(|id| egov_core::personal_id::PersonalId::parse(id).is_ok())
            .ok_or(PrefillError::NoPersonalId)?;
        let snapshot = self.catalogue.snapshot().await.map_err(DossierError::from)?;
        if snapshot.index.get(procedure_code).is_none() {
            return Err(DossierError::UnknownProcedure.into());
        }
        let version = self
            .version_in_force(procedure_code)
            .await?
            .ok_or(DossierError::NoVersion)?;
        let read = OwnRead {
            personal_id: personal_id.to_owned(),
            procedure_code: procedure_code.to_owned(),
        };
        let record = lookup.read_own(&read).await?;
        let filled = filled(&version.form, &record);
        let mut tx = self.db.begin().await.map_err(DossierError::from)?;
        audit::record(
            &mut tx,
            &audit::AuditEntry {
                actor: &applicant.subject,
                action: "onestop.registry_prefill",
                subject: &format!("procedure:{procedure_code}"),
                detail: json!({
                    "dataset": "population",
                    "purpose": PREFILL_PURPOSE,
                    "fields": filled.iter().map(|item| item.path.as_str()).collect::<Vec<_>>(),
                }),
                ip: None,
            },
            self.now(),
        )
        .await
        .map_err(DossierError::from)?;
        tx.commit().await.map_err(DossierError::from)?;
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> FormSchema {
        serde_json::from_value(json!({
            "fields": [
                {"name": "applicant_name", "label_vi": "Họ tên", "label_en": "Name", "kind": "text", "required": true},
                {"name": "applicant_personal_id", "label_vi": "Số định danh", "label_en": "ID", "kind": "personal_id", "required": true},
                {"name": "applicant_date_of_birth", "label_vi": "Ngày sinh", "label_en": "Born", "kind": "date", "required": false},
                {"name": "applicant_sex", "label_vi": "Giới tính", "label_en": "Sex", "kind": "select", "required": false,
                 "options": [{"value": "nam", "label_vi": "Nam", "label_en": "Male"}, {"value": "nu", "label_vi": "Nữ", "label_en": "Female"}]},
                {"name": "birth_date", "label_vi": "Ngày sinh của trẻ", "label_en": "Child's birth date", "kind": "date", "required": true},
                {"name": "residence", "label_vi": "Nơi cư trú", "label_en": "Residence", "kind": "address", "required": true},
                {"name": "phone", "label_vi": "Điện thoại", "label_en": "Phone", "kind": "text", "required": false}
            ]
        }))
        .expect("schema")
    }

    fn record() -> PopulationRecord {
        let commune = &crate::directory::communes_of("24")[0];
        PopulationRecord {
            personal_id: "001090012345".to_owned(),
            full_name: "Nguyễn Văn An".to_owned(),
            date_of_birth: Some("1990-03-14".to_owned()),
            sex: Some("male".to_owned()),
            residence_province: Some("24".to_owned()),
            residence_commune: Some(commune.code.clone()),
        }
    }

    #[test]
    fn the_applicant_fields_are_filled_and_nobody_elses() {
        let commune = crate::directory::communes_of("24")[0].name_vi.clone();
        let filled: Vec<(String, String)> = filled(&schema(), &record())
            .into_iter()
            .map(|item| (item.path, item.value))
            .collect();
        let expected: Vec<(String, String)> = [
            ("applicant_name", "Nguyễn Văn An"),
            ("applicant_personal_id", "001090012345"),
            ("applicant_date_of_birth", "1990-03-14"),
            ("applicant_sex", "nam"),
            ("residence.province", "24"),
            ("residence.commune", commune.as_str()),
        ]
        .into_iter()
        .map(|(path, value)| (path.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(filled, expected, "the child's birth date is not the applicant's");
    }

    #[test]
    fn a_commune_of_another_province_or_an_unknown_province_is_not_filled() {
        let mut wrong = record();
        wrong.residence_province = Some("01".to_owned());
        let paths: Vec<String> = filled(&schema(), &wrong).into_iter().map(|item| item.path).collect();
        assert!(paths.contains(&"residence.province".to_owned()));
        assert!(!paths.contains(&"residence.commune".to_owned()));
        wrong.residence_province = Some("99".to_owned());
        let paths: Vec<String> = filled(&schema(), &wrong).into_iter().map(|item| item.path).collect();
        assert!(!paths.iter().any(|path| path.starts_with("residence")), "{paths:?}");
    }

    #[test]
    fn applying_keeps_what_the_registry_does_not_know() {
        let typed = json!({"phone": "0912345678", "residence": {"street": "12 Nguyễn Trãi", "province": "01"}, "applicant_name": "An"});
        let filled = filled(&schema(), &record());
        let values = apply(&typed, &filled);
        assert_eq!(values["phone"], "0912345678");
        assert_eq!(values["residence"]["street"], "12 Nguyễn Trãi");
        assert_eq!(values["residence"]["province"], "24");
        assert_eq!(values["applicant_name"], "Nguyễn Văn An");
    }

    #[test]
    fn a_mark_goes_when_its_value_is_changed() {
        let filled = filled(&schema(), &record());
        let marks = Marks::from_filled(&filled);
        let mut values = apply(&json!({}), &filled);
        values["applicant_name"] = json!("Nguyễn Văn Ân");
        let kept = marks.still_in(&values);
        assert!(!kept.holds("applicant_name", "Nguyễn Văn Ân"));
        assert!(!kept.holds("applicant_name", "Nguyễn Văn An"));
        assert!(kept.holds("residence.province", "24"));
    }

    #[test]
    fn sealed_marks_open_only_for_the_same_key_applicant_and_procedure() {
        let marks = Marks::from_filled(&filled(&schema(), &record()));
        let key = b"a key that is long enough for the test";
        let token = marks.seal(key, "subject-1", "1.001193");
        assert_eq!(Marks::open(key, "subject-1", "1.001193", &token), marks);
        assert!(Marks::open(key, "subject-2", "1.001193", &token).is_empty());
        assert!(Marks::open(key, "subject-1", "2.000815", &token).is_empty());
        assert!(Marks::open(b"another key", "subject-1", "1.001193", &token).is_empty());
        let (payload, signature) = token.split_once('.').expect("two parts");
        let forged = URL_SAFE_NO_PAD.encode(r#"{"applicant_name":"Someone Else"}"#);
        assert!(Marks::open(key, "subject-1", "1.001193", &format!("{forged}.{signature}")).is_empty());
        assert!(!Marks::open(key, "subject-1", "1.001193", &format!("{payload}.{signature}")).is_empty());
        assert!(Marks::default().seal(key, "subject-1", "1.001193").is_empty());
    }
}
