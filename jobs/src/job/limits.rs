//! [`Concurrency`] and [`Rate`]: a job's declared limits, and the keys they count by.

use std::time::Duration;

use serde_json::Value;

use crate::envelope::limits::{limit_key, ConcurrencyLimit, RateLimit};

/// At most `limit` jobs run at once per key, across every process: from
/// `#[job(concurrency(limit = 2, key = account_id))]`, or per call with
/// `set().concurrency(..)`.
///
/// The key is the job's name and the arguments at `key` (with no `key`, one limit for the
/// job type). A job over its limit is not started: it waits aside, counts no attempt, and
/// does not hold back other jobs; it comes back when a slot of its key frees. A slot is held
/// by the job's lease, so it frees when the job ends, is requeued, or its dead worker's
/// lease is rescued, and never twice.
///
/// ```
/// use jobs::Concurrency;
/// const ONE_PER_ACCOUNT: Concurrency = Concurrency::limit(1).key(&[0]);
/// let slot = ONE_PER_ACCOUNT.for_job("SyncAccount", &[42.into(), "full".into()]);
/// assert_eq!((slot.key.as_str(), slot.limit), ("SyncAccount:42", 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Concurrency {
    /// How many at once (a limit of 0 is refused at enqueue).
    pub limit: u32,
    /// The 0-based positions of the arguments the key is made of; `None`: the job type.
    pub key: Option<&'static [usize]>,
}

impl Concurrency {
    /// At most `limit` at once for the job type.
    pub const fn limit(limit: u32) -> Self {
        Concurrency { limit, key: None }
    }

    /// Counted per value of the arguments at these 0-based positions.
    pub const fn key(mut self, positions: &'static [usize]) -> Self {
        self.key = Some(positions);
        self
    }

    /// The limit as stored in a job named `class` with `args`.
    pub fn for_job(&self, class: &str, args: &[Value]) -> ConcurrencyLimit {
        ConcurrencyLimit::new(key_of(class, self.key, args), self.limit)
    }
}

/// At most `limit` starts per `per` per key, across every process: from
/// `#[job(rate(limit = 100, per = "1m", key = partner_id))]`, or per call with
/// `set().rate(..)`.
///
/// A sliding window: no span of length `per` ever holds more than `limit` starts (a fixed
/// window would allow twice the limit across a boundary; a token bucket would allow a burst
/// beyond it). A job over the rate is not a failure: it is snoozed to the moment a start
/// frees, without counting an attempt, and shows in the scheduled set with that time.
///
/// ```
/// use std::time::Duration;
/// use jobs::Rate;
/// const PARTNER: Rate = Rate::limit(100, Duration::from_secs(60)).key(&[0]);
/// let rate = PARTNER.for_job("CallPartner", &[7.into()]);
/// assert_eq!((rate.key.as_str(), rate.limit, rate.per_ms), ("CallPartner:7", 100, 60_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rate {
    /// Starts per window (a limit of 0 is refused at enqueue).
    pub limit: u32,
    /// The window (zero is refused at enqueue).
    pub per: Duration,
    /// The 0-based positions of the arguments the key is made of; `None`: the job type.
    pub key: Option<&'static [usize]>,
}

impl Rate {
    /// At most `limit` starts per `per` for the job type.
    pub const fn limit(limit: u32, per: Duration) -> Self {
        Rate {
            limit,
            per,
            key: None,
        }
    }

    /// Counted per value of the arguments at these 0-based positions.
    pub const fn key(mut self, positions: &'static [usize]) -> Self {
        self.key = Some(positions);
        self
    }

    /// The limit as stored in a job named `class` with `args`.
    pub fn for_job(&self, class: &str, args: &[Value]) -> RateLimit {
        let per_ms = u64::try_from(self.per.as_millis()).unwrap_or(u64::MAX);
        RateLimit::new(key_of(class, self.key, args), self.limit, per_ms)
    }
}

fn key_of(class: &str, positions: Option<&'static [usize]>, args: &[Value]) -> String {
    match positions {
        None => limit_key(class, None),
        Some(positions) => {
            let by: Vec<Value> = positions
                .iter()
                .map(|&i| args.get(i).cloned().unwrap_or(Value::Null))
                .collect();
            limit_key(class, Some(&by))
        }
    }
}
