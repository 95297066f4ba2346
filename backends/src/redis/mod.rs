//! The Redis backend: Sidekiq 6.4's data layout, with reliable reserves and fenced acks.
//!
//! 1. **Layout.** Jobs live where Sidekiq keeps them, so Ruby and Rust share queues:
//!    `queues` (set of names), `queue:<name>` (list: LPUSH to the tail, take from the right,
//!    which is the head), `schedule`, `retry`, `dead` (sorted sets scored by epoch seconds,
//!    member = the job JSON without `at`), `stat:processed`, `stat:failed` and their
//!    `:<YYYY-MM-DD>` per-day keys (kept five years, as Sidekiq does), `processes` (set of
//!    identities) with a hash per process (`info`, `busy`, `beat`, `quiet`, `rss`, `rtt_us`),
//!    its running jobs in `<identity>:workers` (Sidekiq 6) and `<identity>:work` (Sidekiq 7
//!    renamed it; both are written so either version lists them), and `<identity>-signals`
//!    (`TSTP` = quiet, `TERM` = stop, as Sidekiq's web UI sends them). Sidekiq 8 writes
//!    timestamps as integer milliseconds; they are read too.
//! 2. **Our own keys**, under `jobs-rs:`, which Sidekiq never reads: `jobs-rs:paused`,
//!    `jobs-rs:stat:dead_trimmed`, and the lease bookkeeping (`jobs-rs:leases`,
//!    `jobs-rs:beats`, `jobs-rs:leased:*`, `jobs-rs:inflight:*`, `jobs-rs:epoch:*` and
//!    `jobs-rs:rescues`, how many times each job was rescued). See `keys.rs`. Flow control
//!    (`unique.rs`): jobs of priority 1..9 wait in `jobs-rs:pqueue:<p>:<queue>` (priority 0 in
//!    Sidekiq's list, so Ruby reads it as ever), unique locks are `jobs-rs:unique:<key>`
//!    hashes indexed in `jobs-rs:uniques`, and `jobs-rs:stat:expired` counts expired jobs.
//!    Limits (`limits.rs`): concurrency slots by lease in `jobs-rs:slots`, slots held per
//!    key in `jobs-rs:limits`, jobs moved aside in `jobs-rs:waiting:<key>`; rate logs in
//!    `jobs-rs:rate:<key>`, indexed in `jobs-rs:rates` and `jobs-rs:rates:conf`.
//! 3. **Reliable reserve.** A Lua script (or a blocking `BLMOVE`) moves each job atomically
//!    from its queue into an in-flight list owned by the reserving process, as Sidekiq Pro's
//!    super_fetch does. The lease token carries the raw payload and the process's lease
//!    epoch; finishing checks the epoch and removes exactly that payload with `LREM` (another
//!    epoch or 0 removed = the lease was lost, nothing is applied), and a requeue pushes the
//!    same bytes back to the head of the queue. Each process's lease expiry is a score in
//!    `jobs-rs:leases`, extended by reserves and heartbeats; a rescue pushes back the
//!    in-flight lists of every process whose lease expired, counting each job's rescues,
//!    raises the process's epoch (so its old tokens never settle, even for a job it reserves
//!    again), and buries a job at its `max_rescues`th (`lease.rs`).
//!    **Bytes that are not a job.** Every member is read as bytes. One that is not a job
//!    (not UTF-8, not JSON, not a job's shape) goes to the dead set on its own when a
//!    reserve or a promotion meets it, claimed by its exact bytes, as the dead job
//!    `jobs::envelope::undecodable` makes of it; listings show it as that job, with its jid,
//!    so it never makes a listing fail and can be found and deleted by that jid.
//! 4. **Connections.** One multiplexed, auto-reconnecting connection carries every
//!    non-blocking command (so enqueues pipeline and never wait behind a blocking pop);
//!    blocking pops use connections of their own, without a client response timeout and
//!    bounded instead by their own timeout, so an idle worker never loops on timeouts.
//!    Single-job pushes use plain connections of their own (`push_pool.rs`), which skip
//!    the multiplexer's driver task; blocking pops take theirs from `blocking.rs`.
//!    **TLS** (`rediss://`, `tls.rs`): the shared and blocking connections come from one
//!    client built with the URL's TLS files; the single-push connections are plain TCP
//!    only, so with TLS single pushes go on the shared connection.
//! 5. **Recurring jobs** (`schedule.rs`): schedule state in `jobs-rs:schedule:<name>`
//!    hashes, and each tick claimed with `SET NX` and pushed by the same Lua script.
//! 6. **Metrics** (`metrics.rs`): one hash of counters per UTC hour,
//!    `jobs-rs:metrics:<hour>`, expiring after the keep time. **Facts** (`facts.rs`): the
//!    dashboard's server facts, from `INFO`.
//! 7. **On a Redis Cluster** (`redis_cluster`, `conn.rs`) the same backend runs as one group
//!    of a cluster: its prefix carries a hash tag, so every key it builds is in one slot; it
//!    has no single-push connections and its reserves poll instead of blocking.
//! 8. **Layout.** The trait impls below are a table of contents: each method is one line
//!    that delegates to the file of its family, the same files in every backend
//!    (`push.rs`, `reserve.rs`, `finish.rs`, `lease.rs`, `process.rs`, `promote.rs`,
//!    `listing.rs`, `actions.rs`, `facts.rs`, `metrics.rs`, `schedule.rs`, `limits.rs`;
//!    `docs/internals.md`). The rest is this backend's own machinery: `keys.rs`,
//!    `raw.rs`, `scripts.rs`, `token.rs`, `moves.rs`, `sets.rs`, `push_pool.rs`,
//!    `blocking.rs`, `unique.rs`, `clock.rs`, `tls.rs` and `connect.rs` (building one).

mod actions;
mod age;
mod batch;
mod blocking;
mod cancel;
mod checkpoint;
mod clock;
mod config;
mod conn;
mod connect;
mod error;
mod facts;
mod finish;
mod keys;
mod lease;
mod limits;
mod listing;
mod metrics;
mod moves;
mod process;
mod promote;
mod push;
mod push_pool;
mod raw;
mod reserve;
mod results;
mod schedule;
mod scripts;
mod sets;
mod tls;
mod token;
mod unique;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs::metrics::{JobMetrics, MetricsStore, RecordParams};
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};
use jobs::ConnectError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, FromRedisValue};

pub use config::RedisOptions;
pub(crate) use config::{prefix_problem, tls_parameter, TLS_PARAMETERS};
pub use tls::RedisTls;
pub(crate) use tls::{cluster_tls, tls_problem};

use blocking::BlockingPool;
use clock::{earlier, later, lease_arg, score};
use conn::Conn;
use error::Edge;
use keys::Keys;
use push_pool::{KnownQueues, PushPool};

/// Per-day counters expire after five years, as Sidekiq's (`STATS_TTL`).
const STATS_TTL_SECS: u64 = 5 * 365 * 24 * 60 * 60;

/// A process's lease epoch key expires this long after the rescue that raised it or its last
/// heartbeat since: only a process silent for longer could hold a token it would wrongly
/// match again.
const EPOCH_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// A backend on a Redis server, sharing Sidekiq's keys.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::redis::{RedisBackend, RedisOptions};
/// let backend = RedisBackend::connect(RedisOptions::from_url("redis://127.0.0.1:6379/3?prefix=myapp")?).await?;
/// // or, through the URL registry:
/// let backend = jobs::connect("redis://127.0.0.1:6379/3?prefix=myapp").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    blocking: BlockingPool,
    /// Plain connections for single pushes (`None`: not a TCP address).
    push: Option<PushPool>,
    known: KnownQueues,
    keys: Keys,
    edge: Edge,
    opts: RedisOptions,
    /// The last heartbeat's round trip in microseconds (0 before the first), written as
    /// the process hash's `rtt_us`.
    beat_rtt_us: std::sync::atomic::AtomicU64,
}

impl Inner {
    /// The key names, under this backend's prefix.
    fn keys(&self) -> &Keys {
        &self.keys
    }

    /// How driver errors are mapped.
    fn edge(&self) -> &Edge {
        &self.edge
    }

    /// Runs one command on the shared connection.
    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, BackendError> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn)
            .await
            .map_err(|e| self.edge().map(e))
    }

    /// Runs a pipeline (or a MULTI/EXEC when `atomic`) in one round trip.
    async fn pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, BackendError> {
        let mut conn = self.conn.clone();
        pipe.query_async(&mut conn)
            .await
            .map_err(|e| self.edge().map(e))
    }

    /// Runs a script on the shared connection.
    async fn eval<T: FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, BackendError> {
        let mut conn = self.conn.clone();
        inv.invoke_async(&mut conn)
            .await
            .map_err(|e| self.edge().map(e))
    }
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("target", &self.inner.edge.target)
            .field("prefix", &self.inner.opts.prefix)
            .finish()
    }
}

/// Builds the backend for `jobs::connect`; registered for `redis://` and `rediss://`.
pub fn connector(url: String) -> jobs::ConnectFuture {
    Box::pin(async move {
        let backend = RedisBackend::from_url(&url).await?;
        Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
    })
}

#[async_trait]
impl Backend for RedisBackend {
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

    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError> {
        process::process_remove(&self.inner, params).await
    }

    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        promote::scheduled_promote(&self.inner, p).await
    }

    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        let now = p.now;
        let rescued = lease::lease_rescue(&self.inner, p).await?;
        results::purge(&self.inner, now).await?;
        Ok(rescued)
    }

    async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
        age::priority_age(&self.inner, p).await
    }

    async fn job_checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
        checkpoint::job_checkpoint(&self.inner, p).await
    }

    async fn rate_acquire(&self, p: RateAcquireParams) -> Result<RateDecision, BackendError> {
        limits::rate_acquire(&self.inner, p).await
    }

    async fn job_cancel(&self, params: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
        cancel::job_cancel(&self.inner, params).await
    }

    async fn cancel_pending(
        &self,
        params: CancelPendingParams,
    ) -> Result<Vec<String>, BackendError> {
        cancel::cancel_pending(&self.inner, params).await
    }

    async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
        cancel::cancel_listen(&self.inner).await
    }

    fn metrics(&self) -> Option<&dyn MetricsStore> {
        Some(self)
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

    fn batches(&self) -> Option<&dyn jobs::backend::BatchStore> {
        Some(self)
    }
}

#[async_trait]
impl AdminBackend for RedisBackend {
    async fn queue_list(&self, params: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
        listing::queue_list(&self.inner, params).await
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), BackendError> {
        actions::queue_pause(&self.inner, params).await
    }

    async fn queue_clear(&self, params: QueueClearParams) -> Result<u64, BackendError> {
        actions::queue_clear(&self.inner, params).await
    }

    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        listing::job_list(&self.inner, p).await
    }

    async fn job_get(&self, params: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
        listing::job_get(&self.inner, params).await
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

    async fn process_signal(&self, params: ProcessSignalParams) -> Result<(), BackendError> {
        process::process_signal(&self.inner, params).await
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        listing::stats(&self.inner).await
    }

    async fn stats_history(
        &self,
        params: StatsHistoryParams,
    ) -> Result<Vec<DayStats>, BackendError> {
        listing::stats_history(&self.inner, params).await
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
impl ScheduleStore for RedisBackend {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        schedule::schedule_list(&self.inner).await
    }

    async fn schedule_get(
        &self,
        params: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        schedule::schedule_get(&self.inner, params).await
    }

    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        schedule::schedule_declare(&self.inner, p).await
    }

    async fn schedule_advance(&self, params: AdvanceParams) -> Result<(), BackendError> {
        schedule::schedule_advance(&self.inner, params).await
    }

    async fn schedule_set_enabled(&self, params: EnableParams) -> Result<bool, BackendError> {
        schedule::schedule_set_enabled(&self.inner, params).await
    }

    async fn schedule_remove(&self, params: ScheduleRemoveParams) -> Result<bool, BackendError> {
        schedule::schedule_remove(&self.inner, params).await
    }

    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        schedule::schedule_claim(&self.inner, p).await
    }
}

#[async_trait]
impl MetricsStore for RedisBackend {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        metrics::metrics_record(&self.inner, p).await
    }

    async fn metrics_query(
        &self,
        params: MetricsQueryParams,
    ) -> Result<Vec<JobMetrics>, BackendError> {
        metrics::metrics_query(&self.inner, params).await
    }
}
