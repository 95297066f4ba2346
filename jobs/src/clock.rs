//! Time as the framework sees it: the system clock, or a manual one that tests move by hand.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

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
            LeaseClock::Store => Utc::now(),
            LeaseClock::Caller => given,
        }
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
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
