//! The flow-control side of the backend contract: what a push reports about unique jobs, the
//! unique locks an operator can list and release, and priority aging.

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

/// Age waiting jobs: a job that has waited in its queue (since its `enqueued_at`) `every`
/// × k runs as if its priority were k smaller (never below 0), so a steady stream of urgent
/// jobs cannot starve the others for ever. Its declared priority (in the envelope, and in
/// listings) is unchanged. Among the jobs of the priority it reaches, an aged job runs ahead
/// of those pushed after it. Scheduled, retrying and running jobs are not aged.
///
/// ```
/// use std::time::Duration;
/// use jobs::backend::AgeParams;
/// let p = AgeParams::new(jobs::chrono::Utc::now(), Duration::from_secs(60));
/// assert_eq!(p.every, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgeParams {
    /// The current time.
    pub now: DateTime<Utc>,
    /// How long a job waits per priority step it climbs (at least 1 ms).
    pub every: std::time::Duration,
}

impl AgeParams {
    /// Age jobs by one priority step per `every` waited, at `now`.
    pub fn new(now: DateTime<Utc>, every: std::time::Duration) -> Self {
        AgeParams {
            now,
            every: every.max(std::time::Duration::from_millis(1)),
        }
    }

    /// The priority a job declared `declared`, enqueued at `enqueued_at` (epoch seconds),
    /// runs with now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobs::backend::AgeParams;
    /// let now = jobs::chrono::Utc::now();
    /// let p = AgeParams::new(now, Duration::from_secs(10));
    /// let waited = |s: f64| jobs::envelope::to_epoch(now) - s;
    /// assert_eq!(p.aged(9, waited(35.0)), 6);
    /// assert_eq!(p.aged(2, waited(35.0)), 0);
    /// assert_eq!(p.aged(5, waited(9.0)), 5);
    /// ```
    pub fn aged(&self, declared: u8, enqueued_at: f64) -> u8 {
        let waited = (crate::envelope::to_epoch(self.now) - enqueued_at).max(0.0);
        let steps = (waited / self.every.as_secs_f64()).floor();
        let steps = if steps >= f64::from(declared) {
            declared
        } else {
            steps as u8
        };
        declared - steps
    }
}
