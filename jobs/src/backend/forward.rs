//! [`forward_backend!`](crate::forward_backend): a wrapper backend written once, by macro,
//! instead of a hand-written copy of every `Backend` and `AdminBackend` method per wrapper.

/// Implements [`Backend`](crate::backend::Backend) and
/// [`AdminBackend`](crate::backend::AdminBackend) for a wrapper type by forwarding every
/// method to an inner backend, each call passing through one `around` expression.
///
/// Arguments, in order (each binds the names in parentheses for its expression):
/// - the wrapper type;
/// - `inner(this) = ...`: the wrapped backend, from `this: &Self`;
/// - `around(this, op, call) = ...`: the result of the method, from `op` (the method's name,
///   `&'static str`) and `call` (the inner call's future); `call.await` forwards plainly;
/// - `name(this) = ...`, `metrics(this) = ...`, `schedules(this) = ...`: the three
///   non-async methods, written out because wrappers differ most there;
/// - optionally `facts(this) = ...`: the result of `facts` (an expression that may
///   `.await`); without it `facts` is forwarded through `around` like every other call.
///
/// Used by [`Traced`](crate::backend::Traced) and by test wrappers that hide a store.
///
/// ```
/// use std::sync::Arc;
/// use jobs::backend::{AdminBackend, Backend};
/// use jobs::memory::MemoryBackend;
///
/// /// The in-memory backend without its schedule and metrics stores.
/// struct NoStores(MemoryBackend);
///
/// jobs::forward_backend! {
///     NoStores,
///     inner(this) = &this.0,
///     around(this, op, call) = call.await,
///     name(this) = "no-stores",
///     metrics(this) = None,
///     schedules(this) = None,
/// }
///
/// let backend: Arc<dyn AdminBackend> = Arc::new(NoStores(MemoryBackend::new()));
/// assert!(backend.schedules().is_none() && backend.metrics().is_none());
/// assert_eq!(backend.name(), "no-stores");
/// ```
#[macro_export]
macro_rules! forward_backend {
    (
        $ty:ty,
        inner($this:ident) = $inner:expr,
        around($athis:ident, $op:ident, $call:ident) = $around:expr,
        name($nthis:ident) = $name:expr,
        metrics($mthis:ident) = $metrics:expr,
        schedules($sthis:ident) = $schedules:expr
        $(, facts($fthis:ident) = $facts:expr)? $(,)?
    ) => {
        const _: () = {
            use $crate::backend::*;

            #[$crate::__private::async_trait]
            impl Backend for $ty {
                fn name(&self) -> &'static str {
                    #[allow(unused_variables)]
                    let $nthis = self;
                    $name
                }
                async fn job_push(&self, p: PushParams) -> Result<PushReport, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_push(p))
                }
                async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_reserve(p))
                }
                async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_finish(p))
                }
                async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_requeue(p))
                }
                async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, process_heartbeat(p))
                }
                async fn process_remove(&self, p: ProcessRemoveParams) -> Result<(), BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, process_remove(p))
                }
                async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, scheduled_promote(p))
                }
                async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, lease_rescue(p))
                }
                async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, priority_age(p))
                }
                async fn rate_acquire(&self, p: RateAcquireParams) -> Result<RateDecision, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, rate_acquire(p))
                }
                async fn job_progress(&self, p: ProgressParams) -> Result<bool, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_progress(p))
                }
                async fn job_status(&self, p: JidParams) -> Result<JobStatus, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_status(p))
                }
                async fn job_result(&self, p: JidParams) -> Result<Option<StoredResult>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_result(p))
                }
                async fn job_checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_checkpoint(p))
                }
                fn metrics(&self) -> Option<&dyn MetricsStore> {
                    #[allow(unused_variables)]
                    let $mthis = self;
                    $metrics
                }
                async fn job_cancel(&self, p: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_cancel(p))
                }
                async fn cancel_pending(&self, p: CancelPendingParams) -> Result<Vec<String>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, cancel_pending(p))
                }
                async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, cancel_listen())
                }
            }

            #[$crate::__private::async_trait]
            impl AdminBackend for $ty {
                async fn queue_list(&self, p: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, queue_list(p))
                }
                async fn queue_pause(&self, p: QueuePauseParams) -> Result<(), BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, queue_pause(p))
                }
                async fn queue_clear(&self, p: QueueClearParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, queue_clear(p))
                }
                async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_list(p))
                }
                async fn job_get(&self, p: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_get(p))
                }
                async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_delete(p))
                }
                async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_enqueue_now(p))
                }
                async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, job_kill(p))
                }
                async fn unique_list(&self, p: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, unique_list(p))
                }
                async fn unique_release(&self, p: UniqueReleaseParams) -> Result<bool, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, unique_release(p))
                }
                async fn limits_list(&self, p: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, limits_list(p))
                }
                async fn limit_waiting(&self, p: LimitWaitingParams) -> Result<Vec<$crate::envelope::JobEnvelope>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, limit_waiting(p))
                }
                async fn limit_waiting_delete(&self, p: LimitWaitingDeleteParams) -> Result<u64, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, limit_waiting_delete(p))
                }
                async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, process_list())
                }
                async fn process_signal(&self, p: ProcessSignalParams) -> Result<(), BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, process_signal(p))
                }
                async fn stats(&self) -> Result<Stats, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, stats())
                }
                async fn stats_history(&self, p: StatsHistoryParams) -> Result<Vec<DayStats>, BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, stats_history(p))
                }
                async fn clear_all(&self) -> Result<(), BackendError> {
                    $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, clear_all())
                }
                async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
                    $(
                        #[allow(unused_variables)]
                        let $fthis = self;
                        #[allow(unreachable_code)]
                        return $facts;
                    )?
                    #[allow(unreachable_code)]
                    {
                        $crate::forward_backend!(@call self, $this, $inner, $athis, $op, $call, $around, facts())
                    }
                }
                fn schedules(&self) -> Option<&dyn ScheduleStore> {
                    #[allow(unused_variables)]
                    let $sthis = self;
                    $schedules
                }
            }
        };
    };
    (@call $self:ident, $this:ident, $inner:expr, $athis:ident, $op:ident, $call:ident, $around:expr, $method:ident($($arg:expr)?)) => {{
        #[allow(unused_variables)]
        let $athis = $self;
        #[allow(unused_variables)]
        let $op: &'static str = stringify!($method);
        let $call = {
            let $this = $self;
            $inner.$method($($arg)?)
        };
        $around
    }};
}
