//! Promotion: due scheduled jobs and retries moved to their queues' tails.
//!
//! 1. [`scheduled_promote`] moves up to `limit` due jobs in one statement (`promote.sql`),
//!    which stamps `enqueued_at` and NOTIFYs their queues; this process's reservers are
//!    woken at once.

use jobs::backend::{BackendError, PromoteParams};
use jobs::envelope::to_epoch;

use super::error::Sqlx;
use super::Inner;

/// Moves due scheduled and retry jobs to their queues' tails; returns how many moved.
pub(super) async fn scheduled_promote(
    inner: &Inner,
    p: PromoteParams,
) -> Result<u64, BackendError> {
    if p.limit == 0 {
        return Ok(0);
    }
    let moved: i64 = sqlx::query_scalar(&inner.sql.promote)
        .bind(p.now)
        .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
        .bind(to_epoch(p.now))
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    if moved > 0 {
        inner.wake.wake_all();
    }
    Ok(u64::try_from(moved).unwrap_or(0))
}
