//! Three scheduler processes on the sharded Redis backend (`redis+shards://`, databases 1
//! and 2 of the shared server) enqueue each tick exactly once. The two schedules' queues are
//! pinned to different shards, so each shard holds one schedule and its claims.

mod schedule_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_on_shards_enqueue_each_tick_once() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let strip = |u: String| u.trim_start_matches("redis://").to_owned();
    let url = format!(
        "redis+shards://{},{}?prefix=schedshards:{}:{nanos:x}&route=ticks:0&route=cron_ticks:1",
        strip(servers::redis_db_url(1)),
        strip(servers::redis_db_url(2)),
        std::process::id()
    );
    schedule_support::three_schedulers_enqueue_each_tick_once(&url).await;
}
