//! Limits: taking a start from a rate limit, and listing what each concurrency and rate
//! limit has in use.
//!
//! 1. Concurrency slots need no call of their own. The push stores a job's key and limit in
//!    its row (`push.rs`); the reserve statement leases a job only while the leased rows of
//!    its key stay within its limit and moves it aside (`waiting`) otherwise
//!    (`reserve.rs`); the triggers of migration 6 free the slot and bring the oldest
//!    waiting job of the key back to the head of its queue in the statement that ends the
//!    lease (finish, requeue, rescue). A slot is a leased row, so it cannot outlive its
//!    lease: whatever crashes, rescuing the lease frees it.
//! 2. [`rate_acquire`] keeps a sliding log per key: one row per start in `rate_starts`,
//!    and in `rate_limits` the key's limit, window, and when its window empties. One
//!    `BEGIN IMMEDIATE` transaction drops the keys whose window emptied (their starts go
//!    with them, by a trigger), prunes the key's starts that left the window, and takes a
//!    start only when fewer than `limit` remain; so processes sharing the file never grant
//!    more than the limit, and a refusal takes nothing.
//! 3. [`limits_list`] reads, in one snapshot, every key with a leased or waiting job (from
//!    the partial indexes of those two states), then every rate key with a start in its
//!    window, each sorted by key, and pages through them.

use std::time::Duration;

use jobs::backend::{
    BackendError, LimitUsage, LimitWaitingDeleteParams, LimitWaitingParams, LimitsListParams,
    RateAcquireParams, RateDecision,
};
use jobs::envelope::JobEnvelope;

use super::db::{duration_micros, from_micros, micros, Db};
use super::error::{self, Sqlx};
use super::listing::{job_of, Listed};

/// Deletes the rate keys whose window emptied by `?1`; a trigger deletes their starts.
const SWEEP: &str = "DELETE FROM rate_limits WHERE expires_at <= ?1";

/// Deletes the starts of key `?1` at or before `?2`, out of its window.
const PRUNE: &str = "DELETE FROM rate_starts WHERE key = ?1 AND at <= ?2";

/// Takes a start of key `?1` at `?2` when fewer than `?3` remain; returns it if taken.
const TAKE: &str = "INSERT INTO rate_starts (key, at)
    SELECT ?1, ?2 WHERE (SELECT count(*) FROM rate_starts WHERE key = ?1) < ?3
    RETURNING id";

/// Records key `?1`'s limit `?2` and window `?3` (µs), and that its window holds a start
/// until `?4`.
const DECLARE: &str = "INSERT INTO rate_limits (key, max_starts, per_us, expires_at)
    VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (key) DO UPDATE SET max_starts = excluded.max_starts,
        per_us = excluded.per_us, expires_at = max(expires_at, excluded.expires_at)";

/// The `?2`th newest start of key `?1` (counting from 0).
const NTH_NEWEST: &str =
    "SELECT at FROM rate_starts WHERE key = ?1 ORDER BY at DESC LIMIT 1 OFFSET ?2";

/// Takes one start from rate limit `p.key`, judged by `p.clock`.
pub(super) async fn rate_acquire(
    db: &Db,
    p: RateAcquireParams,
) -> Result<RateDecision, BackendError> {
    let per = duration_micros(p.per).max(1);
    let limit = i64::from(p.limit.max(1));
    let mut tx = db.write().await?;
    // Read under the write lock: a time read before waiting for it would stamp this start
    // earlier than starts granted while it waited, and the window would let a burst through.
    let now = micros(p.clock.host_time(p.now));
    sqlx::query(SWEEP)
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    sqlx::query(PRUNE)
        .bind(&p.key)
        .bind(now.saturating_sub(per))
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let taken: Option<i64> = sqlx::query_scalar(TAKE)
        .bind(&p.key)
        .bind(now)
        .bind(limit)
        .fetch_optional(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let decision = if taken.is_some() {
        RateDecision::Granted
    } else {
        // The window is full: a start frees when the oldest of the newest `limit` leaves.
        let oldest: Option<i64> = sqlx::query_scalar(NTH_NEWEST)
            .bind(&p.key)
            .bind(limit - 1)
            .fetch_optional(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        let retry_at = oldest.map_or(now, |t| t.saturating_add(per));
        RateDecision::Refused {
            retry_at: from_micros(retry_at),
        }
    };
    // The key keeps the limit and window it was last asked with; a refusal leaves its
    // expiry as the starts it holds set it.
    let expires_at = if taken.is_some() {
        now.saturating_add(per)
    } else {
        i64::MIN
    };
    sqlx::query(DECLARE)
        .bind(&p.key)
        .bind(limit)
        .bind(per)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    Ok(decision)
}

/// Every concurrency key with a leased or a waiting job, by key: slots in use, jobs
/// waiting, and the limit of its newest lease (of its newest waiting job when none is
/// leased; SQLite takes a bare column from the row its one `max()` picks).
pub(super) const CONCURRENCY_USED: &str = "WITH used (key, held, waiting, lim, newest, leased) AS (
        SELECT concurrency_key, count(*), 0, concurrency_limit, max(lease_seq), 1 FROM jobs
        WHERE state = 'running' AND concurrency_key IS NOT NULL GROUP BY concurrency_key
        UNION ALL
        SELECT concurrency_key, 0, count(*), concurrency_limit, max(pos), 0 FROM jobs
        WHERE state = 'waiting' AND concurrency_key IS NOT NULL GROUP BY concurrency_key)
    SELECT key, sum(held), sum(waiting), lim, max(leased) FROM used
    GROUP BY key ORDER BY key";

/// Every rate key with a start in its window at `?1`, by key: its limit, window, starts in
/// the window, and the start whose leaving frees a full window (the `limit`th newest).
const RATE_USED: &str = "WITH live AS (
        SELECT s.key, s.at, r.max_starts, r.per_us,
               row_number() OVER (PARTITION BY s.key ORDER BY s.at DESC) AS newer
        FROM rate_limits AS r JOIN rate_starts AS s ON s.key = r.key AND s.at > ?1 - r.per_us)
    SELECT key, max_starts, per_us, count(*), max(CASE WHEN newer = max_starts THEN at END)
    FROM live GROUP BY key ORDER BY key";

/// The limits in use: concurrency keys, then rate keys, one page.
pub(super) async fn limits_list(
    db: &Db,
    p: LimitsListParams,
) -> Result<Vec<LimitUsage>, BackendError> {
    let now = micros(p.clock.host_time(p.now));
    let mut tx = db.read().await?;
    let concurrency: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(CONCURRENCY_USED)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let rates: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(RATE_USED)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    drop(tx);
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let limit = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let used = concurrency
        .into_iter()
        .map(|(key, held, waiting, lim, _)| {
            LimitUsage::concurrency(key, limit(lim), count(held), count(waiting))
        })
        .chain(rates.into_iter().map(|(key, lim, per_us, starts, nth)| {
            let per = Duration::from_micros(count(per_us));
            let frees_at = nth.map(|t| from_micros(t.saturating_add(per_us)));
            LimitUsage::rate(key, limit(lim), per, count(starts), frees_at)
        }));
    Ok(used.skip(p.offset).take(p.limit).collect())
}

/// The jobs moved aside waiting for a slot of key `?1`, oldest first (the order a freed slot
/// brings them back in), `?2` of them from the `?3`th.
const WAITING: &str = "SELECT run_at, payload, jid, queue FROM jobs
    WHERE state = 'waiting' AND concurrency_key = ?1
    ORDER BY pos LIMIT ?2 OFFSET ?3";

/// One page of the jobs waiting for a slot of `p.key`.
pub(super) async fn limit_waiting(
    db: &Db,
    p: LimitWaitingParams,
) -> Result<Vec<JobEnvelope>, BackendError> {
    let rows: Vec<Listed> = sqlx::query_as(WAITING)
        .bind(&p.key)
        .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
    Ok(rows.iter().map(|row| job_of(row, "waiting")).collect())
}

/// Deletes the jobs of `?2` (a JSON array of jids) waiting for a slot of key `?1`; their
/// unique locks go with their rows, and no trigger fires for a row that held no slot.
const UNWAIT: &str = "DELETE FROM jobs WHERE state = 'waiting' AND concurrency_key = ?1
    AND jid IN (SELECT value FROM json_each(?2))";

/// Deletes jobs waiting for a slot of `p.key` by jid; how many.
pub(super) async fn limit_waiting_delete(
    db: &Db,
    p: LimitWaitingDeleteParams,
) -> Result<u64, BackendError> {
    let jids = serde_json::to_string(&p.jids).map_err(|e| error::encode("jids", e))?;
    let mut conn = db.exec().await?;
    let done = sqlx::query(UNWAIT)
        .bind(&p.key)
        .bind(jids)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    conn.settle();
    Ok(done.rows_affected())
}
