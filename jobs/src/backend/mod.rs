//! The storage seam: the [`Backend`] trait the worker and client use, and its admin side.
//!
//! 1. [`Backend`] is the hot path: push, reserve a lease, finish, requeue, heartbeat,
//!    promote due jobs, rescue expired leases. It is object safe: backends are chosen at run
//!    time from a URL and used as `Arc<dyn Backend>`.
//! 2. [`AdminBackend`] is what the dashboard and tests read and change.
//! 3. [`Lease`] is the acknowledgement contract: a reserved job is completed, failed or
//!    requeued exactly once, by methods that consume it.
//! 4. Optional seams, each `None` unless the backend offers it: [`Backend::metrics`]
//!    ([`MetricsStore`], per-job-name metrics, `metrics.rs`), [`AdminBackend::schedules`]
//!    ([`ScheduleStore`], recurring jobs, `schedule.rs`); and [`AdminBackend::facts`], what
//!    the dashboard shows about the server.
//! 5. [`Traced`] wraps any backend in one `tracing` span per call, so backends never
//!    instrument themselves.

mod admin;
mod batch;
mod error;
mod flow;
mod forward;
mod lease;
mod limits;
pub mod metrics;
mod params;
mod schedule;
mod traced;

pub use admin::*;
pub use batch::{BatchAddParams, BatchCreateParams, BatchStatus, BatchStore};
pub use error::{BackendError, BoxError, ErrorKind};
pub use flow::{AgeParams, UniqueHeld, UniqueListParams, UniqueReleaseParams};
pub use lease::{Lease, SettleError};
pub use limits::{
    LimitKind, LimitUsage, LimitWaitingDeleteParams, LimitWaitingParams, LimitsListParams,
    RateAcquireParams, RateDecision,
};
pub use metrics::{MetricsQueryParams, MetricsStore, RecordParams};
pub use params::*;
pub use schedule::*;
pub use traced::Traced;

use async_trait::async_trait;

/// A store of jobs: the hot path the worker and client use.
///
/// Implement it (and [`AdminBackend`]) to add a backend; the conformance suite in the
/// repository's `tests/` crate states the semantics case by case. Every method takes one
/// params struct and every time-dependent method is given `now`, so behaviour is testable
/// with an injected clock.
///
/// ```
/// use std::sync::Arc;
/// use jobs::backend::{AdminBackend, Backend};
/// let backend: Arc<dyn AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
/// let hot: Arc<dyn Backend> = backend.clone();
/// assert_eq!(hot.name(), "memory");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a jobs backend",
    label = "not a backend",
    note = "use `jobs_backends::connect(url)` or one of its backends (`RedisBackend`, `PostgresBackend`, `SqliteBackend`), or `jobs::memory::MemoryBackend`; a new backend implements `Backend` and `AdminBackend`"
)]
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and errors: `memory`, `redis`, `postgres`, `sqlite`.
    fn name(&self) -> &'static str;

    /// Store jobs: a job with `at` set goes to the scheduled set, any other to the tail of
    /// its queue. All jobs of one call are stored, or none.
    async fn job_push(&self, params: PushParams) -> Result<PushReport, BackendError>;

    /// Take up to `limit` jobs from the heads of the first non-paused queues that have any,
    /// in the order given, leasing them to `process`. Waits up to `wait` when none is there.
    async fn job_reserve(&self, params: ReserveParams) -> Result<Vec<Reserved>, BackendError>;

    /// Settle reserved jobs. An item whose lease was lost is refused (listed in the report),
    /// never applied twice.
    async fn job_finish(&self, params: FinishParams) -> Result<FinishReport, BackendError>;

    /// Give reserved jobs back to the head of their queues unchanged.
    async fn job_requeue(&self, params: RequeueParams) -> Result<(), BackendError>;

    /// Record that a process is alive, what it runs, and extend its leases.
    async fn process_heartbeat(
        &self,
        params: HeartbeatParams,
    ) -> Result<HeartbeatReply, BackendError>;

    /// Remove a process that shut down cleanly.
    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError>;

    /// Move due scheduled and retry jobs to their queues; returns how many moved. Each job
    /// moves once, however many processes call this at the same time.
    async fn scheduled_promote(&self, params: PromoteParams) -> Result<u64, BackendError>;

    /// Give back jobs whose leases expired (their process stopped beating) to the head of
    /// their queues; returns how many. A rescued lease can no longer be settled.
    async fn lease_rescue(&self, params: RescueParams) -> Result<u64, BackendError>;

    /// Age waiting jobs' priorities (see [`AgeParams`]); returns how many jobs moved up. The
    /// worker calls it at each poll when [`priority_aging`](crate::WorkerBuilder::priority_aging)
    /// is set.
    async fn priority_age(&self, params: AgeParams) -> Result<u64, BackendError>;

    /// Take one start from a rate limit shared by every process (see [`RateAcquireParams`]).
    /// The worker calls it before running a job with a rate limit, and
    /// [`Limiter`](crate::Limiter) inside a job; a refusal becomes a snooze, never a failure.
    async fn rate_acquire(&self, params: RateAcquireParams) -> Result<RateDecision, BackendError>;

    /// Where this backend keeps per-job-name metrics, if it does. The worker writes its
    /// counts there and the dashboard reads them; `None` (the default) means no metrics
    /// are kept. It sits on `Backend` rather than [`AdminBackend`] because the worker,
    /// which only holds a `dyn Backend`, is what writes them; admin users reach it too.
    ///
    /// ```
    /// use jobs::backend::Backend;
    /// assert!(jobs::memory::MemoryBackend::new().metrics().is_some());
    /// ```
    fn metrics(&self) -> Option<&dyn MetricsStore> {
        None
    }

    /// Where this backend keeps batches ([`crate::batch`]), if it does; `None` (the
    /// default) means it keeps none. Its `job_finish` moves batch members and fires their
    /// callbacks in the same atomic step as their settle.
    ///
    /// ```
    /// use jobs::backend::Backend;
    /// assert!(jobs::memory::MemoryBackend::new().batches().is_some());
    /// ```
    fn batches(&self) -> Option<&dyn BatchStore> {
        None
    }
}
