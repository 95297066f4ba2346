//! Three scheduler processes on Redis Cluster (`redis+cluster://`, the private cluster of
//! `scripts/test`) enqueue each tick exactly once. The two schedules' queues are pinned to
//! different hash-tag groups, so each group (and its master) holds one schedule and its claims.

mod schedule_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_on_a_cluster_enqueue_each_tick_once() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = format!(
        "{}?prefix=schedcl-{}-{nanos:x}&groups=4&route=ticks:0&route=cron_ticks:3",
        servers::redis_cluster_url(),
        std::process::id()
    );
    schedule_support::three_schedulers_enqueue_each_tick_once(&url).await;
}
