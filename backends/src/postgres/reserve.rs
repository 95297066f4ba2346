//! Reserving jobs: up to `limit` rows in one statement, waiting for a push when there are none.
//!
//! 1. [`job_reserve`] walks the queues given, each once, in order: one `UPDATE ... FROM
//!    (SELECT ... FOR UPDATE SKIP LOCKED)` (`reserve.sql`) leases up to `limit` rows; when
//!    none, it waits for a notification or the next poll (`notify.rs`), and leases taken
//!    after a wait run from the time they are taken.
//! 2. A lease token is `<row id>.<lease number>` (`rows.rs`).
//! 3. Each reserved row is decoded on its own: the valid ones are handed out, and every row
//!    whose payload is not a job (`poison.rs`) is moved to the dead set in the same call,
//!    so it never holds the valid jobs of its batch in `running`.
//! 4. A row whose concurrency key is full, or has jobs waiting ahead of it, is moved aside
//!    instead of leased, by a trigger in the same statement (migration 9; `reserve.sql`
//!    itself knows nothing of limits), and comes back without a lease token. When that left
//!    the call with no job at all, [`try_reserve`] runs the statement again, which walks
//!    past the rows just moved: a hot key never holds back the jobs behind it, and a job is
//!    moved aside once per wait. A call that leased some returns them (the worker asks again
//!    for the slots still free), so moves aside add no statement to a busy worker's
//!    reserves. Plain rows always come back with a token, so a queue of plain jobs is one
//!    statement, as before.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, ReserveParams, Reserved};
use sqlx::Row;
use tokio::time::Instant;

use super::error::Sqlx;
use super::poison::{self, Bad};
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

/// One attempt: leases what is there now, going on past jobs moved aside until one is leased.
async fn try_reserve(
    inner: &Inner,
    queues: &[String],
    p: &ReserveParams,
    now: DateTime<Utc>,
) -> Result<Vec<Reserved>, BackendError> {
    let mut out = Vec::new();
    loop {
        let want = p.limit - out.len();
        let moved = reserve_once(inner, queues, p, now, want, &mut out).await?;
        if moved > 0 {
            inner.limits.met();
        }
        if moved == 0 || !out.is_empty() {
            return Ok(out);
        }
    }
}

/// Runs `reserve.sql` once for up to `want` jobs, adding the jobs leased to `out`; returns
/// how many rows were moved aside by their concurrency limits.
async fn reserve_once(
    inner: &Inner,
    queues: &[String],
    p: &ReserveParams,
    now: DateTime<Utc>,
    want: usize,
    out: &mut Vec<Reserved>,
) -> Result<usize, BackendError> {
    let limit = i64::try_from(want).unwrap_or(i64::MAX);
    let rows = sqlx::query(&inner.sql.reserve)
        .bind(queues)
        .bind(limit)
        .bind(&p.process)
        .bind(rows::lease_time(
            p.lease_clock,
            rows::plus(now, p.lease_ttl),
        ))
        .bind(rows::ttl_micros(p.lease_ttl))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    out.reserve(rows.len());
    let mut bad = Vec::new();
    let mut moved = 0;
    for row in rows {
        let id: i64 = row.try_get(0).or_backend(&inner.cx)?;
        // No lease: moved aside by its concurrency limit, handed to nobody.
        let Some(lease) = row.try_get::<Option<i64>, _>(1).or_backend(&inner.cx)? else {
            moved += 1;
            continue;
        };
        let text: String = row.try_get(2).or_backend(&inner.cx)?;
        match poison::decode(&text, row.try_get(3).or_backend(&inner.cx)?) {
            Ok(job) => {
                let rescues: i32 = row.try_get(6).or_backend(&inner.cx)?;
                out.push(
                    Reserved::new(job, rows::token(id, lease))
                        .rescues(u32::try_from(rescues).unwrap_or(0)),
                );
            }
            Err(error) => bad.push(Bad {
                id,
                lease,
                jid: row.try_get(4).or_backend(&inner.cx)?,
                queue: row.try_get(5).or_backend(&inner.cx)?,
                raw: text,
                error,
            }),
        }
    }
    if !bad.is_empty() {
        // The valid jobs are leased already: a failure here must not keep them from their
        // worker. The bad rows then stay leased until their lease expires, and the reserve
        // that takes them again buries them.
        if let Err(e) = poison::bury(inner, &bad, now).await {
            tracing::error!(error = %e, rows = bad.len(), "could not move undecodable jobs to the dead set; they return to their queue when their lease expires");
        }
    }
    Ok(moved)
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
