//! The worker's side of rate limits: before a job with a rate limit runs, take a start from
//! the store; a job over its rate is snoozed to when a start frees, never failed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::Runtime;
use crate::backend::{Backend, RateAcquireParams, RateDecision};
use crate::envelope::JobEnvelope;

/// The longest margin a rate window is widened by (see [`guarded`]).
const MAX_MARGIN: Duration = Duration::from_millis(100);

/// The window the store is asked to keep: `per` widened by a tenth, at most 100 ms. A start
/// is granted in the store's clock and reaches the job a little later (the reply, a commit,
/// the scheduler); the margin keeps the jobs' own starts, as the service they call sees
/// them, within `limit` per `per` too, at the cost of at most a tenth of the rate.
pub(crate) fn guarded(per: Duration) -> Duration {
    per + (per / 10).min(MAX_MARGIN)
}

/// How long a job waits when the store could not be asked for its rate limit: it is not run
/// (that could break the limit) and not failed (the store's trouble is not the job's).
const STORE_TROUBLE_WAIT: Duration = Duration::from_secs(5);

/// `None` when `job` may start now (it has no rate limit, or a start was taken); otherwise
/// when it should be tried again.
pub(crate) async fn rate_wait(
    rt: &Runtime,
    backend: &Arc<dyn Backend>,
    job: &JobEnvelope,
) -> Option<DateTime<Utc>> {
    let rate = job.rate()?;
    let now = rt.clock.now();
    let per = guarded(Duration::from_millis(rate.per_ms));
    let params = RateAcquireParams::new(rate.key.clone(), rate.limit, per, now)
        .clock(rt.clock.lease_clock());
    match backend.rate_acquire(params).await {
        Ok(RateDecision::Granted) => None,
        Ok(RateDecision::Refused { retry_at }) => {
            // Spread the jobs refused together over one interval between starts, so they do
            // not all come back at the same instant to be refused again.
            let spacing = (per / rate.limit.max(1)).min(Duration::from_secs(1));
            let spread = rand::thread_rng().gen_range(Duration::ZERO..=spacing);
            let at = crate::retry::later(retry_at.max(now), spread);
            tracing::debug!(jid = %job.jid, class = %job.class, key = %rate.key, until = %at.to_rfc3339(), "over its rate limit; snoozed");
            Some(at)
        }
        Err(e) => {
            tracing::warn!(jid = %job.jid, class = %job.class, key = %rate.key, error = %e, "could not check the job's rate limit; it waits and is tried again");
            Some(crate::retry::later(now, STORE_TROUBLE_WAIT))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_widened_by_a_tenth_at_most_100_ms() {
        assert_eq!(guarded(Duration::from_secs(1)), Duration::from_millis(1100));
        assert_eq!(
            guarded(Duration::from_millis(200)),
            Duration::from_millis(220)
        );
        assert_eq!(
            guarded(Duration::from_secs(60)),
            Duration::from_millis(60_100)
        );
    }
}
