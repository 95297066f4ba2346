//! Progress and results at the storage seam: what a running job reports, what a finished
//! job returned, and where a job is, as [`Backend::job_progress`](super::Backend::job_progress),
//! [`Backend::job_status`](super::Backend::job_status) and
//! [`Backend::job_result`](super::Backend::job_result) read and write them.
//!
//! 1. [`Progress`] is one report of a running job (percent, message, optional JSON data);
//!    a write is fenced by the lease token, so only the current holder of the job's lease
//!    can write it, and a rescued run's stale progress is never shown as running.
//! 2. [`ResultWrite`] rides on a [`Finish`](super::Finish) and is stored in the same atomic
//!    step as the success settle: a fenced-off (lost) settle stores no result.
//! 3. [`JobStatus`] is where a job is, as far as the backend knows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::LeaseToken;

/// How long a job's result is kept by default: 24 hours.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The largest result stored by default: 1 MiB of JSON.
pub const DEFAULT_RESULT_MAX_BYTES: usize = 1024 * 1024;

/// The largest progress report (message and data, as JSON) a backend stores: 64 KiB.
pub const MAX_PROGRESS_BYTES: usize = 64 * 1024;

/// One progress report of a running job.
///
/// ```
/// use jobs::backend::Progress;
/// let p = Progress::new(40, "rendering", chrono::Utc::now());
/// assert_eq!(p.percent, 40);
/// assert_eq!(Progress::new(250, "", chrono::Utc::now()).percent, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Progress {
    /// 0 to 100.
    pub percent: u8,
    /// What the job is doing.
    pub message: String,
    /// Optional structured data the job attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// When the job reported it.
    pub updated_at: DateTime<Utc>,
}

impl Progress {
    /// A report of `percent` (capped at 100) and `message` made at `now`.
    pub fn new(percent: u8, message: impl Into<String>, now: DateTime<Utc>) -> Self {
        Progress {
            percent: percent.min(100),
            message: message.into(),
            data: None,
            updated_at: now,
        }
    }

    /// Attaches structured data.
    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The report as the JSON text backends store.
    pub fn to_json(&self) -> Result<String, super::BackendError> {
        serde_json::to_string(self).map_err(|e| super::BackendError::Decode(e.to_string()))
    }

    /// A report from the JSON text backends store.
    pub fn from_json(text: &str) -> Result<Self, super::BackendError> {
        serde_json::from_str(text)
            .map_err(|e| super::BackendError::Decode(format!("stored progress: {e}")))
    }
}

/// Writes the progress of the job of lease `token` (see
/// [`Backend::job_progress`](super::Backend::job_progress)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProgressParams {
    /// The lease the writer holds: the write applies only while it is the job's lease.
    pub token: LeaseToken,
    /// The job.
    pub jid: String,
    /// The report.
    pub progress: Progress,
    /// Now.
    pub now: DateTime<Utc>,
}

impl ProgressParams {
    /// Write `progress` for `jid` under lease `token`.
    pub fn new(token: LeaseToken, jid: impl Into<String>, progress: Progress) -> Self {
        let now = progress.updated_at;
        ProgressParams {
            token,
            jid: jid.into(),
            progress,
            now,
        }
    }
}

/// A job's return value, stored with its success settle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResultWrite {
    /// The value as JSON text.
    pub json: String,
    /// How long it is kept.
    pub ttl: Duration,
}

impl ResultWrite {
    /// Keep `json` for `ttl`.
    pub fn new(json: impl Into<String>, ttl: Duration) -> Self {
        ResultWrite {
            json: json.into(),
            ttl,
        }
    }
}

/// A stored result, as [`Backend::job_result`](super::Backend::job_result) reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredResult {
    /// The value as JSON text.
    pub json: String,
    /// When the job finished.
    pub finished_at: DateTime<Utc>,
    /// When the result is removed.
    pub expires_at: DateTime<Utc>,
    /// The job's wire name, so the dashboard redacts the result of a job that declares
    /// redaction (see [`crate::redact`]).
    #[serde(default)]
    pub class: String,
}

impl StoredResult {
    /// A result from its parts.
    pub fn new(json: String, finished_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Self {
        StoredResult {
            json,
            finished_at,
            expires_at,
            class: String::new(),
        }
    }

    /// Names the job's wire name.
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.class = class.into();
        self
    }

    /// The record backends store in one text value (Redis): the value kept as JSON.
    pub fn to_record(&self) -> String {
        // A struct of strings and times always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A result from [`StoredResult::to_record`]'s text.
    pub fn from_record(text: &str) -> Result<Self, super::BackendError> {
        serde_json::from_str(text)
            .map_err(|e| super::BackendError::Decode(format!("stored result: {e}")))
    }
}

/// Reads a job's status or result by jid.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JidParams {
    /// The job.
    pub jid: String,
    /// Now: an expired result is not returned.
    pub now: DateTime<Utc>,
}

impl JidParams {
    /// About `jid` at `now`.
    pub fn new(jid: impl Into<String>, now: DateTime<Utc>) -> Self {
        JidParams {
            jid: jid.into(),
            now,
        }
    }
}

/// Where a job is, as far as the backend knows.
///
/// A job that completed is known as [`JobStatus::Succeeded`] while its result is kept (a job
/// that returns a value), or while the store keeps completed jobs (Postgres'
/// `completed_retention`); otherwise, like a discarded or trimmed job, it is
/// [`JobStatus::Unknown`].
///
/// ```
/// use jobs::backend::JobStatus;
/// assert!(JobStatus::Waiting { queue: "default".into() }.is_pending());
/// assert!(!JobStatus::Unknown.is_pending());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobStatus {
    /// In its queue.
    Waiting {
        /// Which queue.
        queue: String,
    },
    /// Waiting for its time.
    Scheduled {
        /// When it is due.
        at: DateTime<Utc>,
    },
    /// Failed, waiting to retry.
    Retry {
        /// When it runs again.
        at: DateTime<Utc>,
        /// The last error.
        error: Option<String>,
    },
    /// Leased to a worker and running.
    Running {
        /// The last progress the current run reported.
        progress: Option<Progress>,
    },
    /// Completed.
    Succeeded {
        /// When, where known.
        finished_at: Option<DateTime<Utc>>,
    },
    /// In the dead set.
    Dead {
        /// Its last error.
        error: Option<String>,
    },
    /// Not found: never pushed, or completed, discarded or trimmed and not kept.
    Unknown,
}

impl JobStatus {
    /// Whether the job has not finished yet (waiting, scheduled, retrying or running).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            JobStatus::Waiting { .. }
                | JobStatus::Scheduled { .. }
                | JobStatus::Retry { .. }
                | JobStatus::Running { .. }
        )
    }

    /// A short name: `waiting`, `scheduled`, `retry`, `running`, `succeeded`, `dead`,
    /// `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            JobStatus::Waiting { .. } => "waiting",
            JobStatus::Scheduled { .. } => "scheduled",
            JobStatus::Retry { .. } => "retry",
            JobStatus::Running { .. } => "running",
            JobStatus::Succeeded { .. } => "succeeded",
            JobStatus::Dead { .. } => "dead",
            JobStatus::Unknown => "unknown",
        }
    }

    /// The status of a stored envelope found in `set` (scored `at`), for backends that find
    /// a job in a set.
    pub fn in_set(
        set: &super::JobSet,
        at: DateTime<Utc>,
        job: &crate::envelope::JobEnvelope,
    ) -> Self {
        match set {
            super::JobSet::Queue(q) => JobStatus::Waiting { queue: q.clone() },
            super::JobSet::Scheduled => JobStatus::Scheduled { at },
            super::JobSet::Retry => JobStatus::Retry {
                at,
                error: job.error_message.clone(),
            },
            _ => JobStatus::Dead {
                error: job.error_message.clone(),
            },
        }
    }
}

/// The time a result written at `now` with `ttl` expires.
pub fn result_expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
