//! No job is lost or run twice by lease handling: a vanished worker, a job outliving its lease.
//! (An unreachable backend is covered by unreachable_backend.rs.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::backend::AdminBackend;
use jobs::clock::Clock;
use jobs::prelude::*;

#[jobs::job(queue = "x_gated")]
async fn stuck_job(gate: State<Gate>, events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("start {n}"));
    gate.pass().await;
    events.send(format!("done {n}"));
    Ok(())
}

#[jobs::job(queue = "x_long")]
async fn long_job(events: State<Events>) -> Result<(), Oops> {
    events.send("start");
    // Work that outlives the lease several times over.
    tokio::time::sleep(Duration::from_millis(900)).await;
    events.send("done");
    Ok(())
}

#[tokio::test]
async fn jobs_of_a_worker_whose_run_future_is_dropped_are_rescued_by_another() {
    let backend = common::backend();
    let clock = common::clock();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let build = |events: Events| {
        common::worker(&backend)
            .queues(["x_gated"])
            .clock(clock.clone())
            .lease_ttl(Duration::from_secs(60))
            .registry(jobs::Registry::new().with::<StuckJob>().unwrap())
            .state(gate.clone())
            .state(events)
            .build()
            .unwrap()
    };
    let crashed = build(events.clone());
    let crashed_id = crashed.id().to_owned();
    let task = tokio::spawn(crashed.run());
    StuckJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start 1");
    // The embedding app drops the worker (say, a select! in main picked the web server).
    task.abort();
    let _ = task.await;

    // It no longer beats: its record keeps its last beat time.
    clock.advance(Duration::from_secs(61));
    let beats = async {
        loop {
            let procs = backend.process_list().await.unwrap();
            if procs
                .iter()
                .any(|p| p.info.id == crashed_id && p.beat_at == clock.now())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let still_beating = tokio::time::timeout(common::QUIET, beats).await.is_ok();
    assert!(
        !still_beating,
        "a dropped worker still beats and extends its leases"
    );

    // Its leases have expired; another worker rescues and performs the job.
    let rescuer = common::spawn(build(events));
    assert_eq!(common::next(&mut rx).await, "start 1");
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "done 1");
    let stats = common::processed(&backend, 1).await;
    assert_eq!((stats.processed, stats.enqueued), (1, 0));
    let procs = backend.process_list().await.unwrap();
    assert!(
        procs.iter().all(|p| p.info.id != crashed_id),
        "the vanished process is pruned"
    );
    rescuer.stop().await;
}

#[tokio::test]
async fn the_heartbeat_extends_the_leases_of_a_long_job_so_it_runs_once() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["x_long"])
            .concurrency(2)
            .lease_ttl(Duration::from_millis(400))
            .registry(jobs::Registry::new().with::<LongJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    LongJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start");
    assert_eq!(
        common::next(&mut rx).await,
        "done",
        "not started a second time"
    );
    let stats = common::processed(&backend, 1).await;
    running.stop().await;
    assert_eq!((stats.processed, stats.failed, stats.enqueued), (1, 0, 0));
}

/// The in-memory backend, but the first reserve loses its reply: the store applied it (what
/// it took is leased to the worker) and the worker gets an error, as when a connection drops
/// right after the server wrote the move.
struct LostReply {
    inner: jobs::memory::MemoryBackend,
    lost: AtomicBool,
}

jobs::forward_backend! {
    LostReply,
    inner(this) = &this.inner,
    around(this, op, call) = {
        let reply = call.await;
        if op == "job_reserve" && !this.lost.swap(true, Ordering::SeqCst) {
            Err(jobs::backend::BackendError::connection(
                "lost-reply",
                "connection reset after the reserve was applied",
            ))
        } else {
            reply
        }
    },
    name(this) = "lost-reply",
    metrics(this) = None,
    schedules(this) = None,
}

#[tokio::test]
async fn a_job_whose_reserve_reply_was_lost_runs_while_the_worker_lives() {
    let backend = Arc::new(LostReply {
        inner: jobs::memory::MemoryBackend::new(),
        lost: AtomicBool::new(false),
    });
    let client = Client::new(backend.clone());
    // Waiting before the worker starts, so its first reserve takes it (and loses the reply).
    StuckJob::set()
        .client(&client)
        .perform_later(7)
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["x_gated"])
            .lease_ttl(Duration::from_millis(400))
            .registry(jobs::Registry::new().with::<StuckJob>().unwrap())
            .state(gate.clone())
            .state(events)
            .build()
            .unwrap(),
    );
    // The worker never learnt it holds the job. Its heartbeat extends only the leases it
    // holds, so this one lapses and the job is rescued and run while the worker lives.
    assert_eq!(common::next(&mut rx).await, "start 7");
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "done 7");
    assert!(backend.lost.load(Ordering::SeqCst), "the reply was lost");
    running.stop().await;
}
