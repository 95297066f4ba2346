//! The worker: performs jobs from a backend, in its own process or inside the web process.
//!
//! 1. [`WorkerBuilder`] collects queues, concurrency, states, hooks and timings, and refuses
//!    to build when a registered job needs a state it was not given, or two jobs share a name.
//! 2. [`Worker::run`] starts the heartbeat, the poller and the fetch loop (in `run.rs`) and
//!    returns after a graceful shutdown; [`WorkerHandle`] quiets or stops it from elsewhere.
//! 3. `processor.rs` runs each job; `settle.rs` stores their outcomes in batches; `hooks.rs`
//!    holds middleware and handlers.
//! 4. An optional recurring-job [`Scheduler`] runs beside the fetch loop while the worker runs.
//! 5. When the backend keeps metrics ([`Backend::metrics`]), each run's job name, outcome and
//!    duration are counted in memory and written in batches (`crate::metrics::recorder`).

mod backoff;
mod held;
pub(crate) mod hooks;
mod limits;
pub(crate) mod processor;
mod queues;
pub(crate) mod recorder;
mod run;
mod settle;

pub use hooks::{DeathHandler, ErrorHandler, Next, ServerMiddleware};
pub use queues::QueueOrder;
pub use run::WorkerHandle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, DeadLimits, LeaseToken, ProcessId, RunningJob};
use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::envelope::JobEnvelope;
use crate::job::{Failure, States};
use crate::registry::{DuplicateJob, Registry};
use crate::schedule::Scheduler;

/// Why a worker could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A registered job needs a state the worker was not given.
    #[error("job {job} needs State<{type_name}>, but the worker was not given one: add .state(..) with a {type_name}")]
    MissingState {
        /// The job's wire name.
        job: String,
        /// The state's type.
        type_name: &'static str,
    },
    /// Two jobs share a wire name.
    #[error(transparent)]
    Duplicate(#[from] DuplicateJob),
    /// No queue to work.
    #[error("the worker has no queues: give it .queues([..]) or .weighted_queues([..])")]
    NoQueues,
    /// Concurrency must be at least 1.
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
}

/// Why a worker stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Installing the signal handlers failed.
    #[error("could not listen for shutdown signals: {0}")]
    Signals(#[from] std::io::Error),
}

/// Everything the worker's tasks share; read-only but for the running set.
pub(crate) struct Runtime {
    pub(crate) registry: Registry,
    pub(crate) states: States,
    pub(crate) client: Client,
    pub(crate) middleware: Vec<Arc<dyn ServerMiddleware>>,
    pub(crate) error_handlers: Vec<ErrorHandler>,
    pub(crate) death_handlers: Vec<DeathHandler>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) dead_limits: DeadLimits,
    /// The rescue count at which a job is taken for what kills processes.
    pub(crate) max_rescues: u32,
    /// Run counts not yet written to the backend's metrics store.
    pub(crate) metrics: Arc<crate::worker::recorder::Recorder>,
    running: Mutex<Running>,
    /// Every lease this worker holds, from its reserve until its outcome is stored or it is
    /// given back, and when the store last confirmed it (see `held.rs`).
    pub(crate) held: held::HeldLeases,
    /// The lease TTL the worker asks for.
    pub(crate) lease_ttl: Duration,
}

impl Runtime {
    pub(crate) fn new(client: Client, registry: Registry, states: States) -> Self {
        Runtime {
            clock: client.clock().clone(),
            client: client.with_states(states.clone()),
            registry,
            states,
            middleware: Vec::new(),
            error_handlers: Vec::new(),
            death_handlers: Vec::new(),
            dead_limits: DeadLimits::default(),
            max_rescues: crate::backend::DEFAULT_MAX_RESCUES,
            metrics: Arc::default(),
            running: Mutex::default(),
            held: held::HeldLeases::default(),
            lease_ttl: Duration::from_secs(60),
        }
    }

    /// Records that this worker holds the lease of `token` (reserved, not settled yet),
    /// taken by a reserve sent at `sent`.
    pub(crate) fn hold(&self, token: &LeaseToken, sent: tokio::time::Instant) {
        self.held.hold(token, sent);
    }

    /// Records that the lease of `token` is settled or given back (or given up on).
    pub(crate) fn release(&self, token: &LeaseToken) {
        self.held.release(token);
    }

    /// The leases this worker holds now, for the heartbeat to extend.
    pub(crate) fn held_leases(&self) -> Vec<LeaseToken> {
        self.held.tokens()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `job` started at `at`; returns its key in the running set.
    pub(crate) fn running_insert(&self, job: Arc<JobEnvelope>, at: DateTime<Utc>) -> u64 {
        let mut running = self.running();
        running.next += 1;
        let key = running.next;
        running.jobs.insert(key, (job, at));
        key
    }

    pub(crate) fn running_remove(&self, key: u64) {
        self.running().jobs.remove(&key);
    }

    pub(crate) fn running_jobs(&self) -> Vec<RunningJob> {
        self.running()
            .jobs
            .values()
            .map(|(job, started_at)| RunningJob {
                job: (**job).clone(),
                started_at: *started_at,
            })
            .collect()
    }
}

/// The jobs running now, keyed by a counter (the heartbeat lists them).
#[derive(Default)]
struct Running {
    next: u64,
    jobs: HashMap<u64, (Arc<JobEnvelope>, DateTime<Utc>)>,
}

/// Timings of the worker's background loops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    pub(crate) heartbeat: Duration,
    pub(crate) lease_ttl: Duration,
    pub(crate) poll: Duration,
    pub(crate) fetch_wait: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) metrics_flush: Duration,
    /// Priority aging: one priority step per this much waiting; `None`: off.
    pub(crate) aging: Option<Duration>,
}

/// Configures a [`Worker`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use jobs::prelude::*;
/// let backend = jobs::connect("memory://").await.unwrap();
/// let worker = Worker::builder(backend)
///     .queues(["critical", "mailers", "default"])
///     .concurrency(10)
///     .shutdown_timeout(Duration::from_secs(25))
///     .build()
///     .unwrap();
/// # });
/// ```
#[must_use]
pub struct WorkerBuilder {
    backend: Arc<dyn Backend>,
    client: Option<Client>,
    queues: QueueOrder,
    concurrency: usize,
    states: States,
    registry: Option<Registry>,
    clock: Arc<dyn Clock>,
    timings: Timings,
    dead_limits: DeadLimits,
    max_rescues: u32,
    middleware: Vec<Arc<dyn ServerMiddleware>>,
    error_handlers: Vec<ErrorHandler>,
    death_handlers: Vec<DeathHandler>,
    tag: Option<String>,
    handle_signals: bool,
    scheduler: Option<Scheduler>,
}

impl WorkerBuilder {
    /// Work these queues in strict order: a later queue only when earlier ones are empty.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues = QueueOrder::Strict(queues.into_iter().map(Into::into).collect());
        self
    }

    /// Work these queues weighted, like Sidekiq's `-q critical,3 -q default,1`.
    pub fn weighted_queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = (S, u32)>,
        S: Into<String>,
    {
        self.queues =
            QueueOrder::Weighted(queues.into_iter().map(|(q, w)| (q.into(), w)).collect());
        self
    }

    /// How many jobs run at once (default 10).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Gives jobs a `State<T>`.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states = self.states.with(value);
        self
    }

    /// Performs only the jobs of this registry (default: every `#[job]` in the program).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Reads time from `clock`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The client jobs use to enqueue other jobs (default: one on the same backend).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// How long running jobs may finish after a stop before they are requeued (default 25 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.timings.shutdown_timeout = d;
        self
    }

    /// How often the process beats (default 5 s).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.timings.heartbeat = d;
        self
    }

    /// How long the leases of a silent process last before others rescue its jobs (default 60 s).
    pub fn lease_ttl(mut self, d: Duration) -> Self {
        self.timings.lease_ttl = d;
        self
    }

    /// The average interval of promoting due jobs and rescuing expired leases (default 5 s,
    /// jittered ±50% so processes do not stampede).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.timings.poll = d;
        self
    }

    /// Turns on priority aging: at each poll, a job that has waited in its queue `every` × k
    /// runs as if its priority were k smaller (never below 0), so urgent jobs cannot starve
    /// the others for ever (off by default: strict priorities). One process with it set
    /// ages every queue.
    pub fn priority_aging(mut self, every: Duration) -> Self {
        self.timings.aging = Some(every);
        self
    }

    /// The longest a reserve blocks waiting for a job before checking for shutdown (default 1 s).
    pub fn fetch_wait(mut self, d: Duration) -> Self {
        self.timings.fetch_wait = d;
        self
    }

    /// How often run counts are written to the backend's metrics store, when it has one
    /// (default 5 s; they are also written at shutdown).
    pub fn metrics_interval(mut self, d: Duration) -> Self {
        self.timings.metrics_flush = d.max(Duration::from_millis(10));
        self
    }

    /// Limits of the dead set (default 10,000 jobs, 6 months).
    pub fn dead_limits(mut self, limits: DeadLimits) -> Self {
        self.dead_limits = limits;
        self
    }

    /// How many times a job may be rescued from a process that died while running it
    /// before it is taken for the cause and moved to the dead set (default 3, as Sidekiq
    /// Pro). A job with rescues runs alone in its worker, so jobs that happened to run beside
    /// it are not rescued again with it. See
    /// [`RescueParams`](crate::backend::RescueParams).
    ///
    /// ```
    /// let backend = jobs::memory::MemoryBackend::new();
    /// let worker = jobs::Worker::builder(std::sync::Arc::new(backend)).max_rescues(5);
    /// # let _ = worker;
    /// ```
    pub fn max_rescues(mut self, rescues: u32) -> Self {
        self.max_rescues = rescues.max(1);
        self
    }

    /// Adds a server middleware; the first added runs outermost.
    pub fn middleware(mut self, m: impl ServerMiddleware) -> Self {
        self.middleware.push(Arc::new(m));
        self
    }

    /// Adds an error handler, called on every failure.
    pub fn on_error(mut self, f: impl Fn(&JobEnvelope, &Failure) + Send + Sync + 'static) -> Self {
        self.error_handlers.push(Arc::new(f));
        self
    }

    /// Adds a death handler, called when a job moves to the dead set.
    pub fn on_death(mut self, f: impl Fn(&JobEnvelope, &Failure) + Send + Sync + 'static) -> Self {
        self.death_handlers.push(Arc::new(f));
        self
    }

    /// A tag shown with the process (an app name).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Whether `run` stops on SIGINT/SIGTERM and quiets on SIGTSTP (default true; turn off
    /// when embedding the worker in a web process that handles signals itself).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Runs a recurring-job [`Scheduler`] inside this worker: it starts with [`Worker::run`]
    /// and stops when the worker stops. Any number of workers may run one; each tick is
    /// still enqueued once.
    pub fn scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Checks the configuration and builds the worker.
    pub fn build(self) -> Result<Worker, BuildError> {
        if self.concurrency == 0 {
            return Err(BuildError::ZeroConcurrency);
        }
        if self.queues.names().is_empty() {
            return Err(BuildError::NoQueues);
        }
        let registry = match self.registry {
            Some(r) => r,
            None => Registry::from_inventory()?,
        };
        let mut regs: Vec<_> = registry.iter().collect();
        regs.sort_by_key(|r| r.name);
        for reg in regs {
            for key in (reg.states)() {
                if !self.states.contains(&key) {
                    return Err(BuildError::MissingState {
                        job: reg.name.to_owned(),
                        type_name: key.type_name,
                    });
                }
            }
        }
        let client = self.client.unwrap_or_else(|| {
            Client::builder(self.backend.clone())
                .clock(self.clock.clone())
                .build()
        });
        let mut rt = Runtime::new(client, registry, self.states);
        rt.clock = self.clock;
        rt.middleware = self.middleware;
        rt.error_handlers = self.error_handlers;
        rt.death_handlers = self.death_handlers;
        rt.dead_limits = self.dead_limits;
        rt.max_rescues = self.max_rescues;
        rt.lease_ttl = self.timings.lease_ttl;
        Ok(Worker {
            backend: self.backend,
            rt: Arc::new(rt),
            queues: self.queues,
            concurrency: self.concurrency,
            timings: self.timings,
            tag: self.tag,
            handle_signals: self.handle_signals,
            scheduler: self.scheduler.map(Arc::new),
            handle: WorkerHandle::new(),
            id: process_id(),
        })
    }
}

/// A worker process: reserves jobs from its queues and performs them.
///
/// Run it in its own process (`worker.run().await` in `main`), or inside the web process
/// with `tokio::spawn(worker.run())` and [`Worker::handle`] to stop it with the server.
pub struct Worker {
    backend: Arc<dyn Backend>,
    rt: Arc<Runtime>,
    queues: QueueOrder,
    concurrency: usize,
    timings: Timings,
    tag: Option<String>,
    handle_signals: bool,
    scheduler: Option<Arc<Scheduler>>,
    handle: WorkerHandle,
    id: ProcessId,
}

impl Worker {
    /// Starts configuring a worker on `backend`.
    pub fn builder(backend: Arc<dyn Backend>) -> WorkerBuilder {
        WorkerBuilder {
            backend,
            client: None,
            queues: QueueOrder::Strict(vec!["default".into()]),
            concurrency: 10,
            states: States::new(),
            registry: None,
            clock: Arc::new(SystemClock),
            timings: Timings {
                heartbeat: Duration::from_secs(5),
                lease_ttl: Duration::from_secs(60),
                poll: Duration::from_secs(5),
                fetch_wait: Duration::from_secs(1),
                shutdown_timeout: Duration::from_secs(25),
                metrics_flush: Duration::from_secs(5),
                aging: None,
            },
            dead_limits: DeadLimits::default(),
            max_rescues: crate::backend::DEFAULT_MAX_RESCUES,
            middleware: Vec::new(),
            error_handlers: Vec::new(),
            death_handlers: Vec::new(),
            tag: None,
            handle_signals: true,
            scheduler: None,
        }
    }

    /// A handle to quiet or stop this worker from another task.
    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// This process's id in the backend (`hostname:pid:random`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn process_id() -> ProcessId {
    let host = hostname();
    let nonce: u32 = rand::random();
    format!("{host}:{}:{nonce:08x}", std::process::id())
}

pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
