//! Promotion: due scheduled jobs and retries moved to their queues' tails.
//!
//! 1. [`scheduled_promote`] checks on a reader whether anything is due, and only then moves
//!    due scheduled jobs (then retries, with the room left) to their queues' tails in one
//!    write transaction; the write lock makes each job move once across processes.

use jobs::backend::{BackendError, PromoteParams};

use super::db::{micros, Db};
use super::error::Sqlx;
use super::moves;

/// Up to `?2` scheduled jobs due at `?1`, soonest first.
pub(super) const DUE_SCHEDULED: &str =
    "SELECT id FROM jobs WHERE state = 'scheduled' AND run_at <= ?1
    ORDER BY run_at, pos LIMIT ?2";

/// Up to `?2` retries due at `?1`, soonest first.
pub(super) const DUE_RETRIES: &str =
    "SELECT id FROM jobs WHERE state = 'retryable' AND run_at <= ?1
    ORDER BY run_at, pos LIMIT ?2";

/// Moves due scheduled and retry jobs to their queues' tails; returns how many moved.
pub(super) async fn scheduled_promote(db: &Db, p: PromoteParams) -> Result<u64, BackendError> {
    if p.limit == 0 {
        return Ok(0);
    }
    let now = micros(p.now);
    let any_due: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'scheduled' AND run_at <= ?1)
             OR EXISTS (SELECT 1 FROM jobs WHERE state = 'retryable' AND run_at <= ?1)",
    )
    .bind(now)
    .fetch_one(&db.readers)
    .await
    .or_backend(&db.cx)?;
    if !any_due {
        return Ok(0);
    }
    let limit = i64::try_from(p.limit).unwrap_or(i64::MAX);
    let mut tx = db.write().await?;
    let mut ids: Vec<i64> = sqlx::query_scalar(DUE_SCHEDULED)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let room = limit.saturating_sub(i64::try_from(ids.len()).unwrap_or(i64::MAX));
    if room > 0 {
        let retries: Vec<i64> = sqlx::query_scalar(DUE_RETRIES)
            .bind(now)
            .bind(room)
            .fetch_all(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        ids.extend(retries);
    }
    let moved = moves::enqueue(db, &mut tx, &ids, p.now).await?;
    db.commit(tx).await?;
    if moved > 0 {
        db.wake_reservers();
    }
    Ok(moved)
}
