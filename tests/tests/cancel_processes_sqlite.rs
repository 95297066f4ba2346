//! Cancelling a job running in another SQLite worker process: delivered by the heartbeat
//! (SQLite has no channel between processes), aborted after its grace, and not run again
//! after its worker is SIGKILLed (see `cancel_support`).

mod cancel_support;

fn url(test: &str) -> (String, std::path::PathBuf) {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path = std::env::temp_dir().join(format!(
        "jobs-cancel-{test}-{}-{nanos:x}.db",
        std::process::id()
    ));
    (format!("sqlite://{}", path.display()), path)
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_job_in_another_process_within_a_heartbeat() {
    let (url, path) = url("reach");
    cancel_support::cancel_reaches_another_process(&url, 300, std::time::Duration::from_secs(10))
        .await;
    remove(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_ignoring_its_cancel_is_aborted_after_its_grace() {
    let (url, path) = url("abort");
    cancel_support::a_job_ignoring_its_cancel_is_aborted(&url, 300).await;
    remove(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_cancelled_job_is_cancelled_not_run_again() {
    let (url, path) = url("kill");
    cancel_support::a_killed_workers_cancelled_job_is_not_run_again(&url).await;
    remove(&path);
}
