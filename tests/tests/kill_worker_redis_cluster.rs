//! SIGKILL a worker process on Redis Cluster (`redis+cluster://`, the private cluster of
//! `scripts/test`) while jobs run: another worker rescues its jobs in the group they were
//! reserved from after the lease expires, and every job is performed at least once (see
//! `kill_support`).

mod kill_support;
mod servers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_on_a_cluster_loses_no_job() {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let url = format!(
        "{}?prefix=killcl-{}-{nanos:x}&groups=4&route=default:1",
        servers::redis_cluster_url(),
        std::process::id()
    );
    kill_support::sigkill_loses_no_job(&url).await;
}
