//! The worker's side of metrics: count runs in memory, write them in batches.
//!
//! 1. Runners count their runs in their own [`Tally`](super::tally::Tally) and hand them
//!    over in batches (`add_hour`, one short lock); nothing reaches the backend on the job's
//!    path, and a class name is copied only the first time it is counted in an hour.
//! 2. `flush` takes every pending count and writes it in one
//!    [`MetricsStore::metrics_record`](crate::backend::MetricsStore::metrics_record) call; when that
//!    fails the counts go back to be written with the next flush.
//! 3. `flush_loop` flushes every interval until the worker stops; the worker flushes once
//!    more after its last job.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::backend::metrics::{Counts, MetricsSample, KEEP};
use crate::backend::{Backend, RecordParams};
use crate::clock::Clock;
use crate::fast_map::FastMap;

/// Pending counts per hour (its first second, counted from 1970), then per class (looked
/// up by `&str`, so counting a run allocates nothing once its class was counted in that
/// hour), not yet written. The hour stays a number until the counts are written: turning
/// it into a date on every run was most of the cost of counting it.
type Pending = FastMap<i64, FastMap<String, Counts>>;

/// The first second of the hour of `at` (what [`hour_of`](crate::metrics::hour_of) gives, as a
/// number).
pub(crate) fn hour_secs(at: DateTime<Utc>) -> i64 {
    let secs = at.timestamp();
    secs - secs.rem_euclid(3600)
}

/// The hour that starts at second `secs`.
fn hour_at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Pending counts per (class, hour), not yet written.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pending: Mutex<Pending>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the counts of `classes`, all of the hour starting at second `hour`, under one
    /// lock (a runner's [`Tally`](super::tally::Tally) handing its counts over).
    pub(crate) fn add_hour(&self, hour: i64, classes: impl Iterator<Item = (String, Counts)>) {
        let mut pending = self.lock();
        let pending = pending.entry(hour).or_default();
        for (class, counts) in classes {
            match pending.get_mut(&class) {
                Some(c) => c.merge(&counts),
                None => {
                    pending.insert(class, counts);
                }
            }
        }
    }

    /// The pending counts, left pending.
    #[cfg(test)]
    pub(crate) fn pending_for_tests(&self) -> Vec<MetricsSample> {
        let pending = self.lock();
        let mut samples = Vec::new();
        for (hour, classes) in pending.iter() {
            for (class, counts) in classes {
                samples.push(MetricsSample {
                    class: class.clone(),
                    hour: hour_at(*hour),
                    counts: *counts,
                });
            }
        }
        samples
    }

    fn take(&self) -> Vec<MetricsSample> {
        let mut samples: Vec<MetricsSample> = std::mem::take(&mut *self.lock())
            .into_iter()
            .flat_map(|(hour, classes)| {
                classes
                    .into_iter()
                    .map(move |(class, counts)| MetricsSample {
                        class,
                        hour: hour_at(hour),
                        counts,
                    })
            })
            .collect();
        // One order whatever the maps': by hour, then class.
        samples.sort_by(|a, b| (a.hour, &a.class).cmp(&(b.hour, &b.class)));
        samples
    }

    fn restore(&self, samples: Vec<MetricsSample>) {
        let mut pending = self.lock();
        for s in samples {
            pending
                .entry(hour_secs(s.hour))
                .or_default()
                .entry(s.class)
                .or_default()
                .merge(&s.counts);
        }
    }

    /// Writes every pending count to the backend's store, if it has one.
    pub(crate) async fn flush(&self, backend: &dyn Backend, clock: &dyn Clock) {
        let Some(store) = backend.metrics() else {
            return;
        };
        let samples = self.take();
        if samples.is_empty() {
            return;
        }
        let now = clock.now();
        // Hours older than the keep time would be dropped on arrival: do not hold them.
        let keep_from = now - chrono::Duration::from_std(KEEP).unwrap_or(chrono::Duration::MAX);
        let params = RecordParams::new(samples.clone(), now).keep(KEEP);
        if let Err(e) = store.metrics_record(params).await {
            tracing::warn!(error = %e, "could not write job metrics; keeping them for the next flush");
            self.restore(
                samples
                    .into_iter()
                    .filter(|s| s.hour >= keep_from)
                    .collect(),
            );
        }
    }
}

/// Flushes `recorder` every `every` until `done`.
pub(crate) async fn flush_loop(
    recorder: Arc<Recorder>,
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    every: Duration,
    done: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        recorder.flush(backend.as_ref(), clock.as_ref()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::metrics::hour_of;
    use crate::clock::SystemClock;
    use crate::worker::tally::Tally;

    /// Counts one run through a runner's tally, handed over at once.
    fn count(r: &Arc<Recorder>, class: &str, at: DateTime<Utc>, failed: bool, took: Duration) {
        Tally::new(r.clone()).record(class, at, failed, took);
    }

    #[tokio::test]
    async fn flush_writes_the_pending_counts_once() {
        let backend = crate::memory::MemoryBackend::new();
        let r = Arc::new(Recorder::default());
        let now = Utc::now();
        count(&r, "A", now, false, Duration::from_millis(3));
        count(&r, "A", now, true, Duration::from_millis(5));
        count(&r, "B", now, false, Duration::from_millis(1));
        r.flush(&backend, &SystemClock).await;
        r.flush(&backend, &SystemClock).await;
        let rows = match backend.metrics() {
            Some(s) => s
                .metrics_query(crate::backend::MetricsQueryParams::new(now, now))
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        };
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].counts.processed, rows[0].counts.failed), (2, 1));
        assert_eq!(rows[1].class, "B");
    }

    #[test]
    fn a_run_is_counted_in_the_hour_hour_of_gives() {
        let r = Arc::new(Recorder::default());
        let instants = [
            "2026-12-07T10:59:59.999999999Z",
            "2026-12-07T11:00:00Z",
            "1970-01-01T00:30:00Z",
            "1969-12-31T23:59:59.5Z",
        ];
        for at in instants {
            let at: DateTime<Utc> = at.parse().unwrap_or_else(|e| panic!("{at}: {e}"));
            count(&r, "A", at, false, Duration::ZERO);
            let hours: Vec<_> = r.take().into_iter().map(|s| s.hour).collect();
            assert_eq!(hours, [hour_of(at)], "{at}");
        }
    }
}
