//! The admin side's writes: pausing and clearing queues, acting on jobs, clearing all.
//!
//! 1. Pausing adds the queue to `paused_queues`; resuming removes it and NOTIFYs the
//!    queue. Clearing deletes a queue's available jobs and forgets the queue.
//! 2. Actions (delete, enqueue now, kill) select their rows and move them in one
//!    transaction. The rows are locked (`FOR UPDATE`) when picked, so a concurrent reserve
//!    skips them and a concurrent move makes them no longer match. A deleted job's unique
//!    lock goes with its row (so with a cleared queue's and `clear_all`'s); a killed one's
//!    is released; a job enqueued now that was requeued or rescued gets its envelope's
//!    priority back (`job_priority`, migration 7).
//! 3. `clear_all` truncates every table but keeps the sequences, so a lease token from
//!    before can never match a row after. Jobs moved aside by a concurrency limit go with
//!    `jobs`; clearing a queue leaves them waiting (they are not in the queue), to come
//!    back when a slot of their key frees, or by rescue's sweep when none will.

use jobs::backend::QueueClearParams;
use jobs::backend::QueuePauseParams;
use jobs::backend::{BackendError, JobActionParams, JobFilter, JobSet, Selection};
use jobs::envelope::to_epoch;
use sqlx::{PgConnection, Row};

use super::error::Sqlx;
use super::finish::trim_dead;
use super::poison;
use super::sets::{matching, SetPlace, Stored, STORED};
use super::Inner;

/// Pauses or resumes a queue.
pub(super) async fn queue_pause(
    inner: &Inner,
    params: QueuePauseParams,
) -> Result<(), BackendError> {
    let (queue, paused) = (params.queue.as_str(), params.paused);
    let sql = if paused {
        inner.q("INSERT INTO __SCHEMA__.paused_queues (name) VALUES ($1) ON CONFLICT DO NOTHING")
    } else {
        inner.q(
            "WITH gone AS (DELETE FROM __SCHEMA__.paused_queues WHERE name = $1 RETURNING name)
             SELECT pg_notify(__CHANNEL__, name) FROM gone",
        )
    };
    sqlx::query(&sql)
        .bind(queue)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    inner.wake.wake_all();
    Ok(())
}

/// Deletes a queue's available jobs and forgets the queue; returns how many jobs.
pub(super) async fn queue_clear(
    inner: &Inner,
    params: QueueClearParams,
) -> Result<u64, BackendError> {
    let queue = params.queue.as_str();
    let sql = inner.q("WITH cleared AS (
             DELETE FROM __SCHEMA__.jobs WHERE queue = $1 AND state = 'available' RETURNING 1
         ), forgotten AS (
             DELETE FROM __SCHEMA__.queues WHERE name = $1
         )
         SELECT count(*) FROM cleared");
    let n: i64 = sqlx::query_scalar(&sql)
        .bind(queue)
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Locks and returns the ids of the rows `selection` picks in `set`, in set order.
async fn select_ids(
    inner: &Inner,
    conn: &mut PgConnection,
    set: &JobSet,
    selection: &Selection,
) -> Result<Vec<i64>, BackendError> {
    let place = SetPlace::of(set)?;
    let all = JobFilter::default();
    let (jids, filter) = match selection {
        Selection::Jids(jids) => (Some(jids.as_slice()), &all),
        Selection::Matching(filter) => (None, filter),
        _ => {
            return Err(BackendError::Unsupported {
                backend: "postgres",
                operation: "this job selection",
            })
        }
    };
    let columns = if filter.text.is_some() {
        format!("id, {STORED}")
    } else {
        "id".to_owned()
    };
    let mut q = matching(inner, &columns, &place, jids, filter);
    q.push(format!(" ORDER BY {} FOR UPDATE", place.order));
    let rows = q
        .build()
        .fetch_all(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get(0).or_backend(&inner.cx)?;
        if filter.text.is_some() {
            let stored: Stored = (
                row.try_get(1).or_backend(&inner.cx)?,
                row.try_get(2).or_backend(&inner.cx)?,
                row.try_get(3).or_backend(&inner.cx)?,
                row.try_get(4).or_backend(&inner.cx)?,
                row.try_get(5).or_backend(&inner.cx)?,
            );
            if !filter.matches(&poison::read(&stored, place.state)) {
                continue;
            }
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Deletes the selected jobs; returns how many.
pub(super) async fn job_delete(inner: &Inner, p: JobActionParams) -> Result<u64, BackendError> {
    if p.set == jobs::backend::JobSet::Cancelled {
        return super::cancel::delete(inner, &p.selection).await;
    }
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    let ids = select_ids(inner, &mut tx, &p.set, &p.selection).await?;
    let sql = inner.q("DELETE FROM __SCHEMA__.jobs WHERE id = ANY($1)");
    let done = sqlx::query(&sql)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .or_backend(&inner.cx)?;
    tx.commit().await.or_backend(&inner.cx)?;
    Ok(done.rows_affected())
}

/// Moves the selected jobs to the tails of their queues now; 0 for a queue.
pub(super) async fn job_enqueue_now(
    inner: &Inner,
    p: JobActionParams,
) -> Result<u64, BackendError> {
    if matches!(p.set, JobSet::Queue(_)) {
        return Ok(0);
    }
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    let ids = select_ids(inner, &mut tx, &p.set, &p.selection).await?;
    let sql = inner.q("WITH placed AS (
             SELECT id, nextval('__SCHEMA__.position_seq') AS position
             FROM (SELECT id FROM unnest($1::bigint[]) WITH ORDINALITY AS i (id, ord)
                   ORDER BY ord) AS ordered
         ), moved AS (
             UPDATE __SCHEMA__.jobs AS j
             SET state = 'available', run_at = $2, position = placed.position,
                 enqueued_at = $3,
                 priority = CASE WHEN j.priority < 0 THEN __SCHEMA__.job_priority(j.payload)
                                 ELSE j.priority END
             FROM placed WHERE j.id = placed.id
             RETURNING j.queue
         ), known AS (
             INSERT INTO __SCHEMA__.queues (name) SELECT DISTINCT queue FROM moved
             ON CONFLICT DO NOTHING
         ), woken AS (
             SELECT pg_notify(__CHANNEL__, queue) FROM (SELECT DISTINCT queue FROM moved) q
         )
         SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM woken)");
    let (moved, _): (i64, i64) = sqlx::query_as(&sql)
        .bind(&ids)
        .bind(p.now)
        .bind(to_epoch(p.now))
        .fetch_one(&mut *tx)
        .await
        .or_backend(&inner.cx)?;
    tx.commit().await.or_backend(&inner.cx)?;
    if moved > 0 {
        inner.wake.wake_all();
    }
    Ok(u64::try_from(moved).unwrap_or(0))
}

/// Moves the selected jobs to the dead set, trimming it; 0 for the dead set.
pub(super) async fn job_kill(inner: &Inner, p: JobActionParams) -> Result<u64, BackendError> {
    if p.set == JobSet::Dead {
        return Ok(0);
    }
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    let ids = select_ids(inner, &mut tx, &p.set, &p.selection).await?;
    let sql = inner.q("WITH placed AS (
             SELECT id, nextval('__SCHEMA__.position_seq') AS position
             FROM (SELECT id FROM unnest($1::bigint[]) WITH ORDINALITY AS i (id, ord)
                   ORDER BY ord) AS ordered
         )
         UPDATE __SCHEMA__.jobs AS j
         SET state = 'dead', run_at = $2, position = placed.position, unique_key = NULL
         FROM placed WHERE j.id = placed.id");
    let killed = sqlx::query(&sql)
        .bind(&ids)
        .bind(p.now)
        .execute(&mut *tx)
        .await
        .or_backend(&inner.cx)?
        .rows_affected();
    let trimmed = if killed > 0 {
        trim_dead(inner, &mut tx, p.dead_limits, p.now)
            .await
            .or_backend(&inner.cx)?
    } else {
        0
    };
    tx.commit().await.or_backend(&inner.cx)?;
    jobs::backend::warn_dead_trimmed("postgres", trimmed);
    Ok(killed)
}

/// Deletes everything this backend stores, keeping the sequences.
pub(super) async fn clear_all(inner: &Inner) -> Result<(), BackendError> {
    let sql = inner.q(
        "TRUNCATE __SCHEMA__.jobs, __SCHEMA__.queues, __SCHEMA__.paused_queues,
                  __SCHEMA__.process_signals, __SCHEMA__.processes,
                  __SCHEMA__.counters, __SCHEMA__.counters_daily,
                  __SCHEMA__.schedules, __SCHEMA__.schedule_claims,
                  __SCHEMA__.job_metrics, __SCHEMA__.limit_rates,
                  __SCHEMA__.cancelled_jobs, __SCHEMA__.cancel_requests",
    );
    sqlx::query(&sql)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(())
}
