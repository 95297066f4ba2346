//! Leases: requeue and rescue, each one statement.
//!
//! 1. [`job_requeue`] gives leased jobs back to the heads of their queues, fenced by their
//!    lease tokens (`requeue.sql`).
//! 2. [`lease_rescue`] returns the jobs of expired leases to their queues (`rescue.sql`),
//!    then prunes completed jobs past their retention and makes sure `jobs` has planner
//!    statistics (`stats.rs`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, RequeueParams, RescueParams};
use sqlx::Row;

use super::error::Sqlx;
use super::{rows, stats, Inner};

/// Gives leased jobs back to the heads of their queues, unchanged.
pub(super) async fn job_requeue(inner: &Inner, p: RequeueParams) -> Result<(), BackendError> {
    let (ids, leases): (Vec<i64>, Vec<i64>) = p.tokens.iter().filter_map(rows::parse_token).unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(&inner.sql.requeue)
        .bind(ids)
        .bind(leases)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    inner.wake.wake_all();
    Ok(())
}

/// Returns the jobs of expired leases to their queues; returns how many.
pub(super) async fn lease_rescue(inner: &Arc<Inner>, p: RescueParams) -> Result<u64, BackendError> {
    let rows = sqlx::query(&inner.sql.rescue)
        .bind(p.now)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    for row in &rows {
        let jid: String = row.try_get(0).or_backend(&inner.cx)?;
        let owner: Option<String> = row.try_get(2).or_backend(&inner.cx)?;
        tracing::warn!(%jid, process = owner.as_deref().unwrap_or(""), "lease expired; job returned to its queue");
    }
    if !rows.is_empty() {
        inner.wake.wake_all();
    }
    prune_completed(inner, p.now).await?;
    stats::ensure_statistics(inner);
    Ok(rows.len() as u64)
}

/// Deletes completed jobs older than the retention, a batch at a time, when kept at all.
async fn prune_completed(inner: &Inner, now: DateTime<Utc>) -> Result<(), BackendError> {
    const BATCH: i64 = 1000;
    let retention = inner.options.completed_retention();
    let Some(cutoff) = chrono::Duration::from_std(retention)
        .ok()
        .filter(|_| !retention.is_zero())
        .and_then(|r| now.checked_sub_signed(r))
    else {
        return Ok(());
    };
    loop {
        let pruned = sqlx::query(&inner.sql.prune_completed)
            .bind(cutoff)
            .bind(BATCH)
            .execute(&inner.pool)
            .await
            .or_backend(&inner.cx)?
            .rows_affected();
        if pruned < BATCH as u64 {
            return Ok(());
        }
    }
}
