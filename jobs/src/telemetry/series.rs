//! The worker's handles on its per-job series: each `(queue, job)` pair's counters and
//! histogram are registered with the recorder once, the first time that pair ends a run,
//! and reused for every run after it.
//!
//! Registering a series builds its key (the label strings copied, the key hashed) even when
//! no recorder is installed; done for every run it cost more than the rest of a no-op job's
//! metrics. A handle keeps the recorder that was installed when the pair first ran: install
//! the exporter before starting the worker, as every `metrics` exporter asks.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use ::metrics::{counter, histogram, Counter, Histogram};

use super::{
    outcome_label, COMPLETED, DEAD_TOTAL, EXECUTIONS_TOTAL, EXECUTION_DURATION_SECONDS,
    RETRIES_TOTAL,
};
use crate::backend::{Finish, FinishOutcome};
use crate::fast_map::FastMap;

/// One `(queue, job)` pair's series.
struct Pair {
    /// Registered when the pair's code first ran: a pair only ever expired, snoozed by its
    /// rate limit or requeued has no duration series.
    duration: Option<Histogram>,
    /// `(metric, outcome)` → counter; `outcome` is `""` for the retry and dead counters.
    counters: Vec<(&'static str, &'static str, Counter)>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            duration: None,
            counters: Vec::new(),
        }
    }

    /// The pair's duration histogram, registered the first time it is asked for.
    fn duration(&mut self, queue: &str, job: &str) -> &Histogram {
        self.duration.get_or_insert_with(|| {
            histogram!(EXECUTION_DURATION_SECONDS, "queue" => queue.to_owned(), "job" => job.to_owned())
        })
    }

    /// Records how long the pair's code ran.
    fn ran(&mut self, queue: &str, job: &str, took: Duration) {
        self.duration(queue, job).record(took.as_secs_f64());
    }

    /// The counter `metric{queue, job[, outcome]}`, registered the first time it is asked for.
    fn counter(
        &mut self,
        queue: &str,
        job: &str,
        metric: &'static str,
        outcome: &'static str,
    ) -> &Counter {
        let at = match self
            .counters
            .iter()
            .position(|(m, o, _)| *m == metric && *o == outcome)
        {
            Some(at) => at,
            None => {
                let (queue, job) = (queue.to_owned(), job.to_owned());
                let c = match outcome {
                    "" => counter!(metric, "queue" => queue, "job" => job),
                    _ => counter!(metric, "queue" => queue, "job" => job, "outcome" => outcome),
                };
                self.counters.push((metric, outcome, c));
                self.counters.len() - 1
            }
        };
        &self.counters[at].2
    }
}

/// A pair's series with its queue and job name.
type Named = (String, String, Pair);

/// The series of every `(queue, job)` pair this worker ended a run of.
#[derive(Default)]
pub(crate) struct Series {
    /// By a hash of the pair; the few pairs of one hash side by side. Looked up by `&str`,
    /// so nothing is copied once a pair ran.
    pairs: Mutex<FastMap<u64, Vec<Named>>>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series").finish_non_exhaustive()
    }
}

impl Series {
    fn with<R>(&self, queue: &str, job: &str, f: impl FnOnce(&mut Pair) -> R) -> R {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let same_hash = pairs.entry(self.hasher.hash_one((queue, job))).or_default();
        let at = match same_hash
            .iter()
            .position(|(q, j, _)| q == queue && j == job)
        {
            Some(at) => at,
            None => {
                same_hash.push((queue.to_owned(), job.to_owned(), Pair::new()));
                same_hash.len() - 1
            }
        };
        f(&mut same_hash[at].2)
    }

    /// Counts the end of a job the worker took (`jobs_executions_total`, and the retry or
    /// dead counter when it went there) and, when its code ran, how long it ran
    /// (`jobs_execution_duration_seconds`).
    pub(crate) fn executed(&self, finish: &Finish, ran: Option<Duration>) {
        let (queue, job) = (finish.job.queue.as_str(), finish.job.class.as_str());
        self.with(queue, job, |pair| {
            if let Some(took) = ran {
                pair.ran(queue, job, took);
            }
            match finish.outcome {
                FinishOutcome::Retry { .. } => {
                    pair.counter(queue, job, RETRIES_TOTAL, "").increment(1)
                }
                FinishOutcome::Dead => pair.counter(queue, job, DEAD_TOTAL, "").increment(1),
                _ => {}
            }
            pair.counter(queue, job, EXECUTIONS_TOTAL, outcome_label(finish))
                .increment(1);
        });
    }

    /// The handles a completed run of `(queue, job)` counts on: its duration histogram and
    /// its `success` counter, registered if they were not (kept by a runner, so counting
    /// the pair's next runs takes no lock and no lookup).
    pub(crate) fn completed_handles(&self, queue: &str, job: &str) -> (Histogram, Counter) {
        self.with(queue, job, |pair| {
            let duration = pair.duration(queue, job).clone();
            let done = pair
                .counter(queue, job, EXECUTIONS_TOTAL, COMPLETED)
                .clone();
            (duration, done)
        })
    }

    /// Counts a job that ended without a [`Finish`]: `requeued` or `abandoned`.
    pub(crate) fn ended(&self, queue: &str, job: &str, outcome: &'static str) {
        self.with(queue, job, |pair| {
            pair.counter(queue, job, EXECUTIONS_TOTAL, outcome)
                .increment(1)
        });
    }
}
