//! The kill tests of progress and results, generic over the backend URL, with real worker
//! processes (`jobs_test_worker`, job `ProgressTestJob(i, gate)`: reports 50 %, holds while
//! the file `gate` exists, returns `"<i>:<pid>"`).
//!
//! 1. SIGKILL: worker A runs job 1 and reports progress; A is killed. Once A's lease expires
//!    the rescue pass gives the job back: its status is waiting, its stale progress does not
//!    survive as running. Worker B runs it again and its result is B's.
//! 2. Late ack: B runs job 2, reports progress and is stopped (SIGSTOP) past its lease; the
//!    job is rescued and worker C completes it (result `"2:<C>"`). B is continued (SIGCONT),
//!    its run ends (abandoned, or settled late and refused as lost), and B stops gracefully
//!    (every outcome it had is flushed): the result is still C's, stored once, never B's.
//!
//! Every wait polls with a deadline; nothing sleeps a fixed time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, JobStatus, RescueParams};
use jobs::envelope::JobEnvelope;
use jobs::Client;
use tokio::process::{Child, Command};

/// Each worker's lease TTL: how long after a worker stops beating its job may be rescued.
const LEASE_TTL_MS: u64 = 1500;

async fn start_worker(url: &str) -> (Child, u32) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"));
    command
        .args(["--url", url, "--concurrency", "2"])
        .args(["--lease-ttl-ms", &LEASE_TTL_MS.to_string()])
        .args(["--heartbeat-ms", "200", "--poll-ms", "100"]);
    jobs_conformance::faults::fleet::spawn_ready(command).await
}

async fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// Polls `client.status(jid)` until `ok` holds, or fails after 60 s.
async fn wait_status(
    client: &Client,
    jid: &str,
    what: &str,
    ok: impl Fn(&JobStatus) -> bool,
) -> JobStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = client.status(jid).await.unwrap();
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} within 60 s: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the rescue pass until it gives back at least one job (the lease of a worker that
/// stopped beating expired), or fails after 60 s.
async fn rescue_one(admin: &Arc<dyn AdminBackend>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = admin
            .lease_rescue(RescueParams::new(chrono::Utc::now()))
            .await
            .unwrap();
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "a lease expired within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn running_at(s: &JobStatus, percent: u8) -> bool {
    matches!(s, JobStatus::Running { progress: Some(p) } if p.percent == percent)
}

/// A gate file: jobs hold while it exists.
fn gate(name: &str) -> PathBuf {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path = std::env::temp_dir().join(format!(
        "jobs-progress-gate-{}-{name}-{nanos:x}",
        std::process::id()
    ));
    std::fs::write(&path, b"hold").unwrap();
    path
}

async fn push(client: &Client, i: u64, gate: &std::path::Path) -> String {
    let job = JobEnvelope::new(
        "ProgressTestJob",
        "default",
        vec![i.into(), gate.display().to_string().into()],
    );
    let jid = job.jid.clone();
    client.push(vec![job]).await.unwrap();
    jid
}

/// The whole test on the backend at `url` (empty, or private to this test).
pub async fn killed_progress_and_late_results(url: &str) {
    let admin = jobs_backends::connect(url).await.unwrap();
    let client = Client::new(admin.clone());

    // 1. SIGKILL with progress written.
    let gate1 = gate("one");
    let one = push(&client, 1, &gate1).await;
    let (mut a, _a_pid) = start_worker(url).await;
    wait_status(&client, &one, "A reports 50 %", |s| running_at(s, 50)).await;
    a.start_kill().unwrap();
    a.wait().await.unwrap();
    rescue_one(&admin).await;
    let after = client.status(&one).await.unwrap();
    assert!(
        matches!(after, JobStatus::Waiting { .. }),
        "a killed run's job is waiting again, its stale progress not running: {after:?}"
    );
    std::fs::remove_file(&gate1).unwrap();
    let (b, b_pid) = start_worker(url).await;
    let got: String = client
        .wait_result(&one, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(got, format!("1:{b_pid}"), "the rerun's result is kept");

    // 2. A late ack after a rescue stores nothing.
    let gate2 = gate("two");
    let two = push(&client, 2, &gate2).await;
    wait_status(&client, &two, "B reports 50 %", |s| running_at(s, 50)).await;
    signal(b_pid, "-STOP").await;
    rescue_one(&admin).await;
    let (c, c_pid) = start_worker(url).await;
    std::fs::remove_file(&gate2).unwrap();
    let got: String = client
        .wait_result(&two, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(got, format!("2:{c_pid}"));
    signal(b_pid, "-CONT").await;
    for (mut w, pid) in [(b, b_pid), (c, c_pid)] {
        signal(pid, "-TERM").await;
        tokio::time::timeout(Duration::from_secs(30), w.wait())
            .await
            .unwrap_or_else(|_| panic!("worker {pid} stops within 30 s of SIGTERM"))
            .unwrap();
    }
    let kept: String = client.result(&two).await.unwrap();
    assert_eq!(
        kept,
        format!("2:{c_pid}"),
        "the stalled worker's late settle did not store its result"
    );
    let kept: String = client.result(&one).await.unwrap();
    assert_eq!(kept, format!("1:{b_pid}"));
    assert!(matches!(
        client.status(&two).await.unwrap(),
        JobStatus::Succeeded { .. }
    ));
    eprintln!("kill progress: job 1 rescued from a SIGKILL and rerun by {b_pid}; job 2 stalled in {b_pid}, completed by {c_pid}; results kept once");
    admin.clear_all().await.unwrap();
}
