//! Putting jobs in: one statement for every job of a call, a transaction when some are unique.
//!
//! 1. [`insert`] stores all jobs of a call on the pool's connection or the app's own
//!    (`PostgresBackend::push_in`, and the schedule claim's transaction). A batch of plain
//!    jobs (priority 0, no unique lock) is one `INSERT ... SELECT FROM unnest(...)` that
//!    also records known queues and NOTIFYs (`push.sql`), which never names the
//!    flow-control columns. A batch with priorities or concurrency limits but no unique
//!    job is the same with them ([`FlowRows`]: `push_flow.sql`, or `push_limits.sql` when
//!    a job has a concurrency limit); one with unique jobs goes through `unique.rs`.
//!    Whether a job has a limit is a look-up in its envelope's extra fields: plain jobs
//!    decode nothing.
//! 2. [`job_push`] runs it on a pooled connection, wakes this process's reservers when a
//!    job went to a queue, and after a bulk push makes sure `jobs` has planner statistics
//!    (`stats.rs`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, PushParams, PushReport};
use jobs::envelope::flow::{UniqueLock, UniqueUntil};
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};
use sqlx::PgConnection;

use super::error::Sqlx;
use super::{limits, rows, stats, unique, Inner};

/// What a push did: whether any job went to a queue, and the jobs it did not store as given.
#[derive(Debug, Default)]
pub(super) struct Pushed {
    pub(super) queued: bool,
    pub(super) report: PushReport,
}

/// Stores `p.jobs` on `conn` (the pool's or the app's).
pub(super) async fn insert(
    inner: &Inner,
    conn: &mut PgConnection,
    p: PushParams,
) -> Result<Pushed, BackendError> {
    if p.jobs.iter().any(|j| j.unique().is_some()) {
        return unique::push(inner, conn, p).await;
    }
    if p.jobs
        .iter()
        .any(|j| j.priority() != 0 || limits::has_concurrency(j))
    {
        let mut rows = FlowRows::with_capacity(p.jobs.len());
        for job in p.jobs {
            rows.add(job, p.now)?;
        }
        rows.insert(inner, conn, p.now).await?;
        return Ok(Pushed {
            queued: rows.queued,
            report: PushReport::default(),
        });
    }
    let queued = insert_plain(inner, conn, p).await?;
    Ok(Pushed {
        queued,
        report: PushReport::default(),
    })
}

/// Stores plain jobs with `push.sql`; true when any went to a queue.
async fn insert_plain(
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
        let at = job.at.take().map(from_epoch);
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

/// Jobs with their priorities and unique locks as the column arrays `push_flow.sql` takes.
#[derive(Debug, Default)]
pub(super) struct FlowRows {
    jids: Vec<String>,
    queues: Vec<String>,
    payloads: Vec<String>,
    ats: Vec<Option<DateTime<Utc>>>,
    enqueued: Vec<Option<f64>>,
    priorities: Vec<i16>,
    keys: Vec<Option<String>>,
    untils: Vec<Option<&'static str>>,
    lapses: Vec<Option<DateTime<Utc>>>,
    concurrency_keys: Vec<Option<String>>,
    concurrency_limits: Vec<Option<i32>>,
    /// Whether any job has a concurrency limit (`push_limits.sql` then).
    limited: bool,
    /// Whether any job goes to a queue (not the scheduled set).
    pub(super) queued: bool,
}

impl FlowRows {
    /// Room for `n` jobs.
    pub(super) fn with_capacity(n: usize) -> Self {
        FlowRows {
            jids: Vec::with_capacity(n),
            queues: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            ats: Vec::with_capacity(n),
            enqueued: Vec::with_capacity(n),
            priorities: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            untils: Vec::with_capacity(n),
            lapses: Vec::with_capacity(n),
            concurrency_keys: Vec::with_capacity(n),
            concurrency_limits: Vec::with_capacity(n),
            limited: false,
            queued: false,
        }
    }

    /// How many jobs there are.
    pub(super) fn len(&self) -> usize {
        self.jids.len()
    }

    /// Adds `job`, pushed at `now`, as `push.sql` stores it: a job with `at` is scheduled
    /// (stored without it), any other is stamped `enqueued_at = now`.
    pub(super) fn add(
        &mut self,
        mut job: JobEnvelope,
        now: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        let at = job.at.take().map(from_epoch);
        if at.is_none() {
            job.enqueued_at = Some(to_epoch(now));
            self.queued = true;
        }
        let lock = job.unique();
        let (key, limit) = limits::concurrency_columns(&job);
        self.limited |= key.is_some();
        self.concurrency_keys.push(key);
        self.concurrency_limits.push(limit);
        self.payloads.push(rows::encode(&job)?);
        self.priorities.push(i16::from(job.priority()));
        self.ats.push(at);
        self.enqueued.push(job.enqueued_at);
        self.jids.push(job.jid);
        self.queues.push(job.queue);
        self.untils.push(lock.as_ref().map(|l| until_text(l.until)));
        self.lapses
            .push(lock.as_ref().map(|l| from_epoch(l.expires_at)));
        self.keys.push(lock.map(|l: UniqueLock| l.key));
        Ok(())
    }

    /// Runs `push_flow.sql` (`push_limits.sql` when a job has a concurrency limit) on
    /// `conn`; returns how many jobs were stored (a job whose unique key another row holds
    /// is not).
    pub(super) async fn insert(
        &self,
        inner: &Inner,
        conn: &mut PgConnection,
        now: DateTime<Utc>,
    ) -> Result<usize, BackendError> {
        if self.jids.is_empty() {
            return Ok(0);
        }
        let sql = if self.limited {
            &inner.sql.push_limits
        } else {
            &inner.sql.push_flow
        };
        let mut query = sqlx::query_as(sql)
            .bind(&self.jids)
            .bind(&self.queues)
            .bind(&self.payloads)
            .bind(&self.ats)
            .bind(now)
            .bind(&self.enqueued)
            .bind(&self.priorities)
            .bind(&self.keys)
            .bind(&self.untils)
            .bind(&self.lapses);
        if self.limited {
            inner.limits.met();
            query = query
                .bind(&self.concurrency_keys)
                .bind(&self.concurrency_limits);
        }
        let (stored, _woken): (i64, i64) = query.fetch_one(conn).await.or_backend(&inner.cx)?;
        Ok(usize::try_from(stored).unwrap_or(0))
    }
}

/// How `unique_until` stores a lock's [`UniqueUntil`].
fn until_text(until: UniqueUntil) -> &'static str {
    match until {
        UniqueUntil::Start => "start",
        _ => "success",
    }
}

/// Stores jobs on a pooled connection and wakes this process's reservers for them.
pub(super) async fn job_push(
    inner: &Arc<Inner>,
    p: PushParams,
) -> Result<PushReport, BackendError> {
    let bulk = p.jobs.len() >= 100;
    let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
    let pushed = insert(inner, &mut conn, p).await?;
    if pushed.queued {
        // Reservers in this process need not wait for the notification round trip.
        inner.wake.wake_all();
    }
    drop(conn);
    if bulk {
        // A deep queue without planner statistics reserves by sorting it (`stats.rs`).
        stats::ensure_statistics(inner);
    }
    Ok(pushed.report)
}
