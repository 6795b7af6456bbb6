//! The working-day calendar that legal deadlines are counted in.
//!
//! It owns which days public offices work (Monday to Friday, minus public
//! holidays and official days off, plus announced make-up Saturdays), the
//! arithmetic of adding working days and working hours, and reading the
//! holiday table (`data/holidays.csv`). For years the table does not cover
//! it computes the statutory holidays itself: Labour Code 2019 Art. 112,
//! with days in lieu under Art. 111(3). It must not read files or the
//! clock, and it must not know which deadline a procedure has; callers
//! bring the table text and the start time.

use crate::lunar;
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Weekday};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// What a row of the holiday table says about its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A public holiday under Labour Code Art. 112 (`holiday`).
    Holiday,
    /// An official day off: a day in lieu or a swapped weekday (`day_off`).
    DayOff,
    /// A weekend day worked in exchange for a swapped day off
    /// (`working_day_swap`).
    WorkingDaySwap,
}

impl DayKind {
    /// The spelling used in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::DayOff => "day_off",
            DayKind::WorkingDaySwap => "working_day_swap",
        }
    }
}

/// A `kind` value that is none of the known spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown day kind `{0}`; expected holiday, day_off or working_day_swap")]
pub struct UnknownDayKind(pub String);

impl FromStr for DayKind {
    type Err = UnknownDayKind;

    fn from_str(value: &str) -> Result<DayKind, UnknownDayKind> {
        match value {
            "holiday" => Ok(DayKind::Holiday),
            "day_off" => Ok(DayKind::DayOff),
            "working_day_swap" => Ok(DayKind::WorkingDaySwap),
            other => Err(UnknownDayKind(other.to_owned())),
        }
    }
}

/// Why a holiday table or an office-hours setting was rejected. Table
/// errors carry the 1-based line number so the file can be fixed quickly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the holiday table is empty; expected a header line")]
    MissingHeader,
    #[error("line 1: expected a header starting with `date,name_vi,name_en,kind`, found `{found}`")]
    BadHeader { found: String },
    #[error("line {line}: {problem}")]
    MalformedCsv { line: usize, problem: &'static str },
    #[error("line {line}: expected at least 4 fields, found {found}")]
    TooFewFields { line: usize, found: usize },
    #[error("line {line}: `{value}` is not a date in YYYY-MM-DD form")]
    BadDate { line: usize, value: String },
    #[error("line {line}: a holiday needs both a Vietnamese and an English name")]
    EmptyName { line: usize },
    #[error("line {line}: unknown kind `{value}`; expected holiday, day_off or working_day_swap")]
    UnknownKind { line: usize, value: String },
    #[error("line {line}: {date} is already listed on line {first_line}")]
    DuplicateDate {
        line: usize,
        date: NaiveDate,
        first_line: usize,
    },
    #[error("office hours must run morning start < morning end <= afternoon start < afternoon end")]
    OfficeHoursOutOfOrder,
    #[error("office hours `{0}` are not of the form 07:30-11:30,13:30-17:00")]
    BadOfficeHours(String),
}

/// The days that public offices work, from the announced table where it
/// exists and from the Labour Code elsewhere.
///
/// A year with at least one row in the table is taken from the table
/// alone, because announced schedules move days around in ways no rule
/// predicts. Any other year gets the statutory holidays computed: 1
/// January; Tết (the eve and the first four days of the lunar year); the
/// Hùng Kings' day (10/3 lunar); 30 April; 1 May; 1 and 2 September; and
/// for each of these that falls on a weekend, a day in lieu on the next
/// working day.
#[derive(Clone)]
pub struct HolidayCalendar {
    table: BTreeMap<NaiveDate, TableRow>,
    covered_years: BTreeSet<i32>,
    /// Computed years are cached lazily because deadline arithmetic asks
    /// about the same few years over and over, and each year costs a few
    /// dozen lunar computations.
    computed_cache: Box<[OnceLock<Vec<ComputedDay>>]>,
}

/// The first year whose computed holidays are cached; earlier and much
/// later years are computed on every query.
const CACHE_FIRST_YEAR: i32 = 1900;
const CACHE_YEARS: usize = 300;

#[derive(Debug, Clone)]
struct TableRow {
    kind: DayKind,
    name_vi: String,
    name_en: String,
    line: usize,
}

#[derive(Debug, Clone, Copy)]
struct ComputedDay {
    date: NaiveDate,
    kind: DayKind,
    name_vi: &'static str,
    name_en: &'static str,
}

/// What the calendar knows about one special day.
#[derive(Debug, Clone, Copy)]
struct DayInfo<'a> {
    kind: DayKind,
    name_vi: &'a str,
    name_en: &'a str,
}

impl fmt::Debug for HolidayCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cache is an implementation detail and would print 300 cells.
        f.debug_struct("HolidayCalendar")
            .field("table_rows", &self.table.len())
            .field("covered_years", &self.covered_years)
            .finish_non_exhaustive()
    }
}

impl HolidayCalendar {
    /// Reads a holiday table in the format of `data/holidays.csv`.
    ///
    /// The header must start with `date,name_vi,name_en,kind`; further
    /// columns (`verified`, `source`) are allowed and ignored. Fields may
    /// be double-quoted, with `""` for a quote and commas inside; a quoted
    /// field may not span lines. Blank lines are skipped.
    pub fn from_csv(text: &str) -> Result<HolidayCalendar, CalendarError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .enumerate()
            .map(|(index, line)| (index + 1, line));
        let header = match lines.next() {
            Some((_, header)) if !header.trim().is_empty() => header,
            _ => return Err(CalendarError::MissingHeader),
        };
        let header_fields = split_csv_line(header, 1)?;
        let expected_header = ["date", "name_vi", "name_en", "kind"];
        let header_matches = header_fields.len() >= expected_header.len()
            && header_fields
                .iter()
                .zip(expected_header)
                .all(|(found, expected)| found.trim() == expected);
        if !header_matches {
            return Err(CalendarError::BadHeader {
                found: header.to_owned(),
            });
        }

        let mut table: BTreeMap<NaiveDate, TableRow> = BTreeMap::new();
        for (line, text) in lines {
            if text.trim().is_empty() {
                continue;
            }
            let fields = split_csv_line(text, line)?;
            let [date, name_vi, name_en, kind, ..] = fields.as_slice() else {
                return Err(CalendarError::TooFewFields {
                    line,
                    found: fields.len(),
                });
            };
            let date = parse_iso_date(date.trim()).ok_or_else(|| CalendarError::BadDate {
                line,
                value: date.clone(),
            })?;
            let (name_vi, name_en) = (name_vi.trim(), name_en.trim());
            if name_vi.is_empty() || name_en.is_empty() {
                return Err(CalendarError::EmptyName { line });
            }
            let kind = kind
                .trim()
                .parse::<DayKind>()
                .map_err(|UnknownDayKind(value)| CalendarError::UnknownKind { line, value })?;
            if let Some(first) = table.get(&date) {
                return Err(CalendarError::DuplicateDate {
                    line,
                    date,
                    first_line: first.line,
                });
            }
            table.insert(
                date,
                TableRow {
                    kind,
                    name_vi: name_vi.to_owned(),
                    name_en: name_en.to_owned(),
                    line,
                },
            );
        }
        let covered_years = table.keys().map(Datelike::year).collect();
        Ok(HolidayCalendar {
            table,
            covered_years,
            computed_cache: (0..CACHE_YEARS).map(|_| OnceLock::new()).collect(),
        })
    }

    /// The calendar built from the holiday table compiled into this crate.
    pub fn embedded() -> HolidayCalendar {
        HolidayCalendar::from_csv(include_str!("../data/holidays.csv"))
            // The text is fixed at compile time and the unit test
            // `the_embedded_table_parses` parses it, so this cannot fail in
            // a build whose tests pass.
            .expect("the embedded holiday table parses")
    }

    /// Whether public offices work on `date`.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        is_working(self.year_days(date.year()).get(date), date)
    }

    /// What kind of special day `date` is, if any. Ordinary weekdays and
    /// weekends have no kind.
    pub fn day_kind(&self, date: NaiveDate) -> Option<DayKind> {
        self.year_days(date.year()).get(date).map(|info| info.kind)
    }

    /// The Vietnamese and English names of the holiday or day off on
    /// `date`. Make-up working Saturdays are not holidays and have none.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<(&str, &str)> {
        let info = self.year_days(date.year()).get(date)?;
        match info.kind {
            DayKind::Holiday | DayKind::DayOff => Some((info.name_vi, info.name_en)),
            DayKind::WorkingDaySwap => None,
        }
    }

    /// The date `days` working days after `start`, not counting `start`.
    ///
    /// With `days == 0` the result is `start` if it is a working day and
    /// the next working day otherwise, which is when a deadline of "the
    /// same day" can actually be met. Results that would pass the last
    /// date chrono represents stop at that date.
    pub fn add_working_days(&self, start: NaiveDate, days: u32) -> NaiveDate {
        let mut cursor = WorkingDayCursor::new(self);
        let mut date = start;
        if days == 0 {
            while !cursor.is_working_day(date) {
                match date.succ_opt() {
                    Some(next) => date = next,
                    None => return date,
                }
            }
            return date;
        }
        let mut counted = 0;
        while let Some(next) = date.succ_opt() {
            date = next;
            if cursor.is_working_day(date) {
                counted += 1;
                if counted == days {
                    return date;
                }
            }
        }
        date
    }

    /// The number of working days in `(from, to]`, or minus the number in
    /// `(to, from]` when `to` is earlier, so that
    /// `working_days_between(start, add_working_days(start, n)) == n`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to < from {
            return -self.working_days_between(to, from);
        }
        let mut cursor = WorkingDayCursor::new(self);
        let mut count = 0;
        let mut date = from;
        while date < to {
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
            if cursor.is_working_day(date) {
                count += 1;
            }
        }
        count
    }

    /// The moment at which `hours` working hours after `start` are used up.
    /// See [`HolidayCalendar::add_working_minutes`].
    pub fn add_working_hours(&self, start: NaiveDateTime, hours: u32, office: &OfficeHours) -> NaiveDateTime {
        self.add_working_duration(start, u64::from(hours) * 60, office)
    }

    /// The moment at which `minutes` working minutes after `start` are used
    /// up, counting only time inside office hours on working days.
    ///
    /// A start outside office hours begins at the next opening, so with
    /// `minutes == 0` the result is that opening. A period that runs out
    /// exactly at closing time ends at closing time, not at the next
    /// opening. If `office` has no time in it at all (possible only by
    /// building it without [`OfficeHours::new`]), no time can pass and
    /// `start` is returned.
    pub fn add_working_minutes(&self, start: NaiveDateTime, minutes: u32, office: &OfficeHours) -> NaiveDateTime {
        self.add_working_duration(start, u64::from(minutes), office)
    }

    fn add_working_duration(&self, start: NaiveDateTime, minutes: u64, office: &OfficeHours) -> NaiveDateTime {
        if office.open_time_per_day() <= TimeDelta::zero() {
            return start;
        }
        let mut remaining = i64::try_from(minutes)
            .ok()
            .and_then(TimeDelta::try_minutes)
            .unwrap_or(TimeDelta::MAX);
        let mut cursor = WorkingDayCursor::new(self);
        let mut date = start.date();
        let mut time = start.time();
        loop {
            if cursor.is_working_day(date) {
                for (open, close) in office.periods() {
                    if time >= close {
                        continue;
                    }
                    let from = time.max(open);
                    let available = close - from;
                    if remaining <= available {
                        return date
                            .and_time(from)
                            .checked_add_signed(remaining)
                            .unwrap_or(NaiveDateTime::MAX);
                    }
                    remaining -= available;
                    time = close;
                }
            }
            match date.succ_opt() {
                Some(next) => {
                    date = next;
                    time = NaiveTime::MIN;
                }
                None => return NaiveDateTime::MAX,
            }
        }
    }

    fn year_days(&self, year: i32) -> YearDays<'_> {
        if self.covered_years.contains(&year) {
            return YearDays::Table(&self.table);
        }
        let cached = year
            .checked_sub(CACHE_FIRST_YEAR)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|index| self.computed_cache.get(index));
        match cached {
            Some(cell) => YearDays::Computed(Cow::Borrowed(cell.get_or_init(|| computed_year(year)).as_slice())),
            None => YearDays::Computed(Cow::Owned(computed_year(year))),
        }
    }
}

/// The special days of one year, however they were obtained.
enum YearDays<'a> {
    Table(&'a BTreeMap<NaiveDate, TableRow>),
    Computed(Cow<'a, [ComputedDay]>),
}

impl<'a> YearDays<'a> {
    fn get(&self, date: NaiveDate) -> Option<DayInfo<'a>> {
        match self {
            YearDays::Table(table) => table.get(&date).map(|row| DayInfo {
                kind: row.kind,
                name_vi: row.name_vi.as_str(),
                name_en: row.name_en.as_str(),
            }),
            YearDays::Computed(days) => days.iter().find(|day| day.date == date).map(|day| DayInfo {
                kind: day.kind,
                name_vi: day.name_vi,
                name_en: day.name_en,
            }),
        }
    }
}

/// Walks dates in order, fetching each year's special days only once, so
/// that long walks through uncached years stay cheap.
struct WorkingDayCursor<'a> {
    calendar: &'a HolidayCalendar,
    current: Option<(i32, YearDays<'a>)>,
}

impl<'a> WorkingDayCursor<'a> {
    fn new(calendar: &'a HolidayCalendar) -> WorkingDayCursor<'a> {
        WorkingDayCursor {
            calendar,
            current: None,
        }
    }

    fn is_working_day(&mut self, date: NaiveDate) -> bool {
        let year = date.year();
        let days = match &mut self.current {
            Some((current_year, days)) if *current_year == year => days,
            slot => &mut slot.insert((year, self.calendar.year_days(year))).1,
        };
        is_working(days.get(date), date)
    }
}

fn is_working(special: Option<DayInfo<'_>>, date: NaiveDate) -> bool {
    match special.map(|info| info.kind) {
        Some(DayKind::Holiday | DayKind::DayOff) => false,
        Some(DayKind::WorkingDaySwap) => true,
        None => !is_weekend(date),
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The names of a statutory holiday and of the day in lieu it can cause.
struct StatutoryHoliday {
    name_vi: &'static str,
    name_en: &'static str,
    in_lieu_vi: &'static str,
    in_lieu_en: &'static str,
}

const NEW_YEAR: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Tết Dương lịch",
    name_en: "New Year's Day",
    in_lieu_vi: "Nghỉ bù Tết Dương lịch",
    in_lieu_en: "Compensatory day off (New Year's Day)",
};
const TET: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Tết Nguyên đán",
    name_en: "Lunar New Year (Tet)",
    in_lieu_vi: "Nghỉ bù Tết Nguyên đán",
    in_lieu_en: "Compensatory day off (Lunar New Year)",
};
const HUNG_KINGS: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Giỗ Tổ Hùng Vương (10/3 âm lịch)",
    name_en: "Hung Kings' Commemoration",
    in_lieu_vi: "Nghỉ bù Giỗ Tổ Hùng Vương",
    in_lieu_en: "Compensatory day off (Hung Kings' Commemoration)",
};
const REUNIFICATION_DAY: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Ngày Chiến thắng",
    name_en: "Reunification Day",
    in_lieu_vi: "Nghỉ bù Ngày Chiến thắng",
    in_lieu_en: "Compensatory day off (Reunification Day)",
};
const LABOUR_DAY: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Ngày Quốc tế Lao động",
    name_en: "International Labour Day",
    in_lieu_vi: "Nghỉ bù Ngày Quốc tế Lao động",
    in_lieu_en: "Compensatory day off (International Labour Day)",
};
const NATIONAL_DAY: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Quốc khánh",
    name_en: "National Day",
    in_lieu_vi: "Nghỉ bù Quốc khánh",
    in_lieu_en: "Compensatory day off (National Day)",
};
const NATIONAL_DAY_ADJACENT: StatutoryHoliday = StatutoryHoliday {
    name_vi: "Quốc khánh (ngày liền kề)",
    name_en: "National Day (adjacent day)",
    in_lieu_vi: "Nghỉ bù Quốc khánh",
    in_lieu_en: "Compensatory day off (National Day)",
};

/// The statutory holidays of `year` and their days in lieu, sorted by
/// date.
fn computed_year(year: i32) -> Vec<ComputedDay> {
    let fixed = |month, day, holiday| NaiveDate::from_ymd_opt(year, month, day).map(|date| (date, holiday));
    let tet = lunar::tet(year);
    let mut holidays: Vec<(NaiveDate, &StatutoryHoliday)> = [
        fixed(1, 1, &NEW_YEAR),
        tet.pred_opt().map(|eve| (eve, &TET)),
        Some((tet, &TET)),
        tet.checked_add_days(Days::new(1)).map(|date| (date, &TET)),
        tet.checked_add_days(Days::new(2)).map(|date| (date, &TET)),
        tet.checked_add_days(Days::new(3)).map(|date| (date, &TET)),
        Some((lunar::hung_kings_day(year), &HUNG_KINGS)),
        fixed(4, 30, &REUNIFICATION_DAY),
        fixed(5, 1, &LABOUR_DAY),
        fixed(9, 1, &NATIONAL_DAY_ADJACENT),
        fixed(9, 2, &NATIONAL_DAY),
    ]
    .into_iter()
    .flatten()
    // The lunar dates clamp for years chrono cannot represent; a clamped
    // date belongs to another year and must not leak into this one.
    .filter(|(date, _)| date.year() == year)
    .collect();
    holidays.sort_by_key(|(date, _)| *date);
    // Should the Hùng Kings' day ever coincide with 30 April, the day is
    // one holiday, not two.
    holidays.dedup_by_key(|(date, _)| *date);

    let holiday_dates: BTreeSet<NaiveDate> = holidays.iter().map(|(date, _)| *date).collect();
    let mut in_lieu_dates = BTreeSet::new();
    let mut days: Vec<ComputedDay> = holidays
        .iter()
        .map(|(date, holiday)| ComputedDay {
            date: *date,
            kind: DayKind::Holiday,
            name_vi: holiday.name_vi,
            name_en: holiday.name_en,
        })
        .collect();
    // Art. 111(3): a holiday on the weekly rest day is taken on the next
    // working day. Taking the weekend holidays in date order and skipping
    // days already given in lieu spreads several of them (a Tết that spans
    // a weekend) over consecutive working days.
    for (date, holiday) in holidays.iter().filter(|(date, _)| is_weekend(*date)) {
        let mut candidate = date.succ_opt();
        while let Some(day) = candidate {
            if is_weekend(day) || holiday_dates.contains(&day) || in_lieu_dates.contains(&day) {
                candidate = day.succ_opt();
            } else {
                break;
            }
        }
        if let Some(day) = candidate {
            in_lieu_dates.insert(day);
            days.push(ComputedDay {
                date: day,
                kind: DayKind::DayOff,
                name_vi: holiday.in_lieu_vi,
                name_en: holiday.in_lieu_en,
            });
        }
    }
    days.sort_by_key(|day| day.date);
    days
}

/// Splits one CSV line into fields, honouring double quotes.
fn split_csv_line(text: &str, line: usize) -> Result<Vec<String>, CalendarError> {
    let malformed = |problem| CalendarError::MalformedCsv { line, problem };
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(malformed("a quoted field is not closed on this line")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
            match chars.next() {
                None => return Ok(fields),
                Some(',') => {}
                Some(_) => return Err(malformed("a closing quote must be followed by a comma")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(malformed("a quote appears inside an unquoted field"));
                    }
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// Parses exactly `YYYY-MM-DD`; chrono alone would also accept forms such
/// as `2026-2-1` that the table never uses.
fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// An agency's office hours: a morning and an afternoon period.
///
/// The periods are half-open in spirit: work can be counted from the
/// opening up to the closing moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfficeHours {
    pub morning: (NaiveTime, NaiveTime),
    pub afternoon: (NaiveTime, NaiveTime),
}

/// Builds a time of day at compile time; an invalid one fails the build,
/// so the constants below cannot panic at run time.
const fn time_of_day(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("invalid time of day"),
    }
}

const DEFAULT_MORNING: (NaiveTime, NaiveTime) = (time_of_day(7, 30), time_of_day(11, 30));
const DEFAULT_AFTERNOON: (NaiveTime, NaiveTime) = (time_of_day(13, 30), time_of_day(17, 0));

impl Default for OfficeHours {
    /// 07:30–11:30 and 13:30–17:00, the hours most public offices keep.
    fn default() -> OfficeHours {
        OfficeHours {
            morning: DEFAULT_MORNING,
            afternoon: DEFAULT_AFTERNOON,
        }
    }
}

impl OfficeHours {
    /// Checks that the morning opens before it closes, the afternoon
    /// starts no earlier than the morning ends, and the afternoon opens
    /// before it closes. A continuous day has `morning.1 == afternoon.0`.
    pub fn new(
        morning: (NaiveTime, NaiveTime),
        afternoon: (NaiveTime, NaiveTime),
    ) -> Result<OfficeHours, CalendarError> {
        if morning.0 < morning.1 && morning.1 <= afternoon.0 && afternoon.0 < afternoon.1 {
            Ok(OfficeHours { morning, afternoon })
        } else {
            Err(CalendarError::OfficeHoursOutOfOrder)
        }
    }

    /// Working minutes in one working day (450 with the default hours).
    pub fn minutes_per_day(&self) -> u32 {
        // A day has at most 1,440 minutes, so the conversion cannot fail.
        u32::try_from(self.open_time_per_day().num_minutes()).unwrap_or(0)
    }

    fn periods(&self) -> [(NaiveTime, NaiveTime); 2] {
        [self.morning, self.afternoon]
    }

    /// The time the office is open in one day, counted the way
    /// [`HolidayCalendar::add_working_minutes`] counts it, so that hours
    /// built without [`OfficeHours::new`] (overlapping or reversed
    /// periods) are measured consistently instead of double counted.
    fn open_time_per_day(&self) -> TimeDelta {
        let mut time = NaiveTime::MIN;
        let mut total = TimeDelta::zero();
        for (open, close) in self.periods() {
            if time >= close {
                continue;
            }
            total += close - time.max(open);
            time = close;
        }
        total
    }
}

impl std::fmt::Display for OfficeHours {
    /// `07:30-11:30,13:30-17:00`, the form [`OfficeHours::from_str`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [(morning_open, morning_close), (afternoon_open, afternoon_close)] = self.periods();
        let hm = |time: NaiveTime| time.format("%H:%M");
        write!(
            f,
            "{}-{},{}-{}",
            hm(morning_open),
            hm(morning_close),
            hm(afternoon_open),
            hm(afternoon_close)
        )
    }
}

impl std::str::FromStr for OfficeHours {
    type Err = CalendarError;

    /// Reads `07:30-11:30,13:30-17:00`: a morning and an afternoon period.
    fn from_str(text: &str) -> Result<OfficeHours, CalendarError> {
        let bad = || CalendarError::BadOfficeHours(text.to_owned());
        let period = |part: &str| -> Result<(NaiveTime, NaiveTime), CalendarError> {
            let (open, close) = part.trim().split_once('-').ok_or_else(bad)?;
            let parse = |time: &str| NaiveTime::parse_from_str(time.trim(), "%H:%M").map_err(|_| bad());
            Ok((parse(open)?, parse(close)?))
        };
        let (morning, afternoon) = text.split_once(',').ok_or_else(bad)?;
        OfficeHours::new(period(morning)?, period(afternoon)?)
    }
}

#[cfg(test)]
mod tests {
    use super::{CalendarError, DayKind, HolidayCalendar, OfficeHours};

    #[test]
    fn office_hours_read_and_print_in_one_form() {
        let hours: OfficeHours = "08:00-12:00, 13:00-17:00".parse().expect("valid hours");
        assert_eq!(hours.to_string(), "08:00-12:00,13:00-17:00");
        assert_eq!(hours.minutes_per_day(), 480);
        assert_eq!(OfficeHours::default().to_string(), "07:30-11:30,13:30-17:00");
        assert!(matches!(
            "8h-12h".parse::<OfficeHours>(),
            Err(CalendarError::BadOfficeHours(_))
        ));
        assert!(matches!(
            "12:00-08:00,13:00-17:00".parse::<OfficeHours>(),
            Err(CalendarError::OfficeHoursOutOfOrder)
        ));
    }
    use crate::lunar;
    use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    static CALENDAR: LazyLock<HolidayCalendar> = LazyLock::new(HolidayCalendar::embedded);

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test dates are valid")
    }

    fn moment(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("test moments are valid")
    }

    fn time(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M").expect("test times are valid")
    }

    fn check_working(day: &str, expected: bool) {
        assert_eq!(CALENDAR.is_working_day(date(day)), expected, "is_working_day({day})");
    }

    fn check_add_days(start: &str, days: u32, expected: &str) {
        let result = CALENDAR.add_working_days(date(start), days);
        assert_eq!(result, date(expected), "{days} working days after {start}");
        if days > 0 {
            assert_eq!(
                CALENDAR.working_days_between(date(start), result),
                i64::from(days),
                "working days between {start} and {expected}"
            );
        }
    }

    fn check_add_hours(start: &str, hours: u32, expected: &str) {
        let result = CALENDAR.add_working_hours(moment(start), hours, &OfficeHours::default());
        assert_eq!(result, moment(expected), "{hours} working hours after {start}");
    }

    #[test]
    fn a_calendar_can_be_shared_between_request_handlers() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<HolidayCalendar>();
        assert_send_sync::<OfficeHours>();
    }

    #[test]
    fn the_embedded_table_parses() {
        let parsed = HolidayCalendar::from_csv(include_str!("../data/holidays.csv"));
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn announced_2026_days_off_and_make_up_days_are_respected() {
        check_working("2026-01-01", false);
        check_working("2026-01-02", false);
        check_working("2026-01-10", true);
        check_working("2026-01-11", false);
        check_working("2026-01-12", true);
        check_working("2026-02-13", true);
        for tet_day in ["2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20"] {
            check_working(tet_day, false);
        }
        check_working("2026-02-23", true);
        check_working("2026-04-24", true);
        check_working("2026-04-26", false);
        check_working("2026-04-27", false);
        check_working("2026-04-28", true);
        check_working("2026-04-30", false);
        check_working("2026-05-01", false);
        check_working("2026-09-01", false);
        check_working("2026-09-02", false);
        check_working("2026-09-03", true);
    }

    #[test]
    fn a_year_in_the_table_takes_the_table_only() {
        // The table puts the 2027 National Day adjacent day on 3 September,
        // so 1 September, which the statutory rule would pick, is worked.
        check_working("2027-09-01", true);
        check_working("2027-09-03", false);
    }

    #[test]
    fn one_working_day_after_the_friday_before_tet_is_the_monday_after() {
        check_add_days("2026-02-13", 1, "2026-02-23");
    }

    #[test]
    fn working_days_skip_holidays_and_include_make_up_saturdays() {
        check_add_days("2026-04-20", 15, "2026-05-14");
        check_add_days("2026-01-09", 1, "2026-01-10");
        check_add_days("2026-01-09", 2, "2026-01-12");
        check_add_days("2025-12-31", 1, "2026-01-05");
        check_add_days("2026-04-24", 1, "2026-04-28");
        check_add_days("2026-08-28", 1, "2026-09-03");
    }

    #[test]
    fn zero_working_days_is_the_start_or_the_next_working_day() {
        check_add_days("2026-02-13", 0, "2026-02-13");
        check_add_days("2026-02-14", 0, "2026-02-23");
        check_add_days("2026-01-10", 0, "2026-01-10");
    }

    #[test]
    fn working_days_between_counts_the_end_but_not_the_start() {
        let between = |from, to| CALENDAR.working_days_between(date(from), date(to));
        assert_eq!(between("2026-02-13", "2026-02-13"), 0);
        assert_eq!(between("2026-02-12", "2026-02-13"), 1);
        assert_eq!(between("2026-02-13", "2026-02-22"), 0);
        assert_eq!(between("2026-02-13", "2026-02-23"), 1);
        assert_eq!(between("2026-02-23", "2026-02-13"), -1);
        // March 2026 has 22 weekdays and no holidays.
        assert_eq!(between("2026-02-28", "2026-03-31"), 22);
    }

    #[test]
    fn a_computed_year_has_tet_and_its_days_in_lieu() {
        // Lunar new year 2030 is Saturday 2 February (UTC+7), so Tết runs
        // from Friday the 1st to Tuesday the 5th, and its Saturday and
        // Sunday move to Wednesday the 6th and Thursday the 7th.
        assert_eq!(lunar::tet(2030), date("2030-02-02"));
        check_working("2030-01-01", false);
        check_working("2030-01-31", true);
        for day in ["2030-02-01", "2030-02-04", "2030-02-05", "2030-02-06", "2030-02-07"] {
            check_working(day, false);
        }
        check_working("2030-02-08", true);
        assert_eq!(
            CALENDAR.holiday_name(date("2030-02-02")),
            Some(("Tết Nguyên đán", "Lunar New Year (Tet)"))
        );
        assert_eq!(
            CALENDAR.holiday_name(date("2030-02-06")),
            Some(("Nghỉ bù Tết Nguyên đán", "Compensatory day off (Lunar New Year)"))
        );
        assert_eq!(CALENDAR.day_kind(date("2030-02-07")), Some(DayKind::DayOff));
        check_add_days("2030-01-31", 1, "2030-02-08");
        check_add_days("2030-01-30", 2, "2030-02-08");
    }

    #[test]
    fn a_computed_national_day_on_sunday_moves_past_the_next_holiday() {
        // 1 September 2030 is a Sunday and 2 September a holiday anyway, so
        // the day in lieu is Tuesday the 3rd.
        assert_eq!(date("2030-09-01").weekday(), Weekday::Sun);
        check_working("2030-09-02", false);
        check_working("2030-09-03", false);
        check_working("2030-09-04", true);
        assert_eq!(
            CALENDAR.holiday_name(date("2030-09-03")),
            Some(("Nghỉ bù Quốc khánh", "Compensatory day off (National Day)"))
        );
    }

    #[test]
    fn holiday_names_come_from_the_table_in_both_languages() {
        assert_eq!(
            CALENDAR.holiday_name(date("2026-02-17")),
            Some(("Tết Nguyên đán Bính Ngọ", "Lunar New Year (Tet)"))
        );
        assert_eq!(
            CALENDAR.holiday_name(date("2026-04-26")),
            Some((
                "Giỗ Tổ Hùng Vương (10/3 âm lịch, Chủ nhật)",
                "Hung Kings' Commemoration (Sunday)"
            ))
        );
        assert_eq!(CALENDAR.holiday_name(date("2026-01-10")), None);
        assert_eq!(CALENDAR.day_kind(date("2026-01-10")), Some(DayKind::WorkingDaySwap));
        assert_eq!(CALENDAR.holiday_name(date("2026-03-10")), None);
        assert_eq!(CALENDAR.day_kind(date("2026-03-10")), None);
    }

    #[test]
    fn every_computed_year_has_eleven_weekdays_off() {
        // Art. 112 gives 11 holidays, and Art. 111(3) moves each one that
        // falls on a weekend to a weekday, so a computed year always loses
        // exactly 11 weekdays unless two holidays share a date.
        let calendar = HolidayCalendar::from_csv("date,name_vi,name_en,kind\n").expect("header only");
        for year in 1900..=2199 {
            let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid year");
            let weekdays_off = first
                .iter_days()
                .take_while(|day| day.year() == year)
                .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
                .filter(|day| !calendar.is_working_day(*day))
                .count();
            let hung_kings = lunar::hung_kings_day(year);
            let coincides = [(4, 30), (5, 1)].contains(&(hung_kings.month(), hung_kings.day()));
            assert_eq!(weekdays_off, if coincides { 10 } else { 11 }, "year {year}");
        }
    }

    #[test]
    fn day_kinds_parse_from_their_column_spelling() {
        for kind in [DayKind::Holiday, DayKind::DayOff, DayKind::WorkingDaySwap] {
            assert_eq!(kind.as_str().parse::<DayKind>(), Ok(kind));
        }
        assert!("Holiday".parse::<DayKind>().is_err());
    }

    fn check_csv_error(body: &str, expected: CalendarError) {
        let text = format!("date,name_vi,name_en,kind,verified,source\n{body}");
        assert_eq!(HolidayCalendar::from_csv(&text).err(), Some(expected), "{body:?}");
    }

    #[test]
    fn malformed_tables_are_rejected_with_the_line_number() {
        check_csv_error(
            "2026-01-01,Tết,New Year,holiday,yes,x\n2026-13-01,A,B,holiday,yes,x\n",
            CalendarError::BadDate {
                line: 3,
                value: "2026-13-01".to_owned(),
            },
        );
        check_csv_error(
            "2026-1-1,A,B,holiday,yes,x\n",
            CalendarError::BadDate {
                line: 2,
                value: "2026-1-1".to_owned(),
            },
        );
        check_csv_error(
            "2026-01-01,A,B,party,yes,x\n",
            CalendarError::UnknownKind {
                line: 2,
                value: "party".to_owned(),
            },
        );
        check_csv_error("2026-01-01,A,B\n", CalendarError::TooFewFields { line: 2, found: 3 });
        check_csv_error(
            "2026-01-01,\"A, unclosed,B,holiday,yes,x\n",
            CalendarError::MalformedCsv {
                line: 2,
                problem: "a quoted field is not closed on this line",
            },
        );
        check_csv_error(
            "2026-01-01,\"A\"x,B,holiday,yes,x\n",
            CalendarError::MalformedCsv {
                line: 2,
                problem: "a closing quote must be followed by a comma",
            },
        );
        check_csv_error("2026-01-01,A,,holiday,yes,x\n", CalendarError::EmptyName { line: 2 });
        check_csv_error(
            "2026-01-01,A,B,holiday,yes,x\n\n2026-01-01,C,D,day_off,yes,x\n",
            CalendarError::DuplicateDate {
                line: 4,
                date: date("2026-01-01"),
                first_line: 2,
            },
        );
        assert_eq!(HolidayCalendar::from_csv("").err(), Some(CalendarError::MissingHeader));
        assert_eq!(
            HolidayCalendar::from_csv("day,name\n").err(),
            Some(CalendarError::BadHeader {
                found: "day,name".to_owned()
            })
        );
    }

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        let text = "\u{feff}date,name_vi,name_en,kind,verified,source\r\n\
            2026-03-10,\"Ngày \"\"thử\"\", một\",\"Test, day\",holiday,no,\"a, b\"\r\n";
        let calendar = HolidayCalendar::from_csv(text).expect("valid table");
        assert_eq!(
            calendar.holiday_name(date("2026-03-10")),
            Some(("Ngày \"thử\", một", "Test, day"))
        );
        // The table covers 2026 now, so no statutory day is computed.
        assert!(calendar.is_working_day(date("2026-01-01")));
        assert!(!calendar.is_working_day(date("2026-03-10")));
    }

    #[test]
    fn error_messages_name_the_line() {
        let error = CalendarError::UnknownKind {
            line: 7,
            value: "x".to_owned(),
        };
        assert!(error.to_string().starts_with("line 7:"), "{error}");
    }

    #[test]
    fn default_office_hours_are_seven_and_a_half_hours_a_day() {
        let office = OfficeHours::default();
        assert_eq!(office.minutes_per_day(), 450);
        assert_eq!(OfficeHours::new(office.morning, office.afternoon), Ok(office));
        let continuous = OfficeHours::new((time("08:00"), time("12:00")), (time("12:00"), time("16:00")));
        assert_eq!(continuous.map(|hours| hours.minutes_per_day()), Ok(480));
    }

    #[test]
    fn office_hours_out_of_order_are_rejected() {
        for (morning, afternoon) in [
            (("11:30", "07:30"), ("13:30", "17:00")),
            (("07:30", "07:30"), ("13:30", "17:00")),
            (("07:30", "14:00"), ("13:30", "17:00")),
            (("07:30", "11:30"), ("17:00", "13:30")),
        ] {
            let result = OfficeHours::new(
                (time(morning.0), time(morning.1)),
                (time(afternoon.0), time(afternoon.1)),
            );
            assert_eq!(
                result,
                Err(CalendarError::OfficeHoursOutOfOrder),
                "{morning:?} {afternoon:?}"
            );
        }
    }

    #[test]
    fn working_hours_run_only_inside_office_hours_on_working_days() {
        // One hour on Friday afternoon, then 4 hours of Monday morning and
        // 3 more after lunch.
        check_add_hours("2026-03-06 16:00", 8, "2026-03-09 16:30");
        check_add_hours("2026-03-09 07:30", 4, "2026-03-09 11:30");
        check_add_hours("2026-03-09 12:00", 1, "2026-03-09 14:30");
        check_add_hours("2026-03-09 06:00", 1, "2026-03-09 08:30");
        check_add_hours("2026-03-09 18:00", 1, "2026-03-10 08:30");
        check_add_hours("2026-02-13 16:30", 1, "2026-02-23 08:00");
        check_add_hours("2026-01-10 07:00", 1, "2026-01-10 08:30");
        check_add_hours("2026-03-09 07:30", 15, "2026-03-10 17:00");
    }

    #[test]
    fn zero_working_minutes_from_outside_hours_is_the_next_opening() {
        let office = OfficeHours::default();
        let next_opening = CALENDAR.add_working_minutes(moment("2026-03-06 18:00"), 0, &office);
        assert_eq!(next_opening, moment("2026-03-09 07:30"));
        let lunch = CALENDAR.add_working_minutes(moment("2026-03-09 11:45"), 0, &office);
        assert_eq!(lunch, moment("2026-03-09 13:30"));
        let inside = CALENDAR.add_working_minutes(moment("2026-03-09 09:10"), 0, &office);
        assert_eq!(inside, moment("2026-03-09 09:10"));
        let twenty = CALENDAR.add_working_minutes(moment("2026-03-09 11:20"), 20, &office);
        assert_eq!(twenty, moment("2026-03-09 13:40"));
    }

    #[test]
    fn office_hours_with_no_time_in_them_do_not_loop_forever() {
        let empty = OfficeHours {
            morning: (time("09:00"), time("09:00")),
            afternoon: (time("17:00"), time("13:00")),
        };
        assert_eq!(empty.minutes_per_day(), 0);
        let start = moment("2026-03-09 10:00");
        assert_eq!(CALENDAR.add_working_hours(start, 8, &empty), start);
    }

    #[test]
    fn absurd_spans_stop_at_the_end_of_time_instead_of_panicking() {
        let near_end = NaiveDate::MAX - Days::new(10);
        assert_eq!(CALENDAR.add_working_days(near_end, 100), NaiveDate::MAX);
        let late = near_end.and_time(time("08:00"));
        assert_eq!(
            CALENDAR.add_working_hours(late, 1_000, &OfficeHours::default()),
            NaiveDateTime::MAX
        );
        assert!(CALENDAR.working_days_between(near_end, NaiveDate::MAX) <= 11);
    }

    fn dates_2020_to_2040() -> impl Strategy<Value = NaiveDate> {
        let first = NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date");
        (0_u64..7_670).prop_map(move |offset| first + Days::new(offset))
    }

    fn moments_2024_to_2032() -> impl Strategy<Value = NaiveDateTime> {
        let first = moment("2024-01-01 00:00");
        (0_i64..(8 * 366 * 24 * 60)).prop_map(move |minutes| first + chrono::TimeDelta::minutes(minutes))
    }

    fn inside_office_hours(at: NaiveDateTime, office: &OfficeHours) -> bool {
        let t = at.time();
        (office.morning.0 <= t && t <= office.morning.1) || (office.afternoon.0 <= t && t <= office.afternoon.1)
    }

    proptest! {
        #[test]
        fn adding_working_days_lands_on_a_working_day(start in dates_2020_to_2040(), days in 1_u32..300) {
            let result = CALENDAR.add_working_days(start, days);
            prop_assert!(CALENDAR.is_working_day(result), "{} + {} = {}", start, days, result);
            prop_assert!(result > start);
        }

        #[test]
        fn counting_back_the_added_working_days_gives_the_same_number(
            start in dates_2020_to_2040(),
            days in 1_u32..300,
        ) {
            let result = CALENDAR.add_working_days(start, days);
            prop_assert_eq!(CALENDAR.working_days_between(start, result), i64::from(days));
            prop_assert_eq!(CALENDAR.working_days_between(result, start), -i64::from(days));
        }

        #[test]
        fn zero_working_days_lands_on_the_first_working_day_from_start(start in dates_2020_to_2040()) {
            let result = CALENDAR.add_working_days(start, 0);
            prop_assert!(CALENDAR.is_working_day(result));
            prop_assert_eq!(CALENDAR.working_days_between(start, result), i64::from(start != result));
        }

        #[test]
        fn working_hours_end_inside_office_hours_on_a_working_day(
            start in moments_2024_to_2032(),
            hours in 1_u32..200,
        ) {
            let office = OfficeHours::default();
            let result = CALENDAR.add_working_hours(start, hours, &office);
            prop_assert!(inside_office_hours(result, &office), "{} + {}h = {}", start, hours, result);
            prop_assert!(CALENDAR.is_working_day(result.date()));
            prop_assert!(result > start);
        }

        #[test]
        fn more_working_hours_never_end_earlier(
            start in moments_2024_to_2032(),
            hours in 0_u32..200,
            extra in 0_u32..50,
        ) {
            let office = OfficeHours::default();
            let shorter = CALENDAR.add_working_hours(start, hours, &office);
            let longer = CALENDAR.add_working_hours(start, hours + extra, &office);
            prop_assert!(shorter <= longer, "{}h: {}, {}h: {}", hours, shorter, hours + extra, longer);
        }

        #[test]
        fn adding_working_minutes_in_two_steps_equals_adding_them_at_once(
            start in moments_2024_to_2032(),
            first in 1_u32..2_000,
            second in 1_u32..2_000,
        ) {
            let office = OfficeHours::default();
            let at_once = CALENDAR.add_working_minutes(start, first + second, &office);
            let midway = CALENDAR.add_working_minutes(start, first, &office);
            let in_two_steps = CALENDAR.add_working_minutes(midway, second, &office);
            prop_assert_eq!(at_once, in_two_steps);
        }

        #[test]
        fn parsing_arbitrary_tables_never_panics(body in "[0-9a-z,\"\n\r -]{0,200}") {
            let text = format!("date,name_vi,name_en,kind\n{body}");
            let _ = HolidayCalendar::from_csv(&text);
        }
    }
}
