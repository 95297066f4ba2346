//! The cancellation tests with real processes, generic over the backend URL: a job running
//! in worker process B (`jobs_test_worker`) is cancelled from this process (A).
//!
//! 1. [`cancel_reaches_another_process`]: B's job sees `ctx.cancelled()` and ends in the
//!    cancelled set, within the time given (shorter than B's heartbeat when the backend has
//!    a channel between processes).
//! 2. [`a_job_ignoring_its_cancel_is_aborted`]: B aborts a job that ignores its cancel after
//!    its 500 ms grace; the job never reaches its end.
//! 3. [`cancel_arrives_while_the_channel_is_cut`]: B's notification connection is cut (by
//!    the backend's test), the cancel is sent at once, and it still arrives (B's heartbeat
//!    carries it, or its channel once back).
//! 4. [`a_killed_workers_cancelled_job_is_not_run_again`]: B is SIGKILLed while running the
//!    job, the cancel is requested, and worker C, rescuing the job, cancels it instead of
//!    running it again.
//!
//! Markers: the jobs enqueue `CancelMark(i, pid, what)` on queue `performed`, which no
//! worker works, so runs are counted through the admin side of any backend.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, Cancellation, JobListParams, JobSet};
use jobs::envelope::JobEnvelope;
use jobs::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `jobs_test_worker` on `url` beating every `heartbeat_ms`; returns it with its
/// process id once it is ready.
async fn start_worker(url: &str, heartbeat_ms: u64) -> (Child, u32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .args(["--url", url, "--concurrency", "2"])
        .args(["--lease-ttl-ms", "1500"])
        .args([
            "--heartbeat-ms",
            &heartbeat_ms.to_string(),
            "--poll-ms",
            "100",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start jobs_test_worker");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("jobs_test_worker is ready within 30 s")
        .expect("read stdout")
        .expect("jobs_test_worker printed `ready <id>`");
    assert!(line.starts_with("ready "), "{line}");
    let pid = child.id().expect("pid");
    (child, pid)
}

/// The markers: (i, pid, what).
async fn marks(admin: &Arc<dyn AdminBackend>) -> Vec<(u64, u32, String)> {
    let page = admin
        .job_list(JobListParams::new(
            JobSet::Queue("performed".into()),
            100_000,
        ))
        .await
        .expect("list markers");
    page.jobs
        .into_iter()
        .filter(|s| s.job.class == "CancelMark")
        .map(|s| {
            let a = &s.job.args;
            (
                a[0].as_u64().unwrap_or_default(),
                u32::try_from(a[1].as_u64().unwrap_or_default()).unwrap_or_default(),
                a[2].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until job `i` recorded `what`; returns the pid that did.
async fn wait_mark(admin: &Arc<dyn AdminBackend>, i: u64, what: &str, within: Duration) -> u32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some((_, pid, _)) = marks(admin)
            .await
            .into_iter()
            .find(|(n, _, w)| *n == i && w == what)
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "job {i} did not record `{what}` within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until job `jid` is in the cancelled set; returns how long it took.
async fn wait_cancelled(admin: &Arc<dyn AdminBackend>, jid: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let page = admin
            .job_list(JobListParams::new(JobSet::Cancelled, 1000))
            .await
            .expect("list cancelled");
        if page.jobs.iter().any(|s| s.job.jid == jid) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{jid} not in the cancelled set within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pushes job `class(i)`; its jid.
async fn push(client: &Client, class: &str, i: u64) -> String {
    let pushed = client
        .push(vec![JobEnvelope::new(class, "default", vec![i.into()])])
        .await
        .expect("push");
    pushed[0].jid().to_owned()
}

/// Stops a worker with SIGTERM, or SIGKILL after 15 s.
async fn stop(mut child: Child, pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// A job running in B sees its cancel, sent from here, within `within`, B beating every
/// `heartbeat_ms`, and ends cancelled.
pub async fn cancel_reaches_another_process(url: &str, heartbeat_ms: u64, within: Duration) {
    let admin = jobs_backends::connect(url).await.expect("connect");
    let client = Client::new(admin.clone());
    let (b, b_pid) = start_worker(url, heartbeat_ms).await;
    let jid = push(&client, "CancelTestJob", 1).await;
    assert_eq!(
        wait_mark(&admin, 1, "started", Duration::from_secs(30)).await,
        b_pid
    );
    let asked = Instant::now();
    assert_eq!(
        client.cancel(&jid).await.expect("cancel"),
        Cancellation::Requested
    );
    assert_eq!(wait_mark(&admin, 1, "saw-cancel", within).await, b_pid);
    let seen = asked.elapsed();
    wait_cancelled(&admin, &jid, Duration::from_secs(10)).await;
    eprintln!(
        "cancel: B saw the cancel {seen:?} after it was sent (heartbeat every {heartbeat_ms} ms)"
    );
    stop(b, b_pid).await;
    admin.clear_all().await.expect("clear");
}

/// A job in B ignoring its cancel is aborted after its 500 ms grace and ends cancelled.
pub async fn a_job_ignoring_its_cancel_is_aborted(url: &str, heartbeat_ms: u64) {
    let admin = jobs_backends::connect(url).await.expect("connect");
    let client = Client::new(admin.clone());
    let (b, b_pid) = start_worker(url, heartbeat_ms).await;
    let jid = push(&client, "StubbornTestJob", 2).await;
    wait_mark(&admin, 2, "started", Duration::from_secs(30)).await;
    let asked = Instant::now();
    assert_eq!(
        client.cancel(&jid).await.expect("cancel"),
        Cancellation::Requested
    );
    wait_cancelled(&admin, &jid, Duration::from_secs(30)).await;
    assert!(
        asked.elapsed() >= Duration::from_millis(500),
        "aborted only after its grace: {:?}",
        asked.elapsed()
    );
    assert!(
        !marks(&admin).await.iter().any(|(_, _, w)| w == "finished"),
        "the job never reached its end"
    );
    let stats = admin.stats().await.expect("stats");
    assert_eq!(
        (stats.retries, stats.dead, stats.failed),
        (0, 0, 0),
        "{stats:?}"
    );
    stop(b, b_pid).await;
    admin.clear_all().await.expect("clear");
}

/// B's notification connection is cut by `cut`; a cancel sent at once still reaches its
/// job (by B's heartbeat, every `heartbeat_ms`).
#[allow(dead_code)] // SQLite has no channel to cut
pub async fn cancel_arrives_while_the_channel_is_cut<F: std::future::Future<Output = ()>>(
    url: &str,
    heartbeat_ms: u64,
    cut: F,
) {
    let admin = jobs_backends::connect(url).await.expect("connect");
    let client = Client::new(admin.clone());
    let (b, b_pid) = start_worker(url, heartbeat_ms).await;
    let jid = push(&client, "CancelTestJob", 3).await;
    wait_mark(&admin, 3, "started", Duration::from_secs(30)).await;
    cut.await;
    assert_eq!(
        client.cancel(&jid).await.expect("cancel"),
        Cancellation::Requested
    );
    wait_mark(&admin, 3, "saw-cancel", Duration::from_secs(20)).await;
    wait_cancelled(&admin, &jid, Duration::from_secs(10)).await;
    stop(b, b_pid).await;
    admin.clear_all().await.expect("clear");
}

/// B is SIGKILLed running the job; its cancel is requested; C rescues the job after B's
/// lease expires and cancels it without running it again.
pub async fn a_killed_workers_cancelled_job_is_not_run_again(url: &str) {
    let admin = jobs_backends::connect(url).await.expect("connect");
    let client = Client::new(admin.clone());
    let (mut b, b_pid) = start_worker(url, 200).await;
    let jid = push(&client, "StubbornTestJob", 4).await;
    assert_eq!(
        wait_mark(&admin, 4, "started", Duration::from_secs(30)).await,
        b_pid
    );
    b.start_kill().expect("SIGKILL B");
    b.wait().await.expect("B ended");
    assert_eq!(
        client.cancel(&jid).await.expect("cancel"),
        Cancellation::Requested,
        "the job is still leased to the dead B"
    );
    let (c, c_pid) = start_worker(url, 200).await;
    wait_cancelled(&admin, &jid, Duration::from_secs(30)).await;
    let starts: Vec<u32> = marks(&admin)
        .await
        .into_iter()
        .filter(|(i, _, w)| *i == 4 && w == "started")
        .map(|(_, pid, _)| pid)
        .collect();
    assert_eq!(starts, vec![b_pid], "C ({c_pid}) did not run it again");
    stop(c, c_pid).await;
    admin.clear_all().await.expect("clear");
}
