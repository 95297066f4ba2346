//! The worker: performs jobs from a backend, in its own process or inside the web process.
//!
//! 1. [`WorkerBuilder`] (`builder.rs`) collects queues, concurrency, states, hooks and
//!    timings, and refuses to build when a registered job needs a state it was not given, or
//!    two jobs share a name.
//! 2. [`Worker::run`] starts the heartbeat, the poller and the fetch loop (in `run.rs`) and
//!    returns after a graceful shutdown; [`WorkerHandle`] quiets or stops it from elsewhere.
//! 3. `processor.rs` runs each job, on one of the runner tasks of `runners.rs`;
//!    `settle.rs` stores their outcomes in batches; `hooks.rs` holds middleware and handlers.
//! 4. An optional recurring-job [`Scheduler`] runs beside the fetch loop while the worker runs.
//! 5. Prometheus-style metrics go out through the `metrics` facade (`crate::telemetry`);
//!    a [`QueueSampler`](crate::telemetry::QueueSampler) given to the builder runs beside
//!    the loops.
//! 6. When the backend keeps metrics ([`Backend::metrics`]), each run's job name, outcome and
//!    duration are counted in memory and written in batches (`crate::metrics::recorder`).

mod background;
mod backoff;
mod builder;
pub(crate) mod cancel;
mod health;
mod held;
pub(crate) mod hooks;
mod limits;
pub(crate) mod links;
mod lookup;
pub(crate) mod processor;
mod queues;
pub(crate) mod recorder;
mod results;
mod run;
mod runners;
mod settle;
mod tally;

pub use builder::WorkerBuilder;
pub use cancel::DEFAULT_CANCEL_GRACE;
pub use health::{Health, HealthState, Probe};
pub use hooks::{DeathHandler, ErrorHandler, Next, ServerMiddleware};
pub use queues::QueueOrder;
pub use run::WorkerHandle;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::{Backend, DeadLimits, LeaseToken, ProcessId, RunningJob};
use crate::client::Client;
use crate::clock::Clock;
use crate::job::States;
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
    /// The health probes' address (see [`WorkerBuilder::health_addr`]) could not be bound.
    #[cfg(feature = "health-http")]
    #[error("could not listen for health probes on {addr}: {source}")]
    HealthBind {
        /// The address asked for.
        addr: String,
        /// Why binding failed.
        source: std::io::Error,
    },
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
    /// The Prometheus-style series of each `(queue, job)` pair this worker ran.
    pub(crate) series: crate::telemetry::Series,
    running: Mutex<Running>,
    /// Every lease this worker holds, from its reserve until its outcome is stored or it is
    /// given back, and when the store last confirmed it (see `held.rs`).
    pub(crate) held: held::HeldLeases,
    /// The lease TTL the worker asks for.
    pub(crate) lease_ttl: Duration,
    /// How long a cancelled job that declares no `cancel_grace` may go on before it is aborted.
    pub(crate) cancel_grace: Duration,
    /// Result cap and retention, progress throttle (see `results.rs`).
    pub(crate) results: results::ResultSettings,
    /// Cancelled when the worker is asked to stop: resumable jobs stop at their next
    /// checkpoint (`job/steps`).
    pub(crate) stopping: tokio_util::sync::CancellationToken,
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
            series: crate::telemetry::Series::default(),
            running: Mutex::default(),
            held: held::HeldLeases::default(),
            lease_ttl: Duration::from_secs(60),
            cancel_grace: cancel::DEFAULT_CANCEL_GRACE,
            results: results::ResultSettings::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
        }
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

    /// Records that `run` started; returns its key in the running set. A run that starts
    /// after the shutdown timeout passed is stopped at once.
    /// Adds a run to the running set; its key is for `running_remove`, once.
    pub(crate) fn running_insert(&self, run: &links::Links) -> usize {
        let mut running = self.running();
        let key = running.jobs.insert(run.weak());
        if running.stopped {
            run.stop();
        }
        key
    }

    /// Removes the run of `key` (a key is reused once removed: each run removes its own
    /// once, when it ends).
    pub(crate) fn running_remove(&self, key: usize) {
        self.running().jobs.try_remove(key);
    }

    /// The runs going on now.
    pub(crate) fn running_links(&self) -> Vec<Arc<links::Links>> {
        self.running()
            .jobs
            .iter()
            .filter_map(|(_, run)| run.upgrade())
            .collect()
    }

    pub(crate) fn running_jobs(&self) -> Vec<RunningJob> {
        self.running_links()
            .iter()
            .map(|run| RunningJob {
                job: (**run.job()).clone(),
                started_at: run.started_at(),
            })
            .collect()
    }

    /// Cancels job `jid` if it runs here; whether it does.
    pub(crate) fn trip(&self, jid: &str) -> bool {
        let runs: Vec<_> = self
            .running_links()
            .into_iter()
            .filter(|run| run.job().jid == jid)
            .collect();
        for run in &runs {
            run.trip();
        }
        !runs.is_empty()
    }

    /// The shutdown timeout passed: every run stops (and every run starting from now).
    pub(crate) fn stop_running(&self) {
        let runs: Vec<_> = {
            let mut running = self.running();
            running.stopped = true;
            running
                .jobs
                .iter()
                .filter_map(|(_, run)| run.upgrade())
                .collect()
        };
        for run in runs {
            run.stop();
        }
    }
}

/// The runs going on now, each in a slot of its own (the heartbeat lists their jobs;
/// cancels and the shutdown find them here).
#[derive(Default)]
struct Running {
    jobs: slab::Slab<std::sync::Weak<links::Links>>,
    /// The shutdown timeout passed.
    stopped: bool,
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
    health: Health,
    /// Samples the store's gauges while running, if given.
    queue_sampler: Option<crate::telemetry::QueueSampler>,
    /// Where to serve the health probes while running, if anywhere.
    #[cfg(feature = "health-http")]
    health_addr: Option<String>,
    /// What `GET /metrics` answers on the probes' listener, if it is served.
    #[cfg(feature = "health-http")]
    metrics_text: Option<MetricsText>,
}

/// Renders the metrics text served at `GET /metrics` (see
/// [`WorkerBuilder::metrics_endpoint`]).
#[cfg(feature = "health-http")]
pub(crate) type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

impl Worker {
    /// A handle to quiet or stop this worker from another task.
    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// This worker's health: a cheap handle that reads or waits on its state, and answers
    /// the `/livez` and `/readyz` probes (see [`Health`]). Take it before running the worker.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = jobs::connect("memory://").await.unwrap();
    /// let worker = jobs::Worker::builder(backend).build().unwrap();
    /// let health = worker.health();
    /// assert_eq!(health.readyz().status, 503, "not ready before it runs");
    /// # });
    /// ```
    pub fn health(&self) -> Health {
        self.health.clone()
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
