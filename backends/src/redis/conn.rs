//! The shared connection: one server's auto-reconnecting multiplexed connection, or a Redis
//! Cluster connection that sends each command to the master of its key's slot.
//!
//! 1. Everything the backend sends goes through [`Conn`], so the same scripts, pipelines and
//!    commands run on one server or on a cluster. On a cluster every key this backend builds
//!    carries the hash tag of its prefix (`{app:3}:queue:default`), so a script's keys, declared
//!    or built inside it from the prefix, are all in one slot, and a pipeline goes to one node.
//! 2. [`Conn::on_tag_node`] sends a command that names no key (`SCAN`) to the master holding
//!    the prefix's slot: on a cluster a plain `SCAN` would walk one random node.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// One server's connection or a cluster's.
#[derive(Clone)]
pub(super) enum Conn {
    /// One server (or the master Sentinel names).
    Single(ConnectionManager),
    /// A Redis Cluster: commands go to their key's slot, following `MOVED` and failovers.
    Cluster(ClusterConnection),
}

impl Conn {
    /// Whether this is a cluster connection.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Runs `cmd`; on a cluster, on the master that holds `key`'s slot.
    pub(super) async fn on_tag_node(&self, cmd: &Cmd, key: &str) -> redis::RedisResult<Value> {
        match self {
            Conn::Single(c) => {
                let mut c = c.clone();
                cmd.query_async(&mut c).await
            }
            Conn::Cluster(c) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                c.clone().route_command(cmd.clone(), routing).await
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
