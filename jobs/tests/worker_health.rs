//! The health probes over real HTTP (`health-http` feature): `/readyz` follows a worker
//! from starting to ready, through a store outage (failing, or hanging heartbeats) and back,
//! to draining while its jobs still run; `/livez` answers 200 throughout; the server closes
//! when the run ends. Run with `cargo test -p jobs --features health-http --test
//! worker_health`.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::prelude::*;
use jobs::worker::{HealthState, WorkerError};
use tokio::sync::watch;

#[jobs::job(queue = "h_gated")]
async fn held_job(gate: State<Gate>, events: State<Events>) -> Result<(), Oops> {
    events.send("start");
    gate.pass().await;
    events.send("done");
    Ok(())
}

/// The in-memory backend, whose heartbeats wait until the test lets them through, and whose
/// heartbeats and reserves fail as if the store were gone while `down` is set.
struct Switched {
    inner: jobs::memory::MemoryBackend,
    beats: watch::Receiver<bool>,
    down: AtomicBool,
}

jobs::forward_backend! {
    Switched,
    inner(this) = &this.inner,
    around(this, op, call) = {
        if op == "process_heartbeat" {
            let mut beats = this.beats.clone();
            let _ = beats.wait_for(|open| *open).await;
        }
        if matches!(op, "process_heartbeat" | "job_reserve") && this.down.load(Ordering::SeqCst) {
            Err(BackendError::connection("switched://", "connection refused"))
        } else {
            call.await
        }
    },
    name(this) = "switched",
    metrics(this) = None,
    schedules(this) = None,
}

/// A port free on 127.0.0.1 when asked.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0");
    listener
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.1: the status and body, or `None` when nothing
/// listens there.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let timeout = Some(Duration::from_secs(5));
        stream.set_read_timeout(timeout).ok()?;
        stream.set_write_timeout(timeout).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    })
    .await
    .unwrap_or_else(|e| panic!("the probe task failed: {e}"))?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Polls `GET path` until it answers `status`; returns the body. Panics after
/// [`common::WAIT`], with the last answer.
async fn until(port: u16, path: &str, status: u16) -> String {
    let mut last = None;
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let answer = get(port, path).await;
        if let Some((s, body)) = &answer {
            if *s == status {
                return body.clone();
            }
        }
        last = answer.or(last);
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {path} did not answer {status} within {:?}; last answer {last:?}",
            common::WAIT
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn livez_ok(port: u16) {
    assert_eq!(
        get(port, "/livez").await,
        Some((200, "ok\n".to_owned())),
        "livez"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_starting_ready_unreachable_ready_draining_and_livez_stays_200() {
    let (beats, beats_rx) = watch::channel(false);
    let backend = Arc::new(Switched {
        inner: jobs::memory::MemoryBackend::new(),
        beats: beats_rx,
        down: AtomicBool::new(false),
    });
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let port = free_port();
    let worker = common::worker(&backend)
        .queues(["h_gated"])
        .concurrency(2)
        .shutdown_timeout(Duration::from_secs(30))
        .health_addr(format!("127.0.0.1:{port}"))
        .registry(jobs::Registry::new().with::<HeldJob>().unwrap())
        .state(gate.clone())
        .state(events)
        .build()
        .unwrap();
    let health = worker.health();
    let running = common::spawn(worker);

    // Starting: the server is up (livez), but no heartbeat has been answered.
    until(port, "/livez", 200).await;
    assert_eq!(
        get(port, "/readyz").await,
        Some((503, "starting: no heartbeat answered yet\n".to_owned()))
    );

    // Ready once a heartbeat is answered.
    beats.send_replace(true);
    assert_eq!(until(port, "/readyz", 200).await, "ready\n");
    livez_ok(port).await;

    // The store goes away: 503 naming it; back: 200.
    backend.down.store(true, Ordering::SeqCst);
    let body = until(port, "/readyz", 503).await;
    assert!(
        body.starts_with("switched store unreachable since ")
            && body.contains("connection refused"),
        "{body:?}"
    );
    livez_ok(port).await;
    backend.down.store(false, Ordering::SeqCst);
    assert_eq!(until(port, "/readyz", 200).await, "ready\n");

    // A job runs; a stop is requested: draining while the job still runs.
    HeldJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start");
    running.handle.stop();
    assert_eq!(
        until(port, "/readyz", 503).await,
        "draining: shutting down, finishing running jobs\n"
    );
    livez_ok(port).await;
    assert_eq!(health.state(), HealthState::Draining);
    common::assert_no_event(&mut rx).await;
    assert_eq!(
        get(port, "/readyz").await.map(|(s, _)| s),
        Some(503),
        "still draining while the job runs"
    );
    livez_ok(port).await;

    // The job ends, the run returns: stopped, and the server is gone with it.
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "done");
    running.join().await;
    assert_eq!(health.state(), HealthState::Stopped);
    assert_eq!(get(port, "/livez").await, None, "the port is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_heartbeats_hang_though_reserves_answer() {
    let (beats, beats_rx) = watch::channel(true);
    let backend = Arc::new(Switched {
        inner: jobs::memory::MemoryBackend::new(),
        beats: beats_rx,
        down: AtomicBool::new(false),
    });
    let port = free_port();
    let worker = common::worker(&backend)
        .health_addr(format!("127.0.0.1:{port}"))
        .registry(jobs::Registry::new())
        .build()
        .unwrap();
    let health = worker.health();
    let running = common::spawn(worker);
    assert_eq!(until(port, "/readyz", 200).await, "ready\n");

    // The store stops answering heartbeats (no error: they hang); reserves still answer.
    beats.send_replace(false);
    let body = until(port, "/readyz", 503).await;
    assert!(
        body.starts_with("switched store unreachable since ")
            && body.ends_with(": no answer to a heartbeat within 1s\n"),
        "{body:?}"
    );
    let mut changes = health.subscribe();
    changes.mark_unchanged();
    let changed = tokio::time::timeout(common::QUIET, changes.changed()).await;
    assert!(
        changed.is_err(),
        "answered reserves do not make it ready: {:?}",
        health.state()
    );
    livez_ok(port).await;

    // The hanging heartbeat is answered at last: ready again.
    beats.send_replace(true);
    assert_eq!(until(port, "/readyz", 200).await, "ready\n");
    running.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let backend = common::backend();
    let port = free_port();
    let worker = common::worker(&backend)
        .health_addr(format!("127.0.0.1:{port}"))
        .registry(jobs::Registry::new())
        .build()
        .unwrap();
    let health = worker.health();
    let running = common::spawn(worker);
    health.wait_for(HealthState::is_ready).await;
    assert_eq!(until(port, "/readyz", 200).await, "ready\n");
    assert_eq!(get(port, "/").await.map(|(s, _)| s), Some(404));
    assert_eq!(get(port, "/readyz/x").await.map(|(s, _)| s), Some(404));
    running.stop().await;
}

#[tokio::test]
async fn an_address_in_use_fails_the_run_before_it_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let backend = common::backend();
    let worker = common::worker(&backend)
        .health_addr(addr.clone())
        .registry(jobs::Registry::new())
        .build()
        .unwrap();
    let health = worker.health();
    let ran = tokio::time::timeout(common::WAIT, worker.run()).await;
    match ran {
        Ok(Err(WorkerError::HealthBind { addr: a, .. })) => assert_eq!(a, addr),
        other => panic!("expected HealthBind, got {other:?}"),
    }
    assert_eq!(health.state(), HealthState::Stopped);
    let processes = jobs::backend::AdminBackend::process_list(backend.as_ref())
        .await
        .unwrap();
    assert!(processes.is_empty(), "never registered: {processes:?}");
}
