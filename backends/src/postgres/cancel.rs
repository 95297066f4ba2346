//! Cancelling jobs on Postgres: the cancelled set, cancel requests, and LISTEN/NOTIFY.
//!
//! 1. [`job_cancel`] answers each jid in one transaction, the job's row locked: a waiting
//!    row (available, scheduled, retryable, or moved aside for a concurrency slot) is moved
//!    to `cancelled_jobs` (its unique lock and slot go with the deleted row); a running row
//!    gets a row in `cancel_requests` and a NOTIFY on `jobs_cancel.<schema>`, sent at commit
//!    (migration 11).
//! 2. A settle as cancelled ([`finish_with_cancels`]) locks the running row by its lease
//!    token, takes the key locks a freed slot needs (`limit_prepare`, as `finish.sql`), and
//!    moves it the same way; the other items of the batch go through `finish.rs`.
//! 3. [`cancel_listen`] LISTENs on its own connection; the feed ends when that connection
//!    is lost, and the worker listens again (the heartbeat delivers meanwhile).

use futures::StreamExt;
use jobs::backend::{
    BackendError, CancelFeed, CancelParams, CancelPendingParams, Cancellation, DeadLimits,
    FinishOutcome, FinishParams, FinishReport, JobGetParams, JobListParams, JobPage, JobSet,
    Selection, StoredJob, CANCEL_REQUEST_TTL,
};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgConnection;

use super::error::Sqlx;
use super::rows;
use super::Inner;

/// The NOTIFY channel of cancel requests of this backend's schema.
fn channel(inner: &Inner) -> String {
    format!("jobs_cancel.{}", inner.schema())
}

/// Cancels each jid (see the module docs).
pub(super) async fn job_cancel(
    inner: &Inner,
    p: CancelParams,
) -> Result<Vec<Cancellation>, BackendError> {
    let mut answers = Vec::with_capacity(p.jids.len());
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    let select = inner.q("SELECT id, state::text FROM __SCHEMA__.jobs WHERE jid = $1 FOR UPDATE");
    let request = inner.q(
        "INSERT INTO __SCHEMA__.cancel_requests (jid, requested_at) VALUES ($1, $2)
         ON CONFLICT (jid) DO UPDATE SET requested_at = excluded.requested_at",
    );
    let kept = inner.q("SELECT 1 FROM __SCHEMA__.cancelled_jobs WHERE jid = $1 LIMIT 1");
    for jid in &p.jids {
        let row: Option<(i64, String)> = sqlx::query_as(&select)
            .bind(jid)
            .fetch_optional(&mut *tx)
            .await
            .or_backend(&inner.cx)?;
        let answer = match row {
            Some((id, state))
                if matches!(
                    state.as_str(),
                    "available" | "scheduled" | "retryable" | "waiting"
                ) =>
            {
                move_row(inner, &mut tx, id, None, p.now).await?;
                Cancellation::Cancelled
            }
            Some((_, state)) if state == "running" => {
                sqlx::query(&request)
                    .bind(jid)
                    .bind(p.now)
                    .execute(&mut *tx)
                    .await
                    .or_backend(&inner.cx)?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel(inner))
                    .bind(jid)
                    .execute(&mut *tx)
                    .await
                    .or_backend(&inner.cx)?;
                Cancellation::Requested
            }
            Some(_) => Cancellation::AlreadyFinished,
            None => {
                let found: Option<i32> = sqlx::query_scalar(&kept)
                    .bind(jid)
                    .fetch_optional(&mut *tx)
                    .await
                    .or_backend(&inner.cx)?;
                match found {
                    Some(_) => Cancellation::AlreadyFinished,
                    None => Cancellation::NotFound,
                }
            }
        };
        answers.push(answer);
    }
    let ttl = chrono::Duration::from_std(CANCEL_REQUEST_TTL).unwrap_or(chrono::Duration::MAX);
    sqlx::query(&inner.q("DELETE FROM __SCHEMA__.cancel_requests WHERE requested_at < $1"))
        .bind(p.now.checked_sub_signed(ttl).unwrap_or(p.now))
        .execute(&mut *tx)
        .await
        .or_backend(&inner.cx)?;
    trim(inner, &mut tx, p.now, p.limits).await?;
    tx.commit().await.or_backend(&inner.cx)?;
    Ok(answers)
}

/// Moves row `id` (when `lease` is given, only while it runs under that token, storing that
/// payload) to the cancelled set at `now`; whether it moved.
async fn move_row(
    inner: &Inner,
    conn: &mut PgConnection,
    id: i64,
    lease: Option<(i64, String)>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, BackendError> {
    let sql = inner.q("WITH gone AS (
            DELETE FROM __SCHEMA__.jobs
            WHERE id = $1 AND ($2::bigint IS NULL OR lease_token = $2)
            RETURNING jid, queue, payload
        ), kept AS (
            INSERT INTO __SCHEMA__.cancelled_jobs (jid, queue, class, cancelled_at, payload)
            SELECT jid, queue, coalesce($3::json, payload) ->> 'class', $4,
                   coalesce($3::json, payload)
            FROM gone
            RETURNING jid
        ), cleared AS (
            DELETE FROM __SCHEMA__.cancel_requests WHERE jid IN (SELECT jid FROM kept)
        )
        SELECT count(*) FROM kept");
    let (token, payload) = match lease {
        Some((t, p)) => (Some(t), Some(p)),
        None => (None, None),
    };
    let moved: i64 = sqlx::query_scalar(&sql)
        .bind(id)
        .bind(token)
        .bind(payload)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    Ok(moved > 0)
}

/// Drops cancelled jobs older than the limits' age, then the oldest beyond their count.
async fn trim(
    inner: &Inner,
    conn: &mut PgConnection,
    now: chrono::DateTime<chrono::Utc>,
    limits: DeadLimits,
) -> Result<(), BackendError> {
    let age = chrono::Duration::from_std(limits.max_age).unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(age)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    sqlx::query(&inner.q("DELETE FROM __SCHEMA__.cancelled_jobs WHERE cancelled_at < $1"))
        .bind(cutoff)
        .execute(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    sqlx::query(
        &inner.q("DELETE FROM __SCHEMA__.cancelled_jobs WHERE id IN (
            SELECT id FROM __SCHEMA__.cancelled_jobs
            ORDER BY cancelled_at DESC, id DESC OFFSET $1)"),
    )
    .bind(i64::try_from(limits.max_jobs).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await
    .or_backend(&inner.cx)?;
    Ok(())
}

/// Settles a batch holding cancelled items: those here, the rest through `finish.rs`.
pub(super) async fn finish_with_cancels(
    inner: &Inner,
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
        let r = Box::pin(super::finish::job_finish(inner, rest)).await?;
        report.lost.extend(r.lost.into_iter().map(|i| index[i]));
        report.dead_trimmed = r.dead_trimmed;
    }
    let lock = inner.q("SELECT concurrency_key FROM __SCHEMA__.jobs
         WHERE id = $1 AND lease_token = $2 FOR UPDATE");
    let prepare = inner.q("SELECT __SCHEMA__.limit_prepare(ARRAY[$1::text])");
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    for (index, item) in &cancels {
        let mut moved = false;
        if let Some((id, token)) = rows::parse_token(&item.token) {
            let held: Option<(Option<String>,)> = sqlx::query_as(&lock)
                .bind(id)
                .bind(token)
                .fetch_optional(&mut *tx)
                .await
                .or_backend(&inner.cx)?;
            if let Some((key,)) = held {
                if let Some(key) = key {
                    sqlx::query(&prepare)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .or_backend(&inner.cx)?;
                }
                let payload = rows::encode(&item.job)?;
                moved = move_row(inner, &mut tx, id, Some((token, payload)), p.now).await?;
            }
        }
        if !moved {
            report.lost.push(*index);
        }
    }
    trim(inner, &mut tx, p.now, p.dead_limits).await?;
    tx.commit().await.or_backend(&inner.cx)?;
    inner.wake.wake_all();
    report.lost.sort_unstable();
    Ok(report)
}

/// Which of the jids have a cancel requested.
pub(super) async fn cancel_pending(
    inner: &Inner,
    p: CancelPendingParams,
) -> Result<Vec<String>, BackendError> {
    pending(inner, &p.jids).await
}

/// Which of `jids` have a cancel requested (the heartbeat's answer too).
pub(super) async fn pending(inner: &Inner, jids: &[String]) -> Result<Vec<String>, BackendError> {
    if jids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(&inner.q("SELECT jid FROM __SCHEMA__.cancel_requests WHERE jid = ANY($1)"))
        .bind(jids)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)
}

/// LISTENs for cancel requests on a connection of its own.
pub(super) async fn cancel_listen(inner: &Inner) -> Result<CancelFeed, BackendError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*inner.pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&pool)
        .await
        .or_backend(&inner.cx)?;
    listener
        .listen(&channel(inner))
        .await
        .or_backend(&inner.cx)?;
    let feed = futures::stream::unfold((listener, pool), |(mut l, pool)| async move {
        match l.try_recv().await {
            Ok(Some(n)) => Some((n.payload().to_owned(), (l, pool))),
            // The connection was lost: announcements meanwhile are gone; the caller
            // listens again.
            Ok(None) | Err(_) => None,
        }
    });
    Ok(feed.boxed())
}

/// Every cancelled job, most recent first.
async fn all(inner: &Inner) -> Result<Vec<StoredJob>, BackendError> {
    let rows: Vec<(chrono::DateTime<chrono::Utc>, String)> = sqlx::query_as(&inner.q(
        "SELECT cancelled_at, payload::text FROM __SCHEMA__.cancelled_jobs
         ORDER BY cancelled_at DESC, id DESC",
    ))
    .fetch_all(&inner.pool)
    .await
    .or_backend(&inner.cx)?;
    rows.into_iter()
        .map(|(at, payload)| {
            let job = serde_json::from_str(&payload)
                .map_err(|e| BackendError::other("a cancelled job is not a job", e))?;
            Ok(StoredJob {
                job,
                set: JobSet::Cancelled,
                at: Some(at),
            })
        })
        .collect()
}

/// A page of the cancelled set.
pub(super) async fn list(inner: &Inner, p: JobListParams) -> Result<JobPage, BackendError> {
    Ok(JobPage::filtered(&p, all(inner).await?))
}

/// One cancelled job by jid.
pub(super) async fn get(inner: &Inner, p: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
    Ok(all(inner).await?.into_iter().find(|s| s.job.jid == p.jid))
}

/// Deletes cancelled jobs; how many.
pub(super) async fn delete(inner: &Inner, selection: &Selection) -> Result<u64, BackendError> {
    let jids: Vec<String> = all(inner)
        .await?
        .into_iter()
        .filter(|s| match selection {
            Selection::Jids(jids) => jids.contains(&s.job.jid),
            Selection::Matching(filter) => filter.matches(&s.job),
            _ => false,
        })
        .map(|s| s.job.jid)
        .collect();
    let done = sqlx::query(&inner.q("DELETE FROM __SCHEMA__.cancelled_jobs WHERE jid = ANY($1)"))
        .bind(&jids)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(done.rows_affected())
}
