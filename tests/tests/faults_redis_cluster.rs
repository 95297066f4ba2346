//! The fault suite's worker-side cases (`jobs_conformance::faults`) on Redis Cluster
//! (`redis+cluster://`, the private three-master cluster of `scripts/test`): worker processes
//! killed, stopped past their lease and skewed, a process-killing job, concurrency and rate
//! limits and unique locks under kills, and a rolling restart, each under a prefix of its own
//! (cleared at the end). The store's own faults on a cluster (a master failing over while
//! jobs run) are `redis_cluster_failover.rs`.

mod servers;

use std::path::PathBuf;

use jobs_conformance::faults::run::Target;

/// A target on the shared cluster, under the prefix `fcl<epoch secs>-<name>-<pid>`, with
/// `groups` hash-tag groups.
async fn shared(name: &str) -> Target {
    let secs = chrono::Utc::now().timestamp();
    let url = format!(
        "{}?prefix=fcl{secs}-{name}-{}&groups=4",
        servers::redis_cluster_url(),
        std::process::id()
    );
    let worker = PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_worker"));
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    Target::connect("redis", url.clone(), &url, worker, tmp).await
}

async fn done(target: Target) {
    target.clear().await;
}

jobs_conformance::worker_fault_cases!();
