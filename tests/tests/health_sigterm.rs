//! A real worker process serving its probes (`jobs_test_worker --health-addr`): `/readyz`
//! answers 200 once it runs, 503 `draining` from the SIGTERM on while its job still runs
//! within the shutdown timeout, and `/livez` answers 200 all along until the process exits 0.
//! On the shared Redis server, under a key prefix of its own.

mod probe_support;
mod servers;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, Backend};
use jobs::envelope::JobEnvelope;
use jobs::Client;
use jobs_conformance::faults::servers::free_port;
use probe_support::{assert_live, get, until, WAIT};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// How many jobs `admin`'s processes are running.
async fn running(admin: &Arc<dyn AdminBackend>) -> usize {
    let processes = admin.process_list().await.unwrap();
    processes.iter().map(|p| p.running.len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_draining_from_sigterm_until_exit_and_livez_200_throughout() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = servers::with_params(
        &servers::redis_url(),
        &format!("prefix=health-sigterm:{}:{nanos:x}", std::process::id()),
    );
    let admin = jobs_backends::connect(&url).await.unwrap();
    let backend: Arc<dyn Backend> = admin.clone();
    // Longer than the shutdown timeout: it runs through the whole drain, then goes back.
    let long = JobEnvelope::new("KillTestJob", "default", vec![1.into(), 60_000.into()]);
    Client::new(backend).push(vec![long]).await.unwrap();

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .args([
            "--url",
            &url,
            "--heartbeat-ms",
            "50",
            "--shutdown-timeout-ms",
            "3000",
            "--health-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(WAIT, lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l.starts_with("ready ")),
        "{ready:?}"
    );

    assert_eq!(until(port, "/readyz", 200).await, "ready\n");
    assert_live(port).await;
    let deadline = Instant::now() + WAIT;
    while running(&admin).await != 1 {
        assert!(Instant::now() < deadline, "the job did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pid = child.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    assert_eq!(
        until(port, "/readyz", 503).await,
        "draining: shutting down, finishing running jobs\n"
    );
    assert_live(port).await;
    assert_eq!(
        running(&admin).await,
        1,
        "the job still runs while draining"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process is still up"
    );

    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    assert_eq!(
        get(port, "/livez").await,
        None,
        "nothing answers once it exited"
    );
    admin.clear_all().await.unwrap();
}
