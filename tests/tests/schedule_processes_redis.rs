//! Three scheduler processes against one Redis key prefix enqueue each tick exactly once.

mod schedule_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_redis_schedulers_enqueue_each_tick_once() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = servers::with_params(
        &servers::redis_url(),
        &format!("prefix=schedtest:{}:{nanos:x}", std::process::id()),
    );
    schedule_support::three_schedulers_enqueue_each_tick_once(&url).await;
}
