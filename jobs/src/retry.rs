//! Retry policy: the backoff schedule, and where a failed job goes next.
//!
//! The default schedule is Sidekiq's. Before retry `n` (where `n` is the job's
//! `retry_count` after the failure: 0 for the first failure, 1 for the second, ...) the job
//! waits
//!
//! ```text
//! n^4 + 15 + rand(0..10) * (n + 1)   seconds
//! ```
//!
//! so the first retry comes after 15–24 s, the tenth after about 2 h 49 m, and 25 retries
//! span about 20.5 days (the jitter adds up to 3.6 h in all). A job may pick another
//! [`Backoff`], or a function of (retry count, failure) returning a [`RetryDecision`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::backend::FinishOutcome;
use crate::envelope::{to_epoch, JobEnvelope};
use crate::job::{Failure, FailureKind, JobOptions};

/// What a custom backoff function decides for one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Retry after this delay.
    After(Duration),
    /// Use the default schedule.
    Default,
    /// Give up and drop the job.
    Discard,
    /// Give up and move the job to the dead set.
    Kill,
}

/// What happens when a job's retries are exhausted, chosen by an `on_exhausted` hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exhausted {
    /// Keep it in the dead set.
    Dead,
    /// Drop it.
    Discard,
}

/// The delay before each retry.
///
/// ```
/// use std::time::Duration;
/// use jobs::retry::Backoff;
/// let b = Backoff::Exponential { base: Duration::from_secs(1), max: Duration::from_secs(60), jitter: false };
/// assert_eq!(b.delay(0), Some(Duration::from_secs(1)));
/// assert_eq!(b.delay(3), Some(Duration::from_secs(8)));
/// assert_eq!(b.delay(20), Some(Duration::from_secs(60)));
/// assert_eq!(Backoff::Linear(Duration::from_secs(10)).delay(2), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Backoff {
    /// Sidekiq's: `n^4 + 15 + rand(0..10) * (n + 1)` seconds.
    Sidekiq,
    /// The same delay every time.
    Constant(Duration),
    /// `base * (n + 1)`.
    Linear(Duration),
    /// `base * 2^n`, capped at `max`, with up to ±25% random jitter when `jitter` is set.
    Exponential {
        /// The first delay.
        base: Duration,
        /// The largest delay.
        max: Duration,
        /// Whether to spread retries randomly.
        jitter: bool,
    },
    /// A function of the retry count `n` and the failure.
    Custom(fn(u32, &Failure) -> RetryDecision),
}

impl Backoff {
    /// The delay before retry `n` (`None` for [`Backoff::Custom`], which needs the failure).
    pub fn delay(&self, n: u32) -> Option<Duration> {
        let mut rng = rand::thread_rng();
        match *self {
            Backoff::Sidekiq => Some(sidekiq_delay(n, rng.gen_range(0..10))),
            Backoff::Constant(d) => Some(d),
            Backoff::Linear(base) => Some(base.saturating_mul(n.saturating_add(1))),
            Backoff::Exponential { base, max, jitter } => {
                let factor = 2u32.checked_pow(n).unwrap_or(u32::MAX);
                let d = base.saturating_mul(factor).min(max);
                Some(if jitter {
                    d.mul_f64(rng.gen_range(0.75..1.25)).min(max)
                } else {
                    d
                })
            }
            Backoff::Custom(_) => None,
        }
    }

    /// The decision for the failure that left the job at retry count `n`.
    pub fn decide(&self, n: u32, failure: &Failure) -> RetryDecision {
        match self {
            Backoff::Custom(f) => match f(n, failure) {
                RetryDecision::Default => {
                    RetryDecision::After(sidekiq_delay(n, rand::thread_rng().gen_range(0..10)))
                }
                other => other,
            },
            other => RetryDecision::After(other.delay(n).unwrap_or(Duration::ZERO)),
        }
    }
}

/// Sidekiq's delay before retry `n`, with the random factor `r` in `0..10` given.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(jobs::retry::sidekiq_delay(0, 0), Duration::from_secs(15));
/// assert_eq!(jobs::retry::sidekiq_delay(2, 9), Duration::from_secs(16 + 15 + 27));
/// ```
pub fn sidekiq_delay(n: u32, r: u32) -> Duration {
    let n = u64::from(n);
    Duration::from_secs(
        n.saturating_pow(4)
            .saturating_add(15)
            .saturating_add(u64::from(r) * (n + 1)),
    )
}

/// The time `delay` after `now`, clamped to the end of year 9999 (the latest time every
/// backend stores), so that an absurd delay such as `Duration::MAX` never overflows.
pub(crate) fn later(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    let far =
        DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .map_or(far, |t| t.min(far))
}

/// Runs a user's hook, turning a panic into `None` (logged) so a broken hook cannot strand
/// the job it decides about.
fn guarded<T>(job: &JobEnvelope, what: &str, hook: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)) {
        Ok(v) => Some(v),
        Err(p) => {
            let message = crate::job::panic::panic_message(&*p);
            tracing::error!(jid = %job.jid, class = %job.class, panic = %message, "the job's {what} panicked; using the default");
            None
        }
    }
}

/// Where a failed job goes, with its envelope updated as Sidekiq does.
#[derive(Debug, Clone, PartialEq)]
pub struct FailurePlan {
    /// The move to ask of the backend.
    pub outcome: FinishOutcome,
    /// The retry count after this failure.
    pub retry_count: u32,
}

/// Records `failure` in `job` (error fields, `failed_at`/`retried_at`, `retry_count`) and
/// decides where it goes: the retry set, the dead set, or nowhere.
///
/// A failure of kind [`FailureKind::Killed`] (`Outcome::kill`) dies at once, whatever the
/// retry setting; otherwise `retry = false` discards at once, `retry = N` allows N retries
/// after the first failure (`0`: dead at once), and when retries are exhausted the job dies
/// unless the `on_exhausted` hook says discard. `dead = false` discards instead of every
/// death.
/// A backoff or `on_exhausted` hook that panics is logged and the default used instead
/// (Sidekiq's schedule; the dead set), and delays too long for the calendar are clamped.
pub fn plan_failure(
    job: &mut JobEnvelope,
    failure: &Failure,
    options: &JobOptions,
    now: DateTime<Utc>,
) -> FailurePlan {
    let at = to_epoch(now);
    job.error_message = Some(failure.message.clone());
    job.error_class = Some(failure.class.clone());
    let count = match job.retry_count {
        Some(c) => {
            job.retried_at = Some(at);
            c.saturating_add(1)
        }
        None => {
            job.failed_at = Some(at);
            0
        }
    };
    job.retry_count = Some(count);
    job.error_backtrace = options
        .backtrace
        .lines(failure)
        .map(|l| serde_json::Value::Array(l.into_iter().map(Into::into).collect()));

    let keep_dead = job.dead.unwrap_or(options.dead);
    let to_dead = || {
        if keep_dead {
            FinishOutcome::Dead
        } else {
            FinishOutcome::Discard
        }
    };
    let outcome = match job.retry.max_retries() {
        // Killed means dead now, whatever the retry setting: only `dead = false` keeps it out.
        _ if failure.kind == FailureKind::Killed => to_dead(),
        None => FinishOutcome::Discard,
        Some(max) if count < max => {
            match guarded(job, "backoff", || options.backoff.decide(count, failure))
                .unwrap_or(RetryDecision::Default)
            {
                RetryDecision::After(d) => FinishOutcome::Retry { at: later(now, d) },
                RetryDecision::Default => FinishOutcome::Retry {
                    at: later(now, Backoff::Sidekiq.delay(count).unwrap_or_default()),
                },
                RetryDecision::Discard => FinishOutcome::Discard,
                RetryDecision::Kill => to_dead(),
            }
        }
        Some(_) => match options
            .on_exhausted
            .and_then(|hook| guarded(job, "on_exhausted hook", || hook(job, failure)))
        {
            Some(Exhausted::Discard) => FinishOutcome::Discard,
            _ => to_dead(),
        },
    };
    FailurePlan {
        outcome,
        retry_count: count,
    }
}

#[cfg(test)]
mod tests;
