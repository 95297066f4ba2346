//! Runs the whole conformance suite against Redis Cluster (`redis+cluster://`): the private
//! three-master cluster `scripts/test` starts (`JOBS_TEST_REDIS_CLUSTER_URL`), each case under a
//! prefix of its own, with its queues spread over four hash-tag groups.
//!
//! `default` is pinned to group 1, the batch cases' queues together to group 2 (a batch lives
//! in one group), and other queues go by the hash of their name, so cases that use several
//! queues run their routing, reserves and listings across groups, whose slots sit on
//! different masters. A script that touched two slots would fail here with `CROSSSLOT`. Prefixes
//! are `cl<epoch secs>-<pid>-<n>`; nothing is flushed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod servers;

use jobs::backend::{AdminBackend, Backend, PushParams};
use jobs::envelope::JobEnvelope;
use jobs_backends::redis_cluster::connect as cluster_connect;
use jobs_backends::redis_cluster::ClusterOptions;
use jobs_conformance::{CaseError, Factory};

fn fresh_options() -> ClusterOptions {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let secs = chrono::Utc::now().timestamp();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let url = servers::redis_cluster_url();
    let prefix = format!("cl{secs}-{}-{n}", std::process::id());
    // A batch lives in one group: its queues are pinned to group 2 together.
    let batch_routes: String = jobs_conformance::BATCH_QUEUES
        .iter()
        .map(|q| format!(",{q}:2"))
        .collect();
    let opts = ClusterOptions::from_url(&format!("{url}?groups=4&route=default:1{batch_routes}"))
        .unwrap_or_else(|e| panic!("{e}"));
    opts.prefix(prefix)
}

async fn fresh_prefix() -> Result<Arc<dyn AdminBackend>, CaseError> {
    let backend = cluster_connect(fresh_options()).await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

fn factory() -> Factory {
    Factory::fallible(fresh_prefix).require_all()
}

jobs_conformance::conformance_suite!(cluster, factory());

/// The URL form reaches the same backend through `jobs::connect`.
#[tokio::test]
async fn the_url_form_connects_through_the_registry() {
    let url = format!(
        "{}?prefix=cl-url-{}&groups=3",
        servers::redis_cluster_url(),
        std::process::id()
    );
    let backend = jobs_backends::connect(&url).await.unwrap();
    assert_eq!(backend.name(), "redis");
    backend.clear_all().await.unwrap();
}

/// Each queue's keys carry its group's hash tag, and the groups' slots are on more than one
/// master: a pushed job is in `{<prefix>:<group>}:queue:<name>`, on the master that serves
/// that tag's slot.
#[tokio::test]
async fn a_queues_keys_sit_in_its_groups_slot_and_groups_spread_over_masters() {
    let opts = fresh_options();
    let client = redis::cluster::ClusterClient::new(opts.nodes.clone()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let backend = cluster_connect(opts.clone()).await.unwrap();
    let queues = ["default", "mail", "pdf", "import"];
    let jobs: Vec<JobEnvelope> = queues
        .iter()
        .map(|q| JobEnvelope::new("Mail", *q, vec![serde_json::json!(1)]))
        .collect();
    backend
        .job_push(PushParams::new(jobs.clone(), chrono::Utc::now()))
        .await
        .unwrap();
    let mut masters = BTreeSet::new();
    for (q, job) in queues.iter().zip(&jobs) {
        let g = opts.group_of(q);
        let key = format!("{}:queue:{q}", opts.tag(g));
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(raw.len(), 1, "{key}");
        let stored: serde_json::Value = serde_json::from_str(&raw[0]).unwrap();
        assert_eq!(stored["jid"], serde_json::json!(job.jid));
        let known: bool = redis::cmd("SISMEMBER")
            .arg(format!("{}:queues", opts.tag(g)))
            .arg(*q)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(known, "{q} is listed in its group's `queues`");
    }
    for g in 0..opts.groups {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(opts.tag(g))
            .query_async(&mut conn)
            .await
            .unwrap();
        masters.insert(master_of(&mut conn, slot).await);
    }
    assert!(
        masters.len() >= 2,
        "the groups' slots are all on {masters:?}"
    );
    backend.clear_all().await.unwrap();
}

/// The master (`host:port`) serving `slot`, from `CLUSTER SLOTS`.
async fn master_of(conn: &mut redis::cluster_async::ClusterConnection, slot: u16) -> String {
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .unwrap();
    for range in ranges {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        let lo: i64 = redis::from_redis_value_ref(&parts[0]).unwrap();
        let hi: i64 = redis::from_redis_value_ref(&parts[1]).unwrap();
        if (lo..=hi).contains(&i64::from(slot)) {
            let node: Vec<redis::Value> = redis::from_redis_value_ref(&parts[2]).unwrap();
            let host: String = redis::from_redis_value_ref(&node[0]).unwrap();
            let port: i64 = redis::from_redis_value_ref(&node[1]).unwrap();
            return format!("{host}:{port}");
        }
    }
    panic!("no master serves slot {slot}")
}
