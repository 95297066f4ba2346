//! Configuring a worker: [`WorkerBuilder`] collects queues, concurrency, states, hooks and
//! timings, and [`WorkerBuilder::build`] refuses a configuration that cannot work (a job
//! needing a state it was not given, two jobs with one name, no queue, no concurrency).

use std::sync::Arc;
use std::time::Duration;

use super::queues::QueueOrder;
use super::run::WorkerHandle;
use super::{
    process_id, BuildError, DeathHandler, ErrorHandler, Health, Runtime, ServerMiddleware, Timings,
    Worker,
};
use crate::backend::{Backend, DeadLimits};
use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::envelope::JobEnvelope;
use crate::job::{Failure, States};
use crate::registry::Registry;
use crate::schedule::Scheduler;
use crate::telemetry::QueueSampler;

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
            queue_sampler: None,
            #[cfg(feature = "health-http")]
            health_addr: None,
            #[cfg(feature = "health-http")]
            metrics_text: None,
            cancel_grace: super::cancel::DEFAULT_CANCEL_GRACE,
            results: Default::default(),
        }
    }
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
    queue_sampler: Option<QueueSampler>,
    #[cfg(feature = "health-http")]
    health_addr: Option<String>,
    #[cfg(feature = "health-http")]
    metrics_text: Option<super::MetricsText>,
    cancel_grace: Duration,
    /// Result cap and retention, progress throttle (see `results.rs`).
    pub(super) results: super::results::ResultSettings,
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

    /// How long a cancelled job may go on before the worker aborts it, for jobs that declare
    /// no `#[job(cancel_grace = "..")]` (default [`DEFAULT_CANCEL_GRACE`](super::DEFAULT_CANCEL_GRACE),
    /// 30 s). See [`Client::cancel`](crate::Client::cancel).
    ///
    /// ```
    /// let backend = jobs::memory::MemoryBackend::new();
    /// let worker = jobs::Worker::builder(std::sync::Arc::new(backend))
    ///     .cancel_grace(std::time::Duration::from_secs(5));
    /// # let _ = worker;
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
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

    /// Serves the health probes over HTTP on `addr` while the worker runs (needs the
    /// `health-http` feature): `GET /livez` answers 200 while the process is up, and
    /// `GET /readyz` 200 only while the worker is connected to its store, heartbeating and
    /// not draining, else 503 with the reason in one line of plain text. The address is
    /// bound when [`Worker::run`] starts, which fails with
    /// [`WorkerError::HealthBind`](crate::worker::WorkerError::HealthBind) if it cannot be;
    /// the server stops when the run ends. Point a Kubernetes `livenessProbe` at `/livez` and
    /// its `readinessProbe` at `/readyz` (see `docs/deploy.md`). Without this, read or serve
    /// [`Worker::health`] yourself.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let backend = jobs::connect("memory://").await.unwrap();
    /// let worker = jobs::Worker::builder(backend)
    ///     .health_addr("0.0.0.0:8081")
    ///     .shutdown_timeout(Duration::from_secs(25))
    ///     .build()
    ///     .unwrap();
    /// // worker.run().await?;
    /// # drop(worker);
    /// # });
    /// ```
    #[cfg(feature = "health-http")]
    pub fn health_addr(mut self, addr: impl Into<String>) -> Self {
        self.health_addr = Some(addr.into());
        self
    }

    /// Also serves `GET /metrics` on the [`health_addr`](Self::health_addr) listener (with
    /// `/livez` and `/readyz`), answering with what `render` gives: the Prometheus text
    /// format of whatever exporter the app installed. One port per worker for probes and
    /// scrapes, and one server; without a `health_addr` nothing is served. With the
    /// `prometheus` feature, [`jobs::telemetry::prometheus::install`](crate::telemetry)
    /// gives the handle to render from.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = jobs::connect("memory://").await.unwrap();
    /// let text = || String::from("jobs_busy 0\n"); // say, `move || handle.render()`
    /// let worker = jobs::Worker::builder(backend)
    ///     .health_addr("0.0.0.0:8081")
    ///     .metrics_endpoint(text)
    ///     .build()
    ///     .unwrap();
    /// # drop(worker);
    /// # });
    /// ```
    #[cfg(feature = "health-http")]
    pub fn metrics_endpoint(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics_text = Some(Arc::new(render));
        self
    }

    /// Samples the store's gauges (queue sizes and latencies, set sizes, processes, busy
    /// jobs) while the worker runs; see [`QueueSampler`] for how often and which process
    /// should. Without it this worker emits only its own counters and durations.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = jobs::connect("memory://").await.unwrap();
    /// let worker = jobs::Worker::builder(backend.clone())
    ///     .queue_metrics(jobs::telemetry::QueueSampler::new(backend))
    ///     .build()
    ///     .unwrap();
    /// # drop(worker);
    /// # });
    /// ```
    pub fn queue_metrics(mut self, sampler: QueueSampler) -> Self {
        self.queue_sampler = Some(sampler);
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
        rt.cancel_grace = self.cancel_grace;
        rt.results = self.results;
        let handle = WorkerHandle::new();
        rt.stopping = handle.stop.clone();
        let health = Health::new(self.backend.name());
        Ok(Worker {
            backend: self.backend,
            rt: Arc::new(rt),
            queues: self.queues,
            concurrency: self.concurrency,
            timings: self.timings,
            tag: self.tag,
            handle_signals: self.handle_signals,
            scheduler: self.scheduler.map(Arc::new),
            handle,
            id: process_id(),
            health,
            queue_sampler: self.queue_sampler,
            #[cfg(feature = "health-http")]
            health_addr: self.health_addr,
            #[cfg(feature = "health-http")]
            metrics_text: self.metrics_text,
        })
    }
}
