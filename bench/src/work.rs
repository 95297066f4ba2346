//! The benchmark's jobs and the [`Probe`] state through which they report back.
//!
//! 1. `BenchNoop(n)` does nothing but count itself (and, for `latency`, send its start time).
//! 2. `BenchIo(n)` awaits 5 ms; one job in a hundred fails its first attempt and is retried
//!    100 ms later.
//! 3. [`worker`] builds the worker every scenario and child process runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jobs::prelude::*;
use jobs::retry::Backoff;
use tokio::sync::{mpsc, Notify};

/// A failure the `io` job simulates.
#[derive(Debug, thiserror::Error)]
#[error("simulated I/O failure of job {0}")]
pub struct SimulatedFailure(u64);

/// Counts performed jobs and wakes the waiting scenario when a target is reached.
///
/// One shared value, so a job's clone of its state is one reference count, and a job
/// looks at the start watch only while one is set: the probe measures the framework, and
/// what it costs itself is counted as the framework's.
#[derive(Clone, Default)]
pub struct Probe(Arc<ProbeInner>);

/// What the clones of a [`Probe`] share.
#[derive(Default)]
pub struct ProbeInner {
    done: AtomicU64,
    target: AtomicU64,
    reached: Notify,
    watching: AtomicBool,
    starts: Mutex<Option<mpsc::UnboundedSender<Instant>>>,
}

impl std::ops::Deref for Probe {
    type Target = ProbeInner;

    fn deref(&self) -> &ProbeInner {
        &self.0
    }
}

impl Probe {
    /// A probe that wakes [`Probe::wait_for`] at `target` jobs done.
    pub fn new() -> Self {
        let p = Probe::default();
        p.target.store(u64::MAX, Ordering::Relaxed);
        p
    }

    /// Jobs done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    fn record(&self) {
        let n = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.target.load(Ordering::Acquire) {
            self.reached.notify_one();
        }
    }

    /// Waits until `target` jobs are done; false when `deadline` came first.
    pub async fn wait_for(&self, target: u64, deadline: Instant) -> bool {
        self.target.store(target, Ordering::Release);
        // Bounded: every wake re-checks; the deadline ends it otherwise.
        while self.done() < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let wait = left.min(Duration::from_millis(50));
            let _ = tokio::time::timeout(wait, self.reached.notified()).await;
        }
        true
    }

    /// From now on, each job sends its start instant to the returned receiver.
    pub fn watch_starts(&self) -> mpsc::UnboundedReceiver<Instant> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut s) = self.starts.lock() {
            *s = Some(tx);
        }
        self.watching.store(true, Ordering::Release);
        rx
    }

    fn started(&self) {
        if !self.watching.load(Ordering::Acquire) {
            return;
        }
        if let Ok(s) = self.starts.lock() {
            if let Some(tx) = s.as_ref() {
                let _ = tx.send(Instant::now());
            }
        }
    }
}

/// A no-op job with one small integer argument.
#[jobs::job(name = "BenchNoop", retry = 3)]
pub async fn bench_noop(probe: State<Probe>, n: u64) -> Result<(), SimulatedFailure> {
    probe.started();
    let _ = n;
    probe.record();
    Ok(())
}

/// 5 ms of simulated I/O; every hundredth job fails its first attempt.
#[jobs::job(name = "BenchIo", retry = 3, backoff = Backoff::Constant(Duration::from_millis(100)))]
pub async fn bench_io(
    probe: State<Probe>,
    ctx: JobContext,
    n: u64,
) -> Result<(), SimulatedFailure> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if n % 100 == 0 && ctx.attempt() == 1 {
        return Err(SimulatedFailure(n));
    }
    probe.record();
    Ok(())
}

/// A job that fails its first two attempts and succeeds on the third (soak's retry storm).
#[jobs::job(name = "BenchFlaky", retry = 3, backoff = Backoff::Constant(Duration::from_millis(100)))]
pub async fn bench_flaky(
    probe: State<Probe>,
    ctx: JobContext,
    n: u64,
) -> Result<(), SimulatedFailure> {
    if ctx.attempt() < 3 {
        return Err(SimulatedFailure(n));
    }
    probe.record();
    Ok(())
}

/// The queues of a run spread over `n`: `default` alone, or `q0`..`q<n-1>`.
pub fn queue_names(n: usize) -> Vec<String> {
    if n <= 1 {
        return vec!["default".to_owned()];
    }
    (0..n).map(|i| format!("q{i}")).collect()
}

/// The worker for a scenario, on `queues`: in-process (signals not handled) or in a child
/// process.
pub fn worker(
    backend: Arc<dyn jobs::backend::Backend>,
    probe: &Probe,
    queues: &[String],
    concurrency: usize,
    io: bool,
    in_process: bool,
) -> Result<Worker> {
    let mut b = Worker::builder(backend)
        .state(probe.clone())
        .state(HotCount::default())
        .queues(queues.iter().cloned())
        .concurrency(concurrency)
        .shutdown_timeout(Duration::from_secs(5))
        .handle_signals(!in_process);
    if io {
        // Retries are due 100 ms after a failure: promote them promptly.
        b = b.poll_interval(Duration::from_millis(100));
    }
    b.build().context("building the worker")
}

/// How many [`BenchHot`] jobs ran.
#[derive(Clone, Default)]
pub struct HotCount(pub Arc<AtomicU64>);

/// The `flow` scenario's hot key: 20 ms of simulated work, at most 10 at once in all.
#[jobs::job(name = "BenchHot", retry = 3, concurrency(limit = 10))]
pub async fn bench_hot(count: State<HotCount>, n: u64) -> Result<(), SimulatedFailure> {
    let _ = n;
    tokio::time::sleep(Duration::from_millis(20)).await;
    count.0 .0.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// [`BenchNoop`] made unique by its argument (a ten-minute lock), for the `flow` scenario.
#[jobs::job(name = "BenchUnique", retry = 3, unique(within = "10m"))]
pub async fn bench_unique(probe: State<Probe>, n: u64) -> Result<(), SimulatedFailure> {
    let _ = n;
    probe.record();
    Ok(())
}
