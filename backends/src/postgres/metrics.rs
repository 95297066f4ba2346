//! The Postgres backend's job metrics (table `job_metrics`, migration 4).
//!
//! 1. **Record**: the samples are merged per `(hour, class)` here, then added in one
//!    `INSERT ... SELECT FROM unnest(...) ON CONFLICT (hour, class) DO UPDATE` that sums
//!    the counters and the histogram bucket by bucket (`sql/postgres/metrics_record.sql`);
//!    hours past the keep time are deleted in the same transaction.
//! 2. **Query**: the rows of the hours in range, summed per job name.

use jobs::backend::MetricsQueryParams;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::metrics::{
    hour_of, summarize, Counts, Histogram, JobMetrics, MetricsSample, RecordParams, BUCKETS,
};
use sqlx::Row;

use super::error::Sqlx;
use super::Inner;

const RECORD: &str = include_str!("../../sql/postgres/metrics_record.sql");

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds the samples to their hours and drops hours past the keep time.
pub(super) async fn metrics_record(inner: &Inner, p: RecordParams) -> Result<(), BackendError> {
    let mut merged: BTreeMap<(DateTime<Utc>, String), Counts> = BTreeMap::new();
    for s in p.samples {
        merged
            .entry((hour_of(s.hour), s.class))
            .or_default()
            .merge(&s.counts);
    }
    let (mut hours, mut classes, mut processed, mut failed, mut total, mut hist) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for ((hour, class), c) in merged {
        hours.push(hour);
        classes.push(class);
        processed.push(to_i64(c.processed));
        failed.push(to_i64(c.failed));
        total.push(to_i64(c.total_us));
        hist.extend(c.histogram.counts.iter().map(|n| to_i64(*n)));
    }
    let keep = chrono::Duration::from_std(p.keep).unwrap_or(chrono::Duration::MAX);
    let oldest = hour_of(
        p.now
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::UNIX_EPOCH),
    );
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    if !hours.is_empty() {
        sqlx::query(&inner.q(RECORD))
            .bind(&hours)
            .bind(&classes)
            .bind(&processed)
            .bind(&failed)
            .bind(&total)
            .bind(&hist)
            .bind(BUCKETS as i64)
            .execute(&mut *tx)
            .await
            .or_backend(&inner.cx)?;
    }
    sqlx::query(&inner.q("DELETE FROM __SCHEMA__.job_metrics WHERE hour < $1"))
        .bind(oldest)
        .execute(&mut *tx)
        .await
        .or_backend(&inner.cx)?;
    tx.commit().await.or_backend(&inner.cx)
}

/// The metrics of the hours from `from` to `to`, summed per job name.
pub(super) async fn metrics_query(
    inner: &Inner,
    params: MetricsQueryParams,
) -> Result<Vec<JobMetrics>, BackendError> {
    let (from, to) = (params.from, params.to);
    let sql = inner.q(
        "SELECT class, processed, failed, total_us, histogram FROM __SCHEMA__.job_metrics
         WHERE hour >= $1 AND hour <= $2",
    );
    let rows = sqlx::query(&sql)
        .bind(hour_of(from))
        .bind(to)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let mut samples = Vec::with_capacity(rows.len());
    for row in rows {
        let n = |i: usize| -> Result<u64, BackendError> {
            let v: i64 = row.try_get(i).or_backend(&inner.cx)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        let buckets: Vec<i64> = row.try_get(4).or_backend(&inner.cx)?;
        let mut histogram = Histogram::default();
        for (slot, v) in histogram.counts.iter_mut().zip(buckets) {
            *slot = u64::try_from(v).unwrap_or(0);
        }
        samples.push(MetricsSample {
            class: row.try_get(0).or_backend(&inner.cx)?,
            hour: DateTime::UNIX_EPOCH,
            counts: Counts {
                processed: n(1)?,
                failed: n(2)?,
                total_us: n(3)?,
                histogram,
            },
        });
    }
    Ok(summarize(samples))
}
