//! [`QueueSampler`]: sets the gauges read from the store (queue sizes and latencies, set
//! sizes, processes, busy jobs) at a jittered interval.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::metrics::gauge;
use rand::Rng;

use super::{BUSY, PROCESSES, QUEUE_LATENCY_SECONDS, QUEUE_SIZE};
use crate::backend::{AdminBackend, BackendError, QueueListParams};
use crate::clock::{Clock, SystemClock};

/// The interval a sampler waits between samples unless told otherwise.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(30);

/// Sets the store's gauges (`jobs_queue_size`, `jobs_queue_latency_seconds`,
/// `jobs_processes`, `jobs_busy`) from three admin reads: the queue list, the totals and the
/// process list.
///
/// **How often, and by whom.** A sample is three reads, the ones the dashboard's front page
/// makes, so a sampler takes them at most once per interval (30 s unless set with
/// [`QueueSampler::every`]), each wait drawn between ¾ and 1¼ of it, and the first after a
/// random part of one interval, so processes started together by a deploy do not read the
/// store together. The store is read by the processes that run a sampler, not by every
/// worker: give one to the process Prometheus scrapes for the queue gauges (the web process
/// beside `jobs-web`, or one worker through
/// [`WorkerBuilder::queue_metrics`](crate::WorkerBuilder::queue_metrics)), and the others
/// export only their own counters. Why not a leader chosen through the store: the backends
/// have no lease that is not tied to a job (a schedule claim enqueues one), and a gauge that
/// moved from process to process would leave stale copies behind in every former leader's
/// scrape. Several samplers are still correct, each reporting the same store: the cost is
/// three reads per sampler per interval, so 100 samplers at 30 s make 10 cheap reads a
/// second; aggregate those gauges with `max` rather than `sum`.
///
/// A queue that disappears (it emptied and the store forgot it) is reported once more as 0.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// let backend = jobs::connect("memory://").await.unwrap();
/// let sampler = jobs::telemetry::QueueSampler::new(backend).every(Duration::from_secs(15));
/// sampler.sample().await.unwrap(); // one sample now; `run` keeps sampling
/// # });
/// ```
#[derive(Clone)]
pub struct QueueSampler {
    admin: Arc<dyn AdminBackend>,
    clock: Arc<dyn Clock>,
    every: Duration,
    /// The queues reported last time, to zero those that vanish.
    seen: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for QueueSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSampler")
            .field("backend", &self.admin.name())
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl QueueSampler {
    /// A sampler reading `admin` every [`DEFAULT_SAMPLE_INTERVAL`].
    pub fn new(admin: Arc<dyn AdminBackend>) -> Self {
        QueueSampler {
            admin,
            clock: Arc::new(SystemClock),
            every: DEFAULT_SAMPLE_INTERVAL,
            seen: Arc::default(),
        }
    }

    /// Samples about every `every` (at least a second).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = jobs::connect("memory://").await.unwrap();
    /// let sampler = jobs::telemetry::QueueSampler::new(backend).every(std::time::Duration::from_secs(60));
    /// assert_eq!(sampler.interval(), std::time::Duration::from_secs(60));
    /// # });
    /// ```
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_secs(1));
        self
    }

    /// Reads the time for queue latencies from `clock` (the system clock unless set).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The interval it samples at.
    pub fn interval(&self) -> Duration {
        self.every
    }

    /// Reads the store once and sets every gauge. A read that fails leaves its gauges as
    /// they were and is returned after the other reads were tried.
    pub async fn sample(&self) -> Result<(), BackendError> {
        let mut first_error = None;
        match self
            .admin
            .queue_list(QueueListParams::new(self.clock.now()))
            .await
        {
            Ok(queues) => {
                let names: BTreeSet<String> = queues.iter().map(|q| q.name.clone()).collect();
                for q in queues {
                    gauge!(QUEUE_SIZE, "queue" => q.name.clone(), "state" => "waiting")
                        .set(q.size as f64);
                    gauge!(QUEUE_LATENCY_SECONDS, "queue" => q.name).set(q.latency.as_secs_f64());
                }
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                for gone in seen.difference(&names) {
                    gauge!(QUEUE_SIZE, "queue" => gone.clone(), "state" => "waiting").set(0.0);
                    gauge!(QUEUE_LATENCY_SECONDS, "queue" => gone.clone()).set(0.0);
                }
                *seen = names;
            }
            Err(e) => first_error = Some(e),
        }
        match self.admin.stats().await {
            Ok(stats) => {
                for (state, size) in [
                    ("scheduled", stats.scheduled),
                    ("retry", stats.retries),
                    ("dead", stats.dead),
                ] {
                    gauge!(QUEUE_SIZE, "queue" => "", "state" => state).set(size as f64);
                }
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
        match self.admin.process_list().await {
            Ok(processes) => {
                let busy: usize = processes.iter().map(|p| p.running.len()).sum();
                gauge!(PROCESSES).set(processes.len() as f64);
                gauge!(BUSY).set(busy as f64);
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Samples at the jittered interval (see the type's docs) until `shutdown` completes.
    /// A failed sample is logged and the next one comes at the usual time.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let sampling = async {
            let mut wait = self.every.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
            loop {
                tokio::time::sleep(wait).await;
                if let Err(e) = self.sample().await {
                    tracing::warn!(error = %e, "could not sample the queue metrics");
                }
                wait = self.every.mul_f64(rand::thread_rng().gen_range(0.75..1.25));
            }
        };
        tokio::select! {
            () = sampling => {}
            () = shutdown => {}
        }
    }
}
