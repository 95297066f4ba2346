//! A worker never runs a job on past its lease: when the store has not confirmed a lease for
//! a whole TTL (the process stalled, or lost its store), the job is dropped where it stands,
//! since the store may have given it to another worker; while heartbeats go through, a job
//! runs as long as it needs.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hooked::{Hooked, Hooks};
use common::{Events, Gate, Oops};
use jobs::backend::*;
use jobs::prelude::*;

const TTL: Duration = Duration::from_millis(400);

/// Heartbeats fail while `down` is set.
#[derive(Default)]
struct FlakyBeats {
    down: AtomicBool,
    beats: AtomicUsize,
}

#[jobs::__private::async_trait]
impl Hooks for Arc<FlakyBeats> {
    async fn before_heartbeat(&self) -> Result<(), BackendError> {
        self.beats.fetch_add(1, Ordering::SeqCst);
        match self.down.load(Ordering::SeqCst) {
            true => Err(BackendError::connection("test", "heartbeats are cut off")),
            false => Ok(()),
        }
    }
}

/// Sends `dropped` if its job's future is dropped before it ends.
struct DropGuard(Events, bool);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.send("dropped");
        }
    }
}

#[jobs::job(queue = "guard")]
async fn hold_on(events: State<Events>, gate: State<Gate>) -> Result<(), Oops> {
    let mut guard = DropGuard(events.0.clone(), false);
    events.send("started");
    gate.pass().await;
    guard.1 = true;
    events.send("finished");
    Ok(())
}

fn worker(backend: &Arc<Hooked<Arc<FlakyBeats>>>, events: Events, gate: Gate) -> Worker {
    common::worker(backend)
        .queues(["guard"])
        .lease_ttl(TTL)
        .heartbeat_interval(Duration::from_millis(50))
        .state(events)
        .state(gate)
        .registry(jobs::Registry::new().with::<HoldOn>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_job_whose_lease_went_unconfirmed_for_a_ttl_is_dropped_and_runs_again_later() {
    let beats = Arc::new(FlakyBeats::default());
    let backend = Arc::new(Hooked::new(beats.clone()));
    let client = jobs::Client::new(backend.clone());
    client
        .enqueue(HoldOn::new(), &Default::default())
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    beats.down.store(true, Ordering::SeqCst);
    let running = common::spawn(worker(&backend, events, gate.clone()));
    assert_eq!(common::next(&mut rx).await, "started");
    let started = Instant::now();
    assert_eq!(common::next(&mut rx).await, "dropped");
    let held = started.elapsed();
    assert!(
        held >= TTL - Duration::from_millis(100) && held < TTL * 4,
        "dropped about a TTL after its last confirmation, not at once nor never: {held:?}"
    );
    // The store rescues the lapsed lease and hands the job out again; with heartbeats back,
    // it now runs to the end, once.
    beats.down.store(false, Ordering::SeqCst);
    assert_eq!(common::next(&mut rx).await, "started");
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "finished");
    let stats = common::eventually("the job to be counted", || async {
        let s = backend.inner.stats().await.unwrap();
        (s.processed == 1).then_some(s)
    })
    .await;
    running.stop().await;
    assert_eq!((stats.processed, stats.failed), (1, 0));
}

#[tokio::test]
async fn heartbeats_let_a_job_run_many_ttls() {
    let beats = Arc::new(FlakyBeats::default());
    let backend = Arc::new(Hooked::new(beats.clone()));
    let client = jobs::Client::new(backend.clone());
    client
        .enqueue(HoldOn::new(), &Default::default())
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let running = common::spawn(worker(&backend, events, gate.clone()));
    assert_eq!(common::next(&mut rx).await, "started");
    // Twenty beats 50 ms apart: the job has run well past two TTLs.
    let from = beats.beats.load(Ordering::SeqCst);
    common::eventually("twenty heartbeats", || async {
        (beats.beats.load(Ordering::SeqCst) >= from + 20).then_some(())
    })
    .await;
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "finished");
    running.stop().await;
}
