//! The flow-control side of the backend contract: what a push reports about unique jobs, and
//! the unique locks an operator can list and release.

use chrono::{DateTime, Utc};

use crate::envelope::flow::UniqueUntil;

/// What a push does with a job whose unique lock another job holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PushConflict {
    /// Store nothing; report the holder's jid.
    #[default]
    Skip,
    /// When the holder is waiting (in a queue, scheduled or in the retry set), delete it and
    /// store the new job, which takes the lock; when the holder is running, as `Skip`.
    Replace,
}

/// What a push did with the jobs it did not store as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushReport {
    /// Jobs not stored because another job holds their unique lock: (index in the push, the
    /// holder's jid).
    pub duplicates: Vec<(usize, String)>,
    /// Jobs stored in place of the waiting job that held their lock, which was deleted:
    /// (index in the push, the deleted job's jid).
    pub replaced: Vec<(usize, String)>,
}

/// A unique lock held, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UniqueHeld {
    /// The lock's key ([`UniqueLock::key`](crate::envelope::flow::UniqueLock::key)).
    pub key: String,
    /// The job that holds it.
    pub jid: String,
    /// That job's name.
    pub class: String,
    /// That job's queue.
    pub queue: String,
    /// Until when it is held.
    pub until: UniqueUntil,
    /// When it lapses whatever becomes of the job.
    pub expires_at: DateTime<Utc>,
}

impl UniqueHeld {
    /// A lock of `key` held by job `jid` (`class` on `queue`).
    pub fn new(
        key: impl Into<String>,
        jid: impl Into<String>,
        class: impl Into<String>,
        queue: impl Into<String>,
        until: UniqueUntil,
        expires_at: DateTime<Utc>,
    ) -> Self {
        UniqueHeld {
            key: key.into(),
            jid: jid.into(),
            class: class.into(),
            queue: queue.into(),
            until,
            expires_at,
        }
    }
}

/// List the unique locks held at `now` (lapsed ones are left out), soonest to lapse first.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UniqueListParams {
    /// The current time.
    pub now: DateTime<Utc>,
    /// Locks to skip.
    pub offset: usize,
    /// The most locks to return.
    pub limit: usize,
}

impl UniqueListParams {
    /// The first 100 locks held at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        UniqueListParams {
            now,
            offset: 0,
            limit: 100,
        }
    }

    /// Page through the locks.
    pub fn page(mut self, offset: usize, limit: usize) -> Self {
        self.offset = offset;
        self.limit = limit;
        self
    }
}

/// Release the unique lock `key` (an operator's action; its job, if any, stays as it is and
/// no longer blocks duplicates).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UniqueReleaseParams {
    /// The lock's key.
    pub key: String,
}

impl UniqueReleaseParams {
    /// Release lock `key`.
    pub fn new(key: impl Into<String>) -> Self {
        UniqueReleaseParams { key: key.into() }
    }
}
