//! Leases: requeue and rescue, each one statement.
//!
//! 1. [`job_requeue`] gives leased jobs back to the heads of their queues, ahead of every
//!    priority, fenced by their lease tokens (`requeue.sql`).
//! 2. [`lease_rescue`] returns the jobs of expired leases to their queues' heads as well,
//!    counting one more rescue of each (`rescue.sql`); a job at its `max_rescues`th rescue
//!    is buried instead, in one transaction with the dead set's trim, with the error of
//!    [`bury_rescued`], and its unique lock is released (requeued and rescued jobs keep
//!    theirs). It then prunes completed jobs past their retention and makes sure `jobs`
//!    has planner statistics (`stats.rs`).
//! 3. Every move out of `running` here frees the job's concurrency slot, if it has one, in
//!    the same statement (migration 9); the burial takes the keys' locks in order first.
//!    Rescue then brings back a waiting job of any key whose way back was lost
//!    (`limits::sweep`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, RequeueParams, RescueParams};
use jobs::envelope::bury_rescued;
use sqlx::Row;

use super::error::Sqlx;
use super::finish::trim_dead;
use super::sets::Stored;
use super::{limits, poison, rows, stats, Inner};

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

/// Returns the jobs of expired leases to their queues, burying each at its `max_rescues`th
/// rescue; returns how many jobs were taken back, requeued or buried.
pub(super) async fn lease_rescue(inner: &Arc<Inner>, p: RescueParams) -> Result<u64, BackendError> {
    let rows = sqlx::query(&inner.sql.rescue)
        .bind(rows::lease_time(p.lease_clock, p.now))
        .bind(i32::try_from(p.max_rescues.max(1)).unwrap_or(i32::MAX))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let mut requeued = 0;
    let mut doomed = Vec::new();
    for row in &rows {
        let jid: String = row.try_get(0).or_backend(&inner.cx)?;
        let owner: Option<String> = row.try_get(1).or_backend(&inner.cx)?;
        let rescues: i32 = row.try_get(2).or_backend(&inner.cx)?;
        let process = owner.as_deref().unwrap_or("");
        match row.try_get::<Option<i64>, _>(3).or_backend(&inner.cx)? {
            None => {
                requeued += 1;
                tracing::warn!(%jid, process, rescues, "lease expired; job returned to its queue");
            }
            Some(id) => {
                let lease: i64 = row.try_get(4).or_backend(&inner.cx)?;
                doomed.push(Doomed {
                    id,
                    lease,
                    rescues,
                    jid,
                    process: process.to_owned(),
                });
            }
        }
    }
    if requeued > 0 {
        inner.wake.wake_all();
    }
    let buried = if doomed.is_empty() {
        0
    } else {
        bury(inner, &doomed, &p).await?
    };
    if buried > 0 {
        // A buried limited job may have brought a waiting one back.
        inner.wake.wake_all();
    }
    prune_completed(inner, p.now).await?;
    limits::sweep(inner).await?;
    stats::ensure_statistics(inner);
    Ok(requeued + buried)
}

/// A job whose lease expired once too often: the row, the expired lease, the count.
struct Doomed {
    id: i64,
    lease: i64,
    rescues: i32,
    jid: String,
    process: String,
}

/// Moves each of `doomed` still held by its expired lease to the dead set as having killed
/// its processes (a payload that is not a job goes as such), and trims the dead set, in one
/// transaction; returns how many moved.
async fn bury(inner: &Inner, doomed: &[Doomed], p: &RescueParams) -> Result<u64, BackendError> {
    let select = inner.q(
        "SELECT id, lease_token, payload::text, run_at, enqueued_at, jid, queue,
                concurrency_key IS NOT NULL
         FROM __SCHEMA__.jobs
         WHERE id = ANY($1) AND state = 'running'
           AND lease_expires_at <= coalesce($2::timestamptz, now())
         FOR UPDATE",
    );
    let update = inner.q("UPDATE __SCHEMA__.jobs SET state = 'dead', run_at = $3,
             position = nextval('__SCHEMA__.position_seq'), payload = $4::json, rescues = 0,
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, unique_key = NULL
         WHERE id = $1 AND lease_token = $2");
    let ids: Vec<i64> = doomed.iter().map(|d| d.id).collect();
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    let found = sqlx::query(&select)
        .bind(&ids)
        .bind(rows::lease_time(p.lease_clock, p.now))
        .fetch_all(&mut *tx)
        .await
        .or_backend(&inner.cx)?;
    // The rows are locked; the keys of the limited ones go next, in order (migration 9).
    let mut limited = Vec::new();
    for row in &found {
        if row.try_get::<bool, _>(7).or_backend(&inner.cx)? {
            limited.push(row.try_get::<i64, _>(0).or_backend(&inner.cx)?);
        }
    }
    if !limited.is_empty() {
        limits::lock_keys(inner, &mut tx, &limited).await?;
    }
    let mut buried = 0;
    for row in found {
        let id: i64 = row.try_get(0).or_backend(&inner.cx)?;
        let lease: Option<i64> = row.try_get(1).or_backend(&inner.cx)?;
        // Only the lease the rescue saw expire: one settled or taken since is not this run.
        let Some(d) = doomed.iter().find(|d| d.id == id && Some(d.lease) == lease) else {
            continue;
        };
        let stored: Stored = (
            row.try_get(2).or_backend(&inner.cx)?,
            row.try_get(3).or_backend(&inner.cx)?,
            row.try_get(4).or_backend(&inner.cx)?,
            row.try_get(5).or_backend(&inner.cx)?,
            row.try_get(6).or_backend(&inner.cx)?,
        );
        let job = match poison::decode(&stored.0, stored.2) {
            Ok(mut job) => {
                bury_rescued(&mut job, u32::try_from(d.rescues).unwrap_or(0), p.now);
                job
            }
            // Not a job at all: buried as what it is.
            Err(_) => poison::read(&stored, "running"),
        };
        let moved = sqlx::query(&update)
            .bind(id)
            .bind(d.lease)
            .bind(p.now)
            .bind(rows::encode(&job)?)
            .execute(&mut *tx)
            .await
            .or_backend(&inner.cx)?
            .rows_affected();
        if moved > 0 && super::batch::is_member(&job) {
            // A batch member dies in this transaction (`batch.rs`).
            let dead = jobs::backend::FinishOutcome::Dead;
            super::batch::settle(inner, &mut tx, &[(&job, &dead, true)], p.now).await?;
        }
        buried += moved;
        tracing::error!(jid = %d.jid, process = %d.process, rescues = d.rescues, "lease expired again; the job is taken for what killed its processes and moved to the dead set");
    }
    let trimmed = if buried > 0 {
        trim_dead(inner, &mut tx, p.dead_limits, p.now)
            .await
            .or_backend(&inner.cx)?
    } else {
        0
    };
    tx.commit().await.or_backend(&inner.cx)?;
    jobs::backend::warn_dead_trimmed("postgres", trimmed);
    Ok(buried)
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
