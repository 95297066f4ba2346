//! What goes in and out of rows: lease tokens, envelopes and process records.
//!
//! 1. A lease token is `<row id>.<lease number>`: the row to settle and the number drawn
//!    from `lease_seq` when it was reserved, which fences finish and requeue.
//! 2. Envelopes are stored as `json` text, read back as text and decoded by `poison.rs`;
//!    the `enqueued_at` column overrides the envelope's own copy, so SQL can stamp it
//!    without rewriting the JSON.
//! 3. A process record is stored whole as JSON, so it reads back exactly as written.

use chrono::{DateTime, Utc};
use jobs::backend::{LeaseClock, LeaseToken, ProcessInfo, ProcessRecord, RunningJob};
use jobs::envelope::JobEnvelope;
use serde::{Deserialize, Serialize};

/// Makes the token of a reserved row.
pub(crate) fn token(id: i64, lease: i64) -> LeaseToken {
    LeaseToken::new(format!("{id}.{lease}"))
}

/// Reads a token back; `None` for a token this backend did not issue (never held).
pub(crate) fn parse_token(token: &LeaseToken) -> Option<(i64, i64)> {
    let (id, lease) = token.0.split_once('.')?;
    Some((id.parse().ok()?, lease.parse().ok()?))
}

/// The JSON text of an envelope.
pub(crate) fn encode(job: &JobEnvelope) -> Result<String, jobs::backend::BackendError> {
    job.to_json()
        .map_err(|e| jobs::backend::BackendError::other("cannot encode a job as JSON", e))
}

/// A time no later than anything Postgres or chrono can hold, for `now + ttl`.
pub(crate) fn plus(now: DateTime<Utc>, by: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A lease time to bind: `at` for [`LeaseClock::Caller`], NULL for [`LeaseClock::Store`], so
/// the statement takes the server's `now()` (the SQL says `coalesce($n, now() ...)`).
pub(crate) fn lease_time(clock: LeaseClock, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match clock {
        LeaseClock::Caller => Some(at),
        _ => None,
    }
}

/// A lease ttl to bind, in microseconds (what the SQL adds to `now()`).
/// Capped at a century: Postgres intervals do not hold `i64::MAX` microseconds.
pub(crate) fn ttl_micros(ttl: std::time::Duration) -> i64 {
    const CENTURY_US: i64 = 100 * 366 * 24 * 3600 * 1_000_000;
    i64::try_from(ttl.as_micros()).map_or(CENTURY_US, |us| us.min(CENTURY_US))
}

/// A process record as stored in `processes.record`.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredProcess {
    info: ProcessInfo,
    beat_at: DateTime<Utc>,
    quiet: bool,
    running: Vec<StoredRunning>,
}

#[derive(Serialize, Deserialize)]
struct StoredRunning {
    job: JobEnvelope,
    started_at: DateTime<Utc>,
}

impl StoredProcess {
    /// The record of a heartbeat.
    pub(crate) fn new(
        info: ProcessInfo,
        beat_at: DateTime<Utc>,
        quiet: bool,
        running: Vec<RunningJob>,
    ) -> Self {
        StoredProcess {
            info,
            beat_at,
            quiet,
            running: running
                .into_iter()
                .map(|r| StoredRunning {
                    job: r.job,
                    started_at: r.started_at,
                })
                .collect(),
        }
    }

    /// Back to what the admin side returns.
    pub(crate) fn into_record(self) -> ProcessRecord {
        ProcessRecord {
            info: self.info,
            beat_at: self.beat_at,
            quiet: self.quiet,
            running: self
                .running
                .into_iter()
                .map(|r| RunningJob {
                    job: r.job,
                    started_at: r.started_at,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(parse_token(&token(42, 7)), Some((42, 7)));
        assert_eq!(parse_token(&LeaseToken("3:abc".into())), None);
        assert_eq!(parse_token(&LeaseToken("x.1".into())), None);
    }

    #[test]
    fn a_ttl_too_long_saturates() {
        let now = Utc::now();
        assert_eq!(
            plus(now, std::time::Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
