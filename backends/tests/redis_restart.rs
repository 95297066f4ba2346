//! A Redis server of the test's own (never the shared one) is killed and started again: the
//! backend reports the outage as `Connection` errors within a bounded time, then reconnects
//! and works on, for enqueues and for blocking reserves alike.

mod redis_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use redis_support::{free_port, t0};
use tokio::process::{Child, Command};

/// Starts `redis-server` on `port` without persistence and waits until it answers PING.
async fn start_server(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is installed");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    // A real process must come up: poll it, with a deadline.
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
            "redis-server on port {port} did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop_server(mut child: Child) {
    child.kill().await.unwrap();
    child.wait().await.unwrap();
}

/// Retries `op` until it succeeds, as the worker does after a transient error.
async fn until_ok<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BackendError>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(e.is_transient(), "{what}: a non-transient error: {e}");
                assert!(Instant::now() < deadline, "{what}: no recovery: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn reserve_params(wait: Duration) -> ReserveParams {
    let mut p = ReserveParams::new(vec!["q".into()], "p1", t0());
    p.wait = wait;
    p
}

#[tokio::test]
async fn the_backend_reconnects_after_its_server_restarts() {
    let port = free_port();
    let server = start_server(port).await;
    let mut opts = RedisOptions::new(format!("redis://127.0.0.1:{port}")).with_prefix("restart");
    opts.connect_timeout = Duration::from_millis(500);
    let backend = RedisBackend::connect(opts).await.unwrap();
    let job = || JobEnvelope::new("Echo", "q", vec![]);
    backend
        .job_push(PushParams::new(vec![job()], t0()))
        .await
        .unwrap();
    let got = backend
        .job_reserve(reserve_params(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    // Leave a blocking connection in the pool: it goes stale with the server.
    assert!(backend
        .job_reserve(reserve_params(Duration::from_millis(50)))
        .await
        .unwrap()
        .is_empty());

    stop_server(server).await;
    let started = Instant::now();
    let err = backend
        .job_push(PushParams::new(vec![job()], t0()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    let err = backend
        .job_reserve(reserve_params(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let err = backend
        .job_push(PushParams::new(vec![job()], t0()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "outage errors took {:?}",
        started.elapsed()
    );

    let server = start_server(port).await;
    until_ok("push", || {
        backend.job_push(PushParams::new(vec![job()], t0()))
    })
    .await;
    let got = until_ok("reserve", || {
        backend.job_reserve(reserve_params(Duration::from_secs(1)))
    })
    .await;
    assert_eq!(got.len(), 1);
    let report = backend
        .job_finish(
            FinishParams::new(
                vec![Finish::new(
                    got[0].token.clone(),
                    got[0].job.clone(),
                    FinishOutcome::Completed,
                    false,
                )],
                t0(),
            )
            .dead_limits(DeadLimits::default()),
        )
        .await
        .unwrap();
    assert!(report.lost.is_empty());
    // A blocking reserve after the restart wakes on a push again.
    let b = backend.clone();
    let waiter =
        tokio::spawn(async move { b.job_reserve(reserve_params(Duration::from_secs(10))).await });
    backend
        .job_push(PushParams::new(vec![job()], t0()))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    stop_server(server).await;
}

/// A unique job pushed alone goes on a pooled connection with `EVALSHA`; on a server that
/// lost its scripts (`SCRIPT FLUSH`, as after a restart) it is sent again on the shared
/// connection, which loads the script, and the answer (stored, or duplicate of whom) is right.
#[tokio::test]
async fn a_unique_job_pushed_alone_after_the_server_lost_its_scripts_is_decided_right() {
    let port = free_port();
    let server = start_server(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let backend = RedisBackend::connect(RedisOptions::new(url.clone()).with_prefix("scripts"))
        .await
        .unwrap();
    let locked = |n: i64, key: &str| {
        let mut j = JobEnvelope::new("Sync", "q", vec![n.into()]);
        let lock = jobs::envelope::flow::UniqueLock::new(
            "Sync",
            None,
            &[key.into()],
            jobs::envelope::flow::UniqueUntil::Success,
            4_000_000_000.0,
        );
        j.set_unique(Some(lock));
        j
    };
    let push = |job: JobEnvelope| {
        let b = backend.clone();
        async move { b.job_push(PushParams::new(vec![job], t0())).await.unwrap() }
    };
    let first = locked(1, "a");
    assert!(push(first.clone()).await.duplicates.is_empty());
    let mut raw = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    let again = push(locked(2, "a")).await;
    assert_eq!(again.duplicates, vec![(0, first.jid.clone())]);
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    let other = push(locked(3, "b")).await;
    assert!(other.duplicates.is_empty(), "a free key stores its job");
    let queued: i64 = redis::cmd("LLEN")
        .arg("scripts:queue:q")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        queued, 2,
        "the first and the third job are stored, once each"
    );
    stop_server(server).await;
}
