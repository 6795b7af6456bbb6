//! The Vietnamese lunar calendar (âm lịch), for the holidays that follow it.
//!
//! It owns conversion between solar (Gregorian) dates and lunar dates, and
//! the two lunar dates the working-day calendar needs: Tết and the Hùng
//! Kings' day. It uses Hồ Ngọc Đức's astronomical algorithm (new moons and
//! the sun's longitude from Meeus' formulas) evaluated at UTC+7, which is
//! what makes the Vietnamese calendar differ from the Chinese one in some
//! years (Tết 1985 and 2007, for example). It must not name days, years or
//! hours (can chi) or decide which days are holidays; that is the business
//! of [`crate::calendar`].
//!
//! The results are checked for the years 1900 to 2199. Outside that range
//! the astronomy gradually drifts, and dates beyond chrono's range are
//! clamped to its ends instead of panicking.

use chrono::{Datelike, NaiveDate};
use std::f64::consts::PI;

/// A date in the Vietnamese lunar calendar.
///
/// `year` is the lunar year that begins with Tết in the solar year of the
/// same number, so the last lunar months of `year` fall in January or
/// February of `year + 1`. `leap` marks the intercalary copy of `month`
/// (tháng nhuận), which comes right after the regular month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LunarDate {
    pub day: u32,
    pub month: u32,
    pub year: i32,
    pub leap: bool,
}

/// Vietnam has used UTC+7 for its calendar since 1968; the algorithm is
/// evaluated there for every year, as the official calendar does.
const TIME_ZONE_HOURS: f64 = 7.0;

/// Julian day number minus chrono's day count from the Common Era.
const JULIAN_DAY_OF_CE_DAY_ZERO: i64 = 1_721_425;

/// The epoch of the new moon series: 1900-01-01 13:51 UT, in Julian days.
const NEW_MOON_EPOCH: f64 = 2_415_021.076_998_695;

/// Mean length of a synodic month in days.
const SYNODIC_MONTH: f64 = 29.530_588_853;

/// Years are clamped to this magnitude before any astronomy is done. It is
/// a little beyond chrono's range, so results still clamp to chrono's ends,
/// while keeping every intermediate value far from `i64` overflow.
const YEAR_LIMIT: i64 = 300_000;

fn clamp_year(year: i32) -> i64 {
    i64::from(year).clamp(-YEAR_LIMIT, YEAR_LIMIT)
}

/// Converts a solar date to its lunar date.
pub fn solar_to_lunar(date: NaiveDate) -> LunarDate {
    let day_number = julian_day(date);
    let k = floor_i64((to_f64(day_number) - NEW_MOON_EPOCH) / SYNODIC_MONTH);
    let mut month_start = new_moon_day(k + 1);
    if month_start > day_number {
        month_start = new_moon_day(k);
    }
    let solar_year = i64::from(date.year());
    // Month 11 always contains the winter solstice, so the lunar year is
    // located relative to the month-11 new moons around this date.
    let mut a11 = lunar_month_11(solar_year);
    let mut b11 = a11;
    let mut lunar_year;
    if a11 >= month_start {
        lunar_year = solar_year;
        a11 = lunar_month_11(solar_year - 1);
    } else {
        lunar_year = solar_year + 1;
        b11 = lunar_month_11(solar_year + 1);
    }
    let day = day_number - month_start + 1;
    let months_since_month_11 = (month_start - a11).div_euclid(29);
    let mut leap = false;
    let mut month = months_since_month_11 + 11;
    // Thirteen lunations between two month-11 new moons means one of them
    // is a leap month: the first one without a major solar term.
    if b11 - a11 > 365 {
        let leap_offset = leap_month_offset(a11);
        if months_since_month_11 >= leap_offset {
            month = months_since_month_11 + 10;
            leap = months_since_month_11 == leap_offset;
        }
    }
    if month > 12 {
        month -= 12;
    }
    if month >= 11 && months_since_month_11 < 4 {
        lunar_year -= 1;
    }
    LunarDate {
        // Within the validated years the day is 1..=30 and the month
        // 1..=12; far outside them the astronomy may break that, and a
        // nonsense date is preferable to a panic in a date conversion.
        day: u32::try_from(day).unwrap_or(0),
        month: u32::try_from(month).unwrap_or(0),
        year: i32::try_from(lunar_year).unwrap_or(i32::MAX),
        leap,
    }
}

/// Converts a lunar date to its solar date, or `None` when that date does
/// not exist: a leap flag on a month that is not leap that year, day 30 of
/// a 29-day month, a day outside 1..=30 or a month outside 1..=12.
pub fn lunar_to_solar(lunar: LunarDate) -> Option<NaiveDate> {
    if !(1..=30).contains(&lunar.day) || !(1..=12).contains(&lunar.month) {
        return None;
    }
    let month = i64::from(lunar.month);
    // A clamped year yields a date whose lunar year differs, so the check
    // below turns it into `None`.
    let year = clamp_year(lunar.year);
    let month_start = if lunar.leap {
        leap_month_start(month, year)?
    } else {
        regular_month_start(month, year)
    };
    let date = checked_date_from_julian_day(month_start + i64::from(lunar.day) - 1)?;
    // Converting back catches day 30 of a 29-day month, which would
    // otherwise silently land on day 1 of the next month.
    (solar_to_lunar(date) == lunar).then_some(date)
}

/// Tết Nguyên đán: the first day of the first lunar month of the lunar
/// year that begins in the solar year `year`.
pub fn tet(year: i32) -> NaiveDate {
    date_from_julian_day(regular_month_start(1, clamp_year(year)))
}

/// Giỗ Tổ Hùng Vương: the 10th day of the 3rd lunar month of `year`.
pub fn hung_kings_day(year: i32) -> NaiveDate {
    date_from_julian_day(regular_month_start(3, clamp_year(year)) + 9)
}

/// The lunar months of the lunar year in which `month` falls are counted
/// from the month-11 new moon `a11` that precedes it.
struct MonthFrame {
    /// The index of the new moon that starts month 11.
    k: i64,
    /// Months after month 11 at which the leap month sits, if the year
    /// has one.
    leap_offset: Option<i64>,
}

fn month_frame(month: i64, year: i64) -> MonthFrame {
    let (a11, b11) = if month < 11 {
        (lunar_month_11(year - 1), lunar_month_11(year))
    } else {
        (lunar_month_11(year), lunar_month_11(year + 1))
    };
    MonthFrame {
        k: floor_i64(0.5 + (to_f64(a11) - NEW_MOON_EPOCH) / SYNODIC_MONTH),
        leap_offset: (b11 - a11 > 365).then(|| leap_month_offset(a11)),
    }
}

/// The Julian day of day 1 of the regular (not leap) `month` of `year`.
fn regular_month_start(month: i64, year: i64) -> i64 {
    let frame = month_frame(month, year);
    let mut offset = (month - 11).rem_euclid(12);
    if frame.leap_offset.is_some_and(|leap_offset| offset >= leap_offset) {
        offset += 1;
    }
    new_moon_day(frame.k + offset)
}

/// The Julian day of day 1 of the leap copy of `month`, if `year` has one.
fn leap_month_start(month: i64, year: i64) -> Option<i64> {
    let frame = month_frame(month, year);
    let leap_offset = frame.leap_offset?;
    // The leap month repeats the month before it: offset 1 is leap 11,
    // offset 2 leap 12, offset 3 leap 1, and so on.
    let leap_month = (leap_offset - 3).rem_euclid(12) + 1;
    (leap_month == month).then(|| new_moon_day(frame.k + leap_offset))
}

/// The Julian day of the new moon that starts month 11 (the month with the
/// winter solstice) of the solar year `year`.
fn lunar_month_11(year: i64) -> i64 {
    let offset = to_f64(julian_day_of_december_31(year)) - 2_415_021.0;
    let k = floor_i64(offset / SYNODIC_MONTH);
    let new_moon = new_moon_day(k);
    // If the sun is already past 270° (the solstice) at this new moon, the
    // solstice month started one lunation earlier.
    if sun_longitude_sector(new_moon) >= 9 {
        new_moon_day(k - 1)
    } else {
        new_moon
    }
}

/// How many months after month 11 the leap month sits: the first month in
/// which the sun does not enter a new 30° sector.
fn leap_month_offset(a11: i64) -> i64 {
    let k = floor_i64((to_f64(a11) - NEW_MOON_EPOCH) / SYNODIC_MONTH + 0.5);
    let mut i = 1;
    let mut arc = sun_longitude_sector(new_moon_day(k + i));
    loop {
        let last = arc;
        i += 1;
        arc = sun_longitude_sector(new_moon_day(k + i));
        if arc == last || i >= 14 {
            return i - 1;
        }
    }
}

/// The local (UTC+7) day on which the `k`-th new moon after the epoch
/// falls, as a Julian day number.
fn new_moon_day(k: i64) -> i64 {
    floor_i64(new_moon(k) + 0.5 + TIME_ZONE_HOURS / 24.0)
}

/// The moment of the `k`-th new moon after 1900-01-01, in Julian days (UT).
///
/// Meeus, "Astronomical Algorithms", simplified as in Hồ Ngọc Đức's
/// implementation; the coefficients are kept exactly so the results match
/// the published Vietnamese calendar.
fn new_moon(k: i64) -> f64 {
    let k = to_f64(k);
    let t = k / 1236.85;
    let t2 = t * t;
    let t3 = t2 * t;
    let dr = PI / 180.0;
    let mut jd1 = 2_415_020.759_33 + 29.530_588_68 * k + 0.000_117_8 * t2 - 0.000_000_155 * t3;
    jd1 += 0.000_33 * ((166.56 + 132.87 * t - 0.009_173 * t2) * dr).sin();
    let sun_anomaly = 359.2242 + 29.105_356_08 * k - 0.000_033_3 * t2 - 0.000_003_47 * t3;
    let moon_anomaly = 306.0253 + 385.816_918_06 * k + 0.010_730_6 * t2 + 0.000_012_36 * t3;
    let latitude = 21.2964 + 390.670_506_46 * k - 0.001_652_8 * t2 - 0.000_002_39 * t3;
    let mut c1 = (0.1734 - 0.000_393 * t) * (sun_anomaly * dr).sin() + 0.0021 * (2.0 * dr * sun_anomaly).sin();
    c1 = c1 - 0.4068 * (moon_anomaly * dr).sin() + 0.0161 * (dr * 2.0 * moon_anomaly).sin();
    c1 -= 0.0004 * (dr * 3.0 * moon_anomaly).sin();
    c1 = c1 + 0.0104 * (dr * 2.0 * latitude).sin() - 0.0051 * (dr * (sun_anomaly + moon_anomaly)).sin();
    c1 = c1 - 0.0074 * (dr * (sun_anomaly - moon_anomaly)).sin() + 0.0004 * (dr * (2.0 * latitude + sun_anomaly)).sin();
    c1 = c1
        - 0.0004 * (dr * (2.0 * latitude - sun_anomaly)).sin()
        - 0.0006 * (dr * (2.0 * latitude + moon_anomaly)).sin();
    c1 = c1
        + 0.0010 * (dr * (2.0 * latitude - moon_anomaly)).sin()
        + 0.0005 * (dr * (2.0 * moon_anomaly + sun_anomaly)).sin();
    let delta_t = if t < -11.0 {
        0.001 + 0.000_839 * t + 0.000_226_1 * t2 - 0.000_008_45 * t3 - 0.000_000_081 * t * t3
    } else {
        -0.000_278 + 0.000_265 * t + 0.000_262 * t2
    };
    jd1 + c1 - delta_t
}

/// The sun's apparent longitude in radians, in `[0, 2π)`, at Julian day
/// `jdn` (UT).
fn sun_longitude(jdn: f64) -> f64 {
    let t = (jdn - 2_451_545.0) / 36_525.0;
    let t2 = t * t;
    let dr = PI / 180.0;
    let mean_anomaly = 357.529_10 + 35_999.050_30 * t - 0.000_155_9 * t2 - 0.000_000_48 * t * t2;
    let mean_longitude = 280.466_45 + 36_000.769_83 * t + 0.000_303_2 * t2;
    let mut center = (1.914_600 - 0.004_817 * t - 0.000_014 * t2) * (dr * mean_anomaly).sin();
    center +=
        (0.019_993 - 0.000_101 * t) * (dr * 2.0 * mean_anomaly).sin() + 0.000_290 * (dr * 3.0 * mean_anomaly).sin();
    let longitude = (mean_longitude + center) * dr;
    longitude - 2.0 * PI * (longitude / (2.0 * PI)).floor()
}

/// Which 30° sector (0..=11) the sun is in at the start of the local day
/// `day_number`.
fn sun_longitude_sector(day_number: i64) -> i64 {
    floor_i64(sun_longitude(to_f64(day_number) - 0.5 - TIME_ZONE_HOURS / 24.0) / PI * 6.0)
}

fn julian_day(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) + JULIAN_DAY_OF_CE_DAY_ZERO
}

/// The Julian day of 31 December of a proleptic Gregorian year, computed
/// arithmetically so that any `i64` year works, even one chrono cannot
/// represent.
fn julian_day_of_december_31(year: i64) -> i64 {
    // The general formula with day 31, month 12 (so a = 0 and m = 9).
    let y = year + 4800;
    31 + (153 * 9 + 2) / 5 + 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) - 32_045
}

fn checked_date_from_julian_day(julian_day: i64) -> Option<NaiveDate> {
    julian_day
        .checked_sub(JULIAN_DAY_OF_CE_DAY_ZERO)
        .and_then(|days| i32::try_from(days).ok())
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// Like [`checked_date_from_julian_day`], but clamps to chrono's range so
/// that the infallible functions above stay infallible for absurd years.
fn date_from_julian_day(julian_day: i64) -> NaiveDate {
    checked_date_from_julian_day(julian_day).unwrap_or(if julian_day < JULIAN_DAY_OF_CE_DAY_ZERO {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "float-to-int `as` saturates, and the values used here are day counts far inside i64"
)]
fn floor_i64(x: f64) -> i64 {
    x.floor() as i64
}

#[allow(
    clippy::cast_precision_loss,
    reason = "day and lunation counts stay far below 2^53, where f64 is exact"
)]
fn to_f64(x: i64) -> f64 {
    x as f64
}

#[cfg(test)]
mod tests {
    use super::{
        LunarDate, hung_kings_day, julian_day, julian_day_of_december_31, lunar_to_solar, solar_to_lunar, tet,
    };
    use chrono::{Datelike, Days, NaiveDate};
    use proptest::prelude::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test dates are valid")
    }

    fn lunar(day: u32, month: u32, year: i32, leap: bool) -> LunarDate {
        LunarDate { day, month, year, leap }
    }

    fn check(solar: &str, expected: LunarDate) {
        let solar = date(solar);
        assert_eq!(solar_to_lunar(solar), expected, "solar_to_lunar({solar})");
        assert_eq!(lunar_to_solar(expected), Some(solar), "lunar_to_solar({expected:?})");
    }

    #[test]
    fn tet_falls_on_the_announced_dates() {
        for (year, expected) in [
            (2024, "2024-02-10"),
            (2025, "2025-01-29"),
            (2026, "2026-02-17"),
            (2027, "2027-02-06"),
            (2028, "2028-01-26"),
        ] {
            assert_eq!(tet(year), date(expected), "Tết {year}");
            check(expected, lunar(1, 1, year, false));
        }
    }

    #[test]
    fn tet_follows_vietnamese_not_chinese_time_in_years_where_they_differ() {
        // In 1985 and 2007 the new moon fell just before midnight in
        // Vietnam but after midnight in China, so Tết came a month or a day
        // earlier in Vietnam than the Chinese New Year.
        assert_eq!(tet(1985), date("1985-01-21"));
        assert_eq!(tet(2007), date("2007-02-17"));
        // The same happens in 2030: the new moon is at about 16:08 UT on
        // 2 February, 23:08 in Hà Nội but 00:08 on the 3rd in Beijing. The
        // Chinese New Year is 3 February; Tết is 2 February.
        assert_eq!(tet(2030), date("2030-02-02"));
        check("2030-02-02", lunar(1, 1, 2030, false));
    }

    #[test]
    fn hung_kings_day_falls_on_the_announced_dates() {
        for (year, expected) in [(2025, "2025-04-07"), (2026, "2026-04-26"), (2027, "2027-04-16")] {
            assert_eq!(hung_kings_day(year), date(expected), "Hùng Kings' day {year}");
            check(expected, lunar(10, 3, year, false));
        }
    }

    #[test]
    fn leap_months_are_recognised_and_only_exist_in_their_year() {
        // Quý Mão 2023 repeated month 2, and Ất Tỵ 2025 repeated month 6.
        check("2023-03-22", lunar(1, 2, 2023, true));
        check("2023-02-20", lunar(1, 2, 2023, false));
        check("2025-07-25", lunar(1, 6, 2025, true));
        assert_eq!(lunar_to_solar(lunar(1, 3, 2023, true)), None);
        assert_eq!(lunar_to_solar(lunar(1, 2, 2024, true)), None);
    }

    #[test]
    fn the_last_lunar_months_belong_to_the_previous_lunar_year() {
        // The day before Tết 2026 is the last day of month 12 of 2025.
        let eve = solar_to_lunar(date("2026-02-16"));
        assert_eq!((eve.month, eve.year, eve.leap), (12, 2025, false));
        assert!(eve.day == 29 || eve.day == 30);
    }

    #[test]
    fn impossible_lunar_dates_have_no_solar_date() {
        assert_eq!(lunar_to_solar(lunar(0, 1, 2026, false)), None);
        assert_eq!(lunar_to_solar(lunar(31, 1, 2026, false)), None);
        assert_eq!(lunar_to_solar(lunar(1, 0, 2026, false)), None);
        assert_eq!(lunar_to_solar(lunar(1, 13, 2026, false)), None);
    }

    #[test]
    fn day_thirty_exists_only_in_thirty_day_months() {
        for year in 2020..2030 {
            for month in 1..=12 {
                let first = lunar_to_solar(lunar(1, month, year, false)).expect("day 1 exists");
                let next_month = if month == 12 {
                    lunar_to_solar(lunar(1, 1, year + 1, false))
                } else {
                    lunar_to_solar(lunar(1, month + 1, year, false))
                }
                .expect("next month exists");
                let leap_follows = lunar_to_solar(lunar(1, month, year, true));
                let end = leap_follows.unwrap_or(next_month);
                let length = (end - first).num_days();
                assert!(length == 29 || length == 30, "{month}/{year} has {length} days");
                let day_30 = lunar_to_solar(lunar(30, month, year, false));
                assert_eq!(day_30.is_some(), length == 30, "30/{month}/{year}");
            }
        }
    }

    #[test]
    fn the_arithmetic_julian_day_matches_chrono() {
        for year in [1, 1582, 1899, 1900, 2000, 2024, 2199, 9999] {
            let december_31 = NaiveDate::from_ymd_opt(year, 12, 31).expect("valid date");
            assert_eq!(julian_day_of_december_31(i64::from(year)), julian_day(december_31));
        }
        assert_eq!(julian_day(date("2000-01-01")), 2_451_545);
    }

    #[test]
    fn absurd_years_clamp_instead_of_panicking() {
        let _ = tet(i32::MAX);
        let _ = tet(i32::MIN);
        let _ = hung_kings_day(i32::MAX);
        let _ = lunar_to_solar(lunar(1, 1, i32::MAX, false));
        let _ = lunar_to_solar(lunar(1, 11, i32::MAX, true));
        let _ = solar_to_lunar(NaiveDate::MAX);
        let _ = solar_to_lunar(NaiveDate::MIN);
    }

    fn dates_1900_to_2199() -> impl Strategy<Value = NaiveDate> {
        let first = date("1900-01-01");
        let span = (date("2199-12-31") - first).num_days().unsigned_abs();
        (0..=span).prop_map(move |offset| first + Days::new(offset))
    }

    proptest! {
        #[test]
        fn converting_to_lunar_and_back_gives_the_same_day(solar in dates_1900_to_2199()) {
            let converted = solar_to_lunar(solar);
            prop_assert_eq!(lunar_to_solar(converted), Some(solar), "via {:?}", converted);
        }

        #[test]
        fn consecutive_solar_days_are_consecutive_lunar_days(solar in dates_1900_to_2199()) {
            let today = solar_to_lunar(solar);
            let tomorrow = solar_to_lunar(solar + Days::new(1));
            if tomorrow.day == 1 {
                prop_assert!(today.day == 29 || today.day == 30, "{:?} then {:?}", today, tomorrow);
            } else {
                prop_assert_eq!(
                    (tomorrow.day, tomorrow.month, tomorrow.year, tomorrow.leap),
                    (today.day + 1, today.month, today.year, today.leap)
                );
            }
        }

        #[test]
        fn tet_is_in_late_january_or_february(year in 1900_i32..=2199) {
            let new_year = tet(year);
            prop_assert_eq!(new_year.year(), year);
            prop_assert!(
                (new_year.month() == 1 && new_year.day() >= 19) || new_year.month() == 2,
                "Tết {} on {}", year, new_year
            );
        }
    }
}
