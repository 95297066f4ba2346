//! Helpers shared by the integration tests: worker defaults, event channels, waiting with a deadline.
#![allow(dead_code)]

pub mod hooked;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jobs::backend::{AdminBackend, JobListParams, JobSet, StoredJob};
use jobs::chrono::{DateTime, Utc};
use jobs::clock::ManualClock;
use jobs::memory::MemoryBackend;
use jobs::worker::{WorkerError, WorkerHandle};
use jobs::{Worker, WorkerBuilder};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// The longest any test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// The error the test jobs return.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Oops(pub String);

/// Where test jobs report what they did.
#[derive(Clone)]
pub struct Events(pub mpsc::UnboundedSender<String>);

impl Events {
    pub fn send(&self, event: impl Into<String>) {
        let _ = self.0.send(event.into());
    }
}

/// A sink for jobs and its receiving end.
pub fn events() -> (Events, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Events(tx), rx)
}

/// The next event, or a panic after [`WAIT`].
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("event channel closed"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// Panics if an event arrives within [`QUIET`].
pub async fn assert_no_event<T: Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(Some(v)) = tokio::time::timeout(QUIET, rx.recv()).await {
        panic!("unexpected event: {v:?}");
    }
}

/// Holds jobs until the test lets them through.
#[derive(Clone)]
pub struct Gate(pub Arc<Semaphore>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new(Semaphore::new(0)))
    }
}

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the test to let one job through.
    pub async fn pass(&self) {
        if let Ok(p) = self.0.acquire().await {
            p.forget();
        }
    }

    /// Lets `n` jobs through.
    pub fn open(&self, n: usize) {
        self.0.add_permits(n);
    }
}

/// 2026-01-01T00:00:00Z, where manual clocks start.
pub fn start() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// A manual clock standing at [`start`].
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

/// A fresh in-memory backend.
pub fn backend() -> Arc<MemoryBackend> {
    Arc::new(MemoryBackend::new())
}

/// A client on `backend` reading time from `clock`.
#[allow(dead_code)]
pub fn client(backend: &Arc<MemoryBackend>, clock: &Arc<ManualClock>) -> jobs::Client {
    jobs::Client::builder(backend.clone())
        .clock(clock.clone())
        .build()
}

/// A worker builder with test timings and no signal handling.
pub fn worker<B: jobs::backend::Backend>(backend: &Arc<B>) -> WorkerBuilder {
    Worker::builder(backend.clone())
        .handle_signals(false)
        .fetch_wait(Duration::from_millis(50))
        .poll_interval(Duration::from_millis(20))
        .heartbeat_interval(Duration::from_millis(50))
}

/// A worker running in its own task.
pub struct Running {
    pub handle: WorkerHandle,
    pub id: String,
    task: JoinHandle<Result<(), WorkerError>>,
}

/// Starts `worker` in a task.
pub fn spawn(worker: Worker) -> Running {
    let handle = worker.handle();
    let id = worker.id().to_owned();
    Running {
        handle,
        id,
        task: tokio::spawn(worker.run()),
    }
}

impl Running {
    /// Stops the worker and waits until `run` returns `Ok`.
    pub async fn stop(self) {
        self.handle.stop();
        self.join().await;
    }

    /// Waits until `run` returns `Ok`.
    pub async fn join(self) {
        match tokio::time::timeout(WAIT, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("worker failed: {e}"),
            Ok(Err(e)) => panic!("worker task panicked: {e}"),
            Err(_) => panic!("worker did not stop within {WAIT:?}"),
        }
    }
}

/// Polls `check` until it gives a value; panics naming `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every job of `set`, in the set's order.
pub async fn list(backend: &MemoryBackend, set: JobSet) -> Vec<StoredJob> {
    backend
        .job_list(JobListParams::new(set, 1000))
        .await
        .unwrap()
        .jobs
}

/// Waits until `set` holds exactly one job, and returns it.
pub async fn the_one(backend: &MemoryBackend, set: JobSet) -> StoredJob {
    let what = format!("one job in {set:?}");
    eventually(&what, || async {
        let mut jobs = list(backend, set.clone()).await;
        (jobs.len() == 1).then(|| jobs.remove(0))
    })
    .await
}

/// Waits until the backend counted `n` processed jobs.
pub async fn processed(backend: &MemoryBackend, n: u64) -> jobs::backend::Stats {
    let what = format!("{n} processed jobs");
    eventually(&what, || async {
        let stats = backend.stats().await.unwrap();
        (stats.processed >= n).then_some(stats)
    })
    .await
}

/// The number of jobs waiting in `queue`.
pub async fn queue_size(backend: &MemoryBackend, queue: &str) -> usize {
    list(backend, JobSet::Queue(queue.to_owned())).await.len()
}
