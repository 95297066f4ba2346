//! The admin side's reads: queues, job sets, single jobs and counters.
//!
//! 1. Queues are the names in `queues` and `paused_queues`, with size and head latency.
//! 2. Job sets are read as `sets.rs` describes them; the text filter walks the set in
//!    order and matches in Rust, so it means exactly what it means on every backend.
//! 3. Stats sum the counter shards (`expired` is a total only); the history reads
//!    `counters_daily`.

use chrono::NaiveDate;
use futures::TryStreamExt;
use jobs::backend::JobGetParams;
use jobs::backend::QueueListParams;
use jobs::backend::StatsHistoryParams;
use jobs::backend::{BackendError, DayStats, JobListParams, JobPage, QueueInfo, Stats, StoredJob};
use jobs::envelope::to_epoch;
use sqlx::Row;

use super::error::Sqlx;
use super::sets::{matching, stored, SetPlace, STORED};
use super::Inner;

/// Every known or paused queue, by name, with its size, head latency and pause flag.
pub(super) async fn queue_list(
    inner: &Inner,
    params: QueueListParams,
) -> Result<Vec<QueueInfo>, BackendError> {
    let now = params.now;
    let sql = inner.q("WITH names AS (
             SELECT name FROM __SCHEMA__.queues UNION SELECT name FROM __SCHEMA__.paused_queues
         )
         SELECT n.name,
                (SELECT count(*) FROM __SCHEMA__.jobs j
                 WHERE j.queue = n.name AND j.state = 'available') AS size,
                (SELECT j.enqueued_at FROM __SCHEMA__.jobs j
                 WHERE j.queue = n.name AND j.state = 'available'
                 ORDER BY j.priority, j.position LIMIT 1) AS head_enqueued_at,
                EXISTS (SELECT 1 FROM __SCHEMA__.paused_queues p WHERE p.name = n.name)
         FROM names n");
    let rows = sqlx::query(&sql)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let enqueued_at: Option<f64> = row.try_get(2).or_backend(&inner.cx)?;
        let secs = enqueued_at.map_or(0.0, |t| (to_epoch(now) - t).max(0.0));
        out.push(QueueInfo {
            name: row.try_get(0).or_backend(&inner.cx)?,
            size: u64::try_from(row.try_get::<i64, _>(1).or_backend(&inner.cx)?).unwrap_or(0),
            latency: std::time::Duration::from_secs_f64(secs),
            paused: row.try_get(3).or_backend(&inner.cx)?,
        });
    }
    // Byte order, whatever the database's collation.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A page of a set: `total` matching jobs, `limit` of them from `offset`.
pub(super) async fn job_list(inner: &Inner, p: JobListParams) -> Result<JobPage, BackendError> {
    if p.set == jobs::backend::JobSet::Cancelled {
        return super::cancel::list(inner, p).await;
    }
    let place = SetPlace::of(&p.set)?;
    let offset = i64::try_from(p.offset).unwrap_or(i64::MAX);
    let limit = i64::try_from(p.limit).unwrap_or(i64::MAX);
    let pool = &inner.pool;
    if p.filter.text.is_none() {
        let total: i64 = matching(inner, "count(*)", &place, None, &p.filter)
            .build_query_scalar()
            .fetch_one(pool)
            .await
            .or_backend(&inner.cx)?;
        let mut q = matching(inner, STORED, &place, None, &p.filter);
        q.push(format!(" ORDER BY {} OFFSET ", place.order))
            .push_bind(offset)
            .push(" LIMIT ")
            .push_bind(limit);
        let rows = q.build().fetch_all(pool).await.or_backend(&inner.cx)?;
        let jobs = rows
            .iter()
            .map(|row| stored(inner, row, &p.set))
            .collect::<Result<_, _>>()?;
        return Ok(JobPage {
            total: u64::try_from(total).unwrap_or(0),
            jobs,
        });
    }
    // The text filter: walk the set in order, matching in Rust.
    let mut q = matching(inner, STORED, &place, None, &p.filter);
    q.push(format!(" ORDER BY {}", place.order));
    let mut rows = q.build().fetch(pool);
    let mut page = JobPage::default();
    while let Some(row) = rows.try_next().await.or_backend(&inner.cx)? {
        let stored = stored(inner, &row, &p.set)?;
        if !p.filter.matches(&stored.job) {
            continue;
        }
        if page.total >= p.offset && (page.jobs.len() as u64) < p.limit {
            page.jobs.push(stored);
        }
        page.total += 1;
    }
    Ok(page)
}

/// One job of a set by jid.
pub(super) async fn job_get(
    inner: &Inner,
    params: JobGetParams,
) -> Result<Option<StoredJob>, BackendError> {
    if params.set == jobs::backend::JobSet::Cancelled {
        return super::cancel::get(inner, params).await;
    }
    let (set, jid) = (params.set, params.jid.as_str());
    let place = SetPlace::of(&set)?;
    let sql = inner.q(&format!(
        "SELECT {STORED} FROM __SCHEMA__.jobs
         WHERE jid = $1 AND state = '{}' AND ($2::text IS NULL OR queue = $2)",
        place.state
    ));
    let row = sqlx::query(&sql)
        .bind(jid)
        .bind(place.queue)
        .fetch_optional(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    row.map(|row| stored(inner, &row, &set)).transpose()
}

/// The counters and the sizes of the sets.
pub(super) async fn stats(inner: &Inner) -> Result<Stats, BackendError> {
    let sql = inner.q(
        "SELECT
             (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'processed'),
             (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'failed'),
             (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'dead_trimmed'),
             (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'expired'),
             (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'available'),
             (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'scheduled'),
             (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'retryable'),
             (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'dead')",
    );
    let row = sqlx::query(&sql)
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let n = |i: usize| -> Result<u64, BackendError> {
        let v: i64 = row.try_get(i).or_backend(&inner.cx)?;
        Ok(u64::try_from(v).unwrap_or(0))
    };
    Ok(Stats {
        processed: n(0)?,
        failed: n(1)?,
        dead_trimmed: n(2)?,
        expired: n(3)?,
        enqueued: n(4)?,
        scheduled: n(5)?,
        retries: n(6)?,
        dead: n(7)?,
    })
}

/// Processed and failed counts of the `days` days up to `today`, oldest first.
pub(super) async fn stats_history(
    inner: &Inner,
    params: StatsHistoryParams,
) -> Result<Vec<DayStats>, BackendError> {
    let dates = params.dates();
    let Some(first) = dates.first().copied() else {
        return Ok(Vec::new());
    };
    let sql = inner.q(
        "SELECT day, name, sum(value)::bigint FROM __SCHEMA__.counters_daily
         WHERE day BETWEEN $1 AND $2 GROUP BY day, name",
    );
    let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(&sql)
        .bind(first)
        .bind(params.today)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let count = |date: NaiveDate, name: &str| {
        rows.iter()
            .find(|(d, n, _)| *d == date && n == name)
            .map_or(0, |(_, _, v)| u64::try_from(*v).unwrap_or(0))
    };
    Ok(dates
        .into_iter()
        .map(|date| DayStats {
            date,
            processed: count(date, "processed"),
            failed: count(date, "failed"),
        })
        .collect())
}
