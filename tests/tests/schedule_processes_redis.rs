//! Three scheduler processes against one Redis key prefix enqueue each tick exactly once.

mod schedule_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_redis_schedulers_enqueue_each_tick_once() {
    let base =
        std::env::var("JOBS_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!(
        "{base}{sep}prefix=schedtest:{}:{nanos:x}",
        std::process::id()
    );
    schedule_support::three_schedulers_enqueue_each_tick_once(&url).await;
}
