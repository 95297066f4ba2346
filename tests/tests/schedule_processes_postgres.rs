//! Three scheduler processes against one Postgres schema enqueue each tick exactly once.
//!
//! The server is `JOBS_POSTGRES_URL` (default: `postgres://root@127.0.0.1:5432/test`); the
//! schema `schedtest_<epoch secs>_<pid>` is left behind, small, for inspection.

mod schedule_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_postgres_schedulers_enqueue_each_tick_once() {
    let base = std::env::var("JOBS_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let secs = chrono::Utc::now().timestamp();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema=schedtest_{secs}_{}", std::process::id());
    // Create the schema once, so the three processes do not all start by migrating.
    drop(
        jobs_backends::connect(&url)
            .await
            .expect("connect and migrate"),
    );
    schedule_support::three_schedulers_enqueue_each_tick_once(&url).await;
}
