//! SIGKILL a Redis worker process while jobs run: another worker rescues its jobs after the
//! lease expires, and every job is performed at least once (see `kill_support`).

mod kill_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_worker_loses_no_job() {
    let base =
        std::env::var("JOBS_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!(
        "{base}{sep}prefix=killtest:{}:{nanos:x}",
        std::process::id()
    );
    kill_support::sigkill_loses_no_job(&url).await;
}
