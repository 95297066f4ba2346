//! The admin side of a backend: what the dashboard, tests and scripts read and change.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{Backend, BackendError, DeadLimits, ProcessId, ProcessInfo, ProcessSignal, RunningJob};
use crate::envelope::JobEnvelope;

/// A queue as the admin side sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    /// Its name.
    pub name: String,
    /// Jobs waiting in it.
    pub size: u64,
    /// How long its oldest job has waited.
    pub latency: Duration,
    /// Whether workers skip it.
    pub paused: bool,
}

/// Which collection of jobs an admin call is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobSet {
    /// A queue, oldest first.
    Queue(String),
    /// Jobs waiting for their time, soonest first.
    Scheduled,
    /// Failed jobs waiting to retry, soonest first.
    Retry,
    /// Jobs whose retries are exhausted, most recent death first.
    Dead,
}

/// Narrows a listing or an action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs with this wire name.
    pub class: Option<String>,
    /// Only jobs whose arguments or error message contain this text.
    pub text: Option<String>,
}

impl JobFilter {
    /// Whether `job` passes the filter.
    ///
    /// ```
    /// use jobs::backend::JobFilter;
    /// use jobs::envelope::JobEnvelope;
    /// let job = JobEnvelope::new("Email", "default", vec!["alice@example.com".into()]);
    /// let f = JobFilter { class: Some("Email".into()), text: Some("alice".into()) };
    /// assert!(f.matches(&job));
    /// assert!(!JobFilter { class: Some("Sms".into()), text: None }.matches(&job));
    /// ```
    pub fn matches(&self, job: &JobEnvelope) -> bool {
        if let Some(class) = &self.class {
            if &job.class != class {
                return false;
            }
        }
        if let Some(text) = &self.text {
            let args = serde_json::Value::Array(job.args.clone()).to_string();
            let in_error = job
                .error_message
                .as_deref()
                .is_some_and(|m| m.contains(text.as_str()));
            if !args.contains(text.as_str()) && !in_error {
                return false;
            }
        }
        true
    }

    /// True when the filter lets every job through.
    pub fn is_empty(&self) -> bool {
        self.class.is_none() && self.text.is_none()
    }
}

/// List a page of a [`JobSet`].
#[derive(Debug, Clone)]
pub struct JobListParams {
    /// Which set.
    pub set: JobSet,
    /// Jobs to skip.
    pub offset: u64,
    /// The most jobs to return.
    pub limit: u64,
    /// Only jobs matching this.
    pub filter: JobFilter,
}

impl JobListParams {
    /// The first `limit` jobs of `set`.
    pub fn new(set: JobSet, limit: u64) -> Self {
        JobListParams {
            set,
            offset: 0,
            limit,
            filter: JobFilter::default(),
        }
    }
}

/// A job in a set, with its place there.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The job.
    pub job: JobEnvelope,
    /// The set it is in.
    pub set: JobSet,
    /// When it runs (scheduled, retry) or died (dead); `None` in a queue.
    pub at: Option<DateTime<Utc>>,
}

/// A page of jobs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPage {
    /// How many jobs match in all.
    pub total: u64,
    /// This page.
    pub jobs: Vec<StoredJob>,
}

/// Which jobs of a set an action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// These job ids.
    Jids(Vec<String>),
    /// Every job matching the filter (an empty filter matches all).
    Matching(JobFilter),
}

/// Apply an action to some jobs of a set.
#[derive(Debug, Clone)]
pub struct JobActionParams {
    /// Which set.
    pub set: JobSet,
    /// Which jobs.
    pub selection: Selection,
    /// The current time.
    pub now: DateTime<Utc>,
    /// Limits applied when jobs are killed into the dead set.
    pub dead_limits: DeadLimits,
}

impl JobActionParams {
    /// Act on the jobs with these ids in `set`.
    pub fn jids(set: JobSet, jids: Vec<String>, now: DateTime<Utc>) -> Self {
        JobActionParams {
            set,
            selection: Selection::Jids(jids),
            now,
            dead_limits: DeadLimits::default(),
        }
    }
}

/// A process as the admin side sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessRecord {
    /// What it said about itself.
    pub info: ProcessInfo,
    /// When it last beat.
    pub beat_at: DateTime<Utc>,
    /// Whether it stopped reserving.
    pub quiet: bool,
    /// What it runs now.
    pub running: Vec<RunningJob>,
}

/// Totals across the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Jobs run to an end, successful or not.
    pub processed: u64,
    /// Runs that failed.
    pub failed: u64,
    /// Dead jobs trimmed to keep within the limits.
    pub dead_trimmed: u64,
    /// Jobs waiting in all queues.
    pub enqueued: u64,
    /// Jobs in the scheduled set.
    pub scheduled: u64,
    /// Jobs in the retry set.
    pub retries: u64,
    /// Jobs in the dead set.
    pub dead: u64,
}

/// Processed and failed counts of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStats {
    /// The day.
    pub date: NaiveDate,
    /// Jobs processed that day.
    pub processed: u64,
    /// Jobs failed that day.
    pub failed: u64,
}

/// The admin side of a backend, used by the dashboard, tests and scripts.
///
/// Every backend implements it as well as [`Backend`]; [`crate::connect`] returns an
/// `Arc<dyn AdminBackend>`, which upcasts to `Arc<dyn Backend>` for the client and worker.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a jobs backend with admin operations",
    label = "not an `AdminBackend`",
    note = "every backend of `jobs` and `jobs-backends` implements `AdminBackend`, and `jobs_backends::connect(url)` returns an `Arc<dyn AdminBackend>`; a new backend implements `Backend` and `AdminBackend`"
)]
#[async_trait]
pub trait AdminBackend: Backend {
    /// Every known queue with its size, latency and paused flag, sorted by name.
    async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError>;
    /// Pause (`true`) or resume (`false`) a queue; workers skip paused queues.
    async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError>;
    /// Remove every job waiting in a queue; returns how many.
    async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError>;
    /// A page of a set, filtered.
    async fn job_list(&self, params: JobListParams) -> Result<JobPage, BackendError>;
    /// One job of a set by id.
    async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError>;
    /// Delete jobs; returns how many.
    async fn job_delete(&self, params: JobActionParams) -> Result<u64, BackendError>;
    /// Move jobs to the end of their queues now; returns how many.
    async fn job_enqueue_now(&self, params: JobActionParams) -> Result<u64, BackendError>;
    /// Move jobs to the dead set; returns how many.
    async fn job_kill(&self, params: JobActionParams) -> Result<u64, BackendError>;
    /// Live processes, by id.
    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError>;
    /// Leave a signal for a process, read at its next heartbeat.
    async fn process_signal(
        &self,
        id: &ProcessId,
        signal: ProcessSignal,
    ) -> Result<(), BackendError>;
    /// Totals.
    async fn stats(&self) -> Result<Stats, BackendError>;
    /// Per-day counts for the `days` days up to and including `today`, oldest first.
    async fn stats_history(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayStats>, BackendError>;
    /// Remove everything: jobs, sets, counters, processes. For tests and resets.
    async fn clear_all(&self) -> Result<(), BackendError>;

    /// Where this backend keeps recurring-job state and claims ticks, if it does; `None`
    /// (the default) means the backend cannot run a [`crate::schedule::Scheduler`].
    fn schedules(&self) -> Option<&dyn crate::schedule::ScheduleStore> {
        None
    }

    /// Facts about the server for the dashboard, as `(label, value)` pairs: for Redis its
    /// version and memory, for Postgres its version and sizes. Empty by default.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use jobs::backend::AdminBackend;
    /// let facts = jobs::memory::MemoryBackend::new().facts().await.unwrap();
    /// assert_eq!(facts[0], ("Jobs stored".to_owned(), "0".to_owned()));
    /// # });
    /// ```
    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        Ok(Vec::new())
    }
}
