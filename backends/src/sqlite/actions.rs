//! The admin side's writes: pausing and clearing queues, acting on jobs, clearing all.
//!
//! 1. Pausing adds the queue to `paused_queues` (reservers skip it); resuming removes it
//!    and wakes this process's reservers. Clearing deletes a queue's available jobs and
//!    forgets the queue.
//! 2. Actions (delete, enqueue now, kill) resolve their [`Selection`] to row ids inside one
//!    write transaction and move those rows with the shared moves (`moves.rs`).
//! 3. `clear_all` deletes every row of every table, in one write transaction: jobs moved
//!    aside for a concurrency slot and rate logs too. Clearing a queue leaves its jobs
//!    moved aside: they come back to it as slots of their keys free.
//! 4. Deleting a job releases its unique lock with its row; killing one releases it in the
//!    statement that moves it to dead (the trigger of `unique.rs`).

use jobs::backend::QueueClearParams;
use jobs::backend::QueuePauseParams;
use jobs::backend::{BackendError, JobActionParams, JobFilter, JobSet, Selection};

use super::db::{id_list, Db, Tx};
use super::error::{self, Sqlx};
use super::listing::{job_of, Listed, LISTED};
use super::moves;
use super::sets::{bind_filter, candidates, set_sql, SetSql};

/// Pauses or resumes a queue.
pub(super) async fn queue_pause(db: &Db, params: QueuePauseParams) -> Result<(), BackendError> {
    let (queue, paused) = (params.queue.as_str(), params.paused);
    let sql = if paused {
        "INSERT OR IGNORE INTO paused_queues (name) VALUES (?1)"
    } else {
        "DELETE FROM paused_queues WHERE name = ?1"
    };
    let mut tx = db.write().await?;
    sqlx::query(sql)
        .bind(queue)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    if !paused {
        db.wake_reservers();
    }
    Ok(())
}

/// Deletes a queue's available jobs and forgets the queue; returns how many jobs.
pub(super) async fn queue_clear(db: &Db, params: QueueClearParams) -> Result<u64, BackendError> {
    let queue = params.queue.as_str();
    let mut tx = db.write().await?;
    let done = sqlx::query("DELETE FROM jobs WHERE queue = ?1 AND state = 'available'")
        .bind(queue)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    sqlx::query("DELETE FROM known_queues WHERE name = ?1")
        .bind(queue)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    Ok(done.rows_affected())
}

/// A row id, then the [`Listed`] columns.
type IdListed = (i64, i64, Vec<u8>, Vec<u8>, Vec<u8>);

/// The row ids a selection picks in a set, a queue's in run order, another set's in time
/// order (oldest first).
async fn select_ids(
    db: &Db,
    tx: &mut Tx<'_>,
    s: &SetSql<'_>,
    selection: &Selection,
) -> Result<Vec<i64>, BackendError> {
    let order = if s.queue.is_some() {
        "priority, pos"
    } else {
        "run_at, pos"
    };
    match selection {
        Selection::Jids(jids) => {
            let list = serde_json::to_string(jids).map_err(|e| error::encode("job ids", e))?;
            let none = JobFilter::default();
            let sql = candidates(s, &none, "id", "")
                + " AND jid IN (SELECT value FROM json_each(?)) ORDER BY "
                + order;
            bind_filter!(sqlx::query_scalar(&sql), s, none)
                .bind(list)
                .fetch_all(&mut **tx)
                .await
                .or_backend(&db.cx)
        }
        Selection::Matching(filter) if filter.text.is_none() => {
            let sql = candidates(s, filter, "id", order);
            bind_filter!(sqlx::query_scalar(&sql), s, filter)
                .fetch_all(&mut **tx)
                .await
                .or_backend(&db.cx)
        }
        Selection::Matching(filter) => {
            let sql = candidates(s, filter, &format!("id, {LISTED}"), order);
            let rows: Vec<IdListed> = bind_filter!(sqlx::query_as(&sql), s, filter)
                .fetch_all(&mut **tx)
                .await
                .or_backend(&db.cx)?;
            let mut ids = Vec::new();
            for (id, run_at, payload, jid, queue) in rows {
                let row: Listed = (run_at, payload, jid, queue);
                if filter.matches(&job_of(&row, s.state)) {
                    ids.push(id);
                }
            }
            Ok(ids)
        }
        _ => Err(BackendError::Unsupported {
            backend: "sqlite",
            operation: "this selection",
        }),
    }
}

/// Deletes the selected jobs; returns how many.
pub(super) async fn job_delete(db: &Db, p: JobActionParams) -> Result<u64, BackendError> {
    if p.set == jobs::backend::JobSet::Cancelled {
        return super::cancel::delete(db, &p.selection).await;
    }
    let s = set_sql(&p.set)?;
    let mut tx = db.write().await?;
    let ids = select_ids(db, &mut tx, &s, &p.selection).await?;
    let done = sqlx::query("DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1))")
        .bind(id_list(&ids))
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    Ok(done.rows_affected())
}

/// Moves the selected jobs to the tails of their queues now; 0 for a queue.
pub(super) async fn job_enqueue_now(db: &Db, p: JobActionParams) -> Result<u64, BackendError> {
    if matches!(p.set, JobSet::Queue(_)) {
        return Ok(0);
    }
    let s = set_sql(&p.set)?;
    let mut tx = db.write().await?;
    let ids = select_ids(db, &mut tx, &s, &p.selection).await?;
    let moved = moves::enqueue(db, &mut tx, &ids, p.now).await?;
    db.commit(tx).await?;
    if moved > 0 {
        db.wake_reservers();
    }
    Ok(moved)
}

/// Moves the selected jobs to the dead set, trimming it; 0 for the dead set.
pub(super) async fn job_kill(db: &Db, p: JobActionParams) -> Result<u64, BackendError> {
    if p.set == JobSet::Dead {
        return Ok(0);
    }
    let s = set_sql(&p.set)?;
    let mut tx = db.write().await?;
    let ids = select_ids(db, &mut tx, &s, &p.selection).await?;
    let (moved, _trimmed) = moves::kill(db, &mut tx, &ids, p.now, p.dead_limits).await?;
    db.commit(tx).await?;
    Ok(moved)
}

/// Deletes everything this backend stores.
pub(super) async fn clear_all(db: &Db) -> Result<(), BackendError> {
    let mut tx = db.write().await?;
    for table in [
        "jobs",
        "known_queues",
        "paused_queues",
        "process_signals",
        "processes",
        "counters",
        "schedules",
        "schedule_claims",
        "job_metrics",
        "rate_starts",
        "rate_limits",
        "cancelled_jobs",
        "cancel_requests",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
    }
    db.commit(tx).await
}
