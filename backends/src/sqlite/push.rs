//! Putting jobs in: push to a queue's tail or the scheduled set.
//!
//! 1. [`job_push`] encodes every job before taking the writer, then stores them all with one
//!    statement (so all or none), and wakes this process's reservers.
//! 2. [`prepare`] and [`insert`] are the two halves of that, shared with the schedule
//!    claim, which pushes inside its own transaction.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, PushParams};
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};

use sqlx::sqlite::SqliteConnection;

use super::db::{encode_job, micros, Db};
use super::error::{self, Sqlx};

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
