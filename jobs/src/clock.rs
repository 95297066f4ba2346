//! Time as the framework sees it: the system clock, or a manual one that tests move by hand.

use std::cell::Cell;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// A source of the current time. The worker, client and scheduler read time only from here,
/// so tests of retries and schedules advance a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Whose clock judges leases for a worker on this clock: the store's, unless the clock
    /// is one that tests move by hand ([`ManualClock`] answers [`LeaseClock::Caller`]).
    ///
    /// ```
    /// use jobs::clock::{Clock, LeaseClock, ManualClock, SystemClock};
    /// assert_eq!(SystemClock.lease_clock(), LeaseClock::Store);
    /// assert_eq!(ManualClock::new(jobs::chrono::Utc::now()).lease_clock(), LeaseClock::Caller);
    /// ```
    fn lease_clock(&self) -> LeaseClock {
        LeaseClock::Store
    }
}

/// Whose clock sets and judges a lease's expiry.
///
/// A lease is taken, extended and found expired by different processes. Were each to use
/// its own clock, a process whose clock runs 90 s fast would take every other process's
/// running jobs for abandoned and rescue them (duplicate runs), and one running slow would
/// keep a dead process's jobs waiting. With [`LeaseClock::Store`] every lease is written and
/// judged in the store's time (Redis `TIME`, PostgreSQL `now()`, the clock of the host that
/// holds the SQLite file, the memory backend's own process), so a process's clock cannot
/// matter. [`LeaseClock::Caller`] uses the call's `now` instead: that is for tests that move
/// time by hand, and the default of the parameter structs so such tests read naturally.
/// Workers pick it from their clock ([`Clock::lease_clock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LeaseClock {
    /// The store's own clock.
    Store,
    /// The `now` the call carries.
    #[default]
    Caller,
}

impl LeaseClock {
    /// The time a lease is judged at by a store whose clock is this host's (the memory
    /// backend, SQLite): the host's clock for [`LeaseClock::Store`], `given` otherwise.
    ///
    /// ```
    /// use jobs::clock::LeaseClock;
    /// let given = "2020-01-01T00:00:00Z".parse().unwrap();
    /// assert_eq!(LeaseClock::Caller.host_time(given), given);
    /// assert!(LeaseClock::Store.host_time(given) > given);
    /// ```
    pub fn host_time(self, given: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            LeaseClock::Store => system_now(),
            LeaseClock::Caller => given,
        }
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        system_now()
    }
}

/// The system's time, as `Utc::now` gives it, with the calendar date of the day worked out
/// once per day and thread rather than on every read (the worker reads the clock for every
/// job it starts, and the date is most of the cost of a read).
fn system_now() -> DateTime<Utc> {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => from_unix(since).unwrap_or_else(Utc::now),
        // Before 1970: a clock set wrong; chrono handles it.
        Err(_) => Utc::now(),
    }
}

thread_local! {
    /// The last day (days since 1970) this thread turned into a date, and that date.
    static DAY: Cell<Option<(u64, NaiveDate)>> = const { Cell::new(None) };
}

/// `since` after 1970-01-01T00:00:00Z (None past chrono's range).
fn from_unix(since: Duration) -> Option<DateTime<Utc>> {
    const DAY_SECS: u64 = 86_400;
    let secs = since.as_secs();
    let day = secs / DAY_SECS;
    let date = match DAY.with(Cell::get) {
        Some((cached, date)) if cached == day => date,
        _ => {
            let date =
                DateTime::from_timestamp(i64::try_from(day * DAY_SECS).ok()?, 0)?.date_naive();
            DAY.with(|d| d.set(Some((day, date))));
            date
        }
    };
    let of_day = u32::try_from(secs % DAY_SECS).ok()?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(of_day, since.subsec_nanos())?;
    Some(date.and_time(time).and_utc())
}

/// A clock that only moves when told to.
///
/// ```
/// use std::time::Duration;
/// use jobs::clock::{Clock, ManualClock};
/// let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().to_rfc3339(), "2026-01-01T00:01:30+00:00");
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lease_clock(&self) -> LeaseClock {
        LeaseClock::Caller
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The cached date gives what chrono gives, for any time to 9999, read in any order
        /// (so both a cached day and a new one are taken).
        #[test]
        fn from_unix_is_chronos_conversion(
            times in proptest::collection::vec((0u64..253_402_300_799, 0u32..1_000_000_000), 1..20)
        ) {
            for (secs, nanos) in times {
                for secs in [secs, secs + 1, secs.saturating_sub(1)] {
                    let since = Duration::new(secs, nanos);
                    let expected = DateTime::from_timestamp(secs as i64, nanos);
                    prop_assert_eq!(from_unix(since), expected);
                }
            }
        }
    }

    #[test]
    fn day_boundaries_and_the_system_clock() {
        let midnight = 1_767_225_600; // 2026-01-01T00:00:00Z
        for secs in [midnight - 1, midnight, midnight + 1, midnight - 1] {
            let got = from_unix(Duration::new(secs, 999_999_999));
            assert_eq!(got, DateTime::from_timestamp(secs as i64, 999_999_999));
        }
        let (before, read, after) = (Utc::now(), SystemClock.now(), Utc::now());
        assert!(
            before <= read && read <= after,
            "{before} <= {read} <= {after}"
        );
    }
}
