//! SIGKILL a Redis worker process while jobs run: another worker rescues its jobs after the
//! lease expires, and every job is performed at least once (see `kill_support`).

mod kill_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_worker_loses_no_job() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = servers::with_params(
        &servers::redis_url(),
        &format!("prefix=killtest:{}:{nanos:x}", std::process::id()),
    );
    kill_support::sigkill_loses_no_job(&url).await;
}
