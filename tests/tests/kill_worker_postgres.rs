//! SIGKILL a Postgres worker process while jobs run: once its leases expire another worker
//! performs its jobs, and every job is performed at least once (see `kill_support`).

mod kill_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postgres_worker_loses_no_job() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = servers::with_params(
        &servers::postgres_url(),
        &format!("schema=killtest_{}_{nanos:x}", std::process::id()),
    );
    kill_support::sigkill_loses_no_job(&url).await;
}
