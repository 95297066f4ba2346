//! Redis Cluster (`redis+cluster://`) failing over while a worker and an enqueuer run: first a
//! manual `CLUSTER FAILOVER` of the master holding the test queue's slot (the replica catches
//! up before it takes over, so no acknowledged job may be lost at all), then a `kill -9` of
//! the new master (its replica is promoted after the node timeout; jobs acknowledged in that
//! window are Redis's own loss under asynchronous replication, counted and printed).
//!
//! A second test kills the master holding the queue's slot with no replica to take over and
//! starts it again from its AOF: every acknowledged job must be performed.
//!
//! The clusters are the test's own (`redis-server --cluster-enabled yes`, AOF with
//! `appendfsync always`, made a cluster by `redis-cli --cluster create`): three masters with
//! a replica each for the first test, three masters alone for the second, on free ports of
//! 127.0.0.1, killed when the test ends. Skipped (with a line on stderr) when `redis-server`
//! is not installed.

mod failover_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use failover_support::{until, Run};
use jobs_backends::redis_cluster::{self as cluster, ClusterOptions};
use jobs_conformance::faults::servers::{PrivateRedis, PrivateRedisCluster};

/// The queue the jobs go to, pinned to group 0 (hash tag `{fo:0}`).
const QUEUE: &str = "failover";

/// A cluster node of the test's own (`PrivateRedisCluster`), killed when dropped.
type Node = PrivateRedis;

/// What the tests ask a node.
trait NodeExt {
    fn addr(&self) -> String;
    async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T>;
    async fn replication(&self, field: &str) -> Option<String>;
    async fn cluster_ok(&self) -> bool;
}

impl NodeExt for Node {
    fn addr(&self) -> String {
        PrivateRedisCluster::addr(self)
    }

    async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        self.try_command(cmd).await
    }

    /// `field` of `INFO replication`.
    async fn replication(&self, field: &str) -> Option<String> {
        let info: String = self.cmd(redis::cmd("INFO").arg("replication")).await.ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_owned())
    }

    /// Whether this node's view of the cluster is `ok`.
    async fn cluster_ok(&self) -> bool {
        PrivateRedisCluster::node_ok(self).await
    }
}

/// The port of the node holding `slot` as master, by `CLUSTER NODES` as `node` sees it.
async fn master_of(node: &Node, slot: u16) -> Option<u16> {
    let text: String = node.cmd(redis::cmd("CLUSTER").arg("NODES")).await.ok()?;
    master_in(&text, slot).map(|(_, port)| port)
}

/// The port in a `CLUSTER NODES` address (`host:port@bus`).
fn port_of(addr: &str) -> Option<u16> {
    addr.split('@').next()?.rsplit(':').next()?.parse().ok()
}

/// The id and port of the master serving `slot` in a `CLUSTER NODES` text.
fn master_in(text: &str, slot: u16) -> Option<(String, u16)> {
    let mut master = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || !f[2].contains("master") || f[2].contains("fail") {
            continue;
        }
        let serves = f[8..].iter().any(|r| match r.split_once('-') {
            Some((lo, hi)) => {
                lo.parse::<u16>().is_ok_and(|lo| lo <= slot)
                    && hi.parse::<u16>().is_ok_and(|hi| slot <= hi)
            }
            None => r.parse::<u16>().ok() == Some(slot),
        });
        if serves {
            master = Some((f[0].to_owned(), port_of(f[1])?));
        }
    }
    master
}

/// The node holding `slot` as master, and the node replicating it, by `CLUSTER NODES` as
/// `node` sees it: (master port, replica port).
async fn master_and_replica(node: &Node, slot: u16) -> Option<(u16, u16)> {
    let text: String = node.cmd(redis::cmd("CLUSTER").arg("NODES")).await.ok()?;
    let (id, master_port) = master_in(&text, slot)?;
    let replica = text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() >= 8 && f[2].contains("slave") && !f[2].contains("fail") && f[3] == id)
            .then(|| port_of(f[1]))
            .flatten()
    })?;
    Some((master_port, replica))
}

/// Waits until the replica on `replica` has every write the master on `master` had.
async fn caught_up(master: &Node, replica: &Node) {
    let offset: u64 = master
        .replication("master_repl_offset")
        .await
        .and_then(|o| o.parse().ok())
        .expect("the master reports its replication offset");
    until("the replica catches up with its master", || async {
        replica
            .replication("slave_repl_offset")
            .await
            .and_then(|o| o.parse::<u64>().ok())
            .is_some_and(|o| o >= offset)
    })
    .await;
}

/// Six nodes (`replicas` 1) or three (`replicas` 0) made a cluster by `redis-cli --cluster
/// create`, once every node sees it `ok` (`PrivateRedisCluster`).
async fn cluster(dir: &Path, replicas: usize) -> Vec<Node> {
    let _ = std::fs::remove_dir_all(dir);
    PrivateRedisCluster::start(dir, 3, replicas, None)
        .await
        .expect("redis-server is installed (checked first)")
        .nodes
}

/// Options for the test's cluster: prefix `fo`, four groups, [`QUEUE`] in group 0.
fn options(nodes: &[Node]) -> ClusterOptions {
    ClusterOptions::new(
        nodes
            .iter()
            .map(|n| format!("redis://{}", n.addr()))
            .collect(),
    )
    .prefix("fo")
    .groups(4)
    .route(QUEUE, 0)
}

/// Whether redis-server can be started here (a line on stderr when not).
fn have_redis_server() -> bool {
    let ok = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("SKIPPED: redis-server is not installed");
    }
    ok
}

fn by_port(nodes: &[Node], port: u16) -> usize {
    nodes
        .iter()
        .position(|n| n.port() == port)
        .expect("a node of the test's own")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failovers_lose_no_acknowledged_job_and_the_worker_follows_the_new_masters() {
    if !have_redis_server() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cluster-failover-{}", std::process::id()));
    let nodes = cluster(&dir, 1).await;
    let opts = options(&nodes);
    let slot: u16 = nodes[0]
        .cmd(redis::cmd("CLUSTER").arg("KEYSLOT").arg(opts.tag(0)))
        .await
        .unwrap();
    let deadline = Instant::now() + failover_support::WAIT;
    let mut nodes = nodes;
    let (first_master, first_replica) = loop {
        if let Some((master, replica)) = master_and_replica(&nodes[0], slot).await {
            let link = nodes[by_port(&nodes, replica)]
                .replication("master_link_status")
                .await;
            if link.as_deref() == Some("up") {
                break (master, replica);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the queue's master has no replica in sync"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let backend = std::sync::Arc::new(cluster::connect(opts).await.unwrap());
    let run = Run::start(backend, QUEUE);
    let mut windows: Vec<(Instant, Instant)> = Vec::new();

    // 1. A manual failover: the replica catches up, then takes over; nothing may be lost.
    run.more_acks(100).await;
    let (m, r) = (
        by_port(&nodes, first_master),
        by_port(&nodes, first_replica),
    );
    let _: String = nodes[r]
        .cmd(redis::cmd("CLUSTER").arg("FAILOVER"))
        .await
        .unwrap();
    until("the replica becomes the slot's master", || async {
        nodes[r].replication("role").await.as_deref() == Some("master")
            && master_and_replica(&nodes[m], slot).await.map(|p| p.0) == Some(first_replica)
    })
    .await;
    run.more_acks(100).await;

    // 2. kill -9 of the new master once its replica (the old master) is in sync: the
    //    cluster promotes the replica after the node timeout.
    until("the old master replicates the new one", || async {
        nodes[m].replication("master_link_status").await.as_deref() == Some("up")
    })
    .await;
    let began = Instant::now();
    caught_up(&nodes[r], &nodes[m]).await;
    nodes[r].crash().await;
    until("the cluster promotes the surviving node", || async {
        nodes[m].replication("role").await.as_deref() == Some("master")
            && nodes[m].cluster_ok().await
    })
    .await;
    windows.push((began, Instant::now()));
    run.more_acks(100).await;

    run.finish("cluster", &windows).await;
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The master holding the queue's slot is killed with no replica to take over, and started
/// again from its AOF (`appendfsync always`): the cluster refuses that slot's commands while
/// it is down (the enqueues that fail are not acknowledged), and afterwards every job whose
/// enqueue was acknowledged, before or after, is performed. No window is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_restarted_from_its_aof_loses_no_acknowledged_job() {
    if !have_redis_server() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cluster-restart-{}", std::process::id()));
    let mut nodes = cluster(&dir, 0).await;
    let opts = options(&nodes);
    let slot: u16 = nodes[0]
        .cmd(redis::cmd("CLUSTER").arg("KEYSLOT").arg(opts.tag(0)))
        .await
        .unwrap();
    let master = master_of(&nodes[0], slot)
        .await
        .expect("a master serves the queue's slot");
    let m = by_port(&nodes, master);
    let other = (m + 1) % nodes.len();
    let backend = std::sync::Arc::new(cluster::connect(opts).await.unwrap());
    let run = Run::start(backend, QUEUE);
    run.more_acks(100).await;

    nodes[m].crash().await;
    until("the other masters see the cluster fail", || async {
        !nodes[other].cluster_ok().await
    })
    .await;
    nodes[m].start_again().await;
    for n in &nodes {
        until("every node sees the cluster ok again", || n.cluster_ok()).await;
    }
    run.more_acks(100).await;

    run.finish("cluster-restart", &[]).await;
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}
