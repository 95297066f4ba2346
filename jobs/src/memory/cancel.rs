//! The in-memory backend's cancellation: the cancelled set, cancel requests for running
//! jobs, and the in-process announcement of each request.
//!
//! 1. [`State::cancel_one`] answers one jid under the backend's lock: a waiting job (queue,
//!    scheduled, retry, or moved aside for a concurrency slot) goes to the cancelled set with
//!    its unique lock released; a leased one gets a request (kept [`CANCEL_REQUEST_TTL`]).
//! 2. [`Announce`] is a broadcast channel: every request is sent to each
//!    [`Backend::cancel_listen`](crate::backend::Backend::cancel_listen) feed of this backend.

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::state::State;
use crate::backend::{CancelFeed, Cancellation, DeadLimits, JobSet, CANCEL_REQUEST_TTL};
use crate::envelope::JobEnvelope;

/// Sends the jids of running jobs whose cancel was requested to every feed.
#[derive(Debug)]
pub(super) struct Announce {
    tx: broadcast::Sender<String>,
}

impl Default for Announce {
    fn default() -> Self {
        Announce {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Announce {
    /// Tells every feed that `jid`'s cancel was requested (none listening is fine).
    pub(super) fn send(&self, jid: &str) {
        let _ = self.tx.send(jid.to_owned());
    }

    /// A feed of the requests announced from now on.
    pub(super) fn feed(&self) -> CancelFeed {
        crate::backend::broadcast_feed(self.tx.subscribe())
    }
}

impl State {
    /// Cancels one job; whether a request for a running job was stored.
    pub(super) fn cancel_one(
        &mut self,
        jid: &str,
        now: DateTime<Utc>,
        limits: DeadLimits,
    ) -> Cancellation {
        if let Some(job) = self.take_waiting(jid, now) {
            self.cancel_into_set(job, now, limits);
            return Cancellation::Cancelled;
        }
        if self.leased.values().any(|l| l.job.jid == jid) {
            self.prune_cancels(now);
            self.cancels.insert(jid.to_owned(), now);
            return Cancellation::Requested;
        }
        let ended = |set: &super::state::TimeSet| set.iter().any(|(_, j)| j.jid == jid);
        if ended(&self.dead) || ended(&self.cancelled) {
            return Cancellation::AlreadyFinished;
        }
        Cancellation::NotFound
    }

    /// Puts `job` in the cancelled set at `now`, releasing its unique lock and its cancel
    /// request, trimmed to `limits`.
    pub(super) fn cancel_into_set(
        &mut self,
        mut job: JobEnvelope,
        now: DateTime<Utc>,
        limits: DeadLimits,
    ) {
        job.at = None;
        self.release(&job);
        self.cancels.remove(&job.jid);
        self.cancelled.insert(now, job);
        self.cancelled.trim(now, limits);
    }

    /// Takes the waiting job `jid` out of its queue, the scheduled or retry set, or the jobs
    /// moved aside for a concurrency slot.
    fn take_waiting(&mut self, jid: &str, now: DateTime<Utc>) -> Option<JobEnvelope> {
        let selection = crate::backend::Selection::Jids(vec![jid.to_owned()]);
        let queues: Vec<String> = self.queues.keys().cloned().collect();
        for set in queues
            .into_iter()
            .map(JobSet::Queue)
            .chain([JobSet::Scheduled, JobSet::Retry])
        {
            if let Some(job) = self.take(&set, &selection).pop() {
                return Some(job);
            }
        }
        let aside = self.limits_in_use(now).into_iter().find_map(|usage| {
            self.waiting_for(&usage.key, 0, usize::MAX)
                .into_iter()
                .find(|j| j.jid == jid)
        })?;
        self.remove_aside(jid).then_some(aside)
    }

    /// Drops cancel requests older than [`CANCEL_REQUEST_TTL`].
    fn prune_cancels(&mut self, now: DateTime<Utc>) {
        let ttl = chrono::Duration::from_std(CANCEL_REQUEST_TTL).unwrap_or(chrono::Duration::MAX);
        self.cancels
            .retain(|_, at| now.signed_duration_since(*at) < ttl);
    }

    /// Which of `jids` have a cancel requested.
    pub(super) fn pending(&self, jids: impl IntoIterator<Item = String>) -> Vec<String> {
        if self.cancels.is_empty() {
            return Vec::new();
        }
        jids.into_iter()
            .filter(|j| self.cancels.contains_key(j))
            .collect()
    }
}
