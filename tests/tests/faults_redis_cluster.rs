//! The fault suite (`jobs_conformance::faults`) on Redis Cluster (`redis+cluster://`).
//! Worker-side cases on the shared three-master cluster of `scripts/test`: worker processes
//! killed, stopped past their lease and skewed, a process-killing job, concurrency and rate
//! limits and unique locks under kills, and a rolling restart, each under a prefix of its own
//! (cleared at the end), and a batch under kills (its queues pinned to one group). Store-level
//! cases on a three-master cluster of the test's own (`PrivateRedisCluster`, AOF with
//! `appendfsync always`), since they would disturb the other tests on the shared one: every
//! client connection killed on every master; every node crashed and started again from its
//! AOF; and, through proxies inside a worker host's network namespace (`node_faults`), one
//! host cut off from one node for longer than the lease, and the node holding the queue
//! answering one host with `-READONLY`. A master failing over while jobs run is
//! `redis_cluster_failover.rs`.
//!
//! Not here, with why: blocked reserves unblocked with an error (the cluster backend polls,
//! it never blocks).

mod servers;

use std::path::PathBuf;

use jobs_conformance::faults::run::Target;
use jobs_conformance::faults::servers::PrivateRedisCluster;
use jobs_conformance::faults::{batch, node_faults, store_faults};

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

async fn target(url: String) -> Target {
    let worker = PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_worker"));
    Target::connect("redis", url.clone(), &url, worker, tmp()).await
}

/// A target on the shared cluster, under the prefix `fcl<epoch secs>-<name>-<pid>`, with
/// `groups` hash-tag groups.
async fn shared(name: &str) -> Target {
    let secs = chrono::Utc::now().timestamp();
    let url = format!(
        "{}?prefix=fcl{secs}-{name}-{}&groups=4",
        servers::redis_cluster_url(),
        std::process::id()
    );
    target(url).await
}

async fn done(target: Target) {
    target.clear().await;
}

jobs_conformance::worker_fault_cases!();

/// A batch under SIGKILL on the shared cluster: its members' queue and its callbacks' queue
/// pinned to one group (a batch lives in one group), workers and the members' adder killed
/// and replaced; every member runs and each callback is enqueued once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_under_kills() {
    let secs = chrono::Utc::now().timestamp();
    let url = format!(
        "{}?prefix=fcl{secs}-batch-{}&groups=4&route=faults:3,faults-batch-callbacks:3",
        servers::redis_cluster_url(),
        std::process::id()
    );
    let t = target(url).await;
    let adder = PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_batch_adder"));
    batch::batch_under_kills(&t, adder).await;
    done(t).await;
}

/// A three-master cluster of the test's own, and a target on it with four groups; `None`
/// (said on stderr) when redis-server is not installed.
async fn private() -> Option<(PrivateRedisCluster, Target)> {
    let cluster = PrivateRedisCluster::start(&tmp(), 3, 0, None).await?;
    let t = target(format!("{}?prefix=faults&groups=4", cluster.url())).await;
    Some((cluster, t))
}

/// `CLIENT KILL TYPE normal` on every master, `rounds` × 2 times while jobs run: every
/// connection of the workers and of the enqueuer drops at once, on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_kills() {
    let Some((cluster, t)) = private().await else {
        return;
    };
    store_faults::connection_kills(&t, || async {
        let kill = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .clone();
        let killed: Vec<u64> = cluster
            .on_every_node(&kill)
            .await
            .unwrap_or_else(|e| panic!("CLIENT KILL on the private cluster: {e}"));
        eprintln!("killed {killed:?} connections on the masters");
        killed.iter().sum()
    })
    .await;
}

/// Every node is killed (SIGKILL) while jobs run and started again from its AOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_restart() {
    let Some((mut cluster, t)) = private().await else {
        return;
    };
    store_faults::store_restart(&t, &mut cluster).await;
}

/// One worker host cut off from one node (a stalling proxy in its network namespace) for
/// longer than the lease, the node holding the queue first, then another; a second worker
/// reaches every node directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_of_one_node() {
    let Some((cluster, t)) = private().await else {
        return;
    };
    node_faults::partition_one_node(&t, &cluster).await;
}

/// The node holding the queue answers the workers' host with `-READONLY` (a demoted master
/// the host has not noticed), for half the lease and for 1.5 × the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_replies_from_one_node() {
    let Some((cluster, t)) = private().await else {
        return;
    };
    node_faults::readonly_node(&t, &cluster).await;
}
