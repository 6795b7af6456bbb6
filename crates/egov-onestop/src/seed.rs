//! Reference and demo data: the 34 provincial units, the fields of
//! procedures, a demo province's agencies and its procedure catalogue.
//!
//! Idempotent: rows that exist already are left alone, so a second run
//! changes nothing and edits made since survive.

use chrono::{DateTime, Utc};
use egov_core::calendar::OfficeHours;
use egov_db::{Db, DbError};

use crate::catalogue::domain::Level;
use crate::catalogue::import::{self, ImportError, ImportFormat, ImportMode, ImportReport};
use crate::catalogue::store::{self, FieldView};
use crate::directory::{self, Agency};

/// The provinces file shipped in the binary.
pub const PROVINCES_CSV: &str = include_str!("../data/provinces.csv");
/// The demo catalogue shipped in the binary.
pub const DEMO_CATALOGUE_JSON: &str = include_str!("../data/catalogue.json");

/// The demo province: Bắc Ninh.
pub const DEMO_PROVINCE_CODE: &str = "24";

/// Fields (lĩnh vực) of procedures, with the national names.
const FIELDS: &[(&str, &str, &str)] = &[
    ("ho_tich", "Hộ tịch", "Civil status"),
    ("cu_tru", "Đăng ký, quản lý cư trú", "Residence registration"),
    ("ly_lich_tu_phap", "Lý lịch tư pháp", "Judicial records"),
    (
        "dang_ky_kinh_doanh",
        "Thành lập và hoạt động doanh nghiệp, hộ kinh doanh",
        "Business registration",
    ),
    ("xay_dung", "Hoạt động xây dựng", "Construction"),
    ("duong_bo", "Đường bộ", "Road transport"),
    ("dat_dai", "Đất đai", "Land"),
    ("bao_hiem_xa_hoi", "Bảo hiểm xã hội", "Social insurance"),
    ("luu_thong_hang_hoa", "Lưu thông hàng hóa trong nước", "Domestic trade"),
    ("chung_thuc", "Chứng thực", "Certification of copies"),
];

fn demo_agencies() -> Vec<Agency> {
    let agency = |code: &str, name_vi: &str, name_en: &str, level: Level, parent: Option<&str>| Agency {
        office_hours: OfficeHours::default(),
        code: code.to_owned(),
        name_vi: name_vi.to_owned(),
        name_en: name_en.to_owned(),
        level,
        province_code: (level != Level::Ministry).then(|| DEMO_PROVINCE_CODE.to_owned()),
        parent_code: parent.map(str::to_owned),
    };
    let committee = Some("000.00.00.H24");
    let police = Some("000.05.00.H24");
    vec![
        agency(
            "000.00.00.H24",
            "Ủy ban nhân dân tỉnh Bắc Ninh",
            "People's Committee of Bac Ninh Province",
            Level::Province,
            None,
        ),
        agency(
            "000.01.00.H24",
            "Sở Tư pháp tỉnh Bắc Ninh",
            "Bac Ninh Department of Justice",
            Level::Province,
            committee,
        ),
        agency(
            "000.02.00.H24",
            "Sở Tài chính tỉnh Bắc Ninh",
            "Bac Ninh Department of Finance",
            Level::Province,
            committee,
        ),
        agency(
            "000.03.00.H24",
            "Sở Xây dựng tỉnh Bắc Ninh",
            "Bac Ninh Department of Construction",
            Level::Province,
            committee,
        ),
        agency(
            "000.04.00.H24",
            "Sở Nông nghiệp và Môi trường tỉnh Bắc Ninh",
            "Bac Ninh Department of Agriculture and Environment",
            Level::Province,
            committee,
        ),
        agency(
            "000.05.00.H24",
            "Công an tỉnh Bắc Ninh",
            "Bac Ninh Provincial Police",
            Level::Province,
            None,
        ),
        agency(
            "000.00.01.H24",
            "Ủy ban nhân dân phường Kinh Bắc",
            "People's Committee of Kinh Bac Ward",
            Level::Commune,
            committee,
        ),
        // Tiên Du keeps the 8-to-5 hours many provinces set, to show that
        // working-hour deadlines follow each agency's own hours.
        Agency {
            office_hours: OfficeHours::new(
                (hour_minute(8, 0), hour_minute(12, 0)),
                (hour_minute(13, 0), hour_minute(17, 0)),
            )
            .unwrap_or_default(),
            ..agency(
                "000.00.02.H24",
                "Ủy ban nhân dân xã Tiên Du",
                "People's Committee of Tien Du Commune",
                Level::Commune,
                committee,
            )
        },
        agency(
            "000.05.01.H24",
            "Công an phường Kinh Bắc",
            "Kinh Bac Ward Police",
            Level::Commune,
            police,
        ),
        agency(
            "000.05.02.H24",
            "Công an xã Tiên Du",
            "Tien Du Commune Police",
            Level::Commune,
            police,
        ),
        agency(
            "000.00.00.G12",
            "Bảo hiểm xã hội Việt Nam",
            "Vietnam Social Security",
            Level::Ministry,
            None,
        ),
    ]
}

fn hour_minute(hour: u32, minute: u32) -> chrono::NaiveTime {
    chrono::NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default()
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the shipped provinces file is malformed: {0}")]
    Provinces(#[from] directory::ProvinceFileError),
    #[error("the shipped demo catalogue is malformed: {0}")]
    Catalogue(#[from] ImportError),
}

/// What seeding added; all zero on a second run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub provinces: usize,
    pub fields: usize,
    pub agencies: usize,
    pub procedures: ImportReport,
    /// Procedure versions published for procedures that had none.
    pub versions: usize,
}

/// Loads the reference data every instance needs: provinces and fields.
pub async fn load_reference(db: &Db) -> Result<SeedReport, SeedError> {
    let provinces = directory::parse_provinces(PROVINCES_CSV)?;
    let mut report = SeedReport::default();
    let mut tx = db.begin().await?;
    for province in &provinces {
        report.provinces += usize::from(directory::store::insert_province_if_missing(&mut tx, province).await?);
    }
    for (code, name_vi, name_en) in FIELDS {
        let field = FieldView {
            code: (*code).to_owned(),
            name_vi: (*name_vi).to_owned(),
            name_en: (*name_en).to_owned(),
        };
        report.fields += usize::from(store::insert_field_if_missing(&mut tx, &field).await?);
    }
    tx.commit().await?;
    Ok(report)
}

/// Loads the reference data, the demo province's agencies and its catalogue.
pub async fn load_demo(db: &Db, now: DateTime<Utc>) -> Result<SeedReport, SeedError> {
    let mut report = load_reference(db).await?;
    let mut tx = db.begin().await?;
    for agency in demo_agencies() {
        report.agencies += usize::from(directory::store::insert_agency_if_missing(&mut tx, &agency).await?);
        for department in directory::standard_departments(&agency.code) {
            directory::store::insert_department_if_missing(&mut tx, &department).await?;
        }
    }
    tx.commit().await?;
    let rows = import::parse_file(ImportFormat::Json, DEMO_CATALOGUE_JSON)?;
    report.procedures = import::import(db, rows, ImportMode::InsertMissing, "system:seed", now, &|_| {}).await?;
    report.versions = first_versions(db, now).await?;
    Ok(report)
}

/// Gives every catalogue procedure without a version a first one, in force
/// from now, built from its catalogue entry
/// ([`crate::dossier::versions::default_version`]); returns how many.
pub async fn first_versions(db: &Db, now: DateTime<Utc>) -> Result<usize, SeedError> {
    let (_, procedures) = store::load_all(db).await?;
    let mut published = 0;
    let mut tx = db.begin().await?;
    for (procedure, _) in &procedures {
        let code = procedure.code.as_str();
        if crate::dossier::store::last_version_number(&mut tx, code).await? > 0 {
            continue;
        }
        let version = crate::dossier::versions::default_version(procedure, now);
        crate::dossier::store::insert_version(
            &mut tx,
            &crate::dossier::versions::version_row(code, 1, &version, now, "system:seed")?,
        )
        .await?;
        published += 1;
    }
    tx.commit().await?;
    Ok(published)
}
