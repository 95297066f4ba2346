//! The in-memory backend's flow control: unique locks (claimed at push, released with the
//! holder's last transition), priority order within a queue and its aging, and the expired
//! count.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::state::{selects, State};
use crate::backend::{AgeParams, PushConflict, Selection, UniqueHeld};
use crate::envelope::flow::UniqueUntil;
use crate::envelope::{from_epoch, to_epoch, JobEnvelope};

/// A unique lock: who holds it and until when.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub(super) jid: String,
    pub(super) class: String,
    pub(super) queue: String,
    pub(super) until: UniqueUntil,
    pub(super) expires_at: f64,
}

/// The priority `job` runs with, given the aged bands.
fn band_of(bands: &HashMap<String, u8>, job: &JobEnvelope) -> u8 {
    match bands.is_empty() {
        true => job.priority(),
        false => bands
            .get(&job.jid)
            .copied()
            .unwrap_or_else(|| job.priority()),
    }
}

/// The locks by key.
pub(super) type Locks = HashMap<String, Held>;

/// What a push may do with one job.
pub(super) enum Claim {
    /// Store it (it has no lock, or it took its lock).
    Store,
    /// Another job holds the lock: store nothing.
    Duplicate(String),
    /// The waiting holder was deleted; store it (it took the lock).
    Replaced(String),
}

impl State {
    /// Claims `job`'s unique lock, if it has one, at `now`.
    pub(super) fn claim(
        &mut self,
        job: &JobEnvelope,
        now: DateTime<Utc>,
        on_conflict: PushConflict,
    ) -> Claim {
        let Some(lock) = job.unique_ref() else {
            return Claim::Store;
        };
        let held = || Held {
            jid: job.jid.clone(),
            class: job.class.clone(),
            queue: job.queue.clone(),
            until: lock.until,
            expires_at: lock.expires_at,
        };
        // One lookup on the common path (a free key); the key is copied only to insert it.
        let holder = match self.locks.get_mut(&lock.key) {
            None => {
                self.locks.insert(lock.key.clone(), held());
                return Claim::Store;
            }
            Some(h) if h.expires_at <= to_epoch(now) || h.jid == job.jid => {
                *h = held();
                return Claim::Store;
            }
            Some(h) => h.jid.clone(),
        };
        match on_conflict {
            PushConflict::Replace if self.remove_waiting(&holder) => {
                self.locks.insert(lock.key.clone(), held());
                Claim::Replaced(holder)
            }
            _ => Claim::Duplicate(holder),
        }
    }

    /// Releases `job`'s unique lock if `job` holds it (never another job's).
    pub(super) fn release(&mut self, job: &JobEnvelope) {
        let Some(lock) = job.unique_ref() else {
            return;
        };
        if self.locks.get(&lock.key).is_some_and(|h| h.jid == job.jid) {
            self.locks.remove(&lock.key);
        }
    }

    /// Releases the lock of a job that starts, when it is held only while the job waits.
    pub(super) fn release_at_start(&mut self, job: &JobEnvelope) {
        if job
            .unique_ref()
            .is_some_and(|l| l.until == UniqueUntil::Start)
        {
            self.release(job);
        }
    }

    /// Deletes the waiting job `jid` (from a queue, the scheduled or the retry set, or the
    /// jobs moved aside for a concurrency slot); whether it was there.
    fn remove_waiting(&mut self, jid: &str) -> bool {
        let selection = Selection::Jids(vec![jid.to_owned()]);
        for queue in self.queues.values_mut() {
            if let Some(i) = queue.iter().position(|j| selects(&selection, j)) {
                queue.remove(i);
                self.heads.remove(jid);
                return true;
            }
        }
        for set in [&mut self.scheduled, &mut self.retry] {
            if !set.take_where(|j| j.jid == jid).is_empty() {
                return true;
            }
        }
        self.remove_aside(jid)
    }

    /// Puts a job in its queue behind every job of its priority or a higher one (a smaller
    /// number), ahead of those of a lower one: FIFO within a priority; never ahead of the
    /// jobs given back to the head.
    pub(super) fn insert_by_priority(&mut self, job: Arc<JobEnvelope>) {
        let priority = self.band(&job);
        let (bands, heads) = (&self.bands, &self.heads);
        // The queue's name is copied only when the queue is new.
        if !self.queues.contains_key(&job.queue) {
            self.queues.insert(job.queue.clone(), VecDeque::new());
        }
        let Some(queue) = self.queues.get_mut(&job.queue) else {
            return;
        };
        // A queue is the jobs given back to its head, then the others by band, FIFO within
        // one, so the place is found by halving (a plain queue takes its tail at once).
        let ahead = |j: &Arc<JobEnvelope>| {
            band_of(bands, j) <= priority || (!heads.is_empty() && heads.contains(&j.jid))
        };
        match queue.back() {
            Some(last) if !ahead(last) => {
                let at = queue.partition_point(ahead);
                queue.insert(at, job);
            }
            _ => queue.push_back(job),
        }
    }

    /// The priority `job` runs with: its declared one, or the one aging raised it to.
    fn band(&self, job: &JobEnvelope) -> u8 {
        band_of(&self.bands, job)
    }

    /// Forgets that `job` was given back to the head, or aged (it left its queue).
    pub(super) fn left_queue(&mut self, job: &JobEnvelope) {
        if !self.heads.is_empty() {
            self.heads.remove(&job.jid);
        }
        if !self.bands.is_empty() {
            self.bands.remove(&job.jid);
        }
    }

    /// Raises waiting jobs to the priority their wait earned; returns how many moved. A
    /// moved job goes ahead of the jobs of its new priority (behind the jobs given back).
    pub(super) fn age(&mut self, p: &AgeParams) -> u64 {
        let mut moved = 0;
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for name in names {
            let Some(queue) = self.queues.get_mut(&name) else {
                continue;
            };
            let mut rising = Vec::new();
            let mut i = 0;
            while i < queue.len() {
                let job = &queue[i];
                let now_band = band_of(&self.bands, job);
                let aged = job
                    .enqueued_at
                    .map_or(now_band, |at| p.aged(job.priority(), at));
                if aged < now_band && !self.heads.contains(&job.jid) {
                    if let Some(job) = queue.remove(i) {
                        rising.push((aged, job));
                    }
                } else {
                    i += 1;
                }
            }
            // Oldest last, so that each lands ahead of the ones that were behind it.
            for (aged, job) in rising.into_iter().rev() {
                moved += 1;
                self.bands.insert(job.jid.clone(), aged);
                let queue = self.queues.entry(name.clone()).or_default();
                let (bands, heads) = (&self.bands, &self.heads);
                let at =
                    queue.partition_point(|j| heads.contains(&j.jid) || band_of(bands, j) < aged);
                queue.insert(at, job);
            }
        }
        moved
    }

    /// The locks held at `now`, soonest to lapse first.
    pub(super) fn locks_held(&self, now: DateTime<Utc>) -> Vec<UniqueHeld> {
        let now = to_epoch(now);
        let mut held: Vec<UniqueHeld> = self
            .locks
            .iter()
            .filter(|(_, h)| h.expires_at > now)
            .map(|(key, h)| {
                UniqueHeld::new(
                    key.clone(),
                    h.jid.clone(),
                    h.class.clone(),
                    h.queue.clone(),
                    h.until,
                    from_epoch(h.expires_at),
                )
            })
            .collect();
        held.sort_by(|a, b| (a.expires_at, &a.key).cmp(&(b.expires_at, &b.key)));
        held
    }
}
