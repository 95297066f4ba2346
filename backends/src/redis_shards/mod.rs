//! Sharded Redis, Sidekiq-compatible: several independent Redis servers (or databases), each
//! in Sidekiq's single-instance layout, with every queue on one of them.
//!
//! 1. **Layout.** Each shard is a plain [`RedisBackend`]: a Ruby Sidekiq process pointed at a
//!    shard works its queues as ever (as with Sidekiq's own `Sidekiq::Client.via`). Which
//!    shard holds a queue is [`ShardOptions::shard_of`]: a configured pin, or a stable hash of
//!    the name (`config.rs`).
//! 2. **Hot path**: pushes go to their queue's shard; reserves take from the
//!    shards of the worker's queues in the worker's order; a lease token carries its shard,
//!    so finishes and requeues go back where the job came from; heartbeats, promotion of due
//!    jobs, lease rescue and priority aging run on every shard.
//! 3. **Admin**: listings and statistics merged across shards; actions applied
//!    on every shard that may hold the jobs.
//! 4. **Recurring jobs** (`schedule.rs`): each schedule lives on its job's queue's shard,
//!    where a tick's claim and its push are one atomic step, so a tick runs once.
//! 5. **Per shard only:** a push is atomic per shard; unique locks, concurrency limits and
//!    their waiting jobs are kept by the shard of the job's queue, so they hold across
//!    queues on one shard (pin queues that share a lock key or a limit key to one shard).
//!    Rate limits and per-job metrics have no queue: they are kept on shard 0. A batch
//!    lives whole on the shard of its queues (`batch.rs`): one whose members, callbacks or
//!    parent are on several shards is refused with the `route=` that joins them.
//! 6. **Not supported:** Redis Cluster (one cluster is not a set of Sidekiq instances).
//! 7. **Layout.** The trait impls below are a table of contents, one line per method, into
//!    the family files the Redis backend has (`push.rs`, `reserve.rs`, `finish.rs`,
//!    `lease.rs`, `process.rs`, `promote.rs`, `age.rs`, `listing.rs`, `actions.rs`,
//!    `unique.rs`, `limits.rs`, `facts.rs`, `schedule.rs`, `batch.rs`); `token.rs` and `config.rs` are
//!    this backend's own.

mod actions;
mod age;
mod batch;
mod cancel;
mod checkpoint;
mod config;
mod facts;
mod finish;
mod lease;
mod limits;
mod listing;
mod process;
mod promote;
mod push;
mod reserve;
mod results;
mod schedule;
mod token;
mod unique;

use std::sync::Arc;

use async_trait::async_trait;

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs::metrics::{JobMetrics, MetricsStore, RecordParams};
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};
use jobs::ConnectError;

pub(crate) use config::{parse_route, redact_entries, split_entries};
pub use config::{shard_for_hash, ShardOptions};
pub use reserve::ROTATION;

use crate::redis::RedisBackend;

/// A backend over several Redis shards, each in Sidekiq's layout.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::redis_shards::{ShardOptions, ShardedRedis};
/// let opts = ShardOptions::from_url("redis+shards://10.0.0.1:6379/0,10.0.0.2:6379/0?route=critical:0")?;
/// let backend = ShardedRedis::connect(opts).await?;
/// // or, through the URL registry:
/// let backend = jobs::connect("redis+shards://10.0.0.1:6379/0,10.0.0.2:6379/0").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ShardedRedis {
    inner: Arc<Shards>,
}

/// The shards and how queues map to them.
pub(crate) struct Shards {
    opts: ShardOptions,
    backends: Vec<RedisBackend>,
    /// The shard the next promotion starts at.
    promote_from: std::sync::atomic::AtomicUsize,
    /// The shard each batch seen lives on (`batch.rs`).
    batch_homes: batch::Homes,
}

impl std::fmt::Debug for ShardedRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedRedis")
            .field("opts", &self.inner.opts)
            .finish()
    }
}

impl ShardedRedis {
    /// Connects to every shard (as [`RedisBackend::connect`], at the same time).
    pub async fn connect(opts: ShardOptions) -> Result<Self, BackendError> {
        if let Some(problem) = opts.problem() {
            return Err(BackendError::msg(format!("cannot shard Redis: {problem}")));
        }
        let backends = all(opts.shards.iter().cloned().map(RedisBackend::connect)).await?;
        Ok(Self::from_backends(opts, backends))
    }

    /// The sharded backend over `backends`, one per entry of `opts.shards`, already built
    /// (the groups of a Redis Cluster, `redis_cluster`).
    pub(crate) fn from_backends(opts: ShardOptions, backends: Vec<RedisBackend>) -> Self {
        ShardedRedis {
            inner: Arc::new(Shards {
                opts,
                backends,
                promote_from: std::sync::atomic::AtomicUsize::new(0),
                batch_homes: batch::Homes::default(),
            }),
        }
    }

    /// Connects from a `redis+shards://` URL (see [`ShardOptions::from_url`]).
    pub async fn from_url(url: &str) -> Result<Self, ConnectError> {
        Ok(Self::connect(ShardOptions::from_url(url)?).await?)
    }

    /// The options this backend was built with.
    pub fn options(&self) -> &ShardOptions {
        &self.inner.opts
    }

    /// The plain backend of shard `shard` (its index in [`ShardOptions::shards`]).
    pub fn shard(&self, shard: usize) -> Option<&RedisBackend> {
        self.inner.backends.get(shard)
    }

    /// The shard `queue` lives on.
    pub fn shard_of(&self, queue: &str) -> usize {
        self.inner.opts.shard_of(queue)
    }

    fn first(&self) -> &RedisBackend {
        // `connect` refuses an empty list of shards.
        &self.inner.backends[0]
    }
}

/// Runs one call per shard at the same time and waits for every one, then gives the results
/// in order, or the first error. Unlike `try_join_all`, a failing shard never cancels a call
/// in flight on another (a heartbeat or a finish there is applied or not, never cut off).
pub(crate) async fn all<I, F, T>(calls: I) -> Result<Vec<T>, BackendError>
where
    I: IntoIterator<Item = F>,
    F: std::future::Future<Output = Result<T, BackendError>>,
{
    futures::future::join_all(calls).await.into_iter().collect()
}

/// Builds the backend for `jobs::connect`; registered for `redis+shards://`.
pub fn connector(url: String) -> jobs::ConnectFuture {
    Box::pin(async move {
        let backend = ShardedRedis::from_url(&url).await?;
        Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
    })
}

#[async_trait]
impl Backend for ShardedRedis {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn job_push(&self, p: PushParams) -> Result<PushReport, BackendError> {
        push::job_push(&self.inner, p).await
    }
    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        reserve::job_reserve(&self.inner, p).await
    }
    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        finish::job_finish(&self.inner, p).await
    }
    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        lease::job_requeue(&self.inner, p).await
    }
    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        process::process_heartbeat(&self.inner, p).await
    }
    async fn process_remove(&self, p: ProcessRemoveParams) -> Result<(), BackendError> {
        process::process_remove(&self.inner, p).await
    }
    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        promote::scheduled_promote(&self.inner, p).await
    }
    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        lease::lease_rescue(&self.inner, p).await
    }
    async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
        age::priority_age(&self.inner, p).await
    }
    async fn rate_acquire(&self, p: RateAcquireParams) -> Result<RateDecision, BackendError> {
        self.first().rate_acquire(p).await
    }
    async fn job_cancel(&self, p: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
        cancel::job_cancel(&self.inner, p).await
    }
    async fn cancel_pending(&self, p: CancelPendingParams) -> Result<Vec<String>, BackendError> {
        cancel::cancel_pending(&self.inner, p).await
    }
    async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
        cancel::cancel_listen(&self.inner).await
    }
    async fn job_progress(&self, p: ProgressParams) -> Result<bool, BackendError> {
        results::job_progress(&self.inner, p).await
    }
    async fn job_status(&self, p: JidParams) -> Result<JobStatus, BackendError> {
        results::job_status(&self.inner, p).await
    }
    async fn job_result(&self, p: JidParams) -> Result<Option<StoredResult>, BackendError> {
        results::job_result(&self.inner, p).await
    }
    async fn job_checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
        checkpoint::job_checkpoint(&self.inner, p).await
    }
    fn metrics(&self) -> Option<&dyn MetricsStore> {
        Some(self)
    }
    fn batches(&self) -> Option<&dyn BatchStore> {
        Some(self)
    }
}

#[async_trait]
impl AdminBackend for ShardedRedis {
    async fn queue_list(&self, p: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
        listing::queue_list(&self.inner, p).await
    }
    async fn queue_pause(&self, p: QueuePauseParams) -> Result<(), BackendError> {
        actions::queue_pause(&self.inner, p).await
    }
    async fn queue_clear(&self, p: QueueClearParams) -> Result<u64, BackendError> {
        actions::queue_clear(&self.inner, p).await
    }
    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        listing::job_list(&self.inner, p).await
    }
    async fn job_get(&self, p: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
        listing::job_get(&self.inner, p).await
    }
    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        actions::job_delete(&self.inner, p).await
    }
    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        actions::job_enqueue_now(&self.inner, p).await
    }
    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        actions::job_kill(&self.inner, p).await
    }
    async fn unique_list(&self, p: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError> {
        unique::unique_list(&self.inner, p).await
    }
    async fn unique_release(&self, p: UniqueReleaseParams) -> Result<bool, BackendError> {
        unique::unique_release(&self.inner, p).await
    }
    async fn limits_list(&self, p: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError> {
        limits::limits_list(&self.inner, p).await
    }
    async fn limit_waiting(&self, p: LimitWaitingParams) -> Result<Vec<JobEnvelope>, BackendError> {
        limits::limit_waiting(&self.inner, p).await
    }
    async fn limit_waiting_delete(&self, p: LimitWaitingDeleteParams) -> Result<u64, BackendError> {
        limits::limit_waiting_delete(&self.inner, p).await
    }
    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        process::process_list(&self.inner).await
    }
    async fn process_signal(&self, p: ProcessSignalParams) -> Result<(), BackendError> {
        process::process_signal(&self.inner, p).await
    }
    async fn stats(&self) -> Result<Stats, BackendError> {
        listing::stats(&self.inner).await
    }
    async fn stats_history(&self, p: StatsHistoryParams) -> Result<Vec<DayStats>, BackendError> {
        listing::stats_history(&self.inner, p).await
    }
    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        facts::facts(&self.inner).await
    }
    fn schedules(&self) -> Option<&dyn ScheduleStore> {
        Some(self)
    }
    async fn clear_all(&self) -> Result<(), BackendError> {
        actions::clear_all(&self.inner).await
    }
}

#[async_trait]
impl ScheduleStore for ShardedRedis {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        schedule::schedule_list(&self.inner).await
    }
    async fn schedule_get(
        &self,
        p: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        schedule::schedule_get(&self.inner, p).await
    }
    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        schedule::schedule_declare(&self.inner, p).await
    }
    async fn schedule_advance(&self, p: AdvanceParams) -> Result<(), BackendError> {
        schedule::schedule_advance(&self.inner, p).await
    }
    async fn schedule_set_enabled(&self, p: EnableParams) -> Result<bool, BackendError> {
        schedule::schedule_set_enabled(&self.inner, p).await
    }
    async fn schedule_remove(&self, p: ScheduleRemoveParams) -> Result<bool, BackendError> {
        schedule::schedule_remove(&self.inner, p).await
    }
    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        schedule::schedule_claim(&self.inner, p).await
    }
}

/// Per-job-name metrics have no queue: all of them are kept on shard 0.
#[async_trait]
impl MetricsStore for ShardedRedis {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        self.first().metrics_record(p).await
    }
    async fn metrics_query(&self, p: MetricsQueryParams) -> Result<Vec<JobMetrics>, BackendError> {
        self.first().metrics_query(p).await
    }
}
