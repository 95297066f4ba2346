//! A worker's `/readyz` follows its Redis store: 200 while connected, 503 naming the store
//! once a `redis-server` of the test's own is killed, 200 again once it is started on the
//! same port; `/livez` answers 200 all along. Skipped (with a line on stderr) when
//! `redis-server` is not installed: the shared server is never stopped.

mod probe_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jobs::worker::HealthState;
use jobs::{Registry, Worker};
use jobs_backends::redis::{RedisBackend, RedisOptions};
use jobs_conformance::faults::servers::{free_port, PrivateRedis};
use probe_support::{assert_live, until, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_naming_redis_while_it_is_down_and_200_once_it_is_back() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let Some(mut server) = PrivateRedis::start(&tmp).await else {
        return;
    };
    let prefix = format!("health:{}", std::process::id());
    let backend = RedisBackend::connect(RedisOptions::new(server.url()).with_prefix(prefix))
        .await
        .unwrap();
    let port = free_port();
    let worker = Worker::builder(Arc::new(backend))
        .handle_signals(false)
        .registry(Registry::new())
        .heartbeat_interval(Duration::from_millis(100))
        .fetch_wait(Duration::from_millis(100))
        .poll_interval(Duration::from_millis(100))
        .health_addr(format!("127.0.0.1:{port}"))
        .build()
        .unwrap();
    let health = worker.health();
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());

    assert_eq!(until(port, "/readyz", 200).await, "ready\n");
    assert_live(port).await;

    server.crash().await;
    let body = until(port, "/readyz", 503).await;
    eprintln!("readyz while redis is down: {body}");
    assert!(
        body.starts_with("redis store unreachable since "),
        "names the store: {body:?}"
    );
    assert!(
        matches!(
            health.state(),
            HealthState::Unreachable { store: "redis", .. }
        ),
        "{:?}",
        health.state()
    );
    assert_live(port).await;

    server.start_again().await;
    assert_eq!(until(port, "/readyz", 200).await, "ready\n");
    assert_live(port).await;

    handle.stop();
    let ran = tokio::time::timeout(WAIT, running).await;
    assert!(matches!(ran, Ok(Ok(Ok(())))), "the worker stops: {ran:?}");
    assert_eq!(health.state(), HealthState::Stopped);
}
