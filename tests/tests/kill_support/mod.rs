//! The SIGKILL test, generic over the backend URL: real worker processes
//! (`jobs_test_worker`), one killed while jobs run, and every job performed at least once.
//!
//! 1. Enqueue `KillTestJob(i, hold_ms)` for i in 0..n; start worker A; once A has recorded
//!    some `Performed(i, pid)` markers (so it has jobs in flight), SIGKILL it.
//! 2. Check some jobs are neither done nor queued: they sit in A's leases.
//! 3. Start worker B; it rescues A's jobs once A's lease expires, and runs them.
//! 4. Every i has a marker; no process ran a job twice; a job ran twice only when A ran it
//!    and B reran it, and at most A's concurrency of them (A's in-flight jobs).
//!
//! A backend's test is a few lines: `sigkill_loses_no_job(&url).await` with its own URL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, JobListParams, JobSet};
use jobs::envelope::JobEnvelope;
use jobs::Client;
use tokio::process::{Child, Command};

/// Jobs enqueued.
const JOBS: u64 = 40;
/// How long job `i` holds: 300 to 700 ms, staggered so that jobs do not finish in lockstep
/// (a worker between two batches would have nothing in flight when killed).
fn hold_ms(i: u64) -> u64 {
    300 + (i * 137) % 400
}
/// Each worker's concurrency.
const CONCURRENCY: usize = 4;
/// Each worker's lease TTL: how long after A's death B may rescue its jobs.
const LEASE_TTL_MS: u64 = 1500;

/// Starts `jobs_test_worker` on `url`; returns it with its process id once it is ready.
async fn start_worker(url: &str) -> (Child, u32) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"));
    command
        .args(["--url", url, "--concurrency", &CONCURRENCY.to_string()])
        .args(["--lease-ttl-ms", &LEASE_TTL_MS.to_string()])
        .args(["--heartbeat-ms", "200", "--poll-ms", "100"]);
    jobs_conformance::faults::fleet::spawn_ready(command).await
}

/// The `Performed(i, pid)` markers: for each i, the pids that ran it.
async fn markers(admin: &Arc<dyn AdminBackend>) -> BTreeMap<u64, Vec<u32>> {
    let page = admin
        .job_list(JobListParams::new(
            JobSet::Queue("performed".into()),
            100_000,
        ))
        .await
        .unwrap();
    let mut runs: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for stored in page.jobs {
        let args = &stored.job.args;
        let i = args[0].as_u64().unwrap();
        let pid = u32::try_from(args[1].as_u64().unwrap()).unwrap();
        runs.entry(i).or_default().push(pid);
    }
    runs
}

async fn queued(admin: &Arc<dyn AdminBackend>) -> u64 {
    admin
        .job_list(JobListParams::new(JobSet::Queue("default".into()), 1))
        .await
        .unwrap()
        .total
}

/// Waits until `ok` holds for the markers, or fails after `within`.
async fn wait_markers(
    admin: &Arc<dyn AdminBackend>,
    within: Duration,
    what: &str,
    ok: impl Fn(&BTreeMap<u64, Vec<u32>>) -> bool,
) -> BTreeMap<u64, Vec<u32>> {
    let deadline = Instant::now() + within;
    loop {
        let m = markers(admin).await;
        if ok(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what} within {within:?}: {m:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a worker with SIGTERM (graceful), or SIGKILL after 15 s.
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
        panic!("worker {pid} did not stop within 15 s of SIGTERM");
    }
}

/// The whole test on the backend at `url` (which must be empty, or private to this test).
pub async fn sigkill_loses_no_job(url: &str) {
    let admin = jobs_backends::connect(url).await.unwrap();
    let client = Client::new(admin.clone());
    let jobs: Vec<JobEnvelope> = (0..JOBS)
        .map(|i| JobEnvelope::new("KillTestJob", "default", vec![i.into(), hold_ms(i).into()]))
        .collect();
    client.push(jobs).await.unwrap();

    let (mut a, a_pid) = start_worker(url).await;
    let min_done = CONCURRENCY + 2;
    wait_markers(
        &admin,
        Duration::from_secs(60),
        "A performs some jobs",
        |m| m.len() >= min_done,
    )
    .await;
    a.start_kill().unwrap();
    a.wait().await.unwrap();

    let done_by_a = markers(&admin).await;
    let waiting = queued(&admin).await;
    let held = JOBS - done_by_a.len() as u64 - waiting;
    assert!(
        held > 0,
        "A was killed with jobs in flight: {} done, {waiting} queued",
        done_by_a.len()
    );

    let (b, b_pid) = start_worker(url).await;
    let all = wait_markers(
        &admin,
        Duration::from_secs(60),
        "every job performed",
        |m| m.len() as u64 == JOBS,
    )
    .await;
    stop(b, b_pid).await;
    let all = {
        // B stopped: nothing more can arrive; read once more to see any late marker.
        let last = markers(&admin).await;
        assert!(last.len() >= all.len());
        last
    };

    let mut twice = BTreeSet::new();
    for i in 0..JOBS {
        let pids = all.get(&i).unwrap_or_else(|| panic!("job {i} was lost"));
        for p in pids {
            assert!(
                *p == a_pid || *p == b_pid,
                "job {i} ran in unknown process {p}"
            );
        }
        let by_a = pids.iter().filter(|p| **p == a_pid).count();
        let by_b = pids.iter().filter(|p| **p == b_pid).count();
        assert!(
            by_a <= 1 && by_b <= 1,
            "job {i} ran twice in one process: {pids:?}"
        );
        if by_a + by_b == 2 {
            twice.insert(i);
        }
    }
    assert!(
        twice.len() <= CONCURRENCY,
        "only A's in-flight jobs (at most {CONCURRENCY}) may run twice: {twice:?}"
    );
    assert_eq!(queued(&admin).await, 0);
    let stats = admin.stats().await.unwrap();
    assert_eq!((stats.retries, stats.dead), (0, 0), "{stats:?}");
    eprintln!(
        "sigkill: {} jobs; A ran {} before SIGKILL with {held} held in its leases; B rescued and ran the rest; {} ran twice: {twice:?}",
        JOBS,
        done_by_a.len(),
        twice.len()
    );
    admin.clear_all().await.unwrap();
}
