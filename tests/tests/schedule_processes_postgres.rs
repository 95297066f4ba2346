//! Three scheduler processes against one Postgres schema enqueue each tick exactly once.
//!
//! The server is `JOBS_TEST_DATABASE_URL` (see `servers`); the schema `schedtest_<epoch secs>_<pid>` is left behind, small, for inspection.

mod schedule_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_postgres_schedulers_enqueue_each_tick_once() {
    let secs = chrono::Utc::now().timestamp();
    let url = servers::with_params(
        &servers::postgres_url(),
        &format!("schema=schedtest_{secs}_{}", std::process::id()),
    );
    // Create the schema once, so the three processes do not all start by migrating.
    drop(
        jobs_backends::connect(&url)
            .await
            .expect("connect and migrate"),
    );
    schedule_support::three_schedulers_enqueue_each_tick_once(&url).await;
}
