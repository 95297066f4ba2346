//! Graceful shutdown and quiet: finish within the timeout, requeue unchanged after it, stop reserving.

mod common;

use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::backend::ProcessSignalParams;
use jobs::backend::{AdminBackend, JobSet, ProcessSignal};
use jobs::prelude::*;

#[jobs::job(queue = "s_gated")]
async fn gated_job(gate: State<Gate>, events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("start {n}"));
    gate.pass().await;
    events.send(format!("done {n}"));
    Ok(())
}

#[jobs::job(queue = "s_quiet")]
async fn quiet_job(events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("performed {n}"));
    Ok(())
}

fn gated_worker(
    backend: &std::sync::Arc<jobs::memory::MemoryBackend>,
    gate: &Gate,
    events: Events,
    shutdown_timeout: Duration,
) -> common::Running {
    common::spawn(
        common::worker(backend)
            .queues(["s_gated"])
            .concurrency(1)
            .shutdown_timeout(shutdown_timeout)
            .registry(jobs::Registry::new().with::<GatedJob>().unwrap())
            .state(gate.clone())
            .state(events)
            .build()
            .unwrap(),
    )
}

fn quiet_worker(
    backend: &std::sync::Arc<jobs::memory::MemoryBackend>,
    events: Events,
) -> common::Running {
    common::spawn(
        common::worker(backend)
            .queues(["s_quiet"])
            .registry(jobs::Registry::new().with::<QuietJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_job_finishing_within_the_shutdown_timeout_completes() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let running = gated_worker(&backend, &gate, events, Duration::from_secs(10));
    GatedJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start 1");

    running.handle.stop();
    // Still running after the stop: released now, it finishes and is counted.
    common::assert_no_event(&mut rx).await;
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "done 1");
    running.join().await;
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed, stats.enqueued), (1, 0, 0));
    assert!(backend.process_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_job_still_running_after_the_timeout_is_requeued_unchanged_at_the_head() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let first = GatedJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let second = GatedJob::set()
        .client(&client)
        .perform_later(2)
        .await
        .unwrap();
    let before = common::list(&backend, JobSet::Queue("s_gated".into())).await;
    assert_eq!(before[0].job.jid, first);

    let running = gated_worker(&backend, &gate, events, Duration::from_millis(100));
    assert_eq!(common::next(&mut rx).await, "start 1");
    running.stop().await; // returns: the job never finishes

    let after = common::list(&backend, JobSet::Queue("s_gated".into())).await;
    let jids: Vec<_> = after.iter().map(|s| s.job.jid.clone()).collect();
    assert_eq!(
        jids,
        [first, second],
        "the interrupted job is back at the head"
    );
    assert_eq!(after[0].job, before[0].job, "requeued unchanged");
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed, stats.retries), (0, 0, 0));
    assert!(backend.process_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn quiet_through_the_handle_stops_reserving_but_keeps_running() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = quiet_worker(&backend, events);
    QuietJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed 1");

    running.handle.quiet();
    assert!(running.handle.is_quiet());
    QuietJob::set()
        .client(&client)
        .perform_later(2)
        .await
        .unwrap();
    common::assert_no_event(&mut rx).await;
    assert_eq!(common::queue_size(&backend, "s_quiet").await, 1);
    let id = running.id.clone();
    common::eventually("the process to report quiet", || async {
        let procs = backend.process_list().await.unwrap();
        procs
            .iter()
            .any(|p| p.info.id == id && p.quiet)
            .then_some(())
    })
    .await;
    running.stop().await;
    assert_eq!(
        common::queue_size(&backend, "s_quiet").await,
        1,
        "the job waits for another worker"
    );
}

#[tokio::test]
async fn a_quiet_signal_through_the_admin_side_stops_reserving() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = quiet_worker(&backend, events);
    let id = running.id.clone();
    common::eventually("the process to register", || async {
        let procs = backend.process_list().await.unwrap();
        procs.iter().any(|p| p.info.id == id).then_some(())
    })
    .await;
    backend
        .process_signal(ProcessSignalParams::new(id.clone(), ProcessSignal::Quiet))
        .await
        .unwrap();
    let handle = running.handle.clone();
    common::eventually("the worker to go quiet", || async {
        handle.is_quiet().then_some(())
    })
    .await;

    QuietJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    common::assert_no_event(&mut rx).await;
    assert_eq!(common::queue_size(&backend, "s_quiet").await, 1);
    running.stop().await;
}

#[tokio::test]
async fn a_stop_signal_through_the_admin_side_makes_run_return() {
    let backend = common::backend();
    let (events, _rx) = common::events();
    let running = quiet_worker(&backend, events);
    let id = running.id.clone();
    common::eventually("the process to register", || async {
        let procs = backend.process_list().await.unwrap();
        procs.iter().any(|p| p.info.id == id).then_some(())
    })
    .await;
    backend
        .process_signal(ProcessSignalParams::new(id.clone(), ProcessSignal::Stop))
        .await
        .unwrap();
    running.join().await;
    assert!(backend.process_list().await.unwrap().is_empty());
}

/// The shutdown timeout counts from the stop request: a reserve that was waiting for jobs
/// when the stop came (up to `fetch_wait`) does not add to it. Here a job that never ends
/// holds one slot and the other waits in a 3 s reserve; with a 1 s timeout the run returns
/// well before 3 + 1 s (it used to take both), once the waiting reserve answers.
#[tokio::test]
async fn the_shutdown_timeout_counts_from_the_stop_not_from_the_last_reserve() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["s_gated"])
            .concurrency(2)
            .fetch_wait(Duration::from_secs(3))
            .shutdown_timeout(Duration::from_secs(1))
            .registry(jobs::Registry::new().with::<GatedJob>().unwrap())
            .state(gate.clone())
            .state(events)
            .build()
            .unwrap(),
    );
    GatedJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start 1");
    // The free slot's reserve is now waiting for up to 3 s.
    let stopped = tokio::time::Instant::now();
    running.handle.stop();
    running.join().await;
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_millis(3_800),
        "stop to return took {took:?}: the timeout was added to the waiting reserve"
    );
    // The job that never ended went back to its queue unchanged.
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.enqueued), (0, 1));
}
