//! The in-memory backend's progress reports and results.
//!
//! 1. Progress is kept per jid with the lease token that wrote it; a write is refused unless
//!    that token is the job's current lease, and a report is shown only while its lease runs,
//!    so a rescued run's progress never shows as running. Reports of ended leases are
//!    dropped when the job settles or is rescued.
//! 2. A result is stored by `job_finish` under the same lock as the settle, and only when
//!    the settle applies; it is not returned past its expiry and is removed by the next
//!    rescue pass (the backends' cleanup pass) after it.

use chrono::{DateTime, Utc};

use super::state::State;
use crate::backend::{
    result_expiry, JobSet, JobStatus, Progress, ProgressParams, ResultWrite, StoredResult,
};
use crate::envelope::from_epoch;

/// Progress and results, inside the backend's one lock.
#[derive(Debug, Default)]
pub(super) struct Reports {
    /// jid → (lease token, last report).
    progress: std::collections::HashMap<String, (std::sync::Arc<str>, Progress)>,
    /// jid → result.
    results: std::collections::HashMap<String, StoredResult>,
}

impl State {
    /// Stores a report if `p.token` is the job's lease.
    pub(super) fn progress_write(&mut self, p: ProgressParams) -> bool {
        match self.leased.get(p.token.as_str()) {
            Some(l) if l.job.jid == p.jid => {
                self.reports.progress.insert(p.jid, (p.token.0, p.progress));
                true
            }
            _ => false,
        }
    }

    /// Drops the report of a lease that ended.
    pub(super) fn progress_end(&mut self, jid: &str) {
        if !self.reports.progress.is_empty() {
            self.reports.progress.remove(jid);
        }
    }

    /// Stores the result of a settle that applied.
    pub(super) fn result_store(
        &mut self,
        job: &crate::envelope::JobEnvelope,
        result: ResultWrite,
        now: DateTime<Utc>,
    ) {
        let stored = StoredResult::new(result.json, now, result_expiry(now, result.ttl))
            .with_class(&job.class);
        self.reports.results.insert(job.jid.clone(), stored);
    }

    /// The result of `jid`, unless it expired.
    pub(super) fn result_get(&self, jid: &str, now: DateTime<Utc>) -> Option<StoredResult> {
        self.reports
            .results
            .get(jid)
            .filter(|r| r.expires_at > now)
            .cloned()
    }

    /// Removes results past their expiry; returns how many.
    pub(super) fn results_purge(&mut self, now: DateTime<Utc>) -> usize {
        let before = self.reports.results.len();
        self.reports.results.retain(|_, r| r.expires_at > now);
        before - self.reports.results.len()
    }

    /// Where `jid` is.
    pub(super) fn status(&self, jid: &str, now: DateTime<Utc>) -> JobStatus {
        if let Some((token, _)) = self.leased.iter().find(|(_, l)| l.job.jid == jid) {
            let progress = self
                .reports
                .progress
                .get(jid)
                .filter(|(t, _)| t == token)
                .map(|(_, p)| p.clone());
            return JobStatus::Running { progress };
        }
        for (name, queue) in &self.queues {
            if let Some(job) = queue.iter().find(|j| j.jid == jid) {
                let at = job.enqueued_at.map(from_epoch).unwrap_or(now);
                return JobStatus::in_set(&JobSet::Queue(name.clone()), at, job);
            }
        }
        for (set, ts) in [
            (JobSet::Scheduled, &self.scheduled),
            (JobSet::Retry, &self.retry),
            (JobSet::Dead, &self.dead),
        ] {
            if let Some((at, job)) = ts.iter().find(|(_, j)| j.jid == jid) {
                return JobStatus::in_set(&set, at, job);
            }
        }
        match self.result_get(jid, now) {
            Some(r) => JobStatus::Succeeded {
                finished_at: Some(r.finished_at),
            },
            None => JobStatus::Unknown,
        }
    }
}
