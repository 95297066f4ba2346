//! The admin side's reads: queues, job sets, single jobs and counters.
//!
//! 1. Queues: known queues (made known by a trigger when a job becomes available in them)
//!    and paused ones, with size (every priority) and the latency of the head (the next
//!    job to run) read from the `jobs_available` index.
//! 2. Job sets are listed and fetched as `sets.rs` describes them: a queue in run order,
//!    scheduled and retry soonest first, dead most recent first; the text filter is
//!    matched on decoded jobs after an `instr` pre-filter. A row whose payload is not a job
//!    reads as the dead job that keeps its bytes (`poison.rs`), so no listing fails on it.
//! 3. Counters are kept per day: a total is the sum of its days (`expired` has one row,
//!    its total); set sizes are counts over each state's partial index.

use jobs::backend::JobGetParams;
use jobs::backend::QueueListParams;
use jobs::backend::StatsHistoryParams;
use std::time::Duration;

use jobs::backend::{BackendError, DayStats, JobListParams, JobPage, QueueInfo, Stats, StoredJob};

use super::db::{from_micros, micros, Db};
use super::error::Sqlx;
use super::moves;
use super::poison;
use super::sets::{bind_filter, candidates, set_sql};

/// Every known or paused queue by name: its size, the enqueue time of its head (the next
/// job to run), whether it is paused.
pub(super) const QUEUES: &str =
    "WITH names (name) AS (SELECT name FROM known_queues UNION SELECT name FROM paused_queues)
    SELECT n.name,
           (SELECT count(*) FROM jobs WHERE queue = n.name AND state = 'available'),
           (SELECT run_at FROM jobs WHERE queue = n.name AND state = 'available'
            ORDER BY priority, pos LIMIT 1),
           EXISTS (SELECT 1 FROM paused_queues p WHERE p.name = n.name)
    FROM names n ORDER BY n.name";

/// Every known or paused queue, by name, with its size, head latency and pause flag.
pub(super) async fn queue_list(
    db: &Db,
    params: QueueListParams,
) -> Result<Vec<QueueInfo>, BackendError> {
    let now = params.now;
    let rows: Vec<(String, i64, Option<i64>, bool)> = sqlx::query_as(QUEUES)
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
    let now = micros(now);
    Ok(rows
        .into_iter()
        .map(|(name, size, head, paused)| QueueInfo {
            name,
            size: u64::try_from(size).unwrap_or(0),
            latency: head.map_or(Duration::ZERO, |t| {
                Duration::from_micros(u64::try_from(now.saturating_sub(t)).unwrap_or(0))
            }),
            paused,
        })
        .collect())
}

/// A page of a set.
pub(super) async fn job_list(db: &Db, p: JobListParams) -> Result<JobPage, BackendError> {
    if p.set == jobs::backend::JobSet::Cancelled {
        return super::cancel::list(db, p).await;
    }
    let s = set_sql(&p.set)?;
    let at = |run_at: i64| (s.queue.is_none()).then(|| from_micros(run_at));
    let limit = usize::try_from(p.limit).unwrap_or(usize::MAX);
    let mut tx = db.read().await?;
    if p.filter.text.is_none() {
        let sql = candidates(&s, &p.filter, "count(*)", "");
        let total: i64 = bind_filter!(sqlx::query_scalar(&sql), s, p.filter)
            .fetch_one(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        let sql = candidates(&s, &p.filter, LISTED, s.listing) + " LIMIT ? OFFSET ?";
        let rows: Vec<Listed> = bind_filter!(sqlx::query_as(&sql), s, p.filter)
            .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        let jobs = rows
            .into_iter()
            .map(|row| StoredJob {
                job: job_of(&row, s.state),
                set: p.set.clone(),
                at: at(row.0),
            })
            .collect();
        return Ok(JobPage {
            total: u64::try_from(total).unwrap_or(0),
            jobs,
        });
    }
    let sql = candidates(&s, &p.filter, LISTED, s.listing);
    let rows: Vec<Listed> = bind_filter!(sqlx::query_as(&sql), s, p.filter)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let mut total = 0u64;
    let mut jobs = Vec::new();
    for row in rows {
        let job = job_of(&row, s.state);
        if !p.filter.matches(&job) {
            continue;
        }
        let index = total;
        total += 1;
        if index >= p.offset && jobs.len() < limit {
            jobs.push(StoredJob {
                job,
                set: p.set.clone(),
                at: at(row.0),
            });
        }
    }
    Ok(JobPage { total, jobs })
}

/// One job of a set by jid.
pub(super) async fn job_get(
    db: &Db,
    params: JobGetParams,
) -> Result<Option<StoredJob>, BackendError> {
    if params.set == jobs::backend::JobSet::Cancelled {
        return super::cancel::get(db, params).await;
    }
    let (set, jid) = (params.set, params.jid.as_str());
    let s = set_sql(&set)?;
    let mut sql = format!(
        "SELECT {LISTED} FROM jobs WHERE jid = ? AND state = '{}'",
        s.state
    );
    if s.queue.is_some() {
        sql.push_str(" AND queue = ?");
    }
    let mut query = sqlx::query_as::<_, Listed>(&sql).bind(jid);
    if let Some(queue) = s.queue {
        query = query.bind(queue);
    }
    let row = query.fetch_optional(&db.readers).await.or_backend(&db.cx)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let at = s.queue.is_none().then(|| from_micros(row.0));
    Ok(Some(StoredJob {
        job: job_of(&row, s.state),
        set,
        at,
    }))
}

/// The columns a listing reads, as [`Listed`] holds them.
pub(super) const LISTED: &str = "run_at, payload, jid, queue";

/// A listed row: its time, and its payload, jid and queue as bytes (a row written by
/// something else may hold text that is not UTF-8; it is shown, not refused).
pub(super) type Listed = (i64, Vec<u8>, Vec<u8>, Vec<u8>);

/// The job a listed row of `state` holds (see `poison.rs`).
pub(super) fn job_of(row: &Listed, state: &str) -> jobs::envelope::JobEnvelope {
    let (run_at, payload, jid, queue) = row;
    poison::read(
        payload,
        &String::from_utf8_lossy(jid),
        &String::from_utf8_lossy(queue),
        state,
        *run_at,
    )
}

/// The counters and the sizes of the sets.
pub(super) async fn stats(db: &Db) -> Result<Stats, BackendError> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
             (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'expired'),
             (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'processed'),
             (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'failed'),
             (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'dead_trimmed'),
             (SELECT count(*) FROM jobs WHERE state = 'available'),
             (SELECT count(*) FROM jobs WHERE state = 'scheduled'),
             (SELECT count(*) FROM jobs WHERE state = 'retryable'),
             (SELECT count(*) FROM jobs WHERE state = 'dead')",
    )
    .fetch_one(&db.readers)
    .await
    .or_backend(&db.cx)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Stats {
        expired: n(row.0),
        processed: n(row.1),
        failed: n(row.2),
        dead_trimmed: n(row.3),
        enqueued: n(row.4),
        scheduled: n(row.5),
        retries: n(row.6),
        dead: n(row.7),
    })
}

/// Processed and failed counts of the `days` days up to `today`, oldest first.
pub(super) async fn stats_history(
    db: &Db,
    params: StatsHistoryParams,
) -> Result<Vec<DayStats>, BackendError> {
    let dates = params.dates();
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, period, value FROM counters
         WHERE name IN ('processed', 'failed') AND period >= ?1 AND period <= ?2",
    )
    .bind(moves::period(*first))
    .bind(moves::period(*last))
    .fetch_all(&db.readers)
    .await
    .or_backend(&db.cx)?;
    let mut counts = std::collections::HashMap::new();
    for (name, day, value) in rows {
        counts.insert((name, day), u64::try_from(value).unwrap_or(0));
    }
    let get = |name: &str, day: &str| {
        counts
            .get(&(name.to_owned(), day.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    Ok(dates
        .iter()
        .map(|date| {
            let day = moves::period(*date);
            DayStats {
                date: *date,
                processed: get("processed", &day),
                failed: get("failed", &day),
            }
        })
        .collect())
}
