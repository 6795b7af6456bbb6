//! The source of "now" for the whole system.
//!
//! It owns the [`Clock`] trait, the one implementation that reads the real
//! clock ([`SystemClock`]), a settable clock for tests ([`FixedClock`]) and
//! the conversion to Vietnam's local time. Every deadline, lease and
//! timestamp must get the time through a `Clock`, so that tests can move
//! time instead of sleeping; nothing else in the workspace may call
//! `Utc::now()`. It must not schedule, sleep or time out anything.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use std::sync::{Mutex, PoisonError};

/// Vietnam's offset from UTC (Indochina Time, UTC+7, no daylight saving).
pub const VN_OFFSET_SECONDS: i32 = 7 * 3600;

/// Tells the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock. This is the only place in egov that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until a test sets or advances it.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    pub fn new(now: DateTime<Utc>) -> FixedClock {
        FixedClock { now: Mutex::new(now) }
    }

    /// Moves the clock to `now`, which may be in the past.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Moves the clock by `by`, which may be negative. A move past the
    /// range chrono can represent stops at its end rather than panicking.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now = now.checked_add_signed(by).unwrap_or(if by < Duration::zero() {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // The guarded value is a plain timestamp that is always written in
        // one step, so a panic elsewhere cannot leave it half-updated and
        // the poison flag carries no information.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// The current wall-clock time in Vietnam, for office hours and for the
/// dates printed on documents.
pub fn vn_now(clock: &dyn Clock) -> NaiveDateTime {
    let utc = clock.now().naive_utc();
    utc.checked_add_signed(Duration::seconds(i64::from(VN_OFFSET_SECONDS)))
        .unwrap_or(NaiveDateTime::MAX)
}

#[cfg(test)]
mod tests {
    use super::{Clock, FixedClock, SystemClock, vn_now};
    use chrono::{DateTime, Duration, NaiveDate, Utc};
    use std::sync::Arc;

    fn instant(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test instants are valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_fixed_clock_stands_still_until_moved() {
        let clock = FixedClock::new(instant("2026-02-13T09:00:00Z"));
        assert_eq!(clock.now(), instant("2026-02-13T09:00:00Z"));
        assert_eq!(clock.now(), clock.now());
        clock.advance(Duration::minutes(90));
        assert_eq!(clock.now(), instant("2026-02-13T10:30:00Z"));
        clock.advance(Duration::days(-1));
        assert_eq!(clock.now(), instant("2026-02-12T10:30:00Z"));
        clock.set(instant("2030-01-01T00:00:00Z"));
        assert_eq!(clock.now(), instant("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn advancing_past_the_end_of_time_stops_there() {
        let clock = FixedClock::new(instant("2026-01-01T00:00:00Z"));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.advance(Duration::MIN);
        clock.advance(Duration::MIN);
        assert_eq!(clock.now(), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn vietnam_time_is_seven_hours_ahead_of_utc() {
        let clock = FixedClock::new(instant("2026-02-13T20:30:00Z"));
        let expected = NaiveDate::from_ymd_opt(2026, 2, 14)
            .and_then(|day| day.and_hms_opt(3, 30, 0))
            .expect("valid local time");
        assert_eq!(vn_now(&clock), expected);
    }

    #[test]
    fn clocks_can_be_shared_as_trait_objects() {
        let clocks: Vec<Arc<dyn Clock>> = vec![
            Arc::new(SystemClock),
            Arc::new(FixedClock::new(instant("2026-01-01T00:00:00Z"))),
        ];
        // The system clock must read a time after this code was written.
        assert!(clocks[0].now() > instant("2026-01-01T00:00:00Z"));
        assert_eq!(clocks[1].now(), instant("2026-01-01T00:00:00Z"));
    }
}
