//! Job metrics: the backend's [`MetricsStore`], reached through `Backend::metrics()`. A
//! backend whose `metrics()` is `None` skips these cases.
//!
//! 1. Samples add up per (job name, hour), across batches and within one batch, histogram
//!    bucket by bucket, so averages and p95 hold for the sum.
//! 2. A query covers the hours from the hour of `from` to `to`, summed per job name and
//!    sorted by name.
//! 3. Job names come back byte for byte, whatever they contain.
//! 4. `clear_all` removes metrics too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::metrics::{hour_of, Counts, MetricsSample, MetricsStore, RecordParams, KEEP};

use crate::support::*;
use crate::{CaseError, CaseResult};
use jobs::backend::MetricsQueryParams;

fn store(b: &Subject) -> Result<&dyn MetricsStore, CaseError> {
    b.metrics().ok_or_else(|| {
        CaseError::Skip(format!(
            "the {} backend keeps no job metrics (Backend::metrics is None)",
            b.name()
        ))
    })
}

/// A sample of `class` in the hour of `at`: one run per `(failed, ms)`.
fn sample(class: &str, at: DateTime<Utc>, runs: &[(bool, u64)]) -> MetricsSample {
    let mut counts = Counts::default();
    for (failed, ms) in runs {
        counts.record(*failed, Duration::from_millis(*ms));
    }
    MetricsSample {
        class: class.to_owned(),
        hour: hour_of(at),
        counts,
    }
}

async fn record(
    store: &dyn MetricsStore,
    now: DateTime<Utc>,
    samples: Vec<MetricsSample>,
) -> CaseResult {
    store
        .metrics_record(RecordParams::new(samples, now).keep(KEEP))
        .await?;
    Ok(())
}

/// Two batches (two workers) and a repeated (class, hour) within one batch add up; the
/// histogram merges so the p95 of the sum is the p95 of all runs.
pub async fn samples_add_up_per_class_and_hour(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let now = at(30 * 60);
    let mut runs = vec![(false, 5u64); 18];
    runs.push((true, 5));
    record(
        s,
        now,
        vec![
            sample("Email", now, &runs),
            sample("Email", now, &[(false, 1000)]),
            sample("Pdf", now, &[(true, 40)]),
        ],
    )
    .await?;
    record(s, now, vec![sample("Email", now, &[(true, 5)])]).await?;
    let rows = s.metrics_query(MetricsQueryParams::new(now, now)).await?;
    let names: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    assert_eq!(names, ["Email", "Pdf"]);
    let email = rows[0].counts;
    assert_eq!((email.processed, email.failed), (21, 2));
    assert_eq!(email.histogram.count(), 21);
    assert_eq!(email.total_us, 20 * 5_000 + 1_000_000);
    let p95 = email.p95().unwrap_or_default();
    assert!(
        p95 <= Duration::from_millis(6),
        "p95 of 20 fast runs and 1 slow: {p95:?}"
    );
    assert_eq!((rows[1].counts.processed, rows[1].counts.failed), (1, 1));
    Ok(())
}

/// A query sums the hours from the hour of `from` up to `to`, and no others.
pub async fn query_covers_the_hours_in_range(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let now = at(10 * 3600 + 59 * 60);
    let hours_ago = |h: i64| now - chrono::Duration::hours(h);
    record(
        s,
        now,
        vec![
            sample("Sync", hours_ago(5), &[(false, 1)]),
            sample("Sync", hours_ago(2), &[(false, 1)]),
            sample("Sync", hours_ago(1), &[(false, 1), (false, 1)]),
            sample("Sync", now, &[(false, 1)]),
        ],
    )
    .await?;
    let count =
        |rows: Vec<jobs::metrics::JobMetrics>| rows.first().map_or(0, |r| r.counts.processed);
    // From two hours ago (its whole hour counts) to now.
    assert_eq!(
        count(
            s.metrics_query(MetricsQueryParams::new(hours_ago(2), now))
                .await?
        ),
        4
    );
    // Up to the end of the hour before the current one.
    assert_eq!(
        count(
            s.metrics_query(MetricsQueryParams::new(
                hours_ago(2),
                hour_of(now) - chrono::Duration::seconds(1)
            ))
            .await?
        ),
        3
    );
    assert_eq!(
        count(
            s.metrics_query(MetricsQueryParams::new(hours_ago(6), now))
                .await?
        ),
        5
    );
    assert!(s
        .metrics_query(MetricsQueryParams::new(hours_ago(9), hours_ago(8)))
        .await?
        .is_empty());
    Ok(())
}

/// Job names with colons, pipes, spaces, markup and non-ASCII come back unchanged.
pub async fn unusual_job_names_round_trip(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let now = at(0);
    let names = [
        "Mailer::Welcome",
        "a|b:c d",
        "<script>alert(1)</script>",
        "\"'><img src=x>",
        "Ünïcödé ✓",
        "p:h3:us:x",
    ];
    let samples = names
        .iter()
        .map(|n| sample(n, now, &[(false, 3)]))
        .collect();
    record(s, now, samples).await?;
    let rows = s.metrics_query(MetricsQueryParams::new(now, now)).await?;
    let mut want: Vec<&str> = names.to_vec();
    want.sort_unstable();
    let got: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| r.counts.processed == 1));
    Ok(())
}

/// `clear_all` removes the metrics with everything else.
pub async fn clear_all_removes_metrics(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let now = at(0);
    record(s, now, vec![sample("Gone", now, &[(false, 3)])]).await?;
    assert_eq!(
        s.metrics_query(MetricsQueryParams::new(now, now))
            .await?
            .len(),
        1
    );
    b.clear_all().await?;
    assert!(s
        .metrics_query(MetricsQueryParams::new(now, now))
        .await?
        .is_empty());
    Ok(())
}
