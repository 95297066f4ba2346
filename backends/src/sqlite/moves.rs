//! The moves several operations share, each one statement (or two) inside the caller's
//! write transaction.
//!
//! 1. [`next_positions`] hands out tail positions from the `pos` sequence.
//! 2. [`enqueue`] puts jobs at the tails of their queues, behind the jobs of their
//!    priority, with `enqueued_at = now` (promotion, enqueue-now); [`requeue_head`] puts
//!    one running job back at the head of its queue unchanged, ahead of every priority
//!    (requeue, rescue, which also counts the rescue).
//! 3. [`kill`] moves jobs to the dead set and [`trim_dead`] keeps it within its limits.
//! 4. [`count`] adds to the day's counters in one upsert; [`count_expired`] to the total
//!    `expired` counter.

use chrono::{DateTime, NaiveDate, Utc};
use jobs::backend::{BackendError, DeadLimits};
use jobs::envelope::flow::{MAX_PRIORITY, PRIORITY_FIELD};
use jobs::envelope::to_epoch;

use super::db::{duration_micros, id_list, micros, Db, Tx};
use super::error::{self, Sqlx};

/// Reserves `n` positions at the tails of the queues; returns the first.
pub(super) async fn next_positions(
    db: &Db,
    tx: &mut Tx<'_>,
    n: usize,
) -> Result<i64, BackendError> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(
        "UPDATE sequences SET value = value + ?1 WHERE name = 'pos' RETURNING value",
    )
    .bind(n)
    .fetch_one(&mut **tx)
    .await
    .or_backend(&db.cx)?;
    Ok(last - n + 1)
}

/// Moves the jobs with these row ids, in this order, to the tails of their queues with
/// `enqueued_at = now`, each among the jobs of its priority, read from its payload as
/// `JobEnvelope::priority` reads it. Returns how many moved. A payload that is not a JSON
/// object is moved unchanged with priority 0 (the reserve that meets it buries it), never
/// failing the statement.
pub(super) async fn enqueue(
    db: &Db,
    tx: &mut Tx<'_>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<u64, BackendError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let first = next_positions(db, tx, ids.len()).await?;
    let enqueued_at =
        serde_json::to_string(&to_epoch(now)).map_err(|e| error::encode("a time", e))?;
    let done = sqlx::query(
        "UPDATE jobs SET state = 'available', run_at = ?2, pos = ?3 + picked.key,
                payload = CASE
                    WHEN NOT json_valid(jobs.payload) THEN jobs.payload
                    WHEN json_type(jobs.payload) = 'object' THEN
                        json_set(json_remove(jobs.payload, '$.at'), '$.enqueued_at', json(?4))
                    ELSE jobs.payload
                END,
                priority = CASE
                    WHEN NOT json_valid(jobs.payload) THEN 0
                    WHEN json_type(jobs.payload, ?5) = 'integer' THEN
                        max(0, min(?6, jobs.payload ->> ?5))
                    ELSE 0
                END,
                lease_owner = NULL, lease_token = NULL, lease_seq = NULL, lease_expires_at = NULL
         FROM (SELECT key, value FROM json_each(?1)) AS picked
         WHERE jobs.id = picked.value",
    )
    .bind(id_list(ids))
    .bind(micros(now))
    .bind(first)
    .bind(enqueued_at)
    .bind(format!("$.{PRIORITY_FIELD}"))
    .bind(MAX_PRIORITY)
    .execute(&mut **tx)
    .await
    .or_backend(&db.cx)?;
    Ok(done.rows_affected())
}

/// Puts running job `?1` (with lease nonce `?2`, unless null) at the head of its queue,
/// adding `?3` to its rescue count: in band -1, ahead of every priority, before the jobs
/// put there before it.
pub(super) const REQUEUE_HEAD: &str = "UPDATE jobs SET state = 'available', priority = -1,
        pos = (SELECT coalesce(min(k.pos), 0) - 1 FROM jobs AS k
               WHERE k.queue = jobs.queue AND k.state = 'available' AND k.priority = -1),
        lease_owner = NULL, lease_token = NULL, lease_seq = NULL, lease_expires_at = NULL,
        rescues = rescues + ?3
    WHERE id = ?1 AND state = 'running' AND (?2 IS NULL OR lease_token = ?2)";

/// Puts the running job on row `id` back at the head of its queue, unchanged, ending its
/// lease; with `nonce`, only if the lease is still the one that nonce names. A `rescue`
/// counts one more rescue of the job. Returns whether it moved.
pub(super) async fn requeue_head(
    db: &Db,
    tx: &mut Tx<'_>,
    id: i64,
    nonce: Option<&str>,
    rescue: bool,
) -> Result<bool, BackendError> {
    let done = sqlx::query(REQUEUE_HEAD)
        .bind(id)
        .bind(nonce)
        .bind(i64::from(rescue))
        .execute(&mut **tx)
        .await
        .or_backend(&db.cx)?;
    Ok(done.rows_affected() > 0)
}

/// Moves the jobs with these row ids, in this order, to the dead set at `now`, then trims
/// it. Returns how many moved and how many old dead jobs were trimmed.
pub(super) async fn kill(
    db: &Db,
    tx: &mut Tx<'_>,
    ids: &[i64],
    now: DateTime<Utc>,
    limits: DeadLimits,
) -> Result<(u64, u64), BackendError> {
    if ids.is_empty() {
        return Ok((0, 0));
    }
    let first = next_positions(db, tx, ids.len()).await?;
    let done = sqlx::query(
        "UPDATE jobs SET state = 'dead', run_at = ?2, pos = ?3 + picked.key,
                lease_owner = NULL, lease_token = NULL, lease_seq = NULL, lease_expires_at = NULL
         FROM (SELECT key, value FROM json_each(?1)) AS picked
         WHERE jobs.id = picked.value",
    )
    .bind(id_list(ids))
    .bind(micros(now))
    .bind(first)
    .execute(&mut **tx)
    .await
    .or_backend(&db.cx)?;
    let trimmed = trim_dead(db, tx, now, limits).await?;
    Ok((done.rows_affected(), trimmed))
}

/// Drops dead jobs older than `max_age`, then the oldest beyond `max_jobs`, and adds the
/// count to the `dead_trimmed` counter. Returns the count.
pub(super) async fn trim_dead(
    db: &Db,
    tx: &mut Tx<'_>,
    now: DateTime<Utc>,
    limits: DeadLimits,
) -> Result<u64, BackendError> {
    let cutoff = micros(now).saturating_sub(duration_micros(limits.max_age));
    let old = sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND run_at < ?1")
        .bind(cutoff)
        .execute(&mut **tx)
        .await
        .or_backend(&db.cx)?
        .rows_affected();
    let over = sqlx::query(
        "DELETE FROM jobs WHERE id IN (
             SELECT id FROM jobs WHERE state = 'dead'
             ORDER BY run_at DESC, pos DESC LIMIT -1 OFFSET ?1)",
    )
    .bind(i64::try_from(limits.max_jobs).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await
    .or_backend(&db.cx)?
    .rows_affected();
    let trimmed = old + over;
    if trimmed > 0 {
        jobs::backend::warn_dead_trimmed("sqlite", trimmed);
        count(db, tx, now, 0, 0, trimmed).await?;
    }
    Ok(trimmed)
}

/// Adds to the `processed`, `failed` and `dead_trimmed` counters of the UTC day of `now`
/// (a total is the sum of its days).
pub(super) async fn count(
    db: &Db,
    tx: &mut Tx<'_>,
    now: DateTime<Utc>,
    processed: u64,
    failed: u64,
    dead_trimmed: u64,
) -> Result<(), BackendError> {
    if processed == 0 && failed == 0 && dead_trimmed == 0 {
        return Ok(());
    }
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO counters (name, period, value)
         VALUES ('processed', ?1, ?2), ('failed', ?1, ?3), ('dead_trimmed', ?1, ?4)
         ON CONFLICT (name, period) DO UPDATE SET value = value + excluded.value",
    )
    .bind(day(now))
    .bind(n(processed))
    .bind(n(failed))
    .bind(n(dead_trimmed))
    .execute(&mut **tx)
    .await
    .or_backend(&db.cx)?;
    Ok(())
}

/// Adds `n` to the total `expired` counter (kept as one row, period `total`: it has no
/// days).
pub(super) async fn count_expired(db: &Db, tx: &mut Tx<'_>, n: u64) -> Result<(), BackendError> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO counters (name, period, value) VALUES ('expired', 'total', ?1)
         ON CONFLICT (name, period) DO UPDATE SET value = value + excluded.value",
    )
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await
    .or_backend(&db.cx)?;
    Ok(())
}

/// The counters' period for the UTC day of `t`.
fn day(t: DateTime<Utc>) -> String {
    period(t.date_naive())
}

/// The counters' period for `date`.
pub(super) fn period(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}
