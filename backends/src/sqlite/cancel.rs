//! Cancelling jobs on SQLite: the cancelled set, cancel requests, and their in-process
//! announcement.
//!
//! 1. [`job_cancel`] answers each jid in one write transaction: a waiting row (available,
//!    scheduled, retryable, or moved aside for a concurrency slot) is copied to
//!    `cancelled_jobs` and deleted from `jobs` (its unique lock and slot go with the row, as
//!    with every delete); a running row gets a row in `cancel_requests` (migration 7).
//! 2. A settle as cancelled ([`finish_with_cancels`]) deletes the running row fenced by its
//!    lease token in the same way, and clears the request; the other items of the batch go
//!    through `finish.rs`.
//! 3. Requests are announced to the feeds of every backend of the same file in this process
//!    (a broadcast channel found by the file's shared wake-up); other processes read them
//!    from their heartbeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use jobs::backend::{
    BackendError, CancelFeed, CancelParams, CancelPendingParams, Cancellation, DeadLimits,
    FinishOutcome, FinishParams, FinishReport, JobGetParams, JobListParams, JobPage, JobSet,
    Selection, StoredJob, CANCEL_REQUEST_TTL,
};
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{broadcast, Notify};

use super::db::{decode_job, encode_job, from_micros, micros, parse_token, Db};
use super::error::Sqlx;

type Channels = Mutex<HashMap<usize, (Weak<Notify>, broadcast::Sender<String>)>>;

/// The announcement channel of the file whose wake-up is `wake`.
fn channel(wake: &Arc<Notify>) -> broadcast::Sender<String> {
    static CHANNELS: OnceLock<Channels> = OnceLock::new();
    let mut map = CHANNELS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.retain(|_, (w, _)| w.strong_count() > 0);
    let key = Arc::as_ptr(wake) as usize;
    if let Some((w, tx)) = map.get(&key) {
        if w.upgrade().is_some_and(|n| Arc::ptr_eq(&n, wake)) {
            return tx.clone();
        }
    }
    let tx = broadcast::channel(1024).0;
    map.insert(key, (Arc::downgrade(wake), tx.clone()));
    tx
}

/// The feed of requests announced in this process for this file from now on.
pub(super) async fn cancel_listen(db: &Db) -> Result<CancelFeed, BackendError> {
    Ok(jobs::backend::broadcast_feed(channel(&db.wake).subscribe()))
}

/// Cancels each jid (see the module docs).
pub(super) async fn job_cancel(
    db: &Db,
    p: CancelParams,
) -> Result<Vec<Cancellation>, BackendError> {
    let now = micros(p.now);
    let mut answers = Vec::with_capacity(p.jids.len());
    let mut tx = db.write().await?;
    for jid in &p.jids {
        let row: Option<(i64, String)> = sqlx::query_as("SELECT id, state FROM jobs WHERE jid = ?")
            .bind(jid)
            .fetch_optional(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        let answer = match row {
            Some((id, state))
                if matches!(
                    state.as_str(),
                    "available" | "scheduled" | "retryable" | "waiting"
                ) =>
            {
                move_row(db, &mut tx, id, None, now).await?;
                Cancellation::Cancelled
            }
            Some((_, state)) if state == "running" => {
                sqlx::query(
                    "INSERT INTO cancel_requests (jid, requested_at) VALUES (?1, ?2)
                     ON CONFLICT (jid) DO UPDATE SET requested_at = excluded.requested_at",
                )
                .bind(jid)
                .bind(now)
                .execute(&mut *tx)
                .await
                .or_backend(&db.cx)?;
                Cancellation::Requested
            }
            Some(_) => Cancellation::AlreadyFinished,
            None => {
                let kept: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM cancelled_jobs WHERE jid = ? LIMIT 1")
                        .bind(jid)
                        .fetch_optional(&mut *tx)
                        .await
                        .or_backend(&db.cx)?;
                match kept {
                    Some(_) => Cancellation::AlreadyFinished,
                    None => Cancellation::NotFound,
                }
            }
        };
        answers.push(answer);
    }
    let ttl = super::db::duration_micros(CANCEL_REQUEST_TTL);
    sqlx::query("DELETE FROM cancel_requests WHERE requested_at < ?")
        .bind(now.saturating_sub(ttl))
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    trim(db, &mut tx, p.now, p.limits).await?;
    db.commit(tx).await?;
    let tx = channel(&db.wake);
    for (jid, answer) in p.jids.iter().zip(&answers) {
        if *answer == Cancellation::Requested {
            let _ = tx.send(jid.clone());
        }
    }
    Ok(answers)
}

/// Moves row `id` (when `lease` is given, only while it runs under that lease nonce) to the
/// cancelled set at `now`, storing `payload` or its own; whether it moved.
async fn move_row(
    db: &Db,
    conn: &mut SqliteConnection,
    id: i64,
    lease: Option<(&str, String)>,
    now: i64,
) -> Result<bool, BackendError> {
    let gone: Option<(String, String, String, String)> = match &lease {
        None => {
            sqlx::query_as("DELETE FROM jobs WHERE id = ? RETURNING jid, queue, class, payload")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .or_backend(&db.cx)?
        }
        Some((nonce, _)) => sqlx::query_as(
            "DELETE FROM jobs WHERE id = ? AND state = 'running' AND lease_token = ?
             RETURNING jid, queue, class, payload",
        )
        .bind(id)
        .bind(*nonce)
        .fetch_optional(&mut *conn)
        .await
        .or_backend(&db.cx)?,
    };
    let Some((jid, queue, class, stored)) = gone else {
        return Ok(false);
    };
    let payload = lease.map_or(stored, |(_, p)| p);
    sqlx::query(
        "INSERT INTO cancelled_jobs (jid, queue, class, cancelled_at, payload)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&jid)
    .bind(queue)
    .bind(class)
    .bind(now)
    .bind(payload)
    .execute(&mut *conn)
    .await
    .or_backend(&db.cx)?;
    sqlx::query("DELETE FROM cancel_requests WHERE jid = ?")
        .bind(&jid)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    Ok(true)
}

/// Drops cancelled jobs older than the limits' age, then the oldest beyond their count.
async fn trim(
    db: &Db,
    conn: &mut SqliteConnection,
    now: chrono::DateTime<chrono::Utc>,
    limits: DeadLimits,
) -> Result<(), BackendError> {
    let cutoff = micros(now).saturating_sub(super::db::duration_micros(limits.max_age));
    sqlx::query("DELETE FROM cancelled_jobs WHERE cancelled_at < ?")
        .bind(cutoff)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    sqlx::query(
        "DELETE FROM cancelled_jobs WHERE id IN (SELECT id FROM cancelled_jobs
         ORDER BY cancelled_at DESC, id DESC LIMIT -1 OFFSET ?)",
    )
    .bind(i64::try_from(limits.max_jobs).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await
    .or_backend(&db.cx)?;
    Ok(())
}

/// Settles a batch holding cancelled items: those here, the rest through `finish.rs`.
pub(super) async fn finish_with_cancels(
    db: &Arc<Db>,
    p: FinishParams,
) -> Result<FinishReport, BackendError> {
    let (cancels, others): (Vec<_>, Vec<_>) = p
        .items
        .into_iter()
        .enumerate()
        .partition(|(_, i)| i.outcome == FinishOutcome::Cancelled);
    let mut report = FinishReport::default();
    if !others.is_empty() {
        let (index, items): (Vec<usize>, Vec<_>) = others.into_iter().unzip();
        let rest = FinishParams::new(items, p.now).dead_limits(p.dead_limits);
        let r = super::finish::job_finish(db, rest).await?;
        report.lost.extend(r.lost.into_iter().map(|i| index[i]));
        report.dead_trimmed = r.dead_trimmed;
    }
    let now = micros(p.now);
    let mut tx = db.write().await?;
    for (index, item) in &cancels {
        let moved = match parse_token(&item.token) {
            Some((id, nonce)) => {
                let payload = encode_job(&item.job)?;
                move_row(db, &mut tx, id, Some((nonce, payload)), now).await?
            }
            None => false,
        };
        if !moved {
            report.lost.push(*index);
        }
    }
    trim(db, &mut tx, p.now, p.dead_limits).await?;
    db.commit(tx).await?;
    db.wake_reservers();
    report.lost.sort_unstable();
    Ok(report)
}

/// Which of the jids have a cancel requested.
pub(super) async fn cancel_pending(
    db: &Db,
    p: CancelPendingParams,
) -> Result<Vec<String>, BackendError> {
    pending(db, &p.jids).await
}

/// Which of `jids` have a cancel requested (the heartbeat's answer too).
pub(super) async fn pending(db: &Db, jids: &[String]) -> Result<Vec<String>, BackendError> {
    if jids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(jids).map_err(|e| super::error::encode("jids", e))?;
    sqlx::query_scalar(
        "SELECT jid FROM cancel_requests WHERE jid IN (SELECT value FROM json_each(?1))",
    )
    .bind(list)
    .fetch_all(&db.readers)
    .await
    .or_backend(&db.cx)
}

/// Every cancelled job, most recent first.
async fn all(db: &Db) -> Result<Vec<StoredJob>, BackendError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT cancelled_at, payload FROM cancelled_jobs ORDER BY cancelled_at DESC, id DESC",
    )
    .fetch_all(&db.readers)
    .await
    .or_backend(&db.cx)?;
    rows.into_iter()
        .map(|(at, payload)| {
            Ok(StoredJob {
                job: decode_job(&payload)?,
                set: JobSet::Cancelled,
                at: Some(from_micros(at)),
            })
        })
        .collect()
}

/// A page of the cancelled set.
pub(super) async fn list(db: &Db, p: JobListParams) -> Result<JobPage, BackendError> {
    Ok(JobPage::filtered(&p, all(db).await?))
}

/// One cancelled job by jid.
pub(super) async fn get(db: &Db, p: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
    Ok(all(db).await?.into_iter().find(|s| s.job.jid == p.jid))
}

/// Deletes cancelled jobs; how many.
pub(super) async fn delete(db: &Db, selection: &Selection) -> Result<u64, BackendError> {
    let jids: Vec<String> = all(db)
        .await?
        .into_iter()
        .filter(|s| match selection {
            Selection::Jids(jids) => jids.contains(&s.job.jid),
            Selection::Matching(filter) => filter.matches(&s.job),
            _ => false,
        })
        .map(|s| s.job.jid)
        .collect();
    let list = serde_json::to_string(&jids).map_err(|e| super::error::encode("jids", e))?;
    let mut tx = db.write().await?;
    let done =
        sqlx::query("DELETE FROM cancelled_jobs WHERE jid IN (SELECT value FROM json_each(?1))")
            .bind(list)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
    db.commit(tx).await?;
    Ok(done.rows_affected())
}
