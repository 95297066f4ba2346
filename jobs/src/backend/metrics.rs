//! The metrics seam: per job name, how many runs ended, how many failed, and how long they
//! took, kept per UTC hour.
//!
//! 1. [`MetricsStore`] is a separate, object-safe trait a backend may implement, reached
//!    through [`Backend::metrics`](crate::backend::Backend::metrics) (`None` by default, so
//!    the worker records nothing and the dashboard says metrics are off). It lives beside
//!    the other storage traits; `jobs::metrics` re-exports this module for its users.
//! 2. The worker counts each run in memory (`worker/recorder.rs`) and writes aggregated
//!    [`MetricsSample`]s in one [`MetricsStore::metrics_record`] call every few seconds and
//!    at shutdown, never per job.
//! 3. Durations go into a [`Histogram`] with fixed, log-spaced buckets ([`BOUNDS_MS`]), so
//!    the samples of many processes and hours add up bucket by bucket and the p95 of the sum
//!    is still computable.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::BackendError;

/// How many bucket bounds the histogram has; one more bucket takes everything above.
pub const BOUNDS: usize = 32;
/// How many buckets a [`Histogram`] has.
pub const BUCKETS: usize = BOUNDS + 1;

const fn bounds() -> [u64; BOUNDS] {
    let mut b = [0u64; BOUNDS];
    let mut v = 1u64;
    let mut i = 0;
    while i < BOUNDS {
        b[i] = v;
        let next = v * 3 / 2;
        v = if next > v { next } else { v + 1 };
        i += 1;
    }
    b
}

/// The upper bounds, in milliseconds, of the histogram's buckets: 1, 2, 3, 4, 6, 9, 13 ...
/// each about 1.5 times the last, up to about 311 s. Bucket `i` holds runs that took more
/// than `BOUNDS_MS[i - 1]` and at most `BOUNDS_MS[i]`; the last bucket holds longer runs.
///
/// ```
/// assert_eq!(&jobs::metrics::BOUNDS_MS[..7], &[1, 2, 3, 4, 6, 9, 13]);
/// ```
pub const BOUNDS_MS: [u64; BOUNDS] = bounds();

/// Run durations counted in fixed, log-spaced buckets ([`BOUNDS_MS`]).
///
/// ```
/// use std::time::Duration;
/// use jobs::metrics::Histogram;
/// let mut h = Histogram::default();
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.count(), 100);
/// let p95 = h.quantile(0.95).unwrap();
/// assert!(p95 >= Duration::from_millis(90) && p95 <= Duration::from_millis(141));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    /// Runs per bucket.
    pub counts: [u64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
        }
    }
}

impl Histogram {
    /// The bucket a run of `took` falls in.
    pub fn bucket_of(took: Duration) -> usize {
        let us = took.as_micros();
        BOUNDS_MS
            .iter()
            .position(|b| us <= u128::from(*b) * 1000)
            .unwrap_or(BOUNDS)
    }

    /// Counts one run.
    pub fn record(&mut self, took: Duration) {
        self.counts[Self::bucket_of(took)] += 1;
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// How many runs it counts.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The duration below which a fraction `q` of the runs fall, interpolated within its
    /// bucket; `None` when empty. Runs above the last bound count as the last bound.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut seen = 0u64;
        for (i, n) in self.counts.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            if (seen + n) as f64 >= rank {
                let lo = if i == 0 { 0 } else { BOUNDS_MS[i - 1] } as f64;
                let hi = BOUNDS_MS[i.min(BOUNDS - 1)] as f64;
                let within = (rank - seen as f64) / *n as f64;
                return Some(Duration::from_secs_f64((lo + (hi - lo) * within) / 1000.0));
            }
            seen += n;
        }
        Some(Duration::from_millis(BOUNDS_MS[BOUNDS - 1]))
    }
}

/// Counters of some runs: how many ended, how many failed, their total time and histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Runs that ended (every outcome but a snooze).
    pub processed: u64,
    /// Of those, runs that failed.
    pub failed: u64,
    /// Their total duration in microseconds.
    pub total_us: u64,
    /// Their durations.
    pub histogram: Histogram,
}

impl Counts {
    /// Counts one run.
    pub fn record(&mut self, failed: bool, took: Duration) {
        self.processed += 1;
        self.failed += u64::from(failed);
        self.total_us = self
            .total_us
            .saturating_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        self.histogram.record(took);
    }

    /// Adds other counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.processed = self.processed.saturating_add(other.processed);
        self.failed = self.failed.saturating_add(other.failed);
        self.total_us = self.total_us.saturating_add(other.total_us);
        self.histogram.merge(&other.histogram);
    }

    /// The average duration; `None` without runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut c = jobs::metrics::Counts::default();
    /// c.record(false, Duration::from_millis(10));
    /// c.record(true, Duration::from_millis(30));
    /// assert_eq!(c.average(), Some(Duration::from_millis(20)));
    /// assert_eq!((c.processed, c.failed), (2, 1));
    /// ```
    pub fn average(&self) -> Option<Duration> {
        (self.processed > 0).then(|| Duration::from_micros(self.total_us / self.processed))
    }

    /// The 95th percentile duration, from the histogram; `None` without runs.
    pub fn p95(&self) -> Option<Duration> {
        self.histogram.quantile(0.95)
    }
}

/// The counts of one job name in one UTC hour, as the worker writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSample {
    /// The job's wire name.
    pub class: String,
    /// The start of the UTC hour the runs ended in (see [`hour_of`]).
    pub hour: DateTime<Utc>,
    /// The counters, added to what the store holds for `(class, hour)`.
    pub counts: Counts,
}

/// Add samples to the store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordParams {
    /// The samples; several may share a `(class, hour)`.
    pub samples: Vec<MetricsSample>,
    /// The current time.
    pub now: DateTime<Utc>,
    /// How long the store keeps an hour after it ended; older hours may be dropped.
    pub keep: Duration,
}

impl RecordParams {
    /// Add `samples` at `now`, keeping hours for [`KEEP`].
    pub fn new(samples: Vec<MetricsSample>, now: DateTime<Utc>) -> Self {
        RecordParams {
            samples,
            now,
            keep: KEEP,
        }
    }

    /// Keep each hour for `keep` after it ended.
    pub fn keep(mut self, keep: Duration) -> Self {
        self.keep = keep;
        self
    }
}

/// Read the sums per job name over a range of hours.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetricsQueryParams {
    /// The first hour (any time in it).
    pub from: DateTime<Utc>,
    /// The end of the range.
    pub to: DateTime<Utc>,
}

impl MetricsQueryParams {
    /// Every hour from `hour_of(from)` to `to`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        MetricsQueryParams { from, to }
    }
}

/// The counts of one job name over a range of hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMetrics {
    /// The job's wire name.
    pub class: String,
    /// The sum of its samples in the range.
    pub counts: Counts,
}

/// How long stores keep metrics by default: 7 days.
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The start of the UTC hour of `t`.
///
/// ```
/// use jobs::chrono::{TimeZone, Utc};
/// let t = Utc.with_ymd_and_hms(2026, 3, 1, 14, 59, 59).unwrap();
/// assert_eq!(jobs::metrics::hour_of(t), Utc.with_ymd_and_hms(2026, 3, 1, 14, 0, 0).unwrap());
/// ```
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// Sums samples per job name, sorted by name; what [`MetricsStore::metrics_query`] returns.
///
/// ```
/// use jobs::metrics::{summarize, Counts, MetricsSample, hour_of};
/// let now = jobs::chrono::Utc::now();
/// let mut counts = Counts::default();
/// counts.record(false, std::time::Duration::from_millis(5));
/// let s = MetricsSample { class: "Email".into(), hour: hour_of(now), counts };
/// let sum = summarize([s.clone(), s]);
/// assert_eq!(sum[0].counts.processed, 2);
/// ```
pub fn summarize(samples: impl IntoIterator<Item = MetricsSample>) -> Vec<JobMetrics> {
    let mut by_class: std::collections::BTreeMap<String, Counts> = Default::default();
    for s in samples {
        by_class.entry(s.class).or_default().merge(&s.counts);
    }
    by_class
        .into_iter()
        .map(|(class, counts)| JobMetrics { class, counts })
        .collect()
}

/// Where a backend keeps per-job-name metrics, if it does.
///
/// Reached through [`Backend::metrics`](crate::backend::Backend::metrics). The worker calls
/// [`metrics_record`](MetricsStore::metrics_record) with aggregated samples every few
/// seconds; the dashboard calls [`metrics_query`](MetricsStore::metrics_query).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use jobs::backend::Backend;
/// use jobs::metrics::{hour_of, Counts, MetricsQueryParams, MetricsSample, RecordParams};
/// let backend = jobs::memory::MemoryBackend::new();
/// let store = backend.metrics().unwrap();
/// let now = jobs::chrono::Utc::now();
/// let mut counts = Counts::default();
/// counts.record(true, Duration::from_millis(12));
/// let samples = vec![MetricsSample { class: "Email".into(), hour: hour_of(now), counts }];
/// store.metrics_record(RecordParams::new(samples, now)).await.unwrap();
/// let rows = store
///     .metrics_query(MetricsQueryParams::new(now - jobs::chrono::Duration::hours(1), now))
///     .await
///     .unwrap();
/// assert_eq!((rows[0].class.as_str(), rows[0].counts.failed), ("Email", 1));
/// # });
/// ```
#[async_trait]
pub trait MetricsStore: Send + Sync {
    /// Adds each sample's counts to those stored for its `(class, hour)`, all in one round
    /// trip where the store allows; may drop hours older than `keep`.
    async fn metrics_record(&self, params: RecordParams) -> Result<(), BackendError>;

    /// The sums per job name of every hour from `hour_of(from)` to `to`, sorted by name.
    async fn metrics_query(
        &self,
        params: MetricsQueryParams,
    ) -> Result<Vec<JobMetrics>, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log_spaced_and_quantiles_merge() {
        assert!(BOUNDS_MS.windows(2).all(|w| w[1] > w[0]));
        assert!(BOUNDS_MS[BOUNDS - 1] > 300_000);
        assert_eq!(Histogram::bucket_of(Duration::from_micros(500)), 0);
        assert_eq!(Histogram::bucket_of(Duration::from_millis(2)), 1);
        assert_eq!(Histogram::bucket_of(Duration::from_secs(3600)), BOUNDS);
        let mut fast = Histogram::default();
        let mut slow = Histogram::default();
        for _ in 0..95 {
            fast.record(Duration::from_millis(5));
        }
        for _ in 0..5 {
            slow.record(Duration::from_millis(1000));
        }
        fast.merge(&slow);
        let p95 = fast.quantile(0.95).unwrap_or_default();
        assert!(p95 <= Duration::from_millis(6), "{p95:?}");
        let p99 = fast.quantile(0.99).unwrap_or_default();
        assert!(p99 > Duration::from_millis(700), "{p99:?}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
