//! SIGKILL a SQLite worker process while jobs run: once its leases expire another worker
//! performs its jobs, and every job is performed at least once (see `kill_support`).

mod kill_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sqlite_worker_loses_no_job() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path =
        std::env::temp_dir().join(format!("jobs-killtest-{}-{nanos:x}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    kill_support::sigkill_loses_no_job(&url).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
