//! SIGKILL a Postgres worker process while jobs run: once its leases expire another worker
//! performs its jobs, and every job is performed at least once (see `kill_support`).

mod kill_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postgres_worker_loses_no_job() {
    let base = std::env::var("JOBS_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!(
        "{base}{sep}schema=killtest_{}_{nanos:x}",
        std::process::id()
    );
    kill_support::sigkill_loses_no_job(&url).await;
}
