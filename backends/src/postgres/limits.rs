//! Concurrency and rate limits: what Rust does for them; the store does the rest.
//!
//! 1. Concurrency: a job's `jobs_rs_concurrency` becomes the `concurrency_key` and
//!    `concurrency_limit` columns at push ([`concurrency_columns`], `push_limits.sql`), read
//!    from the envelope's extra fields with a map look-up, so a plain job costs nothing.
//!    From there the store does it (migration 9): triggers take a slot or move the job
//!    aside as the reserve leases a row, and bring a waiting job back whenever a row leaves
//!    `running`; the settle, requeue and rescue statements take the key locks a free needs,
//!    in order, first, as the burial of rescued jobs does here ([`lock_keys`]). Rescue also
//!    runs the safety net that brings back jobs whose way back was lost ([`sweep`]).
//! 2. Rates: [`rate_acquire`] is one call of the `rate_take` function (migration 9), which
//!    keeps each key's starts in one row under that row's lock.
//! 3. [`limits_list`] reads both for the dashboard (`limits_list.sql`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::backend::{
    BackendError, LeaseClock, LimitUsage, LimitWaitingDeleteParams, LimitWaitingParams,
    LimitsListParams, RateAcquireParams, RateDecision,
};
use jobs::envelope::limits::CONCURRENCY_FIELD;
use jobs::envelope::JobEnvelope;
use sqlx::{PgConnection, Row};

use super::error::Sqlx;
use super::sets::{Stored, STORED};
use super::{poison, rows, Inner};

/// Whether `job` declares a concurrency limit (a look-up, no decoding).
pub(super) fn has_concurrency(job: &JobEnvelope) -> bool {
    job.extra.contains_key(CONCURRENCY_FIELD)
}

/// The `concurrency_key` and `concurrency_limit` columns of `job`: both NULL when it has no
/// limit (or one that does not read as a limit, as `JobEnvelope::concurrency` says); a limit
/// below 1 counts as 1.
pub(super) fn concurrency_columns(job: &JobEnvelope) -> (Option<String>, Option<i32>) {
    if !has_concurrency(job) {
        return (None, None);
    }
    match job.concurrency() {
        Some(c) => (
            Some(c.key),
            Some(i32::try_from(c.limit.max(1)).unwrap_or(i32::MAX)),
        ),
        None => (None, None),
    }
}

/// Takes, for the rest of the transaction on `conn`, the advisory locks of the concurrency
/// keys of rows `ids` (locked already, about to leave `running`), in lock id order
/// (`limit_lock.sql`).
pub(super) async fn lock_keys(
    inner: &Inner,
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<(), BackendError> {
    sqlx::query(&inner.sql.limit_lock)
        .bind(ids)
        .execute(conn)
        .await
        .or_backend(&inner.cx)?;
    Ok(())
}

/// Whether this backend has met a job with a concurrency limit, and has swept since it
/// started: rescue's sweep is one more statement, which backends that only ever see plain
/// jobs run once.
#[derive(Debug, Default)]
pub(super) struct Seen {
    met: AtomicBool,
    swept: AtomicBool,
}

impl Seen {
    /// A job with a concurrency limit went through this backend.
    pub(super) fn met(&self) {
        if !self.met.load(Ordering::Relaxed) {
            self.met.store(true, Ordering::Relaxed);
        }
    }
}

/// Brings back a waiting job of every concurrency key that has jobs waiting and neither a
/// slot held nor a job on its way to one (`limit_sweep`, migration 9). Rescue runs it, at
/// its first run and whenever this backend has met limited jobs.
pub(super) async fn sweep(inner: &Inner) -> Result<(), BackendError> {
    let seen = &inner.limits;
    if !seen.met.load(Ordering::Relaxed) && seen.swept.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    let back: i32 = sqlx::query_scalar(&inner.sql.limit_sweep)
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    if back > 0 {
        tracing::warn!(
            jobs = back,
            "brought back jobs waiting for a concurrency slot that nothing would free"
        );
        inner.wake.wake_all();
    }
    Ok(())
}

/// `at` in microseconds since the epoch for [`LeaseClock::Caller`]; `None` (the server's
/// clock) for [`LeaseClock::Store`].
fn clock_micros(clock: LeaseClock, at: DateTime<Utc>) -> Option<i64> {
    rows::lease_time(clock, at).map(|t| t.timestamp_micros())
}

/// A time from microseconds since the epoch, saturating.
fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(if us < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Takes one start of rate limit `p.key`, or says when one frees.
pub(super) async fn rate_acquire(
    inner: &Inner,
    p: RateAcquireParams,
) -> Result<RateDecision, BackendError> {
    let limit = i32::try_from(p.limit.max(1)).unwrap_or(i32::MAX);
    let per = rows::ttl_micros(p.per).max(1);
    let row = sqlx::query(&inner.sql.rate_take)
        .bind(&p.key)
        .bind(limit)
        .bind(per)
        .bind(clock_micros(p.clock, p.now))
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let granted: bool = row.try_get(0).or_backend(&inner.cx)?;
    if granted {
        return Ok(RateDecision::Granted);
    }
    let retry_at: Option<i64> = row.try_get(1).or_backend(&inner.cx)?;
    Ok(RateDecision::Refused {
        retry_at: retry_at.map_or(p.now, from_micros),
    })
}

/// A page of the limits in use: concurrency keys, then rate keys, each by key.
pub(super) async fn limits_list(
    inner: &Inner,
    p: LimitsListParams,
) -> Result<Vec<LimitUsage>, BackendError> {
    let rows = sqlx::query(&inner.sql.limits_list)
        .bind(clock_micros(p.clock, p.now))
        .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: i32 = row.try_get(0).or_backend(&inner.cx)?;
        let key: String = row.try_get(1).or_backend(&inner.cx)?;
        let limit = u32::try_from(row.try_get::<i32, _>(2).or_backend(&inner.cx)?).unwrap_or(0);
        let in_use = count(row.try_get(3).or_backend(&inner.cx)?);
        let waiting = count(row.try_get(4).or_backend(&inner.cx)?);
        if kind == 0 {
            out.push(LimitUsage::concurrency(key, limit, in_use, waiting));
            continue;
        }
        let per: Option<i64> = row.try_get(5).or_backend(&inner.cx)?;
        let per = Duration::from_micros(per.map_or(0, |us| u64::try_from(us).unwrap_or(0)));
        let frees_at: Option<i64> = row.try_get(6).or_backend(&inner.cx)?;
        out.push(LimitUsage::rate(
            key,
            limit,
            per,
            in_use,
            frees_at.map(from_micros),
        ));
    }
    Ok(out)
}

/// One page of the jobs moved aside waiting for a slot of `p.key`, oldest first (lowest id,
/// the order a freed slot brings them back in; `jobs_limited_idx`).
pub(super) async fn limit_waiting(
    inner: &Inner,
    p: LimitWaitingParams,
) -> Result<Vec<JobEnvelope>, BackendError> {
    let sql = inner.q(&format!(
        "SELECT {STORED} FROM __SCHEMA__.jobs
         WHERE concurrency_key = $1 AND state = 'waiting'
         ORDER BY id LIMIT $2 OFFSET $3"
    ));
    let rows: Vec<Stored> = sqlx::query_as(&sql)
        .bind(&p.key)
        .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(rows
        .iter()
        .map(|row| poison::read(row, "waiting"))
        .collect())
}

/// Deletes jobs waiting for a slot of `p.key` by jid; how many. Their unique locks go with
/// their rows; no trigger fires for a row that held no slot, and a row a free is bringing
/// back at that moment is no longer `waiting` once its lock is released, so it is kept.
pub(super) async fn limit_waiting_delete(
    inner: &Inner,
    p: LimitWaitingDeleteParams,
) -> Result<u64, BackendError> {
    let sql = inner.q("DELETE FROM __SCHEMA__.jobs
         WHERE concurrency_key = $1 AND state = 'waiting' AND jid = ANY($2)");
    let done = sqlx::query(&sql)
        .bind(&p.key)
        .bind(&p.jids)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::envelope::limits::ConcurrencyLimit;

    #[test]
    fn only_jobs_with_a_limit_get_the_columns() {
        let mut job = JobEnvelope::new("A", "q", vec![]);
        assert_eq!(concurrency_columns(&job), (None, None));
        job.set_concurrency(Some(ConcurrencyLimit::new("A:1", 3)));
        assert_eq!(concurrency_columns(&job), (Some("A:1".into()), Some(3)));
        job.extra
            .insert(CONCURRENCY_FIELD.into(), serde_json::json!("not a limit"));
        assert_eq!(concurrency_columns(&job), (None, None));
        job.extra.insert(
            CONCURRENCY_FIELD.into(),
            serde_json::json!({"key": "z", "limit": 0}),
        );
        assert_eq!(concurrency_columns(&job), (Some("z".into()), Some(1)));
    }

    #[test]
    fn store_clock_times_are_left_to_the_server() {
        let at = Utc::now();
        assert_eq!(
            clock_micros(LeaseClock::Caller, at),
            Some(at.timestamp_micros())
        );
        assert_eq!(clock_micros(LeaseClock::Store, at), None);
        assert_eq!(from_micros(i64::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
