//! The limits side of the backend contract: taking a start from a rate limit, and listing
//! how much of each concurrency and rate limit is in use, for the dashboard.
//!
//! Concurrency limits need no call of their own: a backend reads a job's
//! [`ConcurrencyLimit`](crate::envelope::limits::ConcurrencyLimit) when it reserves it, takes
//! a slot with the lease, moves the job aside when its key is full, and frees the slot (and
//! brings one waiting job back) in the same atomic step that settles, requeues or rescues
//! the lease.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::LeaseClock;

/// Take one start from rate limit `key`: granted when fewer than `limit` starts were granted
/// in the `per` before `now` (a sliding window: no window of length `per` ever holds more
/// than `limit` starts), else refused with the time a start frees.
///
/// ```
/// use std::time::Duration;
/// use jobs::backend::RateAcquireParams;
/// let p = RateAcquireParams::new("partner:7", 100, Duration::from_secs(60), jobs::chrono::Utc::now());
/// assert_eq!((p.limit, p.per), (100, Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RateAcquireParams {
    /// The limit's key.
    pub key: String,
    /// Starts a window may hold (at least 1).
    pub limit: u32,
    /// The window.
    pub per: Duration,
    /// The current time.
    pub now: DateTime<Utc>,
    /// Whose clock judges the window (the call's `now` unless set): a worker on a real clock
    /// sends [`LeaseClock::Store`] so processes on skewed hosts share one window.
    pub clock: LeaseClock,
}

impl RateAcquireParams {
    /// Take a start from `key`, limited to `limit` per `per`, at `now`.
    pub fn new(key: impl Into<String>, limit: u32, per: Duration, now: DateTime<Utc>) -> Self {
        RateAcquireParams {
            key: key.into(),
            limit: limit.max(1),
            per: per.max(Duration::from_millis(1)),
            now,
            clock: LeaseClock::Caller,
        }
    }

    /// Judge the window by `clock`.
    pub fn clock(mut self, clock: LeaseClock) -> Self {
        self.clock = clock;
        self
    }
}

/// What a rate limit said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateDecision {
    /// A start was taken.
    Granted,
    /// The window is full; a start frees at `retry_at`.
    Refused {
        /// When the oldest start in the window leaves it.
        retry_at: DateTime<Utc>,
    },
}

/// Which kind of limit a [`LimitUsage`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// At most `limit` jobs of the key run at once.
    Concurrency,
    /// At most `limit` starts of the key per window.
    Rate {
        /// The window.
        per: Duration,
    },
}

/// How much of one limit is in use, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LimitUsage {
    /// The limit's key.
    pub key: String,
    /// Concurrency or rate.
    pub kind: LimitKind,
    /// The limit, as the last job seen with this key declared it.
    pub limit: u32,
    /// Concurrency: jobs holding a slot; rate: starts in the current window.
    pub in_use: u64,
    /// Concurrency: jobs moved aside until a slot frees; rate: 0 (jobs over a rate wait in
    /// the scheduled set, listed there with their next run time).
    pub waiting: u64,
    /// Rate: when the oldest start of a full window leaves it; `None` otherwise.
    pub frees_at: Option<DateTime<Utc>>,
}

impl LimitUsage {
    /// A concurrency limit's usage.
    pub fn concurrency(key: impl Into<String>, limit: u32, in_use: u64, waiting: u64) -> Self {
        LimitUsage {
            key: key.into(),
            kind: LimitKind::Concurrency,
            limit,
            in_use,
            waiting,
            frees_at: None,
        }
    }

    /// A rate limit's usage.
    pub fn rate(
        key: impl Into<String>,
        limit: u32,
        per: Duration,
        in_use: u64,
        frees_at: Option<DateTime<Utc>>,
    ) -> Self {
        LimitUsage {
            key: key.into(),
            kind: LimitKind::Rate { per },
            limit,
            in_use,
            waiting: 0,
            frees_at,
        }
    }
}

/// List the limits in use at `now`: every concurrency key with a slot taken or a job
/// waiting, and every rate key with a start in its window, sorted by kind (concurrency
/// first) then key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LimitsListParams {
    /// The current time.
    pub now: DateTime<Utc>,
    /// Whose clock judges rate windows.
    pub clock: LeaseClock,
    /// Limits to skip.
    pub offset: usize,
    /// The most limits to return.
    pub limit: usize,
}

impl LimitsListParams {
    /// The first 100 limits in use at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        LimitsListParams {
            now,
            clock: LeaseClock::Caller,
            offset: 0,
            limit: 100,
        }
    }

    /// Page through the limits.
    pub fn page(mut self, offset: usize, limit: usize) -> Self {
        self.offset = offset;
        self.limit = limit;
        self
    }

    /// Judge rate windows by `clock`.
    pub fn clock(mut self, clock: LeaseClock) -> Self {
        self.clock = clock;
        self
    }
}

/// The jobs moved aside waiting for a slot of concurrency key `key`, oldest first (the next
/// to come back first), one page.
///
/// ```
/// use jobs::backend::LimitWaitingParams;
/// let p = LimitWaitingParams::new("account:7").page(25, 25);
/// assert_eq!((p.key.as_str(), p.offset, p.limit), ("account:7", 25, 25));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LimitWaitingParams {
    /// The concurrency key.
    pub key: String,
    /// Jobs to skip.
    pub offset: usize,
    /// The most jobs to return.
    pub limit: usize,
}

impl LimitWaitingParams {
    /// The first 25 jobs waiting for a slot of `key`.
    pub fn new(key: impl Into<String>) -> Self {
        LimitWaitingParams {
            key: key.into(),
            offset: 0,
            limit: 25,
        }
    }

    /// Page through the jobs.
    pub fn page(mut self, offset: usize, limit: usize) -> Self {
        self.offset = offset;
        self.limit = limit;
        self
    }
}

/// Delete jobs moved aside waiting for a slot of concurrency key `key`, by jid: each goes
/// with its unique lock, if it holds one; the key's slots and other waiting jobs are left as
/// they are. A jid not waiting for that key (run, brought back, never there) is left alone.
///
/// ```
/// use jobs::backend::LimitWaitingDeleteParams;
/// let p = LimitWaitingDeleteParams::new("account:7", vec!["0123456789abcdef01234567".into()]);
/// assert_eq!(p.jids.len(), 1);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LimitWaitingDeleteParams {
    /// The concurrency key.
    pub key: String,
    /// The jobs to delete.
    pub jids: Vec<String>,
}

impl LimitWaitingDeleteParams {
    /// Delete the jobs `jids` waiting for a slot of `key`.
    pub fn new(key: impl Into<String>, jids: Vec<String>) -> Self {
        LimitWaitingDeleteParams {
            key: key.into(),
            jids,
        }
    }
}
