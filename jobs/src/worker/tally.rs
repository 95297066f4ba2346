//! A runner's own counts of the runs it ended: counting a completed run takes no lock and no
//! lookup shared with the other runners.
//!
//! 1. The Prometheus-style series of a completed run (its duration and its `success`
//!    counter) are counted on handles the runner keeps per `(queue, job)` pair, taken from
//!    the worker's [`Series`] the first time the runner ends a run of that pair. Every
//!    other outcome is counted through the shared series, as before.
//! 2. The dashboard's counts (`Recorder`) add up in the runner and are handed to the
//!    worker's recorder in one lock: every [`HAND_OVER_RUNS`] runs, when a run falls in
//!    another hour or there are too many job names to keep, before the runner waits for
//!    work, and when the tally is dropped. So a worker at rest has handed every count over,
//!    and one flushing its metrics while busy misses at most a few hundred runs per runner,
//!    which its next flush writes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Counter, Histogram};

use super::recorder::{hour_secs, Recorder};
use crate::backend::metrics::Counts;
use crate::telemetry::Series;

/// At most this many runs are counted before they are handed over.
pub(crate) const HAND_OVER_RUNS: u32 = 256;

/// At most this many pairs (and job names) are kept; one more hands the counts over and
/// starts again, so a runner that ran many kinds of jobs does not search a long list.
const MOST_KEPT: usize = 16;

/// A pair's handles: queue, job, duration histogram, `success` counter.
type Handles = (String, String, Histogram, Counter);

/// The counts one runner has not handed over, and the handles it keeps.
pub(crate) struct Tally {
    recorder: Arc<Recorder>,
    handles: Vec<Handles>,
    /// The hour (its first second) the pending counts fall in.
    hour: i64,
    /// Pending counts by job name.
    pending: Vec<(String, Counts)>,
    runs: u32,
}

impl Tally {
    pub(crate) fn new(recorder: Arc<Recorder>) -> Self {
        Tally {
            recorder,
            handles: Vec::new(),
            hour: 0,
            pending: Vec::new(),
            runs: 0,
        }
    }

    /// Counts a completed run of `(queue, job)` that took `took` on the series.
    pub(crate) fn completed(&mut self, series: &Series, queue: &str, job: &str, took: Duration) {
        let at = match self
            .handles
            .iter()
            .position(|(q, j, _, _)| q == queue && j == job)
        {
            Some(at) => at,
            None => {
                if self.handles.len() >= MOST_KEPT {
                    self.handles.clear();
                }
                let (duration, done) = series.completed_handles(queue, job);
                self.handles
                    .push((queue.to_owned(), job.to_owned(), duration, done));
                self.handles.len() - 1
            }
        };
        let (_, _, duration, done) = &self.handles[at];
        duration.record(took.as_secs_f64());
        done.increment(1);
    }

    /// Counts one run of `class` that started at `at` for the dashboard's metrics.
    pub(crate) fn record(&mut self, class: &str, at: DateTime<Utc>, failed: bool, took: Duration) {
        let hour = hour_secs(at);
        if hour != self.hour || self.runs >= HAND_OVER_RUNS {
            self.hand_over();
            self.hour = hour;
        }
        let counts = match self.pending.iter_mut().find(|(c, _)| c == class) {
            Some((_, counts)) => counts,
            None => {
                if self.pending.len() >= MOST_KEPT {
                    self.hand_over();
                }
                self.pending.push((class.to_owned(), Counts::default()));
                let last = self.pending.len() - 1;
                &mut self.pending[last].1
            }
        };
        counts.record(failed, took);
        self.runs += 1;
    }

    /// Hands every pending count to the worker's recorder.
    pub(crate) fn hand_over(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.recorder.add_hour(self.hour, self.pending.drain(..));
        self.runs = 0;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.hand_over();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    /// A tally handing over to a fresh recorder.
    fn tally() -> (Arc<Recorder>, Tally) {
        let recorder = Arc::new(Recorder::default());
        (recorder.clone(), Tally::new(recorder))
    }

    fn counted(recorder: &Recorder) -> Vec<(i64, String, u64, u64)> {
        let mut rows: Vec<_> = recorder
            .pending_for_tests()
            .into_iter()
            .map(|s| {
                (
                    s.hour.timestamp(),
                    s.class,
                    s.counts.processed,
                    s.counts.failed,
                )
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn counts_reach_the_recorder_when_handed_over_and_not_before() {
        let (recorder, mut tally) = tally();
        let ms = Duration::from_millis(1);
        tally.record("A", at(7200), false, ms);
        tally.record("B", at(7201), true, ms);
        tally.record("A", at(7300), true, ms);
        assert!(counted(&recorder).is_empty(), "counted before a hand-over");
        tally.hand_over();
        assert_eq!(
            counted(&recorder),
            vec![(7200, "A".into(), 2, 1), (7200, "B".into(), 1, 1)]
        );
    }

    #[test]
    fn a_run_in_another_hour_hands_the_last_hour_over() {
        let (recorder, mut tally) = tally();
        let ms = Duration::from_millis(1);
        tally.record("A", at(3599), false, ms);
        tally.record("A", at(3600), false, ms);
        assert_eq!(counted(&recorder), vec![(0, "A".into(), 1, 0)]);
        drop(tally);
        assert_eq!(
            counted(&recorder),
            vec![(0, "A".into(), 1, 0), (3600, "A".into(), 1, 0)]
        );
    }

    #[test]
    fn no_more_than_the_hand_over_runs_wait_in_a_runner() {
        let (recorder, mut tally) = tally();
        for _ in 0..=HAND_OVER_RUNS {
            tally.record("A", at(0), false, Duration::from_millis(1));
        }
        assert_eq!(
            counted(&recorder),
            vec![(0, "A".into(), u64::from(HAND_OVER_RUNS), 0)]
        );
    }

    #[test]
    fn many_job_names_are_handed_over_rather_than_searched() {
        let (recorder, mut tally) = tally();
        for i in 0..=MOST_KEPT {
            tally.record(&format!("J{i:02}"), at(0), false, Duration::from_millis(1));
        }
        assert_eq!(counted(&recorder).len(), MOST_KEPT);
        assert_eq!(tally.pending.len(), 1);
    }
}
