//! The agency directory: the 34 provincial units and the agencies of this
//! instance (People's Committees, departments, communes).
//!
//! Reference data other subsystems read through these functions; only this
//! module writes the `provinces`, `agencies` and `onestop_departments`
//! tables.

pub mod store;

use egov_core::calendar::OfficeHours;

use crate::catalogue::domain::Level;

/// A provincial unit in force since 1 July 2025.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Province {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    /// `city` (thành phố trực thuộc trung ương) or `province`.
    pub kind: String,
}

/// An agency that settles procedures.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Agency {
    /// Agency identifier in the QCVN 102:2016 style, e.g. `000.00.01.H24`.
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub level: Level,
    pub province_code: Option<String>,
    pub parent_code: Option<String>,
    /// Office hours, e.g. `07:30-11:30,13:30-17:00`: deadlines in working
    /// hours count only these.
    #[schema(value_type = String)]
    #[serde(serialize_with = "serialize_display")]
    pub office_hours: OfficeHours,
}

/// A department (phòng, ban, bộ phận) of an agency. Workflow steps name
/// the department that acts at them by its code; officials belong to one
/// through their sign-in account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Department {
    pub agency_code: String,
    /// `[A-Z0-9_]{1,32}`, e.g. `MOT_CUA`.
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
}

/// The departments every demo agency has, named by the codes the default
/// workflow uses.
pub fn standard_departments(agency_code: &str) -> Vec<Department> {
    [
        (
            "MOT_CUA",
            "Bộ phận Tiếp nhận và Trả kết quả",
            "One-stop desk (reception and results)",
        ),
        ("CHUYEN_MON", "Phòng chuyên môn", "Specialist division"),
    ]
    .into_iter()
    .map(|(code, name_vi, name_en)| Department {
        agency_code: agency_code.to_owned(),
        code: code.to_owned(),
        name_vi: name_vi.to_owned(),
        name_en: name_en.to_owned(),
    })
    .collect()
}

fn serialize_display<S: serde::Serializer>(value: &OfficeHours, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Why a provinces file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ProvinceFileError {
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
}

/// Reads the provinces CSV (`code,name_vi,name_ascii,kind,…`).
pub fn parse_provinces(text: &str) -> Result<Vec<Province>, ProvinceFileError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut provinces = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| ProvinceFileError::Line {
            line: error.position().map_or(0, csv::Position::line),
            message: error.to_string(),
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |index: usize| record.get(index).map(str::trim).unwrap_or_default().to_owned();
        let (code, name_vi, name_ascii, kind) = (field(0), field(1), field(2), field(3));
        if code.len() != 2 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(ProvinceFileError::Line {
                line,
                message: format!("code `{code}` is not two digits"),
            });
        }
        if !matches!(kind.as_str(), "city" | "province") {
            return Err(ProvinceFileError::Line {
                line,
                message: format!("kind `{kind}` is not city or province"),
            });
        }
        let name_en = if kind == "city" {
            format!("{name_ascii} City")
        } else {
            format!("{name_ascii} Province")
        };
        provinces.push(Province {
            code,
            name_vi,
            name_en,
            kind,
        });
    }
    Ok(provinces)
}

/// Whether `code` is the code of one of the 34 provincial units in force
/// (the embedded list, the same the directory is seeded from).
pub fn is_province_code(code: &str) -> bool {
    static CODES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        parse_provinces(crate::seed::PROVINCES_CSV)
            .map(|provinces| provinces.into_iter().map(|province| province.code).collect())
            .unwrap_or_default()
    });
    CODES.iter().any(|known| known == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_provinces_file_has_the_34_units() {
        let provinces = parse_provinces(crate::seed::PROVINCES_CSV).expect("valid file");
        assert_eq!(provinces.len(), 34);
        assert_eq!(provinces.iter().filter(|p| p.kind == "city").count(), 6);
        let hanoi = provinces.iter().find(|p| p.code == "01").expect("Hà Nội");
        assert_eq!(hanoi.name_vi, "Thành phố Hà Nội");
        assert_eq!(hanoi.name_en, "Ha Noi City");
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let text = "code,name_vi,name_ascii,kind\n01,Hà Nội,Ha Noi,city\nX1,Nowhere,Nowhere,province\n";
        let error = parse_provinces(text).expect_err("bad code");
        assert_eq!(error.to_string(), "line 3: code `X1` is not two digits");
    }
}
