//! Faults between worker hosts and one node of a Redis Cluster: a partition of one host from
//! one node, longer than the lease, and one node answering a host's commands with
//! `-READONLY`, as a master demoted by a failover the host has not noticed would.
//!
//! A cluster client takes the nodes' addresses from `CLUSTER SLOTS`, not from the URL, so a
//! proxy given in the URL would be gone around. Here the workers meant to see the fault run
//! on a host of their own ([`Host`], a network namespace) where each node's
//! `127.0.0.1:<port>` is a proxy of the test's to that node; every other client (the other
//! worker, the enqueuer, the checks) reaches the nodes directly.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::fleet::{WorkerProc, QUEUE};
use super::history::now_ms;
use super::netns::Host;
use super::proxy::StallProxy;
use super::resp_proxy::ReadOnlyProxy;
use super::run::{Run, Target};
use super::scenarios::{finish_clean, hold_past_the_lease};
use super::servers::PrivateRedisCluster;
use super::store_faults::{healed, readonly_rounds};
use super::Settings;

/// One proxy per node, in the cluster's order, each listening inside `host` on the node's
/// own address and forwarding to the node.
async fn proxies_on<P>(
    host: &Host,
    cluster: &PrivateRedisCluster,
    start: impl Fn(TcpListener, SocketAddr) -> std::io::Result<P>,
) -> Vec<P> {
    let mut proxies = Vec::new();
    for node in &cluster.nodes {
        let addr = SocketAddr::from(([127, 0, 0, 1], node.port()));
        let listener = host
            .listen(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr} in {}: {e}", host.name()));
        proxies.push(
            start(listener, addr)
                .unwrap_or_else(|e| panic!("cannot start the proxy to {addr}: {e}")),
        );
    }
    proxies
}

/// The index of the node holding the fault runs' queue: the one whose group's `queues` set
/// names it (a queue lives in one group, a group in one slot).
async fn queue_node(cluster: &PrivateRedisCluster) -> usize {
    for (i, node) in cluster.nodes.iter().enumerate() {
        let sets: Vec<String> = node.command(redis::cmd("KEYS").arg("*:queues")).await;
        for set in sets {
            let known: bool = node
                .command(redis::cmd("SISMEMBER").arg(&set).arg(QUEUE))
                .await;
            if known {
                return i;
            }
        }
    }
    panic!("no node of the private cluster knows the queue {QUEUE}")
}

/// One worker runs on a host whose way to one node stalls all traffic for longer than the
/// lease, then lets it through, `rounds` times: the first round cuts it off from the node
/// holding the queue, later rounds from the other nodes in turn. Another worker reaches every
/// node directly. The cut-off worker's jobs run on the other one, its late settles are
/// refused, and it works on once the partition heals. Skipped where namespaces are not
/// permitted.
pub async fn partition_one_node(target: &Target, cluster: &PrivateRedisCluster) {
    let Some(host) = Host::create() else { return };
    let proxies = proxies_on(&host, cluster, StallProxy::start_on).await;
    let s = Settings::from_env();
    let mut run = Run::new("partition_one_node", target, s);
    let b = run.worker().await;
    let a = WorkerProc::start_on_host(&run.spec, &host).await;
    let enqueuer = run.enqueuer();
    run.wait_running(a.pid()).await;
    let first = queue_node(cluster).await;
    for round in 0..s.rounds as usize {
        let node = (first + round) % proxies.len();
        run.wait_running(a.pid()).await;
        let (at, pid) = (now_ms(), a.pid());
        proxies[node].stall();
        hold_past_the_lease(&run, pid, at).await;
        proxies[node].resume();
        healed(&mut run, at, pid).await;
    }
    let bound = s.duplicate_bound(run.injected, 1);
    finish_clean(&mut run, enqueuer, vec![a, b], bound).await;
}

/// Two workers run on a host where the node holding the queue answers every command with
/// `-READONLY` without forwarding it, `rounds` times, for half the lease in even rounds and
/// 1.5 × the lease in odd ones, while jobs run; the other nodes answer as usual. Enqueues go
/// to the nodes directly, so jobs wait meanwhile. Once the node answers again the workers
/// must settle what they ran and take the jobs that waited. Skipped where namespaces are not
/// permitted.
pub async fn readonly_node(target: &Target, cluster: &PrivateRedisCluster) {
    let Some(host) = Host::create() else { return };
    let proxies = proxies_on(&host, cluster, ReadOnlyProxy::start_on).await;
    let s = Settings::from_env();
    let mut run = Run::new("readonly_node", target, s);
    let workers = vec![
        WorkerProc::start_on_host(&run.spec, &host).await,
        WorkerProc::start_on_host(&run.spec, &host).await,
    ];
    let pids: Vec<u32> = workers.iter().map(WorkerProc::pid).collect();
    let enqueuer = run.enqueuer();
    run.wait_running(pids[0]).await;
    let proxy = &proxies[queue_node(cluster).await];
    readonly_rounds(&mut run, proxy, &pids).await;
    let bound = s.duplicate_bound(run.injected, workers.len() as u64);
    finish_clean(&mut run, enqueuer, workers, bound).await;
}
