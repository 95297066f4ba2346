//! A job rescued from a process that died while running it runs alone, so the jobs beside it
//! are not taken down (and counted) with it again; at its third rescue it is dead.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::backend::*;
use jobs::chrono::Utc;
use jobs::envelope::KILLED_PROCESS_ERROR;
use jobs::prelude::*;

/// How many test jobs run at this moment.
#[derive(Clone, Default)]
struct Running(Arc<AtomicUsize>);

impl Running {
    /// One more job runs; returns how many ran before it.
    fn enter(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    fn leave(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[jobs::job(queue = "rescue")]
async fn innocent(
    events: State<Events>,
    gate: State<Gate>,
    running: State<Running>,
    n: u32,
) -> Result<(), Oops> {
    running.enter();
    events.send(format!("innocent {n} started"));
    gate.pass().await;
    running.leave();
    Ok(())
}

/// The job a dead process was running; a second gate holds it.
#[derive(Clone, Default)]
struct SuspectGate(Gate);

impl SuspectGate {
    async fn wait(&self) {
        self.0.pass().await;
    }
}

#[jobs::job(queue = "rescue")]
async fn suspect(
    events: State<Events>,
    gate: State<SuspectGate>,
    running: State<Running>,
) -> Result<(), Oops> {
    let others = running.enter();
    events.send(format!("suspect started beside {others}"));
    gate.wait().await;
    running.leave();
    Ok(())
}

/// Leases the head of `rescue` to a process that then goes silent, and rescues it.
async fn rescue_once(backend: &jobs::memory::MemoryBackend) -> u64 {
    let past = Utc::now() - jobs::chrono::Duration::hours(1);
    let params =
        ReserveParams::new(vec!["rescue".into()], "ghost", past).lease_ttl(Duration::from_secs(1));
    let taken = backend.job_reserve(params).await.unwrap();
    assert_eq!(taken.len(), 1);
    backend
        .lease_rescue(RescueParams::new(Utc::now()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rescued_job_runs_alone_and_nothing_starts_beside_it() {
    let backend = common::backend();
    let client = jobs::Client::new(backend.clone());
    client
        .enqueue(Suspect::new(), &Default::default())
        .await
        .unwrap();
    assert_eq!(rescue_once(&backend).await, 1);
    for n in 0..3 {
        client
            .enqueue(Innocent::new(n), &Default::default())
            .await
            .unwrap();
    }
    let (events, mut rx) = common::events();
    let (gate, suspect_gate, running) = (Gate::new(), SuspectGate::default(), Running::default());
    let worker = common::worker(&backend)
        .queues(["rescue"])
        .concurrency(4)
        .state(events)
        .state(gate.clone())
        .state(suspect_gate.clone())
        .state(running.clone())
        .registry(
            jobs::Registry::new()
                .with::<Innocent>()
                .unwrap()
                .with::<Suspect>()
                .unwrap(),
        )
        .build()
        .unwrap();
    let worker = common::spawn(worker);
    // The three innocents start; the suspect, reserved with them, waits for them to end.
    let mut started: Vec<String> = Vec::new();
    for _ in 0..3 {
        started.push(common::next(&mut rx).await);
    }
    started.sort();
    assert_eq!(
        started,
        [
            "innocent 0 started",
            "innocent 1 started",
            "innocent 2 started"
        ]
    );
    common::assert_no_event(&mut rx).await;
    gate.open(3);
    assert_eq!(common::next(&mut rx).await, "suspect started beside 0");
    // While it runs, a new job waits too.
    client
        .enqueue(Innocent::new(9), &Default::default())
        .await
        .unwrap();
    common::assert_no_event(&mut rx).await;
    suspect_gate.0.open(1);
    assert_eq!(common::next(&mut rx).await, "innocent 9 started");
    gate.open(1);
    let stats = common::processed(&backend, 5).await;
    worker.stop().await;
    assert_eq!((stats.processed, stats.failed, stats.dead), (5, 0, 0));
}

#[tokio::test]
async fn the_third_rescue_buries_the_job_saying_it_killed_its_processes() {
    let backend = common::backend();
    let client = jobs::Client::new(backend.clone());
    let jid = client
        .enqueue(Suspect::new(), &Default::default())
        .await
        .unwrap();
    for rescues in 1..=2 {
        assert_eq!(rescue_once(&backend).await, 1);
        let page = backend
            .job_list(JobListParams::new(JobSet::Queue("rescue".into()), 10))
            .await
            .unwrap();
        assert_eq!(page.total, 1, "back in its queue after rescue {rescues}");
    }
    assert_eq!(rescue_once(&backend).await, 1);
    assert_eq!(common::queue_size(&backend, "rescue").await, 0);
    let dead = common::the_one(&backend, JobSet::Dead).await;
    assert_eq!(dead.job.jid, jid.to_string());
    assert_eq!(dead.job.error_class.as_deref(), Some(KILLED_PROCESS_ERROR));
    assert!(
        dead.job
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("died 3 times")),
        "{:?}",
        dead.job.error_message
    );
}
