//! A Redis Cluster behind the delaying proxy: its nodes announce the proxy's ports, so the
//! cluster client's slot map (which it reads from the nodes, not from the URL) sends every
//! command through the delay; afterwards they announce their own ports again.
//!
//! 1. [`Announced::set`] runs `CONFIG SET cluster-announce-port <proxy port>` on each node
//!    the URL names, then waits until every node's `CLUSTER SLOTS` lists only proxy ports
//!    (the change spreads by gossip). A node the URL does not name would still be reached
//!    directly: that is an error naming it.
//! 2. [`Announced::restore`] sets `cluster-announce-port 0` on each node and waits until
//!    every node lists its own ports again, so the next run finds the cluster as it was.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use redis::aio::MultiplexedConnection;
use redis::Value;

/// The cluster's nodes, announcing the proxy's ports.
pub struct Announced {
    nodes: Vec<(String, MultiplexedConnection)>,
    own: BTreeSet<u16>,
}

/// The ports every slot range lists (masters and replicas) in one node's `CLUSTER SLOTS`.
async fn slot_ports(conn: &mut MultiplexedConnection) -> Result<BTreeSet<u16>> {
    let reply: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .context("CLUSTER SLOTS")?;
    let mut ports = BTreeSet::new();
    let Value::Array(ranges) = reply else {
        bail!("CLUSTER SLOTS did not answer an array: {reply:?}");
    };
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        for node in parts.iter().skip(2) {
            if let Value::Array(fields) = node {
                if let Some(Value::Int(p)) = fields.get(1) {
                    ports.insert(u16::try_from(*p).context("a port out of range")?);
                }
            }
        }
    }
    Ok(ports)
}

impl Announced {
    /// Makes the nodes at `upstreams` announce `ports` (the proxy's, in the same order).
    pub async fn set(upstreams: &[String], ports: &[u16]) -> Result<Announced> {
        let mut nodes = Vec::new();
        let mut own = BTreeSet::new();
        for up in upstreams {
            let client = redis::Client::open(format!("redis://{up}"))
                .with_context(|| format!("the cluster node {up}"))?;
            let conn = client
                .get_multiplexed_async_connection()
                .await
                .with_context(|| format!("connecting to the cluster node {up}"))?;
            if let Some(p) = up.rsplit(':').next().and_then(|p| p.parse().ok()) {
                own.insert(p);
            }
            nodes.push((up.clone(), conn));
        }
        let announced = Announced { nodes, own };
        for ((up, conn), port) in announced.nodes.clone().iter_mut().zip(ports) {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("cluster-announce-port")
                .arg(*port)
                .query_async::<()>(conn)
                .await
                .with_context(|| format!("CONFIG SET cluster-announce-port on {up}"))?;
        }
        let want: BTreeSet<u16> = ports.iter().copied().collect();
        if let Err(e) = announced.wait_for(&want).await {
            let _ = announced.restore().await;
            return Err(e.context(
                "the cluster's nodes did not all announce the proxy's ports: list every \
                 node of the cluster in the URL",
            ));
        }
        Ok(announced)
    }

    /// Every node announces its own port again.
    pub async fn restore(mut self) -> Result<()> {
        for (up, conn) in &mut self.nodes {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("cluster-announce-port")
                .arg(0)
                .query_async::<()>(conn)
                .await
                .with_context(|| format!("CONFIG SET cluster-announce-port 0 on {up}"))?;
        }
        let own = self.own.clone();
        self.wait_for(&own).await
    }

    /// Waits (10 s at most) until every node's slot map lists only ports in `want`.
    async fn wait_for(&self, want: &BTreeSet<u16>) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut stray = BTreeSet::new();
            for (up, conn) in &self.nodes {
                let seen = slot_ports(&mut conn.clone())
                    .await
                    .with_context(|| format!("reading the slot map of {up}"))?;
                stray.extend(seen.difference(want).copied());
            }
            if stray.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "after 10 s the slot map still lists ports {stray:?}, expected only {want:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
