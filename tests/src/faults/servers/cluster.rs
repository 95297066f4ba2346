//! A Redis Cluster private to one test: nodes from [`PrivateRedis::start_cluster_node`] (or
//! its TLS form) made one cluster by `redis-cli --cluster create`, ready once every node
//! says `cluster_state:ok`.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::{PrivateRedis, TlsFiles};

/// How long the cluster may take to form.
const FORM_WITHIN: Duration = Duration::from_secs(60);

/// The nodes of a cluster of the test's own (masters first, then replicas as
/// `redis-cli --cluster create` assigns them). Each node is killed, and its directory
/// deleted, when dropped.
pub struct PrivateRedisCluster {
    /// Every node, in the order given to `redis-cli --cluster create`.
    pub nodes: Vec<PrivateRedis>,
    /// Set for a TLS cluster: the files its nodes use.
    tls: Option<TlsFiles>,
}

impl PrivateRedisCluster {
    /// Starts `masters × (1 + replicas)` nodes in new directories under `dir`, speaking TLS only
    /// with `tls` when given, makes them a cluster, and waits until every node sees it `ok`.
    /// `None` (say why on stderr) when `redis-server` is not installed.
    pub async fn start(
        dir: &Path,
        masters: usize,
        replicas: usize,
        tls: Option<&TlsFiles>,
    ) -> Option<PrivateRedisCluster> {
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let node = match tls {
                Some(files) => PrivateRedis::start_tls_cluster_node(dir, files).await?,
                None => PrivateRedis::start_cluster_node(dir).await?,
            };
            nodes.push(node);
        }
        let cluster = PrivateRedisCluster {
            nodes,
            tls: tls.cloned(),
        };
        let mut cli = Command::new("redis-cli");
        if let Some(files) = &cluster.tls {
            cli.arg("--tls").arg("--cacert").arg(&files.ca);
        }
        cli.arg("--cluster")
            .arg("create")
            .args(cluster.nodes.iter().map(Self::addr))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .kill_on_drop(true);
        // It waits for the nodes to meet on the cluster bus, which never happens when they
        // cannot talk (a certificate the bus refuses, say).
        let created = tokio::time::timeout(FORM_WITHIN, cli.output())
            .await
            .unwrap_or_else(|_| {
                panic!("redis-cli --cluster create did not end within {FORM_WITHIN:?}")
            })
            .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_ok().await;
        Some(cluster)
    }

    /// A node's `host:port`.
    pub fn addr(node: &PrivateRedis) -> String {
        format!("127.0.0.1:{}", node.port())
    }

    /// Whether `node`'s view of the cluster is `ok`.
    pub async fn node_ok(node: &PrivateRedis) -> bool {
        let info: String = node
            .try_command(redis::cmd("CLUSTER").arg("INFO"))
            .await
            .unwrap_or_default();
        info.contains("cluster_state:ok")
    }

    /// The cluster's URL, every node listed, no query: `redis+cluster://…`, or
    /// `rediss+cluster://…` for a TLS cluster (without TLS files: the test adds `ca=`).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        let nodes: Vec<String> = self.nodes.iter().map(Self::addr).collect();
        format!("{scheme}://{}", nodes.join(","))
    }

    /// Crashes every node (SIGKILL, as [`PrivateRedis::crash`]).
    pub async fn crash(&mut self) {
        for node in &mut self.nodes {
            node.crash().await;
        }
    }

    /// Starts every node again on its port and files (each replays its AOF, and its
    /// `nodes.conf` brings it back into the cluster), and waits until every node sees the
    /// cluster `ok`.
    pub async fn start_again(&mut self) {
        for node in &mut self.nodes {
            node.start_again().await;
        }
        self.wait_ok().await;
    }

    /// Waits until every node sees the cluster `ok`; fails the test after [`FORM_WITHIN`].
    async fn wait_ok(&self) {
        let deadline = Instant::now() + FORM_WITHIN;
        for node in &self.nodes {
            while !Self::node_ok(node).await {
                assert!(
                    Instant::now() < deadline,
                    "the private cluster was not ok on {} within {FORM_WITHIN:?}",
                    Self::addr(node)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Runs `cmd` on every node (each on a connection of its own); the replies in node
    /// order, or the first error.
    pub async fn on_every_node<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<Vec<T>> {
        let mut replies = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            replies.push(node.try_command(cmd).await?);
        }
        Ok(replies)
    }
}
