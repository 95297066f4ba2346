//! A store failing over under load, checked history-style: shared by the Sentinel and the
//! Redis Cluster failover tests.
//!
//! An enqueuer pushes numbered jobs in a steady stream, recording when each enqueue started
//! and when it returned Ok; a worker performs them, recording each number. The test marks
//! the windows in which Redis itself may drop an acknowledged write (an unplanned failover
//! under asynchronous replication); after the run every job acknowledged outside those
//! windows must have been performed, and the ones inside are counted and printed.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::backend::AdminBackend;
use jobs::prelude::*;
use jobs::{Registry, Worker};

/// How long each wait of these tests may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// The numbers of the jobs performed.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<HashSet<u64>>>);

impl Seen {
    fn snapshot(&self) -> HashSet<u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records its number.
#[jobs::job(name = "FailoverEcho")]
async fn failover_echo(seen: State<Seen>, n: u64) -> Result<(), std::convert::Infallible> {
    seen.0
         .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(n);
    Ok(())
}

/// One enqueue: its number, when it started, and when it returned Ok (`None`: an error).
#[derive(Clone, Copy)]
pub struct Enqueued {
    pub n: u64,
    pub started: Instant,
    pub acked: Option<Instant>,
}

/// Polls `check` every 50 ms until it holds; fails the test after [`WAIT`].
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A worker performing [`FailoverEcho`] jobs of `queue` on `backend`, and the enqueuer's
/// stream of them, both running.
pub struct Run {
    pub seen: Seen,
    pub log: Arc<Mutex<Vec<Enqueued>>>,
    stop: Arc<AtomicBool>,
    enqueuer: tokio::task::JoinHandle<()>,
    worker: jobs::worker::WorkerHandle,
    running: tokio::task::JoinHandle<Result<(), jobs::worker::WorkerError>>,
}

impl Run {
    /// Starts the worker (short lease and polls, so it notices a failover soon) and the
    /// enqueuer.
    pub fn start(backend: Arc<dyn AdminBackend>, queue: &'static str) -> Run {
        let seen = Seen::default();
        let worker = Worker::builder(backend.clone())
            .handle_signals(false)
            .registry(Registry::new().with::<FailoverEcho>().unwrap())
            .state(seen.clone())
            .queues([queue])
            .concurrency(4)
            .lease_ttl(Duration::from_secs(3))
            .heartbeat_interval(Duration::from_millis(200))
            .fetch_wait(Duration::from_millis(200))
            .poll_interval(Duration::from_millis(200))
            .build()
            .unwrap();
        let handle = worker.handle();
        let running = tokio::spawn(worker.run());
        let log: Arc<Mutex<Vec<Enqueued>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let enqueuer = {
            let (log, stop) = (log.clone(), stop.clone());
            let client = Client::new(backend);
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    let ok = FailoverEcho::set()
                        .queue(queue)
                        .client(&client)
                        .perform_later(n)
                        .await;
                    let acked = ok.is_ok().then(Instant::now);
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Enqueued { n, started, acked });
                    let pause = if acked.is_none() { 20 } else { 2 };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            })
        };
        Run {
            seen,
            log,
            stop,
            enqueuer,
            worker: handle,
            running,
        }
    }

    /// How many enqueues have returned Ok.
    pub fn acked(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|e| e.acked.is_some())
            .count()
    }

    /// Waits for `n` more acknowledged enqueues.
    pub async fn more_acks(&self, n: usize) {
        let target = self.acked() + n;
        until("the enqueuer gets acknowledgements", || async {
            self.acked() >= target
        })
        .await;
    }

    /// Stops the enqueuer; waits until every job acknowledged outside `windows` (began,
    /// ended) was performed, and at least 50 enqueued after the last window were; stops the
    /// worker. Prints the counts under `label`.
    pub async fn finish(self, label: &str, windows: &[(Instant, Instant)]) {
        self.stop.store(true, Ordering::Relaxed);
        self.enqueuer.await.unwrap();
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let in_window = |e: &Enqueued| {
            windows
                .iter()
                .any(|(began, ended)| e.acked.is_some_and(|a| a >= *began) && e.started <= *ended)
        };
        let must: Vec<u64> = log
            .iter()
            .filter(|e| e.acked.is_some() && !in_window(e))
            .map(|e| e.n)
            .collect();
        let window: Vec<u64> = log
            .iter()
            .filter(|e| e.acked.is_some() && in_window(e))
            .map(|e| e.n)
            .collect();
        let deadline = Instant::now() + WAIT;
        loop {
            let performed = self.seen.snapshot();
            let lost: Vec<u64> = must
                .iter()
                .copied()
                .filter(|n| !performed.contains(n))
                .collect();
            if lost.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} jobs acknowledged outside the failovers were never performed: {:?}",
                lost.len(),
                must.len(),
                &lost[..lost.len().min(20)]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let performed = self.seen.snapshot();
        let window_lost = window.iter().filter(|n| !performed.contains(n)).count();
        let errors = log.iter().filter(|e| e.acked.is_none()).count();
        eprintln!(
            "{label}: enqueued={} acknowledged={} must_perform={} performed_all_of_them \
             in_failover_windows={} of_which_lost={window_lost} enqueue_errors={errors}",
            log.len(),
            log.len() - errors,
            must.len(),
            window.len()
        );
        if let Some(last) = windows.last().map(|w| w.1) {
            let after = log
                .iter()
                .filter(|e| e.started > last && e.acked.is_some())
                .count();
            assert!(
                after >= 50,
                "only {after} jobs were acknowledged after the last failover"
            );
        }
        self.worker.stop();
        let ran = tokio::time::timeout(WAIT, self.running).await;
        assert!(matches!(ran, Ok(Ok(Ok(())))), "the worker stops: {ran:?}");
    }
}
