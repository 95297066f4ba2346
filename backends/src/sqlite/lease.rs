//! Leases: requeue and rescue, each fenced by the lease token.
//!
//! 1. A token is `row id:nonce`, the nonce new for each reserve call (`reserve.rs`); every
//!    settle matches `state = 'running' AND lease_token = nonce`, so a lease rescued (or
//!    settled) before is reported lost and nothing of it is applied.
//! 2. [`job_requeue`] gives leased jobs back to the heads of their queues, unchanged.
//! 3. [`lease_rescue`] puts expired leases back at the heads of their queues and drops
//!    processes that stopped beating.

use jobs::backend::{BackendError, RequeueParams, RescueParams};

use super::db::{micros, parse_token, Db};
use super::error::Sqlx;
use super::moves;

/// The leases expired at `?1`, newest lease first.
pub(super) const EXPIRED: &str = "SELECT id, jid, lease_owner FROM jobs
    WHERE state = 'running' AND lease_expires_at <= ?1
    ORDER BY lease_seq DESC, pos DESC";

/// Gives leased jobs back to the heads of their queues, unchanged.
pub(super) async fn job_requeue(db: &Db, p: RequeueParams) -> Result<(), BackendError> {
    let mut moved = false;
    let mut tx = db.write().await?;
    // Last first, so the jobs end up at the head in the order given.
    for t in p.tokens.iter().rev() {
        if let Some((id, nonce)) = parse_token(t) {
            moved |= moves::requeue_head(db, &mut tx, id, Some(nonce)).await?;
        }
    }
    db.commit(tx).await?;
    if moved {
        db.wake_reservers();
    }
    Ok(())
}

/// Puts expired leases back at the heads of their queues (newest lease first, so they end
/// up in the order they were reserved) and
/// drops processes whose last beat is older than their lease TTL; returns how many jobs.
pub(super) async fn lease_rescue(db: &Db, p: RescueParams) -> Result<u64, BackendError> {
    let now = micros(p.now);
    let anything: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND lease_expires_at <= ?1)
             OR EXISTS (SELECT 1 FROM processes WHERE beat_at <= ?1 - lease_ttl_us)",
    )
    .bind(now)
    .fetch_one(&db.readers)
    .await
    .or_backend(&db.cx)?;
    if !anything {
        return Ok(0);
    }
    let mut tx = db.write().await?;
    let expired: Vec<(i64, String, Option<String>)> = sqlx::query_as(EXPIRED)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let mut rescued = 0;
    for (id, jid, owner) in &expired {
        if moves::requeue_head(db, &mut tx, *id, None).await? {
            rescued += 1;
            tracing::warn!(%jid, process = owner.as_deref().unwrap_or(""), "lease expired; job returned to its queue");
        }
    }
    sqlx::query("DELETE FROM processes WHERE beat_at <= ?1 - lease_ttl_us")
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    if rescued > 0 {
        db.wake_reservers();
    }
    Ok(rescued)
}
