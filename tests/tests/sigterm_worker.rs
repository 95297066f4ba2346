//! SIGTERM a real worker process: it stops reserving, lets a job that ends within the
//! shutdown timeout finish, puts a job that does not back on its queue unchanged, and exits 0.

mod servers;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, Backend, JobListParams, JobSet};
use jobs::envelope::JobEnvelope;
use jobs::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

async fn count(admin: &Arc<dyn AdminBackend>, queue: &str) -> Vec<JobEnvelope> {
    let set = JobSet::Queue(queue.to_owned());
    let page = admin.job_list(JobListParams::new(set, 100)).await.unwrap();
    page.jobs.into_iter().map(|s| s.job).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_short_jobs_requeues_long_ones_and_exits_zero() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = servers::with_params(
        &servers::redis_url(),
        &format!("prefix=sigterm:{}:{nanos:x}", std::process::id()),
    );
    let admin = jobs_backends::connect(&url).await.unwrap();
    let backend: Arc<dyn Backend> = admin.clone();
    let short = JobEnvelope::new("KillTestJob", "default", vec![1.into(), 1_000.into()]);
    let long = JobEnvelope::new("KillTestJob", "default", vec![2.into(), 60_000.into()]);
    Client::new(backend)
        .push(vec![short.clone(), long.clone()])
        .await
        .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .args([
            "--url",
            &url,
            "--concurrency",
            "2",
            "--heartbeat-ms",
            "50",
            "--shutdown-timeout-ms",
            "1500",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l.starts_with("ready ")),
        "{ready:?}"
    );

    // Both jobs in flight: the queue is empty and the process lists two running jobs.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let busy: usize = admin
            .process_list()
            .await
            .unwrap()
            .iter()
            .map(|p| p.running.len())
            .sum();
        if busy == 2 && count(&admin, "default").await.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "both jobs did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().unwrap();
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");

    let performed = count(&admin, "performed").await;
    assert_eq!(performed.len(), 1, "the short job finished: {performed:?}");
    assert_eq!(performed[0].args[0], serde_json::json!(1));
    let back = count(&admin, "default").await;
    assert_eq!(back.len(), 1, "the long job is back on its queue: {back:?}");
    assert_eq!(
        (&back[0].jid, &back[0].args),
        (&long.jid, &long.args),
        "unchanged"
    );
    assert_eq!(back[0].retry_count, None, "a requeue is not a failure");
    assert!(
        admin.process_list().await.unwrap().is_empty(),
        "the process removed itself"
    );
    admin.clear_all().await.unwrap();
}

/// A worker that listens to signals in a process that goes on after it stopped (a web
/// server still serving): the first SIGTERM stops the worker, and the next one ends the
/// process at once (143) instead of being swallowed by the worker's handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_a_process_whose_worker_already_stopped() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .args([
            "--url",
            "memory://",
            "--shutdown-timeout-ms",
            "500",
            "--linger-ms",
            "60000",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = next_line(&mut lines).await;
    assert!(
        ready.as_deref().is_some_and(|l| l.starts_with("ready ")),
        "{ready:?}"
    );
    let pid = child.id().unwrap().to_string();
    let term = || Command::new("kill").args(["-TERM", &pid]).status();
    assert!(term().await.unwrap().success());
    assert_eq!(
        next_line(&mut lines).await.as_deref(),
        Some("stopped"),
        "the first SIGTERM stops the worker; the process goes on"
    );
    let started = Instant::now();
    assert!(term().await.unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the second SIGTERM ends the process")
        .unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The next line the child prints, waiting up to 30 s.
async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<String> {
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    line.ok().and_then(Result::ok).flatten()
}
