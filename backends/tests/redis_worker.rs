//! The Redis backend under a real worker: a graceful shutdown puts a job written by Ruby back
//! byte for byte, and a worker keeps running through a restart of its own `redis-server`
//! (persistence on), losing no job, and retries a shutdown requeue until Redis is back.

mod redis_support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::prelude::*;
use jobs::Registry;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use redis_support::{free_port, Fixture};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, Semaphore};

#[derive(Debug, thiserror::Error)]
#[error("gate closed")]
struct Closed;

/// Tells the test a job started, then holds until the gate opens.
#[derive(Clone)]
struct Gate {
    started: mpsc::UnboundedSender<u64>,
    open: Arc<Semaphore>,
}

#[jobs::job(name = "WorkerTestHold")]
async fn worker_test_hold(
    gate: State<Gate>,
    small: serde_json::Value,
    nested: serde_json::Value,
) -> Result<(), Closed> {
    let _ = (small, nested);
    let _ = gate.started.send(1);
    let _permit = gate.open.acquire().await.map_err(|_| Closed)?;
    Ok(())
}

/// Reports `i` once performed.
#[derive(Clone)]
struct Seen(mpsc::UnboundedSender<u64>);

#[jobs::job(name = "WorkerTestEcho")]
async fn worker_test_echo(seen: State<Seen>, i: u64) -> Result<(), Closed> {
    seen.0 .0.send(i).map_err(|_| Closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_requeues_a_job_written_by_ruby_byte_for_byte() {
    let f = Fixture::new("worker-requeue").await;
    // As Ruby writes it: its key order, `1.0e-07`, unescaped UTF-8, fields we do not know.
    let payload = r#"{"retry":true,"queue":"default","class":"WorkerTestHold","args":[1.0e-07,{"b":1,"a":[null,"ü"]}],"jid":"0123456789abcdef01234567","created_at":1700000000.1234567,"enqueued_at":1700000000.5,"tags":["x"],"bid":null}"#;
    let _: () = f
        .cmd(redis::cmd("LPUSH").arg(f.key("queue:default")).arg(payload))
        .await;

    let (tx, mut started) = mpsc::unbounded_channel();
    let gate = Gate {
        started: tx,
        open: Arc::new(Semaphore::new(0)),
    };
    let worker = Worker::builder(Arc::new(f.backend.clone()))
        .registry(Registry::new().with::<WorkerTestHold>().unwrap())
        .state(gate)
        .queues(["default"])
        .shutdown_timeout(Duration::from_millis(200))
        .handle_signals(false)
        .build()
        .unwrap();
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());
    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the job starts")
        .unwrap();
    let queued: Vec<String> = f
        .cmd(
            redis::cmd("LRANGE")
                .arg(f.key("queue:default"))
                .arg(0)
                .arg(-1),
        )
        .await;
    assert!(queued.is_empty(), "the running job left its queue");

    handle.stop();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops after its shutdown timeout")
        .unwrap()
        .unwrap();
    let queued: Vec<String> = f
        .cmd(
            redis::cmd("LRANGE")
                .arg(f.key("queue:default"))
                .arg(0)
                .arg(-1),
        )
        .await;
    assert_eq!(queued, vec![payload.to_owned()], "requeued byte for byte");
    let stats = f.backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed), (0, 0), "{stats:?}");
    f.cleanup().await;
}

/// Starts `redis-server` on `port` with an append-only file fsynced on every write in `dir`,
/// and waits until it answers PING.
async fn start_server(port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is installed");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok()
            {
                return child;
            }
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on {port} did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives until every id in `want` arrived, within `within`.
async fn expect_performed(rx: &mut mpsc::UnboundedReceiver<u64>, want: &[u64], within: Duration) {
    let deadline = Instant::now() + within;
    let mut missing: Vec<u64> = want.to_vec();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(i)) => missing.retain(|m| *m != i),
            _ => panic!("jobs {missing:?} not performed within {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_carries_on_through_a_redis_restart() {
    let port = free_port();
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "jobs-redis-worker-{}-{nanos:x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = start_server(port, &dir).await;

    let mut opts = RedisOptions::new(format!("redis://127.0.0.1:{port}"));
    opts.connect_timeout = Duration::from_millis(500);
    opts.response_timeout = Duration::from_secs(1);
    let backend = Arc::new(RedisBackend::connect(opts).await.unwrap());
    let client = Client::new(backend.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = Worker::builder(backend.clone())
        .registry(Registry::new().with::<WorkerTestEcho>().unwrap())
        .state(Seen(tx))
        .queues(["default"])
        .concurrency(2)
        .poll_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(200))
        .handle_signals(false)
        .build()
        .unwrap();
    let handle = worker.handle();
    let mut running = tokio::spawn(worker.run());

    for i in 0..3 {
        WorkerTestEcho::set()
            .client(&client)
            .perform_later(i)
            .await
            .unwrap();
    }
    expect_performed(&mut rx, &[0, 1, 2], Duration::from_secs(10)).await;
    // Due after the restart: must survive it on disk.
    for i in 10..13 {
        WorkerTestEcho::set()
            .client(&client)
            .perform_in(Duration::from_millis(1500), i)
            .await
            .unwrap();
    }

    server.kill().await.unwrap();
    server.wait().await.unwrap();
    let started = Instant::now();
    let err = WorkerTestEcho::set()
        .client(&client)
        .perform_later(99)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    // The worker rides out the outage (its loops back off) instead of returning.
    let outage = tokio::time::timeout(Duration::from_millis(1500), &mut running).await;
    assert!(
        outage.is_err(),
        "the worker stopped during the outage: {outage:?}"
    );

    let _server = start_server(port, &dir).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match WorkerTestEcho::set()
            .client(&client)
            .perform_later(20)
            .await
        {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "no recovery: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_performed(&mut rx, &[10, 11, 12, 20], Duration::from_secs(20)).await;

    handle.stop();
    tokio::time::timeout(Duration::from_secs(30), &mut running)
        .await
        .expect("the worker stops")
        .unwrap()
        .unwrap();
    let stats = backend.stats().await.unwrap();
    assert_eq!(
        (stats.failed, stats.enqueued, stats.scheduled),
        (0, 0, 0),
        "{stats:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeue_at_shutdown_is_retried_until_redis_is_back() {
    let port = free_port();
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "jobs-redis-requeue-{}-{nanos:x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = start_server(port, &dir).await;
    let url = format!("redis://127.0.0.1:{port}");
    let mut opts = RedisOptions::new(url.clone());
    opts.connect_timeout = Duration::from_millis(200);
    opts.response_timeout = Duration::from_millis(500);
    let backend = Arc::new(RedisBackend::connect(opts).await.unwrap());
    let payload = r#"{"class":"WorkerTestHold","args":[2.5e-05,{"z":"ß","a":{}}],"queue":"default","retry":3,"jid":"abcdefabcdefabcdefabcdef","created_at":1700000001.25,"enqueued_at":1700000001.75}"#;
    let raw = || async {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    };
    let _: () = redis::cmd("LPUSH")
        .arg("queue:default")
        .arg(payload)
        .query_async(&mut raw().await)
        .await
        .unwrap();

    let (tx, mut started) = mpsc::unbounded_channel();
    let gate = Gate {
        started: tx,
        open: Arc::new(Semaphore::new(0)),
    };
    let worker = Worker::builder(backend.clone())
        .registry(Registry::new().with::<WorkerTestHold>().unwrap())
        .state(gate)
        .queues(["default"])
        .shutdown_timeout(Duration::from_millis(100))
        .handle_signals(false)
        .build()
        .unwrap();
    let handle = worker.handle();
    let mut running = tokio::spawn(worker.run());
    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the job starts")
        .unwrap();

    server.kill().await.unwrap();
    server.wait().await.unwrap();
    handle.stop();
    // Redis is down: the worker keeps retrying the requeue instead of returning without it.
    let early = tokio::time::timeout(Duration::from_millis(250), &mut running).await;
    assert!(
        early.is_err(),
        "the worker gave up on the requeue: {early:?}"
    );

    let _server = start_server(port, &dir).await;
    tokio::time::timeout(Duration::from_secs(30), &mut running)
        .await
        .expect("the worker stops once the job is back")
        .unwrap()
        .unwrap();
    let queued: Vec<String> = redis::cmd("LRANGE")
        .arg("queue:default")
        .arg(0)
        .arg(-1)
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(queued, vec![payload.to_owned()], "requeued byte for byte");
    let _ = std::fs::remove_dir_all(&dir);
}
