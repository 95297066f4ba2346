//! A job's limits: the concurrency slot it takes while it runs and the rate it counts
//! against when it starts, kept in keys Ruby Sidekiq ignores (`jobs_rs_concurrency`,
//! `jobs_rs_rate`), so a Ruby worker reading one of our jobs sees a plain job.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::JobEnvelope;

/// The envelope key of a job's concurrency limit.
pub const CONCURRENCY_FIELD: &str = "jobs_rs_concurrency";
/// The envelope key of a job's rate limit.
pub const RATE_FIELD: &str = "jobs_rs_rate";

/// Keys longer than this are replaced by their SHA-1, so a huge argument cannot make a huge
/// store key.
const MAX_KEY_LEN: usize = 200;

/// A concurrency limit as stored in a job: at most `limit` jobs with this `key` hold a lease
/// at once, across every process.
///
/// ```
/// use jobs::envelope::{JobEnvelope, limits::ConcurrencyLimit};
/// let mut job = JobEnvelope::new("SyncAccount", "default", vec![42.into()]);
/// job.set_concurrency(Some(ConcurrencyLimit::new("SyncAccount:42", 1)));
/// assert_eq!(job.concurrency().unwrap().limit, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConcurrencyLimit {
    /// The key the slots are counted by (see [`limit_key`]).
    pub key: String,
    /// How many jobs with this key may run at once (at least 1).
    pub limit: u32,
}

impl ConcurrencyLimit {
    /// At most `limit` (at least 1) jobs of `key` at once.
    pub fn new(key: impl Into<String>, limit: u32) -> Self {
        ConcurrencyLimit {
            key: key.into(),
            limit: limit.max(1),
        }
    }
}

/// A rate limit as stored in a job: at most `limit` starts with this `key` in any window of
/// `per_ms` milliseconds, across every process.
///
/// ```
/// use jobs::envelope::{JobEnvelope, limits::RateLimit};
/// let mut job = JobEnvelope::new("CallPartner", "default", vec![7.into()]);
/// job.set_rate(Some(RateLimit::new("CallPartner:7", 100, 60_000)));
/// assert_eq!(job.rate().unwrap().per_ms, 60_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// The key the starts are counted by (see [`limit_key`]).
    pub key: String,
    /// How many starts a window may hold (at least 1).
    pub limit: u32,
    /// The window, in milliseconds (at least 1).
    pub per_ms: u64,
}

impl RateLimit {
    /// At most `limit` starts of `key` in any `per_ms` milliseconds.
    pub fn new(key: impl Into<String>, limit: u32, per_ms: u64) -> Self {
        RateLimit {
            key: key.into(),
            limit: limit.max(1),
            per_ms: per_ms.max(1),
        }
    }
}

/// The key a limit counts by: the job's name alone (a limit per job type), or the name and
/// the chosen arguments as JSON, comma-separated (`SyncAccount:42`, `Import:"acme",3`).
/// Keys longer than 200 bytes become `<name>#<SHA-1 of the arguments>`.
///
/// ```
/// use jobs::envelope::limits::limit_key;
/// assert_eq!(limit_key("SyncAccount", None), "SyncAccount");
/// assert_eq!(limit_key("SyncAccount", Some(&[42.into()])), "SyncAccount:42");
/// assert_eq!(limit_key("Import", Some(&["acme".into(), 3.into()])), "Import:\"acme\",3");
/// assert!(limit_key("Big", Some(&["x".repeat(500).into()])).starts_with("Big#"));
/// ```
pub fn limit_key(class: &str, by: Option<&[Value]>) -> String {
    let Some(by) = by else {
        return class.to_owned();
    };
    let args: Vec<String> = by.iter().map(Value::to_string).collect();
    let args = args.join(",");
    if class.len() + 1 + args.len() <= MAX_KEY_LEN {
        format!("{class}:{args}")
    } else {
        let digest = sha1_smol::Sha1::from(args.as_bytes()).digest().to_string();
        format!("{class}#{digest}")
    }
}

impl JobEnvelope {
    /// The job's concurrency limit, if it has one (and it reads as one).
    pub fn concurrency(&self) -> Option<ConcurrencyLimit> {
        self.extra
            .get(CONCURRENCY_FIELD)
            .and_then(|v| Deserialize::deserialize(v).ok())
    }

    /// Sets or clears the concurrency limit.
    pub fn set_concurrency(&mut self, limit: Option<ConcurrencyLimit>) {
        set_field(
            self,
            CONCURRENCY_FIELD,
            limit.and_then(|l| serde_json::to_value(l).ok()),
        );
    }

    /// The job's rate limit, if it has one (and it reads as one).
    pub fn rate(&self) -> Option<RateLimit> {
        self.extra
            .get(RATE_FIELD)
            .and_then(|v| Deserialize::deserialize(v).ok())
    }

    /// Sets or clears the rate limit.
    pub fn set_rate(&mut self, limit: Option<RateLimit>) {
        set_field(
            self,
            RATE_FIELD,
            limit.and_then(|l| serde_json::to_value(l).ok()),
        );
    }
}

fn set_field(job: &mut JobEnvelope, field: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            job.extra.insert(field.into(), v);
        }
        None => {
            job.extra.remove(field);
        }
    }
}
