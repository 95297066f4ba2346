//! Putting jobs in: push (to a queue's tail or the scheduled set) and promotion of due jobs.
//!
//! 1. [`job_push`] encodes every job before taking the write lock, then stores them all in
//!    one immediate transaction with multi-row inserts, and wakes this process's reservers.
//! 2. [`scheduled_promote`] checks on a reader whether anything is due, and only then moves
//!    due scheduled jobs (then retries, with the room left) to their queues' tails in one
//!    write transaction; the write lock makes each job move once across processes.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, PromoteParams, PushParams};
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};

use super::db::{encode_job, micros, Db, Tx};
use super::error::Sqlx;
use super::moves;

/// Multi-row insert sizes: a push is split greedily into chunks of these, so only a few
/// distinct statements reach the statement cache.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// One job ready to insert.
pub(super) struct Row {
    jid: String,
    queue: String,
    class: String,
    state: &'static str,
    run_at: i64,
    payload: String,
}

/// Stores jobs: those with `at` in the scheduled set, the others at their queues' tails.
pub(super) async fn job_push(db: &Db, p: PushParams) -> Result<(), BackendError> {
    if p.jobs.is_empty() {
        return Ok(());
    }
    let (rows, available) = prepare(p.jobs, p.now)?;
    let mut tx = db.write().await?;
    insert(db, &mut tx, &rows).await?;
    db.commit(tx).await?;
    if available {
        db.wake_reservers();
    }
    Ok(())
}

/// Encodes jobs for [`insert`]: one with `at` for the scheduled set at that time, any other
/// for its queue with `enqueued_at = now`. Also says whether any goes to a queue.
pub(super) fn prepare(
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
) -> Result<(Vec<Row>, bool), BackendError> {
    let enqueued_at = to_epoch(now);
    let now = micros(now);
    let mut available = false;
    let mut rows = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        let (state, run_at) = match job.at.take() {
            Some(at) => ("scheduled", micros(from_epoch(at))),
            None => {
                job.enqueued_at = Some(enqueued_at);
                available = true;
                ("available", now)
            }
        };
        let payload = encode_job(&job)?;
        rows.push(Row {
            jid: job.jid,
            queue: job.queue,
            class: job.class,
            state,
            run_at,
            payload,
        });
    }
    Ok((rows, available))
}

/// Inserts prepared rows, those for queues at their tails, in order.
pub(super) async fn insert(db: &Db, tx: &mut Tx<'_>, rows: &[Row]) -> Result<(), BackendError> {
    let first = moves::next_positions(db, tx, rows.len()).await?;
    insert_at(db, tx, rows, first).await
}

/// Inserts `rows` at positions `first`, `first + 1`, ...
async fn insert_at(db: &Db, tx: &mut Tx<'_>, rows: &[Row], first: i64) -> Result<(), BackendError> {
    let mut done = 0;
    while done < rows.len() {
        let left = rows.len() - done;
        let size = CHUNKS.iter().copied().find(|c| *c <= left).unwrap_or(1);
        let mut sql = String::from(
            "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload) VALUES ",
        );
        for i in 0..size {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?,?,?)"
            });
        }
        let mut query = sqlx::query(&sql);
        for (i, row) in rows[done..done + size].iter().enumerate() {
            let pos = first + i64::try_from(done + i).unwrap_or(i64::MAX);
            query = query
                .bind(row.jid.as_str())
                .bind(row.queue.as_str())
                .bind(row.class.as_str())
                .bind(row.state)
                .bind(row.run_at)
                .bind(pos)
                .bind(row.payload.as_str());
        }
        query.execute(&mut **tx).await.or_backend(&db.cx)?;
        done += size;
    }
    Ok(())
}

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
