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
mod cancel;
mod checkpoint;
mod error;
mod flow;
mod forward;
mod lease;
mod limits;
pub mod metrics;
mod params;
mod process_params;
mod results;
mod schedule;
mod traced;

pub use admin::*;
pub use batch::{BatchAddParams, BatchCreateParams, BatchStatus, BatchStore};
pub use cancel::{
    broadcast_feed, CancelFeed, CancelParams, CancelPendingParams, Cancellation, CANCEL_REQUEST_TTL,
};
pub use checkpoint::CheckpointParams;
pub use error::{BackendError, BoxError, ErrorKind};
pub use flow::{AgeParams, UniqueHeld, UniqueListParams, UniqueReleaseParams};
pub use lease::{Lease, SettleError};
pub use limits::{
    LimitKind, LimitUsage, LimitWaitingDeleteParams, LimitWaitingParams, LimitsListParams,
    RateAcquireParams, RateDecision,
};
pub use metrics::{MetricsQueryParams, MetricsStore, RecordParams};
pub use params::*;
pub use process_params::*;
pub use results::{
    result_expiry, JidParams, JobStatus, Progress, ProgressParams, ResultWrite, StoredResult,
    DEFAULT_RESULT_MAX_BYTES, DEFAULT_RESULT_TTL, MAX_PROGRESS_BYTES,
};
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

    /// Cancel jobs (see [`CancelParams`]): a waiting, scheduled or retrying job moves to the
    /// cancelled set at once; a running one gets a cancel request its worker learns through
    /// [`Backend::cancel_listen`] or its next heartbeat. One answer per jid, in order.
    async fn job_cancel(&self, params: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
        let _ = params;
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "job_cancel",
        })
    }

    /// Which of `params.jids` have a cancel requested (see [`CancelPendingParams`]).
    async fn cancel_pending(
        &self,
        params: CancelPendingParams,
    ) -> Result<Vec<String>, BackendError> {
        let _ = params;
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "cancel_pending",
        })
    }

    /// The jids of running jobs whose cancel is requested from now on, as the backend's
    /// channel announces them (see [`CancelFeed`]); `Unsupported` when it has none (the
    /// heartbeat still delivers them).
    async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "cancel_listen",
        })
    }

    /// Store the progress of a running job (see [`Progress`]); returns `false`, writing
    /// nothing, when `token` is no longer the job's lease (it was rescued or settled). A
    /// rescued run's progress is never reported as running.
    async fn job_progress(&self, params: ProgressParams) -> Result<bool, BackendError> {
        let _ = params;
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "job progress",
        })
    }

    /// Where the job `params.jid` is, as far as the backend knows (see [`JobStatus`]).
    async fn job_status(&self, params: JidParams) -> Result<JobStatus, BackendError> {
        let _ = params;
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "job status",
        })
    }

    /// The result the job `params.jid` returned, while it is kept (see [`ResultWrite`]).
    async fn job_result(&self, params: JidParams) -> Result<Option<StoredResult>, BackendError> {
        let _ = params;
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "job results",
        })
    }

    /// Store a running job's step progress with the job, fenced by its lease (see
    /// [`CheckpointParams`]); returns the token that holds the lease from now on. The
    /// default refuses with [`BackendError::Unsupported`]: a backend without it runs
    /// resumable jobs, but a job that reaches a checkpoint fails.
    async fn job_checkpoint(&self, params: CheckpointParams) -> Result<LeaseToken, BackendError> {
        let _ = params;
        Err(BackendError::Unsupported {
            backend: self.name(),
            operation: "job_checkpoint (resumable steps)",
        })
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
