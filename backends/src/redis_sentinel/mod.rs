//! Redis under Sentinel: a [`RedisBackend`] on whichever server the sentinels name master,
//! replaced by one on the new master after a failover.
//!
//! 1. **Layout.** Unchanged: every call goes to a plain [`RedisBackend`] on the master, so
//!    the data is Sidekiq's single-instance layout and Ruby Sidekiq (configured with the
//!    same sentinels) shares it.
//! 2. **Finding the master** (`resolve.rs`): the sentinels are asked in turn
//!    (`SENTINEL get-master-addr-by-name`) and the answer is checked with `ROLE`.
//! 3. **Following a failover.** A call that fails with a connection error, a timeout, or a
//!    reply only a demoted or changing master gives (`READONLY`, `UNBLOCKED`, `MASTERDOWN`)
//!    asks the sentinels again (at most once per [`RECHECK_AFTER_ERROR`]), and so does a
//!    heartbeat when no one asked for [`RECHECK_EVERY`] (a master that was demoted without
//!    closing our connections is then left within that time). When the master moved, a new
//!    [`RedisBackend`] on it replaces the current one: its shared connection, its single-push
//!    connections and its blocking-reserve connections are all new, so no connection to the
//!    old master is used again. Calls already running on the old one finish there (Sentinel
//!    closes clients of a demoted master, so they fail rather than hang). The failed call
//!    itself is returned as the transient error it is, never retried here: a push may have
//!    been applied before its reply was lost, and the caller decides.
//! 4. **Leases survive.** Lease tokens name the process, queue, epoch and payload, nothing of
//!    the server, so a job reserved before the failover is finished on the new master when
//!    its in-flight entry was replicated.
//! 5. **What Redis itself may lose.** Replication is asynchronous: a write the old master
//!    acknowledged but had not yet sent to the replica that is promoted is gone. See the
//!    README's "Scaling Redis" for the window and `min-replicas-to-write`/`WAIT`.

mod config;
mod resolve;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs::metrics::{JobMetrics, MetricsStore, RecordParams};
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};
use jobs::ConnectError;

pub(crate) use config::{host_port, redact};
pub use config::{SentinelOptions, DEFAULT_SENTINEL_PORT};

use crate::redis::RedisBackend;

/// After a failed call, the sentinels are asked again at most this often.
pub const RECHECK_AFTER_ERROR: Duration = Duration::from_millis(50);

/// A heartbeat asks the sentinels again when no one did for this long.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// A backend on the master a set of Redis sentinels names, following failovers.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::redis_sentinel::{SentinelOptions, SentinelRedis};
/// let opts = SentinelOptions::from_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster?prefix=app")?;
/// let backend = SentinelRedis::connect(opts).await?;
/// // or, through the URL registry:
/// let backend = jobs::connect("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SentinelRedis {
    inner: Arc<Inner>,
}

struct Inner {
    opts: SentinelOptions,
    /// The master's address and the backend on it.
    current: Mutex<Current>,
    /// Held while the sentinels are asked, so one caller asks for all.
    asking: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Current {
    addr: (String, u16),
    backend: RedisBackend,
    checked: Instant,
}

impl std::fmt::Debug for SentinelRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current();
        f.debug_struct("SentinelRedis")
            .field("opts", &self.inner.opts)
            .field("master", &current.addr)
            .finish()
    }
}

impl SentinelRedis {
    /// Asks the sentinels for the master and connects to it (as [`RedisBackend::connect`]).
    pub async fn connect(opts: SentinelOptions) -> Result<Self, BackendError> {
        if opts.sentinels.is_empty() {
            return Err(BackendError::msg("no sentinel address given"));
        }
        let addr = resolve::master_addr(&opts).await?;
        let backend = RedisBackend::connect(opts.master_options(&addr.0, addr.1)).await?;
        tracing::info!(master = %format!("{}:{}", addr.0, addr.1), name = %opts.master_name, "connected to the Redis master named by the sentinels");
        Ok(SentinelRedis {
            inner: Arc::new(Inner {
                opts,
                current: Mutex::new(Current {
                    addr,
                    backend,
                    checked: Instant::now(),
                }),
                asking: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Connects from a `redis+sentinel://` URL (see [`SentinelOptions::from_url`]).
    pub async fn from_url(url: &str) -> Result<Self, ConnectError> {
        Ok(Self::connect(SentinelOptions::from_url(url)?).await?)
    }

    /// The options this backend was built with.
    pub fn options(&self) -> &SentinelOptions {
        &self.inner.opts
    }

    /// The master's address as last resolved.
    pub fn master(&self) -> (String, u16) {
        self.current().addr
    }

    fn current(&self) -> Current {
        self.inner
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `call` on the current master's backend, and asks the sentinels again when it
    /// failed the way a failover makes calls fail.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, BackendError>
    where
        F: FnOnce(RedisBackend) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let result = call(self.current().backend).await;
        if let Err(e) = &result {
            if failover_sign(e) {
                tracing::debug!(error = %e, "a Redis call failed; asking the sentinels where the master is");
                self.recheck(RECHECK_AFTER_ERROR).await;
            }
        }
        result
    }

    /// Asks the sentinels for the master unless someone did less than `fresh` ago, and
    /// moves to it if it changed. Failures are logged: the current backend stays.
    pub async fn recheck(&self, fresh: Duration) {
        let _asking = self.inner.asking.lock().await;
        let current = self.current();
        if current.checked.elapsed() < fresh {
            return;
        }
        let found = resolve::master_addr(&self.inner.opts).await;
        let mut slot = self.inner.current.lock().unwrap_or_else(|e| e.into_inner());
        slot.checked = Instant::now();
        match found {
            Ok(addr) if addr != slot.addr => {
                match RedisBackend::lazy(self.inner.opts.master_options(&addr.0, addr.1)) {
                    Ok(backend) => {
                        tracing::warn!(
                            from = %format!("{}:{}", slot.addr.0, slot.addr.1),
                            to = %format!("{}:{}", addr.0, addr.1),
                            name = %self.inner.opts.master_name,
                            "the Redis master moved (Sentinel failover); following it"
                        );
                        slot.addr = addr;
                        slot.backend = backend;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot use the new Redis master"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the sentinels did not name a master"),
        }
    }
}

/// Whether `e` is how calls fail while the master changes: unreachable, slow, or a server
/// that is no longer (or not yet) the master.
fn failover_sign(e: &BackendError) -> bool {
    if e.is_transient() {
        return true;
    }
    let text = e.to_string();
    ["READONLY", "UNBLOCKED", "MASTERDOWN", "LOADING"]
        .iter()
        .any(|sign| text.contains(sign))
}

/// Builds the backend for `jobs::connect`; registered for `redis+sentinel://`.
pub fn connector(url: String) -> jobs::ConnectFuture {
    Box::pin(async move {
        let backend = SentinelRedis::from_url(&url).await?;
        Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
    })
}

/// `self.call(...)` of one method of the master's backend.
macro_rules! on_master {
    ($self:ident, $method:ident($($arg:ident)?)) => {
        $self.call(move |b| async move { b.$method($($arg)?).await }).await
    };
}

#[async_trait]
impl Backend for SentinelRedis {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn job_push(&self, p: PushParams) -> Result<PushReport, BackendError> {
        on_master!(self, job_push(p))
    }
    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        on_master!(self, job_reserve(p))
    }
    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        on_master!(self, job_finish(p))
    }
    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        on_master!(self, job_requeue(p))
    }
    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        self.recheck(RECHECK_EVERY).await;
        on_master!(self, process_heartbeat(p))
    }
    async fn process_remove(&self, p: ProcessRemoveParams) -> Result<(), BackendError> {
        on_master!(self, process_remove(p))
    }
    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        on_master!(self, scheduled_promote(p))
    }
    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        on_master!(self, lease_rescue(p))
    }
    async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
        on_master!(self, priority_age(p))
    }
    async fn rate_acquire(&self, p: RateAcquireParams) -> Result<RateDecision, BackendError> {
        on_master!(self, rate_acquire(p))
    }
    fn metrics(&self) -> Option<&dyn MetricsStore> {
        Some(self)
    }
}

#[async_trait]
impl AdminBackend for SentinelRedis {
    async fn queue_list(&self, p: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
        on_master!(self, queue_list(p))
    }
    async fn queue_pause(&self, p: QueuePauseParams) -> Result<(), BackendError> {
        on_master!(self, queue_pause(p))
    }
    async fn queue_clear(&self, p: QueueClearParams) -> Result<u64, BackendError> {
        on_master!(self, queue_clear(p))
    }
    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        on_master!(self, job_list(p))
    }
    async fn job_get(&self, p: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
        on_master!(self, job_get(p))
    }
    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        on_master!(self, job_delete(p))
    }
    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        on_master!(self, job_enqueue_now(p))
    }
    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        on_master!(self, job_kill(p))
    }
    async fn unique_list(&self, p: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError> {
        on_master!(self, unique_list(p))
    }
    async fn unique_release(&self, p: UniqueReleaseParams) -> Result<bool, BackendError> {
        on_master!(self, unique_release(p))
    }
    async fn limits_list(&self, p: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError> {
        on_master!(self, limits_list(p))
    }
    async fn limit_waiting(&self, p: LimitWaitingParams) -> Result<Vec<JobEnvelope>, BackendError> {
        on_master!(self, limit_waiting(p))
    }
    async fn limit_waiting_delete(&self, p: LimitWaitingDeleteParams) -> Result<u64, BackendError> {
        on_master!(self, limit_waiting_delete(p))
    }
    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        on_master!(self, process_list())
    }
    async fn process_signal(&self, p: ProcessSignalParams) -> Result<(), BackendError> {
        on_master!(self, process_signal(p))
    }
    async fn stats(&self) -> Result<Stats, BackendError> {
        on_master!(self, stats())
    }
    async fn stats_history(&self, p: StatsHistoryParams) -> Result<Vec<DayStats>, BackendError> {
        on_master!(self, stats_history(p))
    }
    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        let (host, port) = self.master();
        let mut facts: Vec<(String, String)> = on_master!(self, facts())?;
        facts.insert(0, ("Sentinel master".into(), format!("{host}:{port}")));
        Ok(facts)
    }
    fn schedules(&self) -> Option<&dyn ScheduleStore> {
        Some(self)
    }
    async fn clear_all(&self) -> Result<(), BackendError> {
        on_master!(self, clear_all())
    }
}

#[async_trait]
impl ScheduleStore for SentinelRedis {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        on_master!(self, schedule_list())
    }
    async fn schedule_get(
        &self,
        p: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        on_master!(self, schedule_get(p))
    }
    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        on_master!(self, schedule_declare(p))
    }
    async fn schedule_advance(&self, p: AdvanceParams) -> Result<(), BackendError> {
        on_master!(self, schedule_advance(p))
    }
    async fn schedule_set_enabled(&self, p: EnableParams) -> Result<bool, BackendError> {
        on_master!(self, schedule_set_enabled(p))
    }
    async fn schedule_remove(&self, p: ScheduleRemoveParams) -> Result<bool, BackendError> {
        on_master!(self, schedule_remove(p))
    }
    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        on_master!(self, schedule_claim(p))
    }
}

#[async_trait]
impl MetricsStore for SentinelRedis {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        on_master!(self, metrics_record(p))
    }
    async fn metrics_query(&self, p: MetricsQueryParams) -> Result<Vec<JobMetrics>, BackendError> {
        on_master!(self, metrics_query(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_signs_are_transient_errors_and_demoted_master_replies() {
        assert!(failover_sign(&BackendError::Timeout(Duration::from_secs(
            1
        ))));
        assert!(failover_sign(&BackendError::connection("x", "refused")));
        assert!(failover_sign(&BackendError::msg(
            "Redis at x refused: UNBLOCKED force unblock from blocking operation"
        )));
        assert!(!failover_sign(&BackendError::msg(
            "ERR wrong number of arguments"
        )));
    }
}
