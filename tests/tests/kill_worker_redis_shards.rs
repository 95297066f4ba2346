//! SIGKILL a worker process on the sharded Redis backend (`redis+shards://`, databases 1 and
//! 2 of the shared server, `default` pinned to shard 1) while jobs run: another worker
//! rescues its jobs on the shard they were reserved from after the lease expires, and every
//! job is performed at least once (see `kill_support`).

mod kill_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_on_shards_loses_no_job() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let strip = |u: String| u.trim_start_matches("redis://").to_owned();
    let url = format!(
        "redis+shards://{},{}?prefix=killshards:{}:{nanos:x}&route=default:1",
        strip(servers::redis_db_url(1)),
        strip(servers::redis_db_url(2)),
        std::process::id()
    );
    kill_support::sigkill_loses_no_job(&url).await;
}
