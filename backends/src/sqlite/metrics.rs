//! The SQLite backend's job metrics (table `job_metrics`, migration 3).
//!
//! 1. **Record**: samples are merged per `(hour, class)`, then each is added to its stored
//!    row (read, summed with the histogram bucket by bucket, written back) in one write
//!    transaction that also drops hours past the keep time. The worker records every few
//!    seconds, never per job, so the read-modify-write costs nothing that matters.
//! 2. **Query**: the rows of the hours in range, summed per job name.

use jobs::backend::MetricsQueryParams;
use std::collections::BTreeMap;

use chrono::DateTime;
use jobs::backend::BackendError;
use jobs::metrics::{
    hour_of, summarize, Counts, Histogram, JobMetrics, MetricsSample, RecordParams,
};

use super::db::{duration_micros, micros, Db};
use super::error::{self, Sqlx};

/// A stored row: processed, failed, total microseconds, histogram.
type Row = (i64, i64, i64, String);

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Stored counts back as [`Counts`].
fn counts(row: Row) -> Result<Counts, BackendError> {
    let (processed, failed, total_us, histogram) = row;
    let buckets: Vec<u64> =
        serde_json::from_str(&histogram).map_err(|e| error::decode("a metrics histogram", e))?;
    let mut h = Histogram::default();
    for (slot, n) in h.counts.iter_mut().zip(buckets) {
        *slot = n;
    }
    Ok(Counts {
        processed: to_u64(processed),
        failed: to_u64(failed),
        total_us: to_u64(total_us),
        histogram: h,
    })
}

/// Adds the samples to their hours and drops hours past the keep time.
pub(super) async fn metrics_record(db: &Db, p: RecordParams) -> Result<(), BackendError> {
    let mut merged: BTreeMap<(i64, String), Counts> = BTreeMap::new();
    for s in p.samples {
        merged
            .entry((micros(hour_of(s.hour)), s.class))
            .or_default()
            .merge(&s.counts);
    }
    let oldest = micros(hour_of(
        DateTime::from_timestamp_micros(micros(p.now).saturating_sub(duration_micros(p.keep)))
            .unwrap_or(DateTime::UNIX_EPOCH),
    ));
    let mut tx = db.write().await?;
    for ((hour, class), mut sum) in merged {
        let stored: Option<Row> = sqlx::query_as(
            "SELECT processed, failed, total_us, histogram FROM job_metrics
             WHERE hour = ?1 AND class = ?2",
        )
        .bind(hour)
        .bind(&class)
        .fetch_optional(&mut *tx)
        .await
        .or_backend(&db.cx)?;
        if let Some(row) = stored {
            sum.merge(&counts(row)?);
        }
        let histogram = serde_json::to_string(&sum.histogram.counts.to_vec())
            .map_err(|e| error::encode("a metrics histogram", e))?;
        sqlx::query(
            "INSERT OR REPLACE INTO job_metrics
                 (hour, class, processed, failed, total_us, histogram)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(hour)
        .bind(&class)
        .bind(to_i64(sum.processed))
        .bind(to_i64(sum.failed))
        .bind(to_i64(sum.total_us))
        .bind(histogram)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    }
    sqlx::query("DELETE FROM job_metrics WHERE hour < ?1")
        .bind(oldest)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await
}

/// The metrics of the hours from `from` to `to`, summed per job name.
pub(super) async fn metrics_query(
    db: &Db,
    params: MetricsQueryParams,
) -> Result<Vec<JobMetrics>, BackendError> {
    let (from, to) = (params.from, params.to);
    let rows: Vec<(String, i64, i64, i64, String)> = sqlx::query_as(
        "SELECT class, processed, failed, total_us, histogram FROM job_metrics
         WHERE hour >= ?1 AND hour <= ?2",
    )
    .bind(micros(hour_of(from)))
    .bind(micros(to))
    .fetch_all(&db.readers)
    .await
    .or_backend(&db.cx)?;
    let mut samples = Vec::with_capacity(rows.len());
    for (class, processed, failed, total_us, histogram) in rows {
        samples.push(MetricsSample {
            class,
            hour: DateTime::UNIX_EPOCH,
            counts: counts((processed, failed, total_us, histogram))?,
        });
    }
    Ok(summarize(samples))
}
