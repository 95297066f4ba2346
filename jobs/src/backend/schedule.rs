//! The schedule seam: what a backend stores for recurring jobs, apart from its job storage.
//!
//! 1. [`ScheduleStore`] is a separate, object-safe trait a backend may implement; the
//!    scheduler and dashboard reach it through
//!    [`AdminBackend::schedules`](crate::backend::AdminBackend::schedules), which is `None`
//!    for a backend without one.
//! 2. [`ScheduleStore::schedule_claim`] is the one operation that makes a tick run once: it
//!    records the claim of `(schedule, tick)` and pushes the job in one atomic step, so two
//!    processes never both enqueue a tick and a crash can never leave a claim without its job.
//! 3. [`ScheduleRecord`] is the state every process and the dashboard share: last run, next
//!    run, enabled flag, and the job a run enqueues (so "run now" works without the code).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::BackendError;
use crate::envelope::{new_jid, to_epoch, JobEnvelope};

/// A schedule's shared state, as the backend keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    /// The schedule's name.
    pub name: String,
    /// Its timing, for people: `cron 0 3 * * * (Europe/Berlin)`.
    pub description: String,
    /// The job a run enqueues (a template: each run gets a fresh jid).
    pub job: JobEnvelope,
    /// Whether ticks fire. A disabled schedule stays disabled across restarts.
    pub enabled: bool,
    /// The latest tick (or run-now) that enqueued a job.
    pub last_run: Option<DateTime<Utc>>,
    /// The next tick not yet considered; older ticks not claimed were missed.
    pub next_run: Option<DateTime<Utc>>,
}

/// One schedule record, by name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScheduleGetParams {
    /// The schedule's name.
    pub name: String,
}

impl ScheduleGetParams {
    /// The record of schedule `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ScheduleGetParams { name: name.into() }
    }
}

/// Raise a schedule's next run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdvanceParams {
    /// The schedule's name.
    pub name: String,
    /// The new next run; a lower one than stored is ignored.
    pub next_run: DateTime<Utc>,
}

impl AdvanceParams {
    /// Raise the next run of `name` to `next_run`.
    pub fn new(name: impl Into<String>, next_run: DateTime<Utc>) -> Self {
        AdvanceParams {
            name: name.into(),
            next_run,
        }
    }
}

/// Enable or disable a schedule.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnableParams {
    /// The schedule's name.
    pub name: String,
    /// Whether its ticks fire.
    pub enabled: bool,
}

impl EnableParams {
    /// Enable (`true`) or disable (`false`) schedule `name`.
    pub fn new(name: impl Into<String>, enabled: bool) -> Self {
        EnableParams {
            name: name.into(),
            enabled,
        }
    }
}

/// Remove a schedule's record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScheduleRemoveParams {
    /// The schedule's name.
    pub name: String,
}

impl ScheduleRemoveParams {
    /// Remove schedule `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ScheduleRemoveParams { name: name.into() }
    }
}

/// Enqueue a schedule's job once, now.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunNowParams {
    /// The schedule's name.
    pub name: String,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl RunNowParams {
    /// Run schedule `name` once at `now`.
    pub fn new(name: impl Into<String>, now: DateTime<Utc>) -> Self {
        RunNowParams {
            name: name.into(),
            now,
        }
    }
}

/// Declare a schedule: create its record, or refresh the description and job of an existing
/// one while keeping its enabled flag, last run and next run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeclareParams {
    /// The name.
    pub name: String,
    /// The timing, for people.
    pub description: String,
    /// The job template.
    pub job: JobEnvelope,
    /// The next run of a new record.
    pub next_run: Option<DateTime<Utc>>,
}

impl DeclareParams {
    /// Declare schedule `name`, described as `description`, enqueuing `job`; a new record's
    /// first run is `next_run`.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        job: JobEnvelope,
        next_run: Option<DateTime<Utc>>,
    ) -> Self {
        DeclareParams {
            name: name.into(),
            description: description.into(),
            job,
            next_run,
        }
    }
}

/// Claim one tick of a schedule and enqueue its job, atomically.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimParams {
    /// The schedule.
    pub name: String,
    /// The tick: with `name`, the key of the claim.
    pub tick: DateTime<Utc>,
    /// The job to push to the tail of its queue (`enqueued_at` is set to `now`).
    pub job: JobEnvelope,
    /// The current time.
    pub now: DateTime<Utc>,
    /// How long the claim is kept; claims older than this may be pruned.
    pub keep: Duration,
}

impl ClaimParams {
    /// Claim `tick` of `name` with `job`, keeping the claim 7 days.
    pub fn new(
        name: impl Into<String>,
        tick: DateTime<Utc>,
        job: JobEnvelope,
        now: DateTime<Utc>,
    ) -> Self {
        ClaimParams {
            name: name.into(),
            tick,
            job,
            now,
            keep: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// Keep the claim for `keep` (7 days unless set).
    pub fn keep(mut self, keep: Duration) -> Self {
        self.keep = keep;
        self
    }

    /// The job as pushed: `enqueued_at = now`, no `at`.
    pub fn queued_job(&self) -> JobEnvelope {
        let mut job = self.job.clone();
        job.at = None;
        job.enqueued_at = Some(to_epoch(self.now));
        job
    }
}

/// Where a backend keeps schedule state and claims ticks. Object safe: used as
/// `&dyn ScheduleStore`.
///
/// Semantics every implementation follows (the conformance suite's `schedule` area checks
/// them):
/// - `schedule_declare` creates a record `enabled`, with the given `next_run`, or refreshes
///   `description` and `job` of an existing one, keeping `enabled`, `last_run`, `next_run`.
/// - `schedule_claim` succeeds for the first caller of a `(name, tick)` pair only, and in the
///   same atomic step pushes the job to the tail of its queue and raises `last_run` to the
///   tick; it works whether or not the record exists or is enabled (the scheduler decides).
/// - `schedule_advance` raises `next_run`, never lowers it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use jobs::backend::AdminBackend;
/// use jobs::envelope::JobEnvelope;
/// use jobs::backend::ClaimParams;
/// let backend = jobs::memory::MemoryBackend::new();
/// let store = backend.schedules().unwrap();
/// let tick = "2026-01-01T03:00:00Z".parse().unwrap();
/// let job = JobEnvelope::new("Report", "default", vec![]);
/// assert!(store.schedule_claim(ClaimParams::new("nightly", tick, job.clone(), tick)).await.unwrap());
/// assert!(!store.schedule_claim(ClaimParams::new("nightly", tick, job, tick)).await.unwrap());
/// # });
/// ```
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Every schedule record, by name.
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError>;

    /// One schedule record.
    async fn schedule_get(
        &self,
        params: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError>;

    /// Create or refresh a record; returns it as stored.
    async fn schedule_declare(&self, params: DeclareParams)
        -> Result<ScheduleRecord, BackendError>;

    /// Raise `next_run` to `params.next_run` (never lowers it).
    async fn schedule_advance(&self, params: AdvanceParams) -> Result<(), BackendError>;

    /// Enable or disable a schedule; returns whether it exists.
    async fn schedule_set_enabled(&self, params: EnableParams) -> Result<bool, BackendError>;

    /// Remove a schedule's record; returns whether it existed.
    async fn schedule_remove(&self, params: ScheduleRemoveParams) -> Result<bool, BackendError>;

    /// Claim `(name, tick)` and push the job in one atomic step; `true` for the one caller
    /// that claimed it, `false` for every other.
    async fn schedule_claim(&self, params: ClaimParams) -> Result<bool, BackendError>;

    /// Enqueue the schedule's job once, now, whatever its timing and enabled flag; returns
    /// the new job's id, or `None` when there is no such schedule.
    async fn schedule_run_now(&self, params: RunNowParams) -> Result<Option<String>, BackendError> {
        let RunNowParams { name, now } = params;
        let Some(record) = self.schedule_get(ScheduleGetParams::new(&name)).await? else {
            return Ok(None);
        };
        let mut job = record.job;
        job.jid = new_jid();
        job.created_at = to_epoch(now);
        let jid = job.jid.clone();
        let claimed = self
            .schedule_claim(ClaimParams::new(&name, now, job, now))
            .await?;
        Ok(claimed.then_some(jid))
    }
}
