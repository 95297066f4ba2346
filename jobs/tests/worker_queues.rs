//! The worker's fetching: bounded concurrency, strict and weighted queue order, paused queues.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::backend::AdminBackend;
use jobs::backend::QueuePauseParams;
use jobs::prelude::*;

/// Counts jobs running at once and remembers the most.
#[derive(Clone, Default)]
struct Load {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

#[jobs::job(queue = "bounded")]
async fn bounded_job(
    load: State<Load>,
    gate: State<Gate>,
    events: State<Events>,
    n: u32,
) -> Result<(), Oops> {
    let running = load.now.fetch_add(1, Ordering::SeqCst) + 1;
    load.max.fetch_max(running, Ordering::SeqCst);
    events.send(format!("start {n}"));
    gate.pass().await;
    load.now.fetch_sub(1, Ordering::SeqCst);
    events.send(format!("done {n}"));
    Ok(())
}

#[jobs::job]
async fn ordered_job(ctx: JobContext, events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("{}:{n}", ctx.queue()));
    Ok(())
}

#[tokio::test]
async fn never_more_than_concurrency_jobs_run_while_the_rest_stay_queued() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let (gate, load) = (Gate::new(), Load::default());
    for n in 0..6 {
        BoundedJob::set()
            .client(&client)
            .perform_later(n)
            .await
            .unwrap();
    }
    let worker = common::worker(&backend)
        .queues(["bounded"])
        .concurrency(2)
        .registry(jobs::Registry::new().with::<BoundedJob>().unwrap())
        .state(events)
        .state(gate.clone())
        .state(load.clone())
        .build()
        .unwrap();
    let running = common::spawn(worker);

    for _ in 0..2 {
        assert!(common::next(&mut rx).await.starts_with("start"));
    }
    common::assert_no_event(&mut rx).await;
    assert_eq!(load.now.load(Ordering::SeqCst), 2);
    assert_eq!(
        common::queue_size(&backend, "bounded").await,
        4,
        "the other jobs stay queued"
    );

    // Let them all through; the bound holds while the queue drains.
    gate.open(6);
    let mut done = 0;
    while done < 6 {
        if common::next(&mut rx).await.starts_with("done") {
            done += 1;
        }
    }
    assert_eq!(load.max.load(Ordering::SeqCst), 2, "at most 2 jobs at once");
    assert_eq!(common::queue_size(&backend, "bounded").await, 0);
    running.stop().await;
}

/// How many jobs reached the meeting point.
#[derive(Clone, Default)]
struct Meeting {
    arrived: Arc<AtomicUsize>,
}

/// Blocks its thread (it never awaits) until the other job of the pair arrived, up to a
/// deadline: only two jobs running at once, on two threads, both see the other.
#[jobs::job(queue = "blocking")]
async fn blocking_job(meeting: State<Meeting>, events: State<Events>, n: u32) -> Result<(), Oops> {
    meeting.arrived.fetch_add(1, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while meeting.arrived.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    events.send(format!(
        "{n} met {}",
        meeting.arrived.load(Ordering::SeqCst)
    ));
    Ok(())
}

/// Jobs run on runner tasks, not one after another on the fetch loop: two jobs that block
/// their threads still run side by side on a two-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_block_their_threads_still_run_side_by_side() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    for n in 0..2 {
        BlockingJob::set()
            .client(&client)
            .perform_later(n)
            .await
            .unwrap();
    }
    let worker = common::worker(&backend)
        .queues(["blocking"])
        .concurrency(2)
        .registry(jobs::Registry::new().with::<BlockingJob>().unwrap())
        .state(events)
        .state(Meeting::default())
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let mut seen = vec![common::next(&mut rx).await, common::next(&mut rx).await];
    seen.sort();
    assert_eq!(
        seen,
        ["0 met 2", "1 met 2"],
        "each job saw the other running"
    );
    running.stop().await;
}

#[tokio::test]
async fn strict_order_empties_earlier_queues_first() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    for n in 0..3 {
        OrderedJob::set()
            .client(&client)
            .queue("low")
            .perform_later(n)
            .await
            .unwrap();
        OrderedJob::set()
            .client(&client)
            .queue("high")
            .perform_later(n)
            .await
            .unwrap();
    }
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["high", "low"])
        .concurrency(1)
        .registry(jobs::Registry::new().with::<OrderedJob>().unwrap())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(common::next(&mut rx).await);
    }
    assert_eq!(
        seen,
        ["high:0", "high:1", "high:2", "low:0", "low:1", "low:2"]
    );
    running.stop().await;
}

#[tokio::test]
async fn weighted_queues_both_get_work_while_both_have_jobs() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let jobs: Vec<_> = (0..60).map(OrderedJob::new).collect();
    OrderedJob::set()
        .client(&client)
        .queue("heavy")
        .perform_all_later(jobs)
        .await
        .unwrap();
    let jobs: Vec<_> = (0..60).map(OrderedJob::new).collect();
    OrderedJob::set()
        .client(&client)
        .queue("light")
        .perform_all_later(jobs)
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .weighted_queues([("heavy", 3), ("light", 1)])
        .concurrency(1)
        .registry(jobs::Registry::new().with::<OrderedJob>().unwrap())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    // Strict order would take the 60 heavy jobs first. Weighted 3:1, the chance that the
    // first 60 are all heavy is 0.75^60, about 3e-8, and that heavy gets no more than half
    // of them (binomial, mean 45, sd 3.4) about 3e-6.
    let mut heavy = 0;
    let mut light = 0;
    for _ in 0..60 {
        let event = common::next(&mut rx).await;
        if event.starts_with("heavy:") {
            heavy += 1;
        } else {
            light += 1;
        }
    }
    running.stop().await;
    assert!(heavy > 0 && light > 0, "heavy {heavy}, light {light}");
    assert!(
        heavy > light,
        "the heavier queue gets more: heavy {heavy}, light {light}"
    );
}

#[tokio::test]
async fn a_paused_queue_is_skipped_until_resumed() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    OrderedJob::set()
        .client(&client)
        .queue("held")
        .perform_later(1)
        .await
        .unwrap();
    backend
        .queue_pause(QueuePauseParams::new("held", true))
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["held", "open"])
        .registry(jobs::Registry::new().with::<OrderedJob>().unwrap())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);

    OrderedJob::set()
        .client(&client)
        .queue("open")
        .perform_later(2)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "open:2");
    common::assert_no_event(&mut rx).await;
    assert_eq!(common::queue_size(&backend, "held").await, 1);

    backend
        .queue_pause(QueuePauseParams::new("held", false))
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "held:1");
    running.stop().await;
}

#[tokio::test]
async fn work_continues_after_a_quiet_period_without_jobs() {
    // An idle worker blocks in reserve; a job pushed later starts without waiting a poll.
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["idle"])
        .registry(jobs::Registry::new().with::<OrderedJob>().unwrap())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    common::assert_no_event(&mut rx).await;
    OrderedJob::set()
        .client(&client)
        .queue("idle")
        .perform_later(9)
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("idle:9"));
    running.stop().await;
}
