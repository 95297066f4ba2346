//! Leases: requeue and rescue, each fenced by the lease token.
//!
//! 1. A token is `row id:nonce`, the nonce new for each reserve call (`reserve.rs`); every
//!    settle matches `state = 'running' AND lease_token = nonce`, so a lease rescued (or
//!    settled) before is reported lost and nothing of it is applied.
//! 2. [`job_requeue`] gives leased jobs back to the heads of their queues, unchanged, ahead
//!    of every priority; a job keeps its unique lock.
//! 3. [`lease_rescue`] puts expired leases back at the heads of their queues, counting one
//!    more rescue of each job, and drops processes that stopped beating. A job whose count
//!    reaches `max_rescues` was running each time a process died: it is buried instead,
//!    with the error of [`bury_rescued`], and its count cleared; its unique lock is released
//!    by the move to dead (the trigger of `unique.rs`).
//! 4. A requeue or rescue of a job with a concurrency limit frees its slot and brings the
//!    oldest job waiting for its key back to the head of its queue, behind the job given
//!    back when both go to the same queue (the triggers of `limits.rs`).

use jobs::backend::{BackendError, RequeueParams, RescueParams};
use jobs::envelope::bury_rescued;

use super::db::{encode_job, micros, parse_token, Db, Tx};
use super::error::Sqlx;
use super::moves;
use super::poison::{self, Bad};

/// The leases expired at `?1`, newest lease first, with the rescues of their jobs so far.
pub(super) const EXPIRED: &str = "SELECT id, jid, lease_owner, rescues FROM jobs
    WHERE state = 'running' AND lease_expires_at <= ?1
    ORDER BY lease_seq DESC, pos DESC";

/// Gives leased jobs back to the heads of their queues, unchanged.
pub(super) async fn job_requeue(db: &Db, p: RequeueParams) -> Result<(), BackendError> {
    let mut moved = false;
    let mut tx = db.write().await?;
    // Last first, so the jobs end up at the head in the order given.
    for t in p.tokens.iter().rev() {
        if let Some((id, nonce)) = parse_token(t) {
            moved |= moves::requeue_head(db, &mut tx, id, Some(nonce), false).await?;
        }
    }
    db.commit(tx).await?;
    if moved {
        db.wake_reservers();
    }
    Ok(())
}

/// Puts expired leases back at the heads of their queues (newest lease first, so they end
/// up in the order they were reserved), burying each job at its `max_rescues`th rescue,
/// and drops processes whose last beat is older than their lease TTL; returns how many jobs
/// were taken back, requeued or buried.
pub(super) async fn lease_rescue(db: &Db, p: RescueParams) -> Result<u64, BackendError> {
    let now = micros(p.lease_clock.host_time(p.now));
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
    let max = i64::from(p.max_rescues.max(1));
    let mut tx = db.write().await?;
    let expired: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(EXPIRED)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let (mut requeued, mut buried) = (0, 0);
    for (id, jid, owner, rescues) in &expired {
        let process = owner.as_deref().unwrap_or("");
        let count = rescues.saturating_add(1);
        if count >= max {
            if bury(db, &mut tx, *id, count, &p).await? {
                buried += 1;
                tracing::error!(%jid, process, rescues = count, "lease expired again; the job is taken for what killed its processes and moved to the dead set");
            }
        } else if moves::requeue_head(db, &mut tx, *id, None, true).await? {
            requeued += 1;
            tracing::warn!(%jid, process, rescues = count, "lease expired; job returned to its queue");
        }
    }
    if buried > 0 {
        moves::trim_dead(db, &mut tx, p.now, p.dead_limits).await?;
    }
    sqlx::query("DELETE FROM processes WHERE beat_at <= ?1 - lease_ttl_us")
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    // A job given back, or one buried whose slot brought a waiting job back, is available.
    if requeued + buried > 0 {
        db.wake_reservers();
    }
    Ok(requeued + buried)
}

/// Moves the running job on row `id`, rescued for the `count`th time, to the dead set as
/// having killed its processes (a payload that is not a job is buried as such). Returns
/// whether it moved.
async fn bury(
    db: &Db,
    tx: &mut Tx<'_>,
    id: i64,
    count: i64,
    p: &RescueParams,
) -> Result<bool, BackendError> {
    let row: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT payload, jid, queue FROM jobs WHERE id = ?1 AND state = 'running'")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .or_backend(&db.cx)?;
    let Some((payload, jid, queue)) = row else {
        return Ok(false);
    };
    let mut job = match poison::decode(&payload) {
        Ok(job) => job,
        Err(error) => {
            let bad = Bad {
                id,
                jid: String::from_utf8_lossy(&jid).into_owned(),
                queue: String::from_utf8_lossy(&queue).into_owned(),
                state: "running",
                lease: None,
                raw: payload,
                error,
            };
            return Ok(poison::bury(db, tx, &[bad], p.now, p.dead_limits).await? > 0);
        }
    };
    bury_rescued(&mut job, u32::try_from(count).unwrap_or(u32::MAX), p.now);
    let pos = moves::next_positions(db, tx, 1).await?;
    let done = sqlx::query(
        "UPDATE jobs SET state = 'dead', run_at = ?2, pos = ?3, payload = ?4, rescues = 0,
                lease_owner = NULL, lease_token = NULL, lease_seq = NULL, lease_expires_at = NULL
         WHERE id = ?1 AND state = 'running'",
    )
    .bind(id)
    .bind(micros(p.now))
    .bind(pos)
    .bind(encode_job(&job)?)
    .execute(&mut **tx)
    .await
    .or_backend(&db.cx)?;
    if done.rows_affected() > 0 && super::batch::is_member(&job) {
        // A batch member dies in this transaction (`batch.rs`).
        let dead = jobs::backend::FinishOutcome::Dead;
        super::batch::settle(db, tx, &[(&job, &dead, true)], p.now).await?;
    }
    Ok(done.rows_affected() > 0)
}
