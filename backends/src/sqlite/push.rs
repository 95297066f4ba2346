//! Putting jobs in: push (to a queue's tail or the scheduled set) and promotion of due jobs.
//!
//! 1. [`job_push`] encodes every job before taking the writer, then stores them all with one
//!    statement (so all or none), and wakes this process's reservers.
//! 2. [`scheduled_promote`] checks on a reader whether anything is due, and only then moves
//!    due scheduled jobs (then retries, with the room left) to their queues' tails in one
//!    write transaction; the write lock makes each job move once across processes.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, PromoteParams, PushParams};
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};

use sqlx::sqlite::SqliteConnection;

use super::db::{encode_job, micros, Db};
use super::error::{self, Sqlx};
use super::moves;

/// Stores jobs: those with `at` in the scheduled set, the others at their queues' tails.
pub(super) async fn job_push(db: &Db, p: PushParams) -> Result<(), BackendError> {
    if p.jobs.is_empty() {
        return Ok(());
    }
    let (rows, available) = prepare(p.jobs, p.now)?;
    // One statement, so all or none, and it takes the write lock when it starts.
    let mut conn = db.exec().await?;
    insert(db, &mut conn, &rows).await?;
    conn.settle();
    if available {
        db.wake_reservers();
    }
    Ok(())
}

/// Encodes jobs for [`insert`]: one with `at` for the scheduled set at that time, any other
/// for its queue with `enqueued_at = now`; also says whether any goes to a queue. The rows
/// are a JSON array of `[jid, queue, class, state, run_at, payload]`.
pub(super) fn prepare(
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
) -> Result<(String, bool), BackendError> {
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
        rows.push((job.jid, job.queue, job.class, state, run_at, payload));
    }
    let rows = serde_json::to_string(&rows).map_err(|e| error::encode("jobs", e))?;
    Ok((rows, available))
}

/// Inserts the rows [`prepare`] made, in one statement: positions follow the `pos`
/// sequence, read once by the statement, and a trigger moves the sequence past them.
pub(super) const INSERT: &str = "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
           (SELECT s.value FROM sequences AS s WHERE s.name = 'pos') + key + 1, value ->> 5
    FROM json_each(?1)";

/// Runs [`INSERT`] for prepared rows.
pub(super) async fn insert(
    db: &Db,
    conn: &mut SqliteConnection,
    rows: &str,
) -> Result<(), BackendError> {
    sqlx::query(INSERT)
        .bind(rows)
        .execute(conn)
        .await
        .or_backend(&db.cx)?;
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
