//! SIGKILL and SIGSTOP SQLite workers mid-job: stale progress is not shown as running after
//! the rescue, and a late settle stores no result (see `kill_progress_support`).

mod kill_progress_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_progress_and_results_survive_kills() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path = std::env::temp_dir().join(format!(
        "jobs-killprogress-{}-{nanos:x}.db",
        std::process::id()
    ));
    let url = format!("sqlite://{}", path.display());
    kill_progress_support::killed_progress_and_late_results(&url).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
