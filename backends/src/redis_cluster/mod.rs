//! Redis Cluster: the queues spread over hash-tag groups, each group a Redis backend whose keys
//! all sit in one slot, so every script and pipeline runs on one master.
//!
//! 1. **Layout.** Group `g`'s keys are the single-instance layout under the prefix
//!    `{<prefix>:<g>}` (`config.rs`): its queues, in-flight lists, scheduled, retry and dead
//!    sets, unique locks, limit slots, process records, statistics and schedules. Nothing a
//!    script touches spans two groups, so no script needs two slots; each queue is in exactly
//!    one group (by a stable hash of its name, or pinned with `route`), as BullMQ keeps each
//!    queue in one slot.
//! 2. **Across groups** it is the sharded backend (`redis_shards`) over the groups, sharing one
//!    cluster connection: a push goes to its queue's group; reserves take from the groups of
//!    the worker's queues; a lease token carries its group; heartbeats, promotion, rescue and
//!    aging run on every group; the dashboard merges listings and statistics across groups;
//!    a schedule lives in its job's queue's group, where its tick is claimed and pushed in one
//!    step. Rate limits and per-job metrics are kept in group 0.
//! 3. **Not Sidekiq's layout**: Sidekiq cannot run on a cluster, and Ruby Sidekiq does not read
//!    these keys. The single-instance layout (`redis://`) is unchanged.
//! 4. **Connections.** One `redis` cluster connection follows `MOVED`/`ASK` and failovers
//!    (over TLS for `rediss+cluster://`, with the files of `rediss://`, `redis/tls.rs`);
//!    reserves poll the groups (a blocking pop would hold the connection shared by every
//!    command to that node). Cancel notices use Redis's cluster-wide `PUBLISH`, received on
//!    a subscription to the first node given.
//! 5. **Batches** live whole in one group, as on shards (`redis_shards/batch.rs`): a batch
//!    whose members, callbacks or parent are in several groups is refused.

mod config;

use std::sync::Arc;

use jobs::backend::{AdminBackend, BackendError};
use jobs::ConnectError;

pub use config::{ClusterOptions, MAX_GROUPS};

use crate::redis::{cluster_tls, tls_problem, RedisBackend};
use crate::redis_shards::ShardedRedis;

/// Connects to the cluster and checks that it answers, then builds one backend per group.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::redis_cluster::{self, ClusterOptions};
/// let opts = ClusterOptions::from_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000?prefix=app")?;
/// let backend = redis_cluster::connect(opts).await?;
/// // or, through the URL registry:
/// let backend = jobs::connect("redis+cluster://10.0.0.1:7000,10.0.0.2:7000?prefix=app").await?;
/// # Ok(()) }
/// ```
pub async fn connect(opts: ClusterOptions) -> Result<ShardedRedis, BackendError> {
    if let Some(problem) = opts.problem() {
        return Err(BackendError::msg(format!(
            "cannot use Redis Cluster: {problem}"
        )));
    }
    let target = opts
        .nodes
        .iter()
        .map(|n| jobs::redact_url(n))
        .collect::<Vec<_>>()
        .join(",");
    let tls = opts.is_tls();
    let cannot = |e: redis::RedisError| {
        let text = e.to_string();
        let problem = tls.then(|| tls_problem(&text)).flatten().unwrap_or(text);
        BackendError::msg(format!("cannot use Redis Cluster at {target}: {problem}"))
    };
    let builder = redis::cluster::ClusterClient::builder(opts.nodes.clone())
        .connection_timeout(opts.connect_timeout)
        .response_timeout(opts.response_timeout)
        .retries(8)
        .min_retry_wait(20)
        .max_retry_wait(1000);
    let client = cluster_tls(builder, tls, &opts.tls)
        .map_err(|m| BackendError::msg(format!("cannot use Redis Cluster at {target}: {m}")))?
        .build()
        .map_err(cannot)?;
    let conn = client.get_async_connection().await.map_err(cannot)?;
    let shards = opts.shards();
    let backends = shards
        .shards
        .iter()
        .cloned()
        .map(|o| RedisBackend::on_cluster(o, conn.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(first) = backends.first() {
        first
            .check_server()
            .await
            .map_err(|e| BackendError::msg(format!("cannot use Redis Cluster at {target}: {e}")))?;
    }
    Ok(ShardedRedis::from_backends(shards, backends))
}

/// Connects from a `redis+cluster://` or `rediss+cluster://` URL (see
/// [`ClusterOptions::from_url`]).
pub async fn from_url(url: &str) -> Result<ShardedRedis, ConnectError> {
    Ok(connect(ClusterOptions::from_url(url)?).await?)
}

/// Builds the backend for `jobs::connect`; registered for `redis+cluster://` and
/// `rediss+cluster://`.
pub fn connector(url: String) -> jobs::ConnectFuture {
    Box::pin(async move {
        let backend = from_url(&url).await?;
        Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
    })
}
