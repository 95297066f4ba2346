//! Putting jobs in: one statement for every job of a call.
//!
//! 1. [`insert`] stores all jobs of a call in one `INSERT ... SELECT FROM unnest(...)` that
//!    also records known queues and NOTIFYs (`push.sql`), on the pool's connection or the
//!    app's own (`PostgresBackend::push_in`, and the schedule claim's transaction).
//! 2. [`job_push`] runs it on a pooled connection, wakes this process's reservers when a
//!    job went to a queue, and after a bulk push makes sure `jobs` has planner statistics
//!    (`stats.rs`).

use std::sync::Arc;

use jobs::backend::{BackendError, PushParams};
use jobs::envelope::to_epoch;
use sqlx::PgConnection;

use super::error::Sqlx;
use super::{rows, stats, Inner};

/// Stores `p.jobs` on `conn` (the pool's or the app's); true when any went to a queue.
pub(super) async fn insert(
    inner: &Inner,
    conn: &mut PgConnection,
    p: PushParams,
) -> Result<bool, BackendError> {
    if p.jobs.is_empty() {
        return Ok(false);
    }
    let n = p.jobs.len();
    let (mut jids, mut queues, mut payloads, mut ats, mut enqueued) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut immediate = false;
    for mut job in p.jobs {
        let at = job.at.take().map(jobs::envelope::from_epoch);
        if at.is_none() {
            job.enqueued_at = Some(to_epoch(p.now));
            immediate = true;
        }
        payloads.push(rows::encode(&job)?);
        jids.push(job.jid);
        queues.push(job.queue);
        ats.push(at);
        enqueued.push(job.enqueued_at);
    }
    sqlx::query(&inner.sql.push)
        .bind(jids)
        .bind(queues)
        .bind(payloads)
        .bind(ats)
        .bind(p.now)
        .bind(enqueued)
        .execute(conn)
        .await
        .or_backend(&inner.cx)?;
    Ok(immediate)
}

/// Stores jobs on a pooled connection and wakes this process's reservers for them.
pub(super) async fn job_push(inner: &Arc<Inner>, p: PushParams) -> Result<(), BackendError> {
    let bulk = p.jobs.len() >= 100;
    let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
    if insert(inner, &mut conn, p).await? {
        // Reservers in this process need not wait for the notification round trip.
        inner.wake.wake_all();
    }
    drop(conn);
    if bulk {
        // A deep queue without planner statistics reserves by sorting it (`stats.rs`).
        stats::ensure_statistics(inner);
    }
    Ok(())
}
