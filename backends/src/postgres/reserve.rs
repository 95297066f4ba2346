//! Reserving jobs: up to `limit` rows in one statement, waiting for a push when there are none.
//!
//! 1. [`job_reserve`] walks the queues given, each once, in order: one `UPDATE ... FROM
//!    (SELECT ... FOR UPDATE SKIP LOCKED)` (`reserve.sql`) leases up to `limit` rows; when
//!    none, it waits for a notification or the next poll (`notify.rs`), and leases taken
//!    after a wait run from the time they are taken.
//! 2. A lease token is `<row id>.<lease number>` (`rows.rs`).
//! 3. A reserved row whose envelope does not decode is moved to the dead set.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, ReserveParams, Reserved};
use sqlx::Row;
use tokio::time::Instant;

use super::error::Sqlx;
use super::{notify::Wake, rows, Inner};

/// Reserves up to `limit` jobs, waiting up to `wait` for one to be pushed.
pub(super) async fn job_reserve(
    inner: &Inner,
    p: ReserveParams,
) -> Result<Vec<Reserved>, BackendError> {
    let queues = distinct(&p.queues);
    if p.limit == 0 || queues.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    // A wait too long for the clock to add is as good as a year.
    let deadline = started
        .checked_add(p.wait)
        .unwrap_or_else(|| started + std::time::Duration::from_secs(365 * 24 * 3600));
    let mut now = p.now;
    loop {
        let notified = inner.wake.listen();
        let got = try_reserve(inner, &queues, &p, now).await?;
        if !got.is_empty() || Instant::now() >= deadline {
            return Ok(got);
        }
        Wake::wait(notified, inner.options.poll_interval(), deadline).await;
        // After waiting, leases run from the time the job is taken, not the call.
        let waited = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        now = p.now.checked_add_signed(waited).unwrap_or(p.now);
    }
}

/// One attempt: leases what is there now.
async fn try_reserve(
    inner: &Inner,
    queues: &[String],
    p: &ReserveParams,
    now: DateTime<Utc>,
) -> Result<Vec<Reserved>, BackendError> {
    let limit = i64::try_from(p.limit).unwrap_or(i64::MAX);
    let rows = sqlx::query(&inner.sql.reserve)
        .bind(queues)
        .bind(limit)
        .bind(&p.process)
        .bind(rows::plus(now, p.lease_ttl))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get(0).or_backend(&inner.cx)?;
        let lease: i64 = row.try_get(1).or_backend(&inner.cx)?;
        match rows::job(&row, 2, 3) {
            Ok(job) => out.push(Reserved::new(job, rows::token(id, lease))),
            Err(error) => bury_undecodable(inner, id, lease, now, &error).await?,
        }
    }
    Ok(out)
}

/// Moves a reserved row whose envelope does not decode to the dead set, so it neither
/// blocks the queue nor comes back after every lease expiry.
async fn bury_undecodable(
    inner: &Inner,
    id: i64,
    lease: i64,
    now: DateTime<Utc>,
    error: &sqlx::Error,
) -> Result<(), BackendError> {
    tracing::error!(id, %error, "a stored job does not decode; moved to the dead set");
    let sql = super::sql::Queries::inline(
        inner.schema(),
        "UPDATE __SCHEMA__.jobs SET state = 'dead', run_at = $3,
             position = nextval('__SCHEMA__.position_seq'),
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
         WHERE id = $1 AND lease_token = $2",
    );
    sqlx::query(&sql)
        .bind(id)
        .bind(lease)
        .bind(now)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(())
}

/// The queues to walk, in order, each once.
fn distinct(queues: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(queues.len());
    for q in queues {
        if !out.contains(q) {
            out.push(q.clone());
        }
    }
    out
}
