//! Promotion: due scheduled jobs and retries moved to their queues' tails.
//!
//! 1. [`scheduled_promote`] checks on a reader whether anything is due, and only then moves
//!    due scheduled jobs (then retries, with the room left) to their queues' tails in one
//!    write transaction, each behind the jobs of its priority (`moves::enqueue`); the write
//!    lock makes each job move once across processes.
//! 2. A batch a member's settle noted due and left unfired (its process died in between)
//!    fires here (`batch.rs`).
//! 3. Each due payload is decoded: one that is not a job is buried there and then
//!    (`poison.rs`), so no bad row can hold back the valid ones or come due again.

use jobs::backend::{BackendError, PromoteParams};

use jobs::backend::DeadLimits;

use super::db::{micros, Db};
use super::error::Sqlx;
use super::moves;
use super::poison::{self, Bad};

/// Up to `?2` scheduled jobs due at `?1`, soonest first: row, payload bytes, jid, queue.
pub(super) const DUE_SCHEDULED: &str =
    "SELECT id, payload, jid, queue FROM jobs WHERE state = 'scheduled' AND run_at <= ?1
    ORDER BY run_at, pos LIMIT ?2";

/// Up to `?2` retries due at `?1`, soonest first: row, payload bytes, jid, queue.
pub(super) const DUE_RETRIES: &str =
    "SELECT id, payload, jid, queue FROM jobs WHERE state = 'retryable' AND run_at <= ?1
    ORDER BY run_at, pos LIMIT ?2";

/// A due row: id, payload, jid and queue, the last three as bytes.
type Due = (i64, Vec<u8>, Vec<u8>, Vec<u8>);

/// Moves due scheduled and retry jobs to their queues' tails, and buries due rows that are
/// not jobs; returns how many left the two sets.
pub(super) async fn scheduled_promote(db: &Db, p: PromoteParams) -> Result<u64, BackendError> {
    if p.limit == 0 {
        return Ok(0);
    }
    let now = micros(p.now);
    let (any_due, batch_due): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'scheduled' AND run_at <= ?1)
             OR EXISTS (SELECT 1 FROM jobs WHERE state = 'retryable' AND run_at <= ?1),
            EXISTS (SELECT 1 FROM batch_due)",
    )
    .bind(now)
    .fetch_one(&db.readers)
    .await
    .or_backend(&db.cx)?;
    // A batch noted due by a settle whose process died before it fired the callbacks.
    if batch_due && super::batch::fire_due(db, p.now).await? {
        db.wake_reservers();
    }
    if !any_due {
        return Ok(0);
    }
    let limit = i64::try_from(p.limit).unwrap_or(i64::MAX);
    let mut tx = db.write().await?;
    let scheduled: Vec<Due> = sqlx::query_as(DUE_SCHEDULED)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let room = limit.saturating_sub(i64::try_from(scheduled.len()).unwrap_or(i64::MAX));
    let retries: Vec<Due> = if room > 0 {
        sqlx::query_as(DUE_RETRIES)
            .bind(now)
            .bind(room)
            .fetch_all(&mut *tx)
            .await
            .or_backend(&db.cx)?
    } else {
        Vec::new()
    };
    let mut ids = Vec::with_capacity(scheduled.len() + retries.len());
    let mut bad = Vec::new();
    let due = (scheduled.into_iter().map(|d| (d, "scheduled")))
        .chain(retries.into_iter().map(|d| (d, "retryable")));
    for ((id, payload, jid, queue), state) in due {
        match poison::decode(&payload) {
            Ok(_) => ids.push(id),
            Err(error) => bad.push(Bad {
                id,
                jid: String::from_utf8_lossy(&jid).into_owned(),
                queue: String::from_utf8_lossy(&queue).into_owned(),
                state,
                lease: None,
                raw: payload,
                error,
            }),
        }
    }
    let moved = moves::enqueue(db, &mut tx, &ids, p.now).await?;
    let buried = poison::bury(db, &mut tx, &bad, p.now, DeadLimits::default()).await?;
    db.commit(tx).await?;
    if moved > 0 {
        db.wake_reservers();
    }
    Ok(moved + buried)
}
