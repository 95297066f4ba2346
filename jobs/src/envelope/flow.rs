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

    /// The lock with key `key` (see [`unique_key`]).
    pub(crate) fn from_key(key: String, until: UniqueUntil, expires_at: f64) -> Self {
        UniqueLock {
            key,
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
    key_over(class, queue, by)
}

/// [`unique_key`] over any serializable list of arguments (a slice, or references to the
/// chosen ones), hashed without copying them.
pub(crate) fn key_over<T: Serialize + ?Sized>(class: &str, queue: Option<&str>, by: &T) -> String {
    // Serializing JSON values (or references to them) cannot fail: their keys are strings.
    let args = serde_json::to_vec(by).unwrap_or_default();
    let queue = queue.unwrap_or("");
    let mut h = sha1_smol::Sha1::new();
    let mut part = |len: usize, text: &[u8]| {
        // The length in decimal, then `:`, written without an allocation.
        let mut digits = [0u8; 21];
        let (mut at, mut n) = (20, len);
        digits[20] = b':';
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        h.update(&digits[at..]);
        h.update(text);
    };
    part(class.len(), class.as_bytes());
    part(queue.len(), queue.as_bytes());
    part(args.len(), &args);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(40);
    for b in h.digest().bytes() {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 15)]));
    }
    key
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
        self.unique_lock.clone()
    }

    /// The job's unique lock, borrowed.
    pub fn unique_ref(&self) -> Option<&UniqueLock> {
        self.unique_lock.as_ref()
    }

    /// Sets or clears the unique lock.
    pub fn set_unique(&mut self, lock: Option<UniqueLock>) {
        self.extra.remove(UNIQUE_FIELD);
        self.unique_lock = lock;
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// The key as first written: SHA-1 over one formatted string of the three parts.
    fn first_key(class: &str, queue: Option<&str>, by: &[Value]) -> String {
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

    #[test]
    fn keys_are_those_of_the_first_formula_so_held_locks_still_match() {
        let long = "x".repeat(1234);
        let cases: [(&str, Option<&str>, Vec<Value>); 5] = [
            ("Sync", None, vec![]),
            ("Sync", Some("default"), vec![json!(1), json!("a")]),
            ("É", Some(""), vec![json!({"b": [1, 2], "a": null})]),
            ("Sync", None, vec![json!(long)]),
            ("", Some("q"), vec![json!(1.5), json!(-7), json!(true)]),
        ];
        for (class, queue, by) in cases {
            assert_eq!(unique_key(class, queue, &by), first_key(class, queue, &by));
        }
        let args = [json!(1), json!(2), json!(3)];
        let chosen: Vec<&Value> = vec![&args[2], &args[0]];
        assert_eq!(
            key_over("Sync", None, &chosen),
            first_key("Sync", None, &[json!(3), json!(1)]),
            "the chosen arguments hash as the array of them"
        );
    }
}
