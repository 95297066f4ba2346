//! SIGKILL and SIGSTOP Postgres workers mid-job: stale progress is not shown as running
//! after the rescue, and a late settle stores no result (see `kill_progress_support`).

mod kill_progress_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_progress_and_results_survive_kills() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = servers::with_params(
        &servers::postgres_url(),
        &format!("schema=killprogress_{}_{nanos:x}", std::process::id()),
    );
    kill_progress_support::killed_progress_and_late_results(&url).await;
}
