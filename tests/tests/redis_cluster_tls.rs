//! Redis Cluster over TLS (`rediss+cluster://`). The whole conformance suite runs against the
//! shared three-master cluster `scripts/test` starts speaking TLS only, to clients and
//! between nodes (`JOBS_TEST_REDIS_CLUSTER_TLS_URL`, its CA and certificate made by openssl
//! for the run), each case under a prefix of its own with its queues spread over four
//! hash-tag groups, as `redis_cluster.rs` runs it without TLS. The URL reaches it through the
//! registry; and against a cluster of the test's own, with certificates made at run time, a
//! wrong CA or none is refused naming TLS, the certificate and the nodes, never the password.

mod servers;
mod tls_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, PushParams, ReserveParams};
use jobs::envelope::JobEnvelope;
use jobs_backends::redis_cluster::{self as cluster, ClusterOptions};
use jobs_conformance::faults::servers::PrivateRedisCluster;
use jobs_conformance::{CaseError, Factory};
use tls_support::{Pki, TempDir};

/// The shared TLS cluster's URL with four groups, `default` pinned to group 1 and the batch
/// cases' queues together to group 2 (a batch lives in one group), and `prefix`.
fn shared_url(prefix: &str) -> String {
    let url = servers::redis_cluster_tls_url();
    let batch_routes: String = jobs_conformance::BATCH_QUEUES
        .iter()
        .map(|q| format!(",{q}:2"))
        .collect();
    let join = if url.contains('?') { '&' } else { '?' };
    format!("{url}{join}groups=4&route=default:1{batch_routes}&prefix={prefix}")
}

/// A backend on the shared TLS cluster under a fresh prefix `ctls<epoch secs>-<pid>-<n>`.
async fn fresh_prefix() -> Result<Arc<dyn AdminBackend>, CaseError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = format!(
        "ctls{}-{}-{}",
        chrono::Utc::now().timestamp(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let opts = ClusterOptions::from_url(&shared_url(&prefix)).unwrap_or_else(|e| panic!("{e}"));
    let backend = cluster::connect(opts).await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

fn factory() -> Factory {
    Factory::fallible(fresh_prefix).require_all()
}

jobs_conformance::conformance_suite!(cluster_tls, factory());

/// The URL form, through the registry as an app gives it, pushes and reserves over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_form_reaches_the_tls_cluster_through_the_registry() {
    let url = shared_url(&format!("ctls-url-{}", std::process::id()));
    let backend = jobs_backends::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("rediss+cluster:// through jobs::connect: {e}"));
    let job = JobEnvelope::new("Echo", "q", vec![serde_json::json!(1)]);
    backend
        .job_push(PushParams::new(vec![job.clone()], chrono::Utc::now()))
        .await
        .expect("push over TLS");
    let got = backend
        .job_reserve(ReserveParams::new(
            vec!["q".into()],
            "w",
            chrono::Utc::now(),
        ))
        .await
        .expect("reserve over TLS");
    assert_eq!(got.first().map(|r| &r.job.jid), Some(&job.jid));
    backend.clear_all().await.expect("clear over TLS");
}

/// A private TLS cluster (`None`: redis-server is not installed, said on stderr) and its
/// certificates.
async fn tls_cluster(name: &str) -> Option<(TempDir, Pki, PrivateRedisCluster)> {
    let tmp = TempDir::new(name);
    let pki = tls_support::make(&tmp.0.join("pki"));
    let nodes = PrivateRedisCluster::start(&tmp.0.join("nodes"), 3, 0, Some(&pki.server)).await?;
    Some((tmp, pki, nodes))
}

/// The error connecting to `url`, which must fail within 30 s (`what` says what it would
/// mean if it did not).
async fn refused(url: &str, what: &str) -> String {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(60), jobs_backends::connect(url))
        .await
        .unwrap_or_else(|_| panic!("connecting to {url} hung for 60 s"));
    let err = match result {
        Ok(_) => panic!("{what}"),
        Err(e) => e.to_string(),
    };
    eprintln!("refused in {:?}, as it should be: {err}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_or_none_is_refused_naming_tls_and_the_nodes() {
    let Some((_tmp, pki, nodes)) = tls_cluster("cluster-tls-wrong-ca").await else {
        return;
    };
    let with_password: Vec<String> = nodes
        .nodes
        .iter()
        .map(|n| format!(":s3cret-pw@{}", PrivateRedisCluster::addr(n)))
        .collect();
    let url = format!("rediss+cluster://{}", with_password.join(","));
    let first = PrivateRedisCluster::addr(&nodes.nodes[0]);
    let wrong = format!("{url}?ca={}", pki.wrong_ca.display());
    let none = url.clone();
    for (url, what) in [
        (wrong, "a wrong CA was trusted"),
        (none, "a private CA was trusted without `ca`"),
    ] {
        let err = refused(&url, what).await;
        assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
        assert!(err.contains("?ca="), "the fix is named: {err}");
        assert!(err.contains(&first), "the nodes are named: {err}");
        assert!(
            !err.contains("s3cret-pw"),
            "the password was printed: {err}"
        );
    }
    // The right CA works (the nodes ask for no password, so none is sent).
    let right = format!("{}?ca={}&prefix=ctls-ok", nodes.url(), pki.ca.display());
    let backend = jobs_backends::connect(&right).await.expect("the right CA");
    backend.clear_all().await.expect("clear over TLS");
}
