//! Prometheus-style metrics, emitted through the [`metrics`](https://docs.rs/metrics)
//! facade: their names, labels and descriptions, and the one place each is emitted from.
//!
//! The worker and the client emit them whatever exporter the app installed (none: they cost
//! a relaxed atomic load each). The `prometheus` feature adds a ready exporter
//! (the `prometheus` module); [`QueueSampler`] sets the gauges that come from the store.
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `jobs_executions_total` | counter | `queue`, `job`, `outcome` | jobs this worker took and ended, by outcome |
//! | `jobs_execution_duration_seconds` | histogram | `queue`, `job` | how long a job's code ran |
//! | `jobs_enqueued_total` | counter | `queue`, `job` | jobs a client stored (duplicates of unique jobs skipped are not) |
//! | `jobs_retries_total` | counter | `queue`, `job` | failed runs sent to the retry set |
//! | `jobs_dead_total` | counter | `queue`, `job` | failed runs sent to the dead set |
//! | `jobs_rescued_total` | counter | none | jobs of silent processes this process's poller gave back |
//! | `jobs_queue_size` | gauge | `queue`, `state` | jobs waiting in a queue (`state="waiting"`), or in a set (`queue=""`, `state` = `scheduled`, `retry`, `dead`) |
//! | `jobs_queue_latency_seconds` | gauge | `queue` | how long the oldest waiting job of a queue has waited |
//! | `jobs_processes` | gauge | none | live worker processes |
//! | `jobs_busy` | gauge | none | jobs running in all live processes |
//!
//! `outcome` is where the worker sent the job: `success` (completed), `retry` (failed, into
//! the retry set), `dead` (failed, into the dead set), `failure` (failed and dropped: retries
//! off and not kept dead, or killed with `dead = false`), `discarded` (the job asked to be
//! discarded), `snoozed` (back to the scheduled set without an attempt: the job snoozed, or
//! its rate limit was full), `expired` (dropped unrun past its expiry), `requeued` (cut short
//! by a shutdown past its timeout and given back unchanged) or `abandoned` (its lease may
//! have lapsed while this process stalled; the store gives it to another worker). A rescue
//! is not an outcome of a run: the process that ran the job is gone, and the rescuer learns
//! only how many jobs it gave back, hence the label-free `jobs_rescued_total`.
//!
//! No label holds a job id or an argument: `job` is the registered job name and `queue` a
//! queue name, both bounded by the code, so every series stays.

mod sampler;
mod series;

#[cfg(feature = "prometheus")]
pub mod prometheus;

#[cfg(feature = "otel")]
pub mod otel;

pub use sampler::{QueueSampler, DEFAULT_SAMPLE_INTERVAL};
pub(crate) use series::Series;

use std::collections::BTreeMap;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, Unit};

use crate::backend::{Finish, FinishOutcome};
use crate::client::Enqueued;
use crate::envelope::JobEnvelope;

/// `jobs_executions_total{queue,job,outcome}`.
pub const EXECUTIONS_TOTAL: &str = "jobs_executions_total";
/// `jobs_execution_duration_seconds{queue,job}`.
pub const EXECUTION_DURATION_SECONDS: &str = "jobs_execution_duration_seconds";
/// `jobs_enqueued_total{queue,job}`.
pub const ENQUEUED_TOTAL: &str = "jobs_enqueued_total";
/// `jobs_retries_total{queue,job}`.
pub const RETRIES_TOTAL: &str = "jobs_retries_total";
/// `jobs_dead_total{queue,job}`.
pub const DEAD_TOTAL: &str = "jobs_dead_total";
/// `jobs_rescued_total`.
pub const RESCUED_TOTAL: &str = "jobs_rescued_total";
/// `jobs_queue_size{queue,state}`.
pub const QUEUE_SIZE: &str = "jobs_queue_size";
/// `jobs_queue_latency_seconds{queue}`.
pub const QUEUE_LATENCY_SECONDS: &str = "jobs_queue_latency_seconds";
/// `jobs_processes`.
pub const PROCESSES: &str = "jobs_processes";
/// `jobs_busy`.
pub const BUSY: &str = "jobs_busy";

/// Describes every metric (help text and unit) to the recorder installed now. Call it once
/// after installing a recorder of your own; `prometheus::install` (feature `prometheus`) and
/// [`Worker::run`](crate::Worker::run) call it for you. Describing twice is harmless.
///
/// ```
/// // With no recorder installed this does nothing.
/// jobs::telemetry::describe();
/// ```
pub fn describe() {
    describe_counter!(
        EXECUTIONS_TOTAL,
        Unit::Count,
        "Jobs this worker took and ended, by queue, job name and outcome."
    );
    describe_histogram!(
        EXECUTION_DURATION_SECONDS,
        Unit::Seconds,
        "How long a job's code ran, by queue and job name."
    );
    describe_counter!(
        ENQUEUED_TOTAL,
        Unit::Count,
        "Jobs a client stored, by queue and job name."
    );
    describe_counter!(
        RETRIES_TOTAL,
        Unit::Count,
        "Failed runs sent to the retry set, by queue and job name."
    );
    describe_counter!(
        DEAD_TOTAL,
        Unit::Count,
        "Failed runs sent to the dead set, by queue and job name."
    );
    describe_counter!(
        RESCUED_TOTAL,
        Unit::Count,
        "Jobs of silent processes this process gave back to their queues."
    );
    describe_gauge!(
        QUEUE_SIZE,
        Unit::Count,
        "Jobs waiting in a queue (state=waiting), or in the scheduled, retry or dead set (queue=\"\")."
    );
    describe_gauge!(
        QUEUE_LATENCY_SECONDS,
        Unit::Seconds,
        "How long the oldest waiting job of a queue has waited."
    );
    describe_gauge!(PROCESSES, Unit::Count, "Live worker processes.");
    describe_gauge!(BUSY, Unit::Count, "Jobs running in all live processes.");
}

/// The `outcome` label of a run that completed.
pub(crate) const COMPLETED: &str = "success";

/// The `outcome` label of a settled job (see the module docs for each value).
pub(crate) fn outcome_label(finish: &Finish) -> &'static str {
    match finish.outcome {
        FinishOutcome::Completed => COMPLETED,
        FinishOutcome::Retry { .. } => "retry",
        FinishOutcome::Dead => "dead",
        FinishOutcome::Discard if finish.failed => "failure",
        FinishOutcome::Discard => "discarded",
        FinishOutcome::Snooze { .. } => "snoozed",
        FinishOutcome::Expired => "expired",
        FinishOutcome::Cancelled => "cancelled",
    }
}

/// The `(queue, job)` labels of `jobs`: one per run of neighbours that share them, with the
/// index of the run's first job. A push is mostly of one job name, so this copies the two
/// names once per push instead of once per job.
pub(crate) fn label_runs(jobs: &[JobEnvelope]) -> Vec<(usize, String, String)> {
    let mut runs: Vec<(usize, String, String)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        match runs.last() {
            Some((_, queue, class)) if *queue == job.queue && *class == job.class => {}
            _ => runs.push((i, job.queue.clone(), job.class.clone())),
        }
    }
    runs
}

/// Counts the stored jobs among `out` (not the duplicates skipped), pushed with the labels
/// of `runs` ([`label_runs`]), in `jobs_enqueued_total`: one increment per queue and job name.
pub(crate) fn enqueued(runs: &[(usize, String, String)], out: &[Enqueued]) {
    for ((queue, job), n) in stored_per_label(runs, out) {
        counter!(ENQUEUED_TOTAL, "queue" => queue.to_owned(), "job" => job.to_owned()).increment(n);
    }
}

/// How many of `out` were stored, per `(queue, job)` of `runs`.
fn stored_per_label<'a>(
    runs: &'a [(usize, String, String)],
    out: &[Enqueued],
) -> BTreeMap<(&'a str, &'a str), u64> {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (r, (start, queue, job)) in runs.iter().enumerate() {
        let end = runs.get(r + 1).map_or(out.len(), |next| next.0);
        let stored = out
            .get(*start..end)
            .map_or(0, |run| run.iter().filter(|e| e.is_stored()).count());
        if stored > 0 {
            *counts.entry((queue, job)).or_default() += stored as u64;
        }
    }
    counts
}

/// Counts jobs of silent processes given back by this process's poller.
pub(crate) fn rescued(n: u64) {
    counter!(RESCUED_TOTAL).increment(n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::LeaseToken;

    fn finish(outcome: FinishOutcome, failed: bool) -> Finish {
        let job = JobEnvelope::new("J", "q", Vec::new());
        Finish::new(LeaseToken("t".into()), job, outcome, failed)
    }

    #[test]
    fn stored_jobs_are_counted_per_queue_and_name_across_runs() {
        let jobs = [
            JobEnvelope::new("A", "q", Vec::new()),
            JobEnvelope::new("A", "q", Vec::new()),
            JobEnvelope::new("B", "q", Vec::new()),
            JobEnvelope::new("A", "q", Vec::new()),
            JobEnvelope::new("A", "r", Vec::new()),
        ];
        let runs = label_runs(&jobs);
        assert_eq!(
            runs.iter().map(|r| r.0).collect::<Vec<_>>(),
            [0, 2, 3, 4],
            "a run per change of queue or name"
        );
        let out = [
            Enqueued::New("1".into()),
            Enqueued::Duplicate("0".into()),
            Enqueued::New("3".into()),
            Enqueued::Replaced {
                jid: "4".into(),
                replaced: "2".into(),
            },
            Enqueued::Duplicate("0".into()),
        ];
        let counts: Vec<_> = stored_per_label(&runs, &out).into_iter().collect();
        assert_eq!(counts, [(("q", "A"), 2), (("q", "B"), 1)]);
        assert!(label_runs(&[]).is_empty());
    }

    #[test]
    fn every_finish_has_its_outcome_label() {
        let at = chrono::Utc::now();
        let cases = [
            (finish(FinishOutcome::Completed, false), "success"),
            (finish(FinishOutcome::Retry { at }, true), "retry"),
            (finish(FinishOutcome::Dead, true), "dead"),
            (finish(FinishOutcome::Discard, true), "failure"),
            (finish(FinishOutcome::Discard, false), "discarded"),
            (finish(FinishOutcome::Snooze { at }, false), "snoozed"),
            (finish(FinishOutcome::Expired, false), "expired"),
        ];
        for (f, label) in cases {
            assert_eq!(outcome_label(&f), label, "{:?}", f.outcome);
        }
    }
}
