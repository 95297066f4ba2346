//! The admin side of a backend: what the dashboard, tests and scripts read and change.
//!
//! 1. [`AdminBackend`], its params (one `#[non_exhaustive]` struct per method that takes
//!    arguments, built with `new` and builder methods) and its results.
//! 2. The pieces every backend shares: [`JobFilter::matches`], [`JobPage::filtered`] (filter,
//!    count and page in one place) and [`StatsHistoryParams::dates`] (the days of a history).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{
    Backend, BackendError, DeadLimits, LimitUsage, LimitWaitingDeleteParams, LimitWaitingParams,
    LimitsListParams, ProcessId, ProcessInfo, ProcessSignal, RunningJob, UniqueHeld,
    UniqueListParams, UniqueReleaseParams,
};
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
    /// Jobs cancelled before or while they ran, most recent first (kept like dead jobs).
    Cancelled,
}

/// Narrows a listing or an action.
///
/// ```
/// use jobs::backend::JobFilter;
/// let f = JobFilter::new().class("Email").text("alice");
/// assert_eq!(f.class.as_deref(), Some("Email"));
/// assert!(JobFilter::new().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobFilter {
    /// Only jobs with this wire name.
    pub class: Option<String>,
    /// Only jobs whose arguments or error message contain this text.
    pub text: Option<String>,
}

impl JobFilter {
    /// A filter that lets every job through.
    pub fn new() -> Self {
        JobFilter::default()
    }

    /// Only jobs with this wire name.
    pub fn class(mut self, class: impl Into<String>) -> Self {
        self.class = Some(class.into());
        self
    }

    /// Only jobs whose arguments or error message contain `text`.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Whether `job` passes the filter.
    ///
    /// ```
    /// use jobs::backend::JobFilter;
    /// use jobs::envelope::JobEnvelope;
    /// let job = JobEnvelope::new("Email", "default", vec!["alice@example.com".into()]);
    /// let f = JobFilter::new().class("Email").text("alice");
    /// assert!(f.matches(&job));
    /// assert!(!JobFilter::new().class("Sms").matches(&job));
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
#[non_exhaustive]
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

    /// Skip the first `offset` matching jobs.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Only jobs matching `filter`.
    pub fn filter(mut self, filter: JobFilter) -> Self {
        self.filter = filter;
        self
    }
}

/// One job of a set, by id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobGetParams {
    /// Which set.
    pub set: JobSet,
    /// The job's id.
    pub jid: String,
}

impl JobGetParams {
    /// The job `jid` of `set`.
    pub fn new(set: JobSet, jid: impl Into<String>) -> Self {
        JobGetParams {
            set,
            jid: jid.into(),
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

impl JobPage {
    /// The page `params` asks for out of `all` (the whole set, in its order): the jobs that
    /// pass its filter are counted, then `offset` of them skipped and `limit` kept. For
    /// backends that filter in memory.
    ///
    /// ```
    /// use jobs::backend::{JobFilter, JobListParams, JobPage, JobSet, StoredJob};
    /// use jobs::envelope::JobEnvelope;
    /// let all = ["A", "B", "A", "A"].map(|c| StoredJob {
    ///     job: JobEnvelope::new(c, "default", vec![]),
    ///     set: JobSet::Queue("default".into()),
    ///     at: None,
    /// });
    /// let params = JobListParams::new(JobSet::Queue("default".into()), 1)
    ///     .offset(1)
    ///     .filter(JobFilter::new().class("A"));
    /// let page = JobPage::filtered(&params, all);
    /// assert_eq!((page.total, page.jobs.len()), (3, 1));
    /// ```
    pub fn filtered(params: &JobListParams, all: impl IntoIterator<Item = StoredJob>) -> JobPage {
        let matching: Vec<StoredJob> = all
            .into_iter()
            .filter(|s| params.filter.matches(&s.job))
            .collect();
        let total = matching.len() as u64;
        let jobs = matching
            .into_iter()
            .skip(usize::try_from(params.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(params.limit).unwrap_or(usize::MAX))
            .collect();
        JobPage { total, jobs }
    }
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
#[non_exhaustive]
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

    /// Act on every job of `set` that `filter` matches (an empty filter matches all).
    pub fn matching(set: JobSet, filter: JobFilter, now: DateTime<Utc>) -> Self {
        JobActionParams {
            set,
            selection: Selection::Matching(filter),
            now,
            dead_limits: DeadLimits::default(),
        }
    }

    /// Apply `limits` when jobs are killed into the dead set.
    pub fn dead_limits(mut self, limits: DeadLimits) -> Self {
        self.dead_limits = limits;
        self
    }
}

/// List every known queue.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueListParams {
    /// The current time, for each queue's latency.
    pub now: DateTime<Utc>,
}

impl QueueListParams {
    /// List the queues as of `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        QueueListParams { now }
    }
}

/// Pause or resume a queue.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueuePauseParams {
    /// The queue.
    pub queue: String,
    /// `true` pauses, `false` resumes.
    pub paused: bool,
}

impl QueuePauseParams {
    /// Pause (`true`) or resume (`false`) `queue`.
    pub fn new(queue: impl Into<String>, paused: bool) -> Self {
        QueuePauseParams {
            queue: queue.into(),
            paused,
        }
    }
}

/// Remove every job waiting in a queue.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueClearParams {
    /// The queue.
    pub queue: String,
}

impl QueueClearParams {
    /// Clear `queue`.
    pub fn new(queue: impl Into<String>) -> Self {
        QueueClearParams {
            queue: queue.into(),
        }
    }
}

/// Leave a signal for a process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessSignalParams {
    /// The process.
    pub id: ProcessId,
    /// What to ask of it.
    pub signal: ProcessSignal,
}

impl ProcessSignalParams {
    /// Ask process `id` to obey `signal` at its next heartbeat.
    pub fn new(id: impl Into<ProcessId>, signal: ProcessSignal) -> Self {
        ProcessSignalParams {
            id: id.into(),
            signal,
        }
    }
}

/// Per-day counts for the `days` days up to and including `today`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatsHistoryParams {
    /// The last day of the history (UTC).
    pub today: NaiveDate,
    /// How many days.
    pub days: u32,
}

impl StatsHistoryParams {
    /// The `days` days up to and including `today`.
    pub fn new(today: NaiveDate, days: u32) -> Self {
        StatsHistoryParams { today, days }
    }

    /// The days of the history, oldest first (days before the calendar's start are left out).
    ///
    /// ```
    /// use jobs::backend::StatsHistoryParams;
    /// let today = jobs::chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    /// let days = StatsHistoryParams::new(today, 3).dates();
    /// assert_eq!(days.iter().map(|d| d.to_string()).collect::<Vec<_>>(), ["2026-02-27", "2026-02-28", "2026-03-01"]);
    /// ```
    pub fn dates(&self) -> Vec<NaiveDate> {
        (0..self.days)
            .rev()
            .filter_map(|back| {
                self.today
                    .checked_sub_days(chrono::Days::new(u64::from(back)))
            })
            .collect()
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
    /// Jobs dropped unstarted past their expiry.
    pub expired: u64,
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
    async fn queue_list(&self, params: QueueListParams) -> Result<Vec<QueueInfo>, BackendError>;
    /// Pause or resume a queue; workers skip paused queues.
    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), BackendError>;
    /// Remove every job waiting in a queue; returns how many.
    async fn queue_clear(&self, params: QueueClearParams) -> Result<u64, BackendError>;
    /// A page of a set, filtered.
    async fn job_list(&self, params: JobListParams) -> Result<JobPage, BackendError>;
    /// One job of a set by id.
    async fn job_get(&self, params: JobGetParams) -> Result<Option<StoredJob>, BackendError>;
    /// Delete jobs; returns how many.
    async fn job_delete(&self, params: JobActionParams) -> Result<u64, BackendError>;
    /// Move jobs to the end of their queues now; returns how many.
    async fn job_enqueue_now(&self, params: JobActionParams) -> Result<u64, BackendError>;
    /// Move jobs to the dead set; returns how many.
    async fn job_kill(&self, params: JobActionParams) -> Result<u64, BackendError>;
    /// The unique locks held (see [`UniqueListParams`]).
    async fn unique_list(&self, params: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError>;
    /// Releases a unique lock; whether one was held.
    async fn unique_release(&self, params: UniqueReleaseParams) -> Result<bool, BackendError>;
    /// The concurrency and rate limits in use (see [`LimitsListParams`]).
    async fn limits_list(&self, params: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError>;
    /// The jobs moved aside waiting for a slot of a concurrency key, oldest first (see
    /// [`LimitWaitingParams`]): in no queue or set until a slot frees, so listed here.
    async fn limit_waiting(
        &self,
        params: LimitWaitingParams,
    ) -> Result<Vec<JobEnvelope>, BackendError>;
    /// Deletes jobs waiting for a slot of a concurrency key (see
    /// [`LimitWaitingDeleteParams`]); returns how many.
    async fn limit_waiting_delete(
        &self,
        params: LimitWaitingDeleteParams,
    ) -> Result<u64, BackendError>;
    /// Live processes, by id.
    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError>;
    /// Leave a signal for a process, read at its next heartbeat.
    async fn process_signal(&self, params: ProcessSignalParams) -> Result<(), BackendError>;
    /// Totals.
    async fn stats(&self) -> Result<Stats, BackendError>;
    /// Per-day counts for the `days` days up to and including `today`, oldest first.
    async fn stats_history(
        &self,
        params: StatsHistoryParams,
    ) -> Result<Vec<DayStats>, BackendError>;
    /// Remove everything: jobs, sets, counters, processes, schedules' state, metrics.
    ///
    /// **For tests and development resets only**: the conformance suite and the test helpers
    /// start from an empty store with it. No worker, client or dashboard page calls it, and a
    /// production deployment never should: it deletes jobs that were promised to run.
    async fn clear_all(&self) -> Result<(), BackendError>;

    /// Where this backend keeps recurring-job state and claims ticks, if it does; `None`
    /// (the default) means the backend cannot run a [`Scheduler`](crate::schedule::Scheduler).
    fn schedules(&self) -> Option<&dyn super::ScheduleStore> {
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
