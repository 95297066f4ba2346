//! The fault suite (`jobs_conformance::faults`) on SQLite, which has no server: worker
//! processes killed, stopped past their lease and skewed, a process-killing job, and limits
//! and unique locks under kills, each on a database file of its own under `target/`.

use std::path::PathBuf;

use jobs_conformance::faults::run::Target;
use jobs_conformance::faults::{batch, limits, scenarios, unique};

/// A database file, removed (with its WAL files) when dropped, also when the test fails.
struct DbFile(PathBuf);

impl Drop for DbFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A target on a fresh database file, which lives as long as the returned [`DbFile`]
/// (bound first, so the target and its connections are dropped before the file).
async fn fresh(name: &str) -> (DbFile, Target) {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path = tmp.join(format!("faults-{name}-{}-{nanos:x}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let file = DbFile(path);
    let worker = PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_worker"));
    let target = Target::connect("sqlite", url.clone(), &url, worker, tmp).await;
    (file, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill() {
    let (_file, t) = fresh("sigkill").await;
    scenarios::sigkill(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_under_kills_and_stops() {
    let (_file, t) = fresh("conc").await;
    limits::concurrency_limit(&t).await;
}

// Its span (19 to 25 s for 1,000 starts at 50/s) is a timing bound: scripts/test runs it on
// its own, after the workspace, not beside the other fault runs sharing the cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone by scripts/test (a timing bound)"]
async fn rate_limit_across_processes() {
    let (_file, t) = fresh("rate").await;
    limits::rate_limit(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_locks_under_kills() {
    let (_file, t) = fresh("unique").await;
    unique::unique_locks(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_the_lease() {
    let (_file, t) = fresh("sigstop").await;
    scenarios::sigstop(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew() {
    let (_file, t) = fresh("skew").await;
    scenarios::clock_skew(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killing_job() {
    let (_file, t) = fresh("abort").await;
    scenarios::process_killing_job(&t).await;
}

/// The batch members' adder process (`jobs_test_batch_adder`).
fn adder() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_batch_adder"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_under_kills() {
    let (_file, t) = fresh("batch").await;
    batch::batch_under_kills(&t, adder()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart() {
    let (_file, t) = fresh("rolling").await;
    jobs_conformance::faults::rolling::rolling_restart(&t).await;
}
