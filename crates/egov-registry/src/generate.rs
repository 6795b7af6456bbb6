//! Demo and benchmark data: population records with realistic Vietnamese
//! names and valid personal IDs, the same for the same seed (a small
//! splitmix64 generator, so neither a crate update nor a platform changes
//! the stream). Pure: it returns records, the caller stores or prints them.

use egov_core::personal_id::{PersonalId, Sex};
use serde_json::{Map, Value};

/// The columns of a population CSV, in order (the schema's field names).
pub const POPULATION_COLUMNS: [&str; 9] = [
    "personal_id",
    "full_name",
    "date_of_birth",
    "sex",
    "place_of_birth",
    "residence_province",
    "residence_commune",
    "household_head",
    "status",
];

/// splitmix64 (Steele, Lea and Flood 2014): tiny, fast, and stable.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0; the slight modulo bias does
    /// not matter for demo data).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // `below` is smaller than the length, which is below u64::MAX.
        #[allow(clippy::cast_possible_truncation)]
        let index = self.below(items.len() as u64) as usize;
        &items[index]
    }
}

/// Family names by rough frequency: the common ones appear several times.
const FAMILY_NAMES: &[&str] = &[
    "Nguyễn", "Nguyễn", "Nguyễn", "Nguyễn", "Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Trần", "Trần", "Lê", "Lê", "Lê",
    "Phạm", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh",
    "Trịnh", "Đoàn", "Lương", "Mai", "Tạ", "Cao", "Lâm", "Chu",
];
const MALE_MIDDLE: &[&str] = &[
    "Văn", "Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Công", "Xuân", "Gia", "Ngọc",
];
const FEMALE_MIDDLE: &[&str] = &[
    "Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương", "Kim", "Hồng", "Bảo",
];
const MALE_GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Đức", "Giang", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khánh", "Khoa", "Kiên",
    "Long", "Mạnh", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quang", "Quân", "Sơn", "Tâm", "Thắng", "Thành", "Tiến",
    "Toàn", "Trung", "Tuấn", "Việt", "Vinh",
];
const FEMALE_GIVEN: &[&str] = &[
    "Anh", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hồng", "Hương", "Lan", "Liên", "Linh",
    "Loan", "Mai", "My", "Ngân", "Ngọc", "Nhung", "Oanh", "Phương", "Quyên", "Tâm", "Thảo", "Thơ", "Thủy", "Trang",
    "Trinh", "Uyên", "Vân", "Yến",
];

/// Provinces (2-digit code since 2025; the personal ID's 3-digit code is
/// the same number) and a few of their real communes.
const PLACES: &[(&str, &[&str])] = &[
    ("01", &["00004", "00008", "00025", "00070"]),
    ("79", &["25747", "25750", "25760", "25768"]),
    ("24", &["07210", "07228", "07246", "07264"]),
    ("48", &["20195", "20197", "20200", "20209"]),
    ("31", &["10510", "10525", "10532", "10537"]),
    ("92", &["31120", "31135", "31147", "31150"]),
    ("38", &["14758", "14797", "14812", "14818"]),
    ("46", &["19768", "19777", "19786", "19810"]),
];

/// One generated person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub personal_id: String,
    pub full_name: String,
    pub date_of_birth: String,
    pub sex: &'static str,
    pub place_of_birth: String,
    pub residence_province: String,
    pub residence_commune: String,
    pub household_head: Option<String>,
    pub status: &'static str,
}

impl Person {
    /// The values in [`POPULATION_COLUMNS`] order (empty for none).
    pub fn row(&self) -> [&str; 9] {
        [
            &self.personal_id,
            &self.full_name,
            &self.date_of_birth,
            self.sex,
            &self.place_of_birth,
            &self.residence_province,
            &self.residence_commune,
            self.household_head.as_deref().unwrap_or(""),
            self.status,
        ]
    }

    /// The record's content as the population schema wants it.
    pub fn content(&self) -> Map<String, Value> {
        POPULATION_COLUMNS
            .iter()
            .zip(self.row())
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| ((*name).to_owned(), Value::String(value.to_owned())))
            .collect()
    }
}

/// Generates `count` distinct persons from `seed`. Every fourth person
/// after the first of a household lives with the one before and names
/// them household head.
pub fn persons(seed: u64, count: usize) -> Vec<Person> {
    let mut rng = SplitMix64::new(seed);
    let mut out: Vec<Person> = Vec::with_capacity(count);
    for index in 0..count {
        let mut person = person(&mut rng, index);
        if let Some(previous) = out.last()
            && index % 4 != 0
        {
            person.residence_province.clone_from(&previous.residence_province);
            person.residence_commune.clone_from(&previous.residence_commune);
            person.household_head = Some(
                previous
                    .household_head
                    .clone()
                    .unwrap_or_else(|| previous.personal_id.clone()),
            );
        }
        out.push(person);
    }
    out
}

/// The person numbered `index`: the sequence digits of the personal ID
/// are `index` itself (up to 999,999 per province, century and year, far
/// more than any demo needs), mixed with the province and year, so the
/// numbers are distinct.
fn person(rng: &mut SplitMix64, index: usize) -> Person {
    let female = rng.below(2) == 1;
    let year = 1940 + rng.below(80);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    let (birth_province, _) = rng.pick(PLACES);
    let (home_province, communes) = rng.pick(PLACES);
    let commune = rng.pick(communes);
    let century_digit = (year - 1900) / 100 * 2 + u64::from(female);
    let personal_id = format!(
        "0{birth_province}{century_digit}{:02}{:06}",
        year % 100,
        index % 1_000_000
    );
    let name = full_name(rng, female);
    Person {
        personal_id,
        full_name: name,
        date_of_birth: format!("{year:04}-{month:02}-{day:02}"),
        sex: if female { "female" } else { "male" },
        place_of_birth: (*birth_province).to_owned(),
        residence_province: (*home_province).to_owned(),
        residence_commune: (*commune).to_owned(),
        household_head: None,
        status: "living",
    }
}

fn full_name(rng: &mut SplitMix64, female: bool) -> String {
    let family = rng.pick(FAMILY_NAMES);
    let (middle, given) = if female {
        (rng.pick(FEMALE_MIDDLE), rng.pick(FEMALE_GIVEN))
    } else {
        (rng.pick(MALE_MIDDLE), rng.pick(MALE_GIVEN))
    };
    format!("{family} {middle} {given}")
}

/// A population record for a known person (a demo account): the sex and
/// birth year come from the personal ID, the rest from `seed`.
pub fn person_for(personal_id: &PersonalId, full_name: &str, seed: u64) -> Person {
    let mut rng = SplitMix64::new(seed);
    let home = person(&mut rng, 0);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    let birth_province = personal_id.province_code().trim_start_matches('0');
    Person {
        personal_id: personal_id.as_str().to_owned(),
        full_name: full_name.to_owned(),
        date_of_birth: format!("{:04}-{month:02}-{day:02}", personal_id.birth_year()),
        sex: if personal_id.sex() == Sex::Female {
            "female"
        } else {
            "male"
        },
        place_of_birth: format!("{birth_province:0>2}"),
        residence_province: home.residence_province,
        residence_commune: home.residence_commune,
        household_head: None,
        status: "living",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_its_reference_stream() {
        // The first outputs for seed 1234567 of the reference C code.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }
}
