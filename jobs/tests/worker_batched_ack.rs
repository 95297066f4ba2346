//! Outcomes of jobs that end together reach the backend in one `job_finish` call, and at
//! most `concurrency` outcomes wait to be stored: a backend that stops acknowledging stops
//! the worker from taking more jobs. An outcome the backend refuses costs only its own job
//! the acknowledgement, not the others of its batch. A store that cannot take them does not
//! keep a stopped worker from exiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs::backend::*;
use jobs::prelude::*;
use tokio::sync::Semaphore;

mod common;
use common::hooked::{Hooked, Hooks};
use common::{eventually, QUIET};

/// Counts performs.
#[derive(Clone, Default)]
struct Performed(Arc<AtomicU64>);

impl Performed {
    fn count(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[jobs::job(name = "BatchedAckJob")]
async fn batched_ack_job(performed: State<Performed>, n: u64) -> Result<(), common::Oops> {
    let _ = n;
    performed.count();
    Ok(())
}

/// Enqueues jobs `0..jobs` and starts a worker at `concurrency` that counts what it performs.
async fn enqueue_and_work<H: Hooks>(
    backend: &Arc<Hooked<H>>,
    jobs: u64,
    concurrency: usize,
) -> (Performed, common::Running) {
    let client = Client::new(backend.clone());
    BatchedAckJob::set()
        .client(&client)
        .perform_all_later((0..jobs).map(|n| BatchedAckJob { n }))
        .await
        .unwrap();
    let performed = Performed::default();
    let running = common::spawn(
        common::worker(backend)
            .registry(jobs::Registry::new().with::<BatchedAckJob>().unwrap())
            .state(performed.clone())
            .concurrency(concurrency)
            .fetch_wait(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    (performed, running)
}

/// Waits for one permit of `gate` and uses it up.
async fn pass(gate: &Semaphore) {
    if let Ok(permit) = gate.acquire().await {
        permit.forget();
    }
}

/// Every `job_finish` waits for a permit of `gate`, then records how many items it carried.
struct Gated {
    gate: Semaphore,
    batches: Mutex<Vec<usize>>,
}

#[jobs::__private::async_trait]
impl Hooks for Gated {
    async fn before_finish(&self, p: &FinishParams) -> Result<(), BackendError> {
        pass(&self.gate).await;
        self.batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.items.len());
        Ok(())
    }
}

#[tokio::test]
async fn outcomes_are_stored_in_batches_and_unstored_outcomes_are_bounded() {
    const JOBS: u64 = 100;
    const CONCURRENCY: usize = 10;
    let backend = Arc::new(Hooked::new(Gated {
        gate: Semaphore::new(0),
        batches: Mutex::new(Vec::new()),
    }));
    let (performed, running) = enqueue_and_work(&backend, JOBS, CONCURRENCY).await;

    // No outcome can be stored: `CONCURRENCY` outcomes wait for the backend, then every
    // slot holds a performed job waiting for room, and the worker reserves nothing more.
    let bound = 2 * CONCURRENCY as u64;
    eventually("the waiting outcomes and every slot to fill up", || async {
        (performed.0.load(Ordering::SeqCst) == bound).then_some(())
    })
    .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        performed.0.load(Ordering::SeqCst),
        bound,
        "more jobs ran than the slots and the room for unstored outcomes allow"
    );
    assert_eq!(backend.inner.stats().await.unwrap().processed, 0);

    backend.hooks.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    eventually("every job to be acknowledged", || async {
        let stats = backend.inner.stats().await.unwrap();
        (stats.processed == JOBS).then_some(())
    })
    .await;
    running.stop().await;

    let batches = backend.hooks.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), JOBS as usize);
    assert!(
        batches.iter().any(|&n| n > 1),
        "outcomes that waited together were stored one call each: {batches:?}"
    );
    assert!(
        batches.len() < JOBS as usize,
        "one call per job: {batches:?}"
    );
    assert_eq!(performed.0.load(Ordering::SeqCst), JOBS);
}

/// Every `job_finish` waits for a permit of `gate`; one carrying a job with an even
/// argument is refused whole (as a store refuses a statement), and its size is recorded.
struct Poisoned {
    gate: Semaphore,
    refused: Mutex<Vec<usize>>,
}

#[jobs::__private::async_trait]
impl Hooks for Poisoned {
    async fn before_finish(&self, p: &FinishParams) -> Result<(), BackendError> {
        pass(&self.gate).await;
        let even = |f: &Finish| {
            f.job
                .args
                .first()
                .and_then(|a| a.as_u64())
                .map(|n| n % 2 == 0)
        };
        if p.items.iter().any(|f| even(f) == Some(true)) {
            self.refused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p.items.len());
            return Err(BackendError::Decode("this outcome cannot be stored".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_outcome_the_backend_refuses_does_not_take_its_batch_with_it() {
    const JOBS: u64 = 20;
    const CONCURRENCY: usize = 10;
    let backend = Arc::new(Hooked::new(Poisoned {
        gate: Semaphore::new(0),
        refused: Mutex::new(Vec::new()),
    }));
    let (performed, running) = enqueue_and_work(&backend, JOBS, CONCURRENCY).await;
    // With acknowledgements held, all 20 jobs run (10 outcomes waiting, 10 in the slots), so
    // the first call's outcomes and the next batch are all among jobs 0..9: a batch of at
    // least 9 mixes even and odd ones.
    eventually("every slot and the waiting room to fill up", || async {
        (performed.0.load(Ordering::SeqCst) == JOBS).then_some(())
    })
    .await;
    backend.hooks.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    eventually("every odd job to be acknowledged", || async {
        let stats = backend.inner.stats().await.unwrap();
        (stats.processed == JOBS / 2).then_some(())
    })
    .await;
    tokio::time::sleep(QUIET).await;
    running.stop().await;
    assert_eq!(backend.inner.stats().await.unwrap().processed, JOBS / 2);
    let refused = backend.hooks.refused.lock().unwrap().clone();
    assert!(
        refused.iter().any(|&n| n > 1),
        "no batch mixed refused and accepted outcomes: {refused:?}"
    );
    assert_eq!(
        refused.iter().filter(|&&n| n == 1).count(),
        JOBS as usize / 2,
        "each even job was refused alone once split out: {refused:?}"
    );
}

/// Every `job_finish` fails as a store that cannot be reached fails; the calls are counted.
#[derive(Default)]
struct Unreachable {
    finishes: AtomicU64,
}

#[jobs::__private::async_trait]
impl Hooks for Unreachable {
    async fn before_finish(&self, _p: &FinishParams) -> Result<(), BackendError> {
        self.finishes.fetch_add(1, Ordering::SeqCst);
        Err(BackendError::connection(
            "redis://unreachable",
            "connection refused",
        ))
    }
}

/// A worker whose jobs all ended but whose store stopped answering is still gone within its
/// shutdown timeout (and a few attempts more): the settler used to retry until the store
/// came back, so the process never exited. The unstored outcome's job stays leased, to run
/// again when its lease expires.
#[tokio::test]
async fn a_worker_whose_store_cannot_take_its_outcomes_still_stops_within_its_timeout() {
    let backend = Arc::new(Hooked::new(Unreachable::default()));
    let client = Client::new(backend.clone());
    BatchedAckJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let performed = Performed::default();
    let running = common::spawn(
        common::worker(&backend)
            .registry(jobs::Registry::new().with::<BatchedAckJob>().unwrap())
            .state(performed.clone())
            .shutdown_timeout(Duration::from_millis(500))
            .lease_ttl(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    eventually("the settler to be retrying", || async {
        (backend.hooks.finishes.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    let stopped = tokio::time::Instant::now();
    // Panics unless `run` returns Ok within 10 s.
    running.stop().await;
    // The timeout, then three attempts at 0.1 + 0.2 + 0.4 s at most (and one at once).
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
    assert_eq!(performed.0.load(Ordering::SeqCst), 1);
    let stats = backend.inner.stats().await.unwrap();
    assert_eq!((stats.processed, stats.enqueued), (0, 0), "{stats:?}");
    // Its lease left to expire, the job runs again on a worker whose store answers.
    let answering = Arc::new(backend.inner.clone());
    let again = common::spawn(
        common::worker(&answering)
            .registry(jobs::Registry::new().with::<BatchedAckJob>().unwrap())
            .state(performed.clone())
            .build()
            .unwrap(),
    );
    eventually("the job to run again once its lease expired", || async {
        let processed = answering.stats().await.unwrap().processed;
        (processed == 1).then_some(())
    })
    .await;
    again.stop().await;
    assert_eq!(performed.0.load(Ordering::SeqCst), 2);
}
