//! Why a schedule, a schedule file or a scheduler was refused.
//!
//! 1. [`ScheduleError`] names the entry (the schedule's name) and what is wrong with it, so a
//!    message read in CI points at the line to fix.
//! 2. File-level errors (unreadable file, TOML syntax) name the file instead.

/// What is wrong with a schedule, a schedule file or a scheduler's configuration.
///
/// ```
/// use jobs::schedule::{Schedule, ScheduleError};
/// let err = Schedule::new("nightly").cron("61 * * * *").check(None).unwrap_err();
/// assert!(matches!(err, ScheduleError::InvalidCron { .. }));
/// assert!(err.to_string().starts_with("schedule `nightly`: invalid cron expression `61 * * * *`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("schedule `{entry}`: invalid cron expression `{expr}`: {reason}")]
    InvalidCron {
        /// The schedule's name.
        entry: String,
        /// The expression as written.
        expr: String,
        /// What the parser said.
        reason: String,
    },
    /// The time zone is not an IANA name this build knows.
    #[error(
        "schedule `{entry}`: unknown time zone `{zone}` (use an IANA name such as `Europe/Berlin`)"
    )]
    UnknownTimeZone {
        /// The schedule's name.
        entry: String,
        /// The zone as written.
        zone: String,
    },
    /// A time, day or interval is out of range (hour 24, day 32, an interval of zero).
    #[error("schedule `{entry}`: {reason}")]
    InvalidTime {
        /// The schedule's name.
        entry: String,
        /// What is out of range.
        reason: String,
    },
    /// No job with this wire name is registered.
    #[error("schedule `{entry}`: unknown job `{job}` (no #[job] with this name is registered)")]
    UnknownJob {
        /// The schedule's name.
        entry: String,
        /// The job's wire name as written.
        job: String,
    },
    /// The arguments do not decode as the job's arguments.
    #[error("schedule `{entry}`: arguments do not fit job `{job}`: {reason}")]
    BadArgs {
        /// The schedule's name.
        entry: String,
        /// The job's wire name.
        job: String,
        /// What the job's decoder said.
        reason: String,
    },
    /// A required part is missing (the timing or the job).
    #[error("schedule `{entry}`: missing {field}")]
    Missing {
        /// The schedule's name.
        entry: String,
        /// What is missing.
        field: &'static str,
    },
    /// An entry of a schedule file has a key or value this crate does not accept.
    #[error("schedule `{entry}`: {reason}")]
    InvalidEntry {
        /// The schedule's name.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// Two schedules share a name.
    #[error("schedule `{entry}` is declared twice")]
    Duplicate {
        /// The name.
        entry: String,
    },
    /// The schedule file is not valid TOML, or not a table of schedules.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Two registered jobs share a wire name, so arguments cannot be checked.
    #[error(transparent)]
    DuplicateJob(#[from] crate::registry::DuplicateJob),
    /// The backend keeps no schedule state ([`crate::backend::AdminBackend::schedules`] is `None`).
    #[error("the {backend} backend does not support recurring jobs")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
    },
}

impl ScheduleError {
    /// The schedule this error is about, when it is about one.
    pub fn entry(&self) -> Option<&str> {
        match self {
            ScheduleError::InvalidCron { entry, .. }
            | ScheduleError::UnknownTimeZone { entry, .. }
            | ScheduleError::InvalidTime { entry, .. }
            | ScheduleError::UnknownJob { entry, .. }
            | ScheduleError::BadArgs { entry, .. }
            | ScheduleError::Missing { entry, .. }
            | ScheduleError::InvalidEntry { entry, .. }
            | ScheduleError::Duplicate { entry } => Some(entry),
            ScheduleError::File { .. }
            | ScheduleError::DuplicateJob(_)
            | ScheduleError::Unsupported { .. } => None,
        }
    }
}
