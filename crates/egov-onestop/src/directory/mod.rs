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

/// A commune-level unit (xã, phường or đặc khu) in force since 1 July 2025.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    /// The five-digit code of the national list.
    pub code: String,
    pub province_code: String,
    /// The full name, e.g. `Phường Kinh Bắc`.
    pub name_vi: String,
    /// `xa`, `phuong` or `dac_khu`.
    pub kind: String,
}

/// The 3,321 communes, wards and special zones of the 34 provincial units
/// (`code,province_code,name_vi,kind`), from the national list of
/// administrative units in force since 1 July 2025. Their counts per
/// province agree with `provinces.csv`.
pub const COMMUNES_CSV: &str = include_str!("../../data/communes.csv");

/// The communes of each province, in the list's order.
fn communes() -> &'static std::collections::HashMap<String, Vec<Commune>> {
    static COMMUNES: std::sync::LazyLock<std::collections::HashMap<String, Vec<Commune>>> =
        std::sync::LazyLock::new(|| {
            let mut by_province: std::collections::HashMap<String, Vec<Commune>> = std::collections::HashMap::new();
            let mut reader = csv::Reader::from_reader(COMMUNES_CSV.as_bytes());
            for record in reader.records().flatten() {
                let field = |index: usize| record.get(index).map(str::trim).unwrap_or_default().to_owned();
                let commune = Commune {
                    code: field(0),
                    province_code: field(1),
                    name_vi: field(2),
                    kind: field(3),
                };
                by_province
                    .entry(commune.province_code.clone())
                    .or_default()
                    .push(commune);
            }
            by_province
        });
    &COMMUNES
}

/// The communes, wards and special zones of a province.
pub fn communes_of(province_code: &str) -> &'static [Commune] {
    communes().get(province_code).map_or(&[], Vec::as_slice)
}

/// The commune of `province_code` that `text` names: its code, or its name
/// with or without diacritics and case (`phuong kinh bac`).
pub fn find_commune(province_code: &str, text: &str) -> Option<&'static Commune> {
    let wanted = egov_core::text::fold(text);
    communes_of(province_code)
        .iter()
        .find(|commune| commune.code == text.trim() || egov_core::text::fold(&commune.name_vi) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_province_has_the_communes_the_provinces_file_counts() {
        let mut reader = csv::Reader::from_reader(crate::seed::PROVINCES_CSV.as_bytes());
        let headers = reader.headers().expect("header").clone();
        let column = |name: &str| headers.iter().position(|header| header == name).expect(name);
        let (units, xa, phuong, dac_khu) = (
            column("commune_units"),
            column("xa"),
            column("phuong"),
            column("dac_khu"),
        );
        let mut provinces = 0;
        for record in reader.records() {
            let record = record.expect("row");
            let communes = communes_of(&record[0]);
            let count = |kind: &str| {
                communes
                    .iter()
                    .filter(|commune| commune.kind == kind)
                    .count()
                    .to_string()
            };
            assert_eq!(communes.len().to_string(), record[units], "province {}", &record[0]);
            assert_eq!(count("xa"), record[xa], "province {}", &record[0]);
            assert_eq!(count("phuong"), record[phuong], "province {}", &record[0]);
            assert_eq!(count("dac_khu"), record[dac_khu], "province {}", &record[0]);
            provinces += 1;
        }
        assert_eq!(provinces, 34);
        assert_eq!(communes().values().map(Vec::len).sum::<usize>(), 3_321);
    }

    #[test]
    fn a_commune_is_found_in_its_province_only_by_code_or_folded_name() {
        let kinh_bac = find_commune("24", "Phường Kinh Bắc").expect("in Bắc Ninh");
        assert_eq!(find_commune("24", "phuong kinh bac"), Some(kinh_bac));
        assert_eq!(find_commune("24", &kinh_bac.code), Some(kinh_bac));
        assert_eq!(find_commune("01", "Phường Kinh Bắc"), None, "not in Hà Nội");
        assert_eq!(find_commune("24", "Phường Không Có"), None);
    }

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
