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

use crate::backend::BackendError;
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

/// Declare a schedule: create its record, or refresh the description and job of an existing
/// one while keeping its enabled flag, last run and next run.
#[derive(Debug, Clone)]
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

/// Claim one tick of a schedule and enqueue its job, atomically.
#[derive(Debug, Clone)]
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
/// use jobs::schedule::ClaimParams;
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
    async fn schedule_get(&self, name: &str) -> Result<Option<ScheduleRecord>, BackendError>;

    /// Create or refresh a record; returns it as stored.
    async fn schedule_declare(&self, params: DeclareParams)
        -> Result<ScheduleRecord, BackendError>;

    /// Raise `next_run` to `next_run` (never lowers it).
    async fn schedule_advance(
        &self,
        name: &str,
        next_run: DateTime<Utc>,
    ) -> Result<(), BackendError>;

    /// Enable or disable a schedule; returns whether it exists.
    async fn schedule_set_enabled(&self, name: &str, enabled: bool) -> Result<bool, BackendError>;

    /// Remove a schedule's record; returns whether it existed.
    async fn schedule_remove(&self, name: &str) -> Result<bool, BackendError>;

    /// Claim `(name, tick)` and push the job in one atomic step; `true` for the one caller
    /// that claimed it, `false` for every other.
    async fn schedule_claim(&self, params: ClaimParams) -> Result<bool, BackendError>;

    /// Enqueue the schedule's job once, now, whatever its timing and enabled flag; returns
    /// the new job's id, or `None` when there is no such schedule.
    async fn schedule_run_now(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, BackendError> {
        let Some(record) = self.schedule_get(name).await? else {
            return Ok(None);
        };
        let mut job = record.job;
        job.jid = new_jid();
        job.created_at = to_epoch(now);
        let jid = job.jid.clone();
        let claimed = self
            .schedule_claim(ClaimParams::new(name, now, job, now))
            .await?;
        Ok(claimed.then_some(jid))
    }
}
