//! The in-memory backend's data: queues, sorted sets, leases, processes and counters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::fast_map::{FastMap, FastSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::backend::{DeadLimits, JobSet, ProcessId, ProcessRecord, ProcessSignal, Selection};
use crate::envelope::{to_epoch, JobEnvelope};

/// A set ordered by time, like a Redis sorted set scored by epoch seconds.
#[derive(Debug, Default)]
pub(super) struct TimeSet {
    entries: BTreeMap<(i64, u64), JobEnvelope>,
    seq: u64,
}

impl TimeSet {
    pub(super) fn insert(&mut self, at: DateTime<Utc>, job: JobEnvelope) {
        self.seq += 1;
        self.entries.insert((at.timestamp_micros(), self.seq), job);
    }

    pub(super) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Removes and returns the entries due at or before `now`, soonest first, at most `limit`.
    pub(super) fn pop_due(&mut self, now: DateTime<Utc>, limit: usize) -> Vec<JobEnvelope> {
        let bound = now.timestamp_micros();
        let keys: Vec<_> = self
            .entries
            .keys()
            .take_while(|(at, _)| *at <= bound)
            .take(limit)
            .copied()
            .collect();
        keys.into_iter()
            .filter_map(|k| self.entries.remove(&k))
            .collect()
    }

    /// Entries soonest first, with their times.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = (DateTime<Utc>, &JobEnvelope)> {
        self.entries.iter().map(|((at, _), job)| {
            (
                DateTime::from_timestamp_micros(*at).unwrap_or_default(),
                job,
            )
        })
    }

    /// Removes the entries `select` picks; returns them with their times.
    pub(super) fn take_where(
        &mut self,
        select: impl Fn(&JobEnvelope) -> bool,
    ) -> Vec<(DateTime<Utc>, JobEnvelope)> {
        let keys: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, job)| select(job))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                self.entries.remove(&k).map(|job| {
                    (
                        DateTime::from_timestamp_micros(k.0).unwrap_or_default(),
                        job,
                    )
                })
            })
            .collect()
    }

    /// Drops entries older than the age limit, then the oldest beyond the count limit.
    pub(super) fn trim(&mut self, now: DateTime<Utc>, limits: DeadLimits) -> u64 {
        let max_age = chrono::Duration::from_std(limits.max_age).unwrap_or(chrono::Duration::MAX);
        let cutoff = now
            .checked_sub_signed(max_age)
            .map_or(i64::MIN, |t| t.timestamp_micros());
        let mut trimmed = 0;
        while let Some((&key, _)) = self.entries.first_key_value() {
            if key.0 < cutoff || self.len() > limits.max_jobs {
                self.entries.remove(&key);
                trimmed += 1;
            } else {
                break;
            }
        }
        trimmed
    }
}

/// A job out on lease.
#[derive(Debug)]
pub(super) struct Leased {
    /// Issue order, so jobs rescued together go back in the order they were reserved.
    pub(super) seq: u64,
    /// The envelope the worker was handed, shared with it (not a copy).
    pub(super) job: Arc<JobEnvelope>,
    /// Shared by every lease of one reserve.
    pub(super) process: Arc<ProcessId>,
    pub(super) expires_at: DateTime<Utc>,
}

/// A process's record and what is waiting for it.
#[derive(Debug)]
pub(super) struct Proc {
    pub(super) record: ProcessRecord,
    /// When its record lapses without another beat, in the lease clock's time.
    pub(super) expires_at: DateTime<Utc>,
    pub(super) signals: Vec<ProcessSignal>,
}

/// Everything the in-memory backend holds, behind one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) queues: BTreeMap<String, VecDeque<Arc<JobEnvelope>>>,
    pub(super) paused: FastSet<String>,
    pub(super) scheduled: TimeSet,
    pub(super) retry: TimeSet,
    pub(super) dead: TimeSet,
    pub(super) leased: FastMap<Arc<str>, Leased>,
    pub(super) next_lease: u64,
    /// How many times each job (by jid) was rescued from a dead process since it last ended.
    pub(super) rescues: HashMap<String, u32>,
    pub(super) processes: HashMap<ProcessId, Proc>,
    pub(super) processed: u64,
    pub(super) failed: u64,
    pub(super) dead_trimmed: u64,
    /// Jobs dropped unstarted past their expiry.
    pub(super) expired: u64,
    /// Unique locks by key (see `flow.rs`).
    pub(super) locks: super::flow::Locks,
    /// The priority aged jobs run with now, by jid (see `flow.rs`); empty unless aging runs.
    pub(super) bands: HashMap<String, u8>,
    /// Concurrency slots and rate logs (see `limits.rs`).
    pub(super) limits: super::limits::Limits,
    /// Jids of the jobs given back to the head of their queue (requeued or rescued): they
    /// stay ahead of every priority until taken, as on the other backends.
    pub(super) heads: FastSet<String>,
    pub(super) days: BTreeMap<NaiveDate, (u64, u64)>,
    /// Recurring-job records by name (see `schedule.rs`).
    pub(super) schedules: BTreeMap<String, crate::schedule::ScheduleRecord>,
    /// Claimed ticks: (schedule, tick in µs) and when the claim may be pruned.
    pub(super) claims: HashMap<(String, i64), DateTime<Utc>>,
    /// Job metrics per (hour, class) (see `metrics.rs`).
    pub(super) metrics: BTreeMap<(DateTime<Utc>, String), crate::metrics::Counts>,
    /// Jobs cancelled, by the time they were (see `cancel.rs`).
    pub(super) cancelled: TimeSet,
    /// Cancel requests for running jobs: jid -> when requested (see `cancel.rs`).
    pub(super) cancels: HashMap<String, DateTime<Utc>>,
    /// Progress reports and results (see `results.rs`).
    pub(super) reports: super::results::Reports,
    /// Batches and their members (see `batch.rs`).
    pub(super) batches: super::batch::Batches,
}

impl State {
    /// Puts a job at the tail of its queue, stamping `enqueued_at`.
    pub(super) fn enqueue(&mut self, mut job: JobEnvelope, now: DateTime<Utc>) {
        job.at = None;
        job.enqueued_at = Some(to_epoch(now));
        self.insert_by_priority(Arc::new(job));
    }

    /// Puts a job back at the head of its queue unchanged.
    pub(super) fn requeue_front(&mut self, job: Arc<JobEnvelope>) {
        self.heads.insert(job.jid.clone());
        self.queues
            .entry(job.queue.clone())
            .or_default()
            .push_front(job);
    }

    pub(super) fn count(&mut self, now: DateTime<Utc>, processed: u64, failed: u64) {
        if processed == 0 && failed == 0 {
            return;
        }
        let day = self.days.entry(now.date_naive()).or_default();
        self.processed += processed;
        day.0 += processed;
        self.failed += failed;
        day.1 += failed;
    }

    pub(super) fn kill(
        &mut self,
        mut job: JobEnvelope,
        now: DateTime<Utc>,
        limits: DeadLimits,
    ) -> u64 {
        job.at = None;
        self.release(&job);
        self.dead.insert(now, job);
        let trimmed = self.dead.trim(now, limits);
        self.dead_trimmed += trimmed;
        trimmed
    }

    pub(super) fn time_set(&mut self, set: &JobSet) -> Option<&mut TimeSet> {
        match set {
            JobSet::Scheduled => Some(&mut self.scheduled),
            JobSet::Retry => Some(&mut self.retry),
            JobSet::Dead => Some(&mut self.dead),
            JobSet::Cancelled => Some(&mut self.cancelled),
            _ => None,
        }
    }

    /// Removes the jobs a selection picks from a set; returns them.
    pub(super) fn take(&mut self, set: &JobSet, selection: &Selection) -> Vec<JobEnvelope> {
        if let JobSet::Queue(name) = set {
            let Some(queue) = self.queues.get_mut(name) else {
                return Vec::new();
            };
            let (taken, kept): (Vec<_>, Vec<_>) =
                queue.drain(..).partition(|j| selects(selection, j));
            *queue = kept.into();
            for job in &taken {
                self.left_queue(job);
            }
            return taken.into_iter().map(Arc::unwrap_or_clone).collect();
        }
        match self.time_set(set) {
            Some(ts) => ts
                .take_where(|j| selects(selection, j))
                .into_iter()
                .map(|(_, j)| j)
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Whether a selection picks `job`.
pub(super) fn selects(selection: &Selection, job: &JobEnvelope) -> bool {
    match selection {
        Selection::Jids(jids) => jids.iter().any(|j| j == &job.jid),
        Selection::Matching(filter) => filter.matches(job),
    }
}
