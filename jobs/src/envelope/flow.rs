//! A job's flow-control fields: its priority, its unique lock and its expiry, kept in keys
//! Ruby Sidekiq ignores (`jobs_rs_priority`, `jobs_rs_unique`, `jobs_rs_expires_at`), so a
//! plain Sidekiq job is unchanged and a Ruby worker reading one of ours sees a normal job.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{to_epoch, JobEnvelope};

/// The envelope key of a job's priority.
pub const PRIORITY_FIELD: &str = "jobs_rs_priority";
/// The envelope key of a job's unique lock.
pub const UNIQUE_FIELD: &str = "jobs_rs_unique";
/// The envelope key of a job's expiry.
pub const EXPIRES_FIELD: &str = "jobs_rs_expires_at";

/// The lowest priority: priorities run from 0 (runs first, the default) to 9 (runs last).
pub const MAX_PRIORITY: u8 = 9;

/// Until when a unique job's lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum UniqueUntil {
    /// While the job waits: the lock is released when a worker takes the job.
    Start,
    /// Until the job ends for good: it succeeds, is discarded, dies, expires, or is deleted.
    /// Held through retries, snoozes, requeues and rescues.
    #[default]
    Success,
}

/// A unique job's lock, as stored in the job.
///
/// ```
/// use jobs::envelope::{JobEnvelope, flow::{UniqueLock, UniqueUntil}};
/// let mut job = JobEnvelope::new("Sync", "default", vec![7.into()]);
/// let lock = UniqueLock::new("Sync", None, &job.args, UniqueUntil::Success, 1_800_000_000.0);
/// job.set_unique(Some(lock.clone()));
/// assert_eq!(job.unique(), Some(lock));
/// assert_eq!(job.unique().unwrap().key.len(), 40);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UniqueLock {
    /// The lock's key: the SHA-1 (hex) of the job's name, the arguments it is unique by and,
    /// when asked, its queue.
    pub key: String,
    /// Until when the lock is held.
    pub until: UniqueUntil,
    /// When the lock lapses whatever became of its job (a job lost or deleted by hand),
    /// epoch seconds.
    pub expires_at: f64,
}

impl UniqueLock {
    /// The lock of a job named `class` (on `queue`, when the queue is part of the key) over
    /// the arguments `by`, held `until`, lapsing at `expires_at` (epoch seconds).
    pub fn new(
        class: &str,
        queue: Option<&str>,
        by: &[Value],
        until: UniqueUntil,
        expires_at: f64,
    ) -> Self {
        UniqueLock {
            key: unique_key(class, queue, by),
            until,
            expires_at,
        }
    }

    /// Whether the lock has lapsed at `now`.
    pub fn lapsed(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= to_epoch(now)
    }
}

/// The key of a unique lock: SHA-1, in hex, over the job's name, the queue (or nothing) and
/// the arguments as JSON, each part length-prefixed so no two inputs share a key.
///
/// ```
/// use jobs::envelope::flow::unique_key;
/// let a = unique_key("Sync", None, &[1.into()]);
/// assert_eq!(a, unique_key("Sync", None, &[1.into()]));
/// assert_ne!(a, unique_key("Sync", Some("default"), &[1.into()]));
/// assert_ne!(a, unique_key("Sync", None, &[2.into()]));
/// ```
pub fn unique_key(class: &str, queue: Option<&str>, by: &[Value]) -> String {
    let args = Value::Array(by.to_vec()).to_string();
    let queue = queue.unwrap_or("");
    let text = format!(
        "{}:{class}{}:{queue}{}:{args}",
        class.len(),
        queue.len(),
        args.len()
    );
    sha1_smol::Sha1::from(text.as_bytes()).digest().to_string()
}

impl JobEnvelope {
    /// The job's priority: 0 (runs first, the default) to [`MAX_PRIORITY`] (runs last).
    pub fn priority(&self) -> u8 {
        self.extra
            .get(PRIORITY_FIELD)
            .and_then(Value::as_u64)
            .map_or(0, |p| {
                u8::try_from(p.min(u64::from(MAX_PRIORITY))).unwrap_or(MAX_PRIORITY)
            })
    }

    /// Sets the priority (capped at [`MAX_PRIORITY`]); 0 leaves the field out, as a plain
    /// Sidekiq job.
    pub fn set_priority(&mut self, priority: u8) {
        if priority == 0 {
            self.extra.remove(PRIORITY_FIELD);
        } else {
            self.extra
                .insert(PRIORITY_FIELD.into(), priority.min(MAX_PRIORITY).into());
        }
    }

    /// The job's unique lock, if it has one (and it reads as one).
    pub fn unique(&self) -> Option<UniqueLock> {
        self.extra
            .get(UNIQUE_FIELD)
            .and_then(|v| Deserialize::deserialize(v).ok())
    }

    /// Sets or clears the unique lock.
    pub fn set_unique(&mut self, lock: Option<UniqueLock>) {
        match lock.and_then(|l| serde_json::to_value(l).ok()) {
            Some(v) => {
                self.extra.insert(UNIQUE_FIELD.into(), v);
            }
            None => {
                self.extra.remove(UNIQUE_FIELD);
            }
        }
    }

    /// When the job expires unstarted, epoch seconds.
    pub fn expires_at(&self) -> Option<f64> {
        self.extra.get(EXPIRES_FIELD).and_then(Value::as_f64)
    }

    /// Sets or clears the expiry (epoch seconds).
    pub fn set_expires_at(&mut self, at: Option<f64>) {
        match at.and_then(serde_json::Number::from_f64) {
            Some(n) => {
                self.extra.insert(EXPIRES_FIELD.into(), Value::Number(n));
            }
            None => {
                self.extra.remove(EXPIRES_FIELD);
            }
        }
    }

    /// Whether the job expired unstarted by `now`.
    ///
    /// ```
    /// use jobs::envelope::JobEnvelope;
    /// let mut job = JobEnvelope::new("Report", "default", vec![]);
    /// let now = jobs::chrono::Utc::now();
    /// assert!(!job.expired(now));
    /// job.set_expires_at(Some(jobs::envelope::to_epoch(now) - 1.0));
    /// assert!(job.expired(now));
    /// ```
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at().is_some_and(|at| at <= to_epoch(now))
    }
}
