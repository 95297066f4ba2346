//! Cancelling a job running in another Postgres worker process: by LISTEN/NOTIFY well
//! within a heartbeat, by the heartbeat when the listener's connection is terminated,
//! aborted after its grace, and not run again after its worker is SIGKILLed (see
//! `cancel_support`).

mod cancel_support;
mod servers;

use std::time::Duration;

fn url(test: &str) -> (String, String) {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let schema = format!("cancel_{test}_{}_{nanos:x}", std::process::id());
    let url = servers::with_params(&servers::postgres_url(), &format!("schema={schema}"));
    (url, schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_job_in_another_process_by_notify() {
    // The heartbeat is a minute away: only NOTIFY can deliver within 10 s.
    let (url, _) = url("reach");
    cancel_support::cancel_reaches_another_process(&url, 60_000, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_ignoring_its_cancel_is_aborted_after_its_grace() {
    let (url, _) = url("abort");
    cancel_support::a_job_ignoring_its_cancel_is_aborted(&url, 60_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_arrives_while_the_listener_is_terminated() {
    let (url, schema) = url("cut");
    let cut = async {
        let pool = sqlx::PgPool::connect(&servers::postgres_url())
            .await
            .expect("connect");
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1",
        )
        .bind(format!("LISTEN \"jobs_cancel.{schema}\"%"))
        .fetch_all(&pool)
        .await
        .expect("terminate the listener");
        assert!(!killed.is_empty(), "the worker's cancel listener was found");
    };
    cancel_support::cancel_arrives_while_the_channel_is_cut(&url, 500, cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_cancelled_job_is_cancelled_not_run_again() {
    let (url, _) = url("kill");
    cancel_support::a_killed_workers_cancelled_job_is_not_run_again(&url).await;
}
