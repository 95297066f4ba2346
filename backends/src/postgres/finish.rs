//! Finishing reserved jobs: every item and the counters in one statement.
//!
//! 1. [`job_finish`] sends the items as column arrays to `finish.sql`, which settles each
//!    one whose lease token still matches and adds to the counters; an item that matches
//!    nothing is reported lost and neither applied nor counted. The same statement
//!    releases the unique locks of the jobs that end (completed, discarded, dead,
//!    expired) and counts expired jobs apart.
//! 2. A settled job with a concurrency limit frees its slot in the same statement (a
//!    trigger, migration 9), which may bring a waiting job back to its queue: this
//!    process's reservers are woken for it (other processes find it at their next reserve).
//! 3. When an item may die, the finish and the dead-set trim ([`trim_dead`], shared with
//!    the admin kill) commit in one transaction; otherwise the one statement is its own
//!    transaction.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, DeadLimits, Finish, FinishOutcome, FinishParams, FinishReport};
use sqlx::{Connection, PgConnection, Row};

use super::error::Sqlx;
use super::{limits, rows, Inner};

/// Settles reserved jobs, each fenced by its lease token.
pub(super) async fn job_finish(
    inner: &Inner,
    p: FinishParams,
) -> Result<FinishReport, BackendError> {
    let mut report = FinishReport::default();
    if p.items.is_empty() {
        return Ok(report);
    }
    if p.items
        .iter()
        .any(|i| i.outcome == FinishOutcome::Cancelled)
    {
        return Box::pin(super::cancel::finish_with_cancels(inner, p)).await;
    }
    let batch = FinishBatch::new(&p.items)?;
    let may_die = batch.outcomes.contains(&"dead");
    // A settled limited job may bring a waiting one back to its queue, unannounced.
    let limited = p.items.iter().any(|i| limits::has_concurrency(&i.job));
    // A result is written in the settle's transaction, for the items that applied.
    let recording = super::results::any(&p.items);
    let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
    // A batch member's settle moves its batch in the same transaction (`batch.rs`).
    let members = p.items.iter().any(|i| super::batch::is_member(&i.job));
    let mut queued = false;
    let applied = if may_die || recording || members {
        // Moves, counters, results, batches and the trim commit together.
        let mut tx = conn.begin().await.or_backend(&inner.cx)?;
        let (applied, died) = finish_in(inner, &mut tx, &batch, p.now)
            .await
            .or_backend(&inner.cx)?;
        if recording {
            super::results::store(inner, &mut tx, &p.items, &applied, p.now)
                .await
                .or_backend(&inner.cx)?;
        }
        if died {
            report.dead_trimmed = trim_dead(inner, &mut tx, p.dead_limits, p.now)
                .await
                .or_backend(&inner.cx)?;
        }
        if members {
            let settled: Vec<_> = p
                .items
                .iter()
                .zip(&applied)
                .filter(|(_, ok)| **ok)
                .map(|(i, _)| (&*i.job, &i.outcome, i.failed))
                .collect();
            queued = super::batch::settle(inner, &mut tx, &settled, p.now).await?;
        }
        tx.commit().await.or_backend(&inner.cx)?;
        applied
    } else {
        // One statement is its own transaction: one round trip.
        finish_in(inner, &mut conn, &batch, p.now)
            .await
            .or_backend(&inner.cx)?
            .0
    };
    report.lost = (0..applied.len()).filter(|&i| !applied[i]).collect();
    if limited {
        inner.limits.met();
    }
    if limited || queued {
        inner.wake.wake_all();
    }
    jobs::backend::warn_dead_trimmed("postgres", report.dead_trimmed);
    Ok(report)
}

/// Runs `finish.sql` for `batch` on `conn`; returns, per item, whether it was applied, and
/// whether any job died.
async fn finish_in(
    inner: &Inner,
    conn: &mut PgConnection,
    batch: &FinishBatch,
    now: DateTime<Utc>,
) -> Result<(Vec<bool>, bool), sqlx::Error> {
    let rows = sqlx::query(&inner.sql.finish)
        .bind(&batch.ids)
        .bind(&batch.leases)
        .bind(&batch.payloads)
        .bind(&batch.outcomes)
        .bind(&batch.ats)
        .bind(&batch.failed)
        .bind(now)
        .bind(now.date_naive())
        .bind(&batch.enqueued)
        .bind(!inner.options.completed_retention().is_zero())
        .fetch_all(&mut *conn)
        .await?;
    let mut applied = vec![false; batch.ids.len()];
    let mut died = false;
    for row in rows {
        let idx: i64 = row.try_get(0)?;
        let outcome: String = row.try_get(1)?;
        if let Some(slot) = usize::try_from(idx - 1)
            .ok()
            .and_then(|i| applied.get_mut(i))
        {
            *slot = true;
        }
        died |= outcome == "dead";
    }
    Ok((applied, died))
}

/// Trims the dead set to `limits` at `now`, on `conn`; returns how many were trimmed.
pub(super) async fn trim_dead(
    inner: &Inner,
    conn: &mut PgConnection,
    limits: DeadLimits,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let cutoff = chrono::Duration::from_std(limits.max_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age));
    let trimmed: i64 = sqlx::query_scalar(&inner.sql.trim_dead)
        .bind(cutoff)
        .bind(i64::try_from(limits.max_jobs).unwrap_or(i64::MAX))
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(trimmed).unwrap_or(0))
}

/// The items of a finish as the column arrays `finish.sql` takes.
struct FinishBatch {
    ids: Vec<i64>,
    leases: Vec<i64>,
    payloads: Vec<Option<String>>,
    outcomes: Vec<&'static str>,
    ats: Vec<Option<DateTime<Utc>>>,
    failed: Vec<bool>,
    enqueued: Vec<Option<f64>>,
}

impl FinishBatch {
    fn new(items: &[Finish]) -> Result<Self, BackendError> {
        let n = items.len();
        let mut b = FinishBatch {
            ids: Vec::with_capacity(n),
            leases: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            ats: Vec::with_capacity(n),
            failed: Vec::with_capacity(n),
            enqueued: Vec::with_capacity(n),
        };
        for item in items {
            // A token this backend never issued matches no row: the item is reported lost.
            let (id, lease) = rows::parse_token(&item.token).unwrap_or((0, 0));
            let (outcome, at, keep) = match &item.outcome {
                FinishOutcome::Completed => ("completed", None, false),
                FinishOutcome::Discard => ("discard", None, false),
                FinishOutcome::Expired => ("expired", None, false),
                FinishOutcome::Retry { at } => ("retry", Some(*at), true),
                FinishOutcome::Snooze { at } => ("snooze", Some(*at), true),
                FinishOutcome::Dead => ("dead", None, true),
                _ => {
                    return Err(BackendError::Unsupported {
                        backend: "postgres",
                        operation: "this finish outcome",
                    })
                }
            };
            let payload = match (keep, item.job.at.is_some()) {
                (false, _) => None,
                (true, false) => Some(rows::encode(&item.job)?),
                (true, true) => {
                    let mut job = (*item.job).clone();
                    job.at = None;
                    Some(rows::encode(&job)?)
                }
            };
            b.ids.push(id);
            b.leases.push(lease);
            b.payloads.push(payload);
            b.outcomes.push(outcome);
            b.ats.push(at);
            b.failed.push(item.failed);
            b.enqueued.push(item.job.enqueued_at);
        }
        Ok(b)
    }
}
