//! Redis Cluster over TLS (`rediss+cluster://`), against a three-master cluster of the
//! test's own whose nodes speak TLS only, to clients, to each other and to replicas
//! (`--port 0 --tls-port P --tls-cluster yes --tls-replication yes`), with certificates made
//! at run time: a subset of the conformance suite runs over it (every kind of command the
//! cluster backend sends: scripts on each group's slot, listings across groups, the cancel
//! channel's subscription, worker runs), the URL reaches it through the registry, and a
//! wrong CA or none is refused naming TLS, the certificate and the nodes, never the password.

mod tls_support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, PushParams, ReserveParams};
use jobs::envelope::JobEnvelope;
use jobs_backends::redis_cluster::{self as cluster, ClusterOptions};
use jobs_conformance::faults::servers::PrivateRedisCluster;
use jobs_conformance::{run_case, Factory};
use tls_support::{Pki, TempDir};

/// A private TLS cluster (`None`: redis-server is not installed, said on stderr) and its
/// certificates.
async fn tls_cluster(name: &str) -> Option<(TempDir, Pki, PrivateRedisCluster)> {
    let tmp = TempDir::new(name);
    let pki = tls_support::make(&tmp.0.join("pki"));
    let nodes = PrivateRedisCluster::start(&tmp.0.join("nodes"), 3, 0, Some(&pki.server)).await?;
    Some((tmp, pki, nodes))
}

/// Runs each named case (`area::case`) against a fresh backend from `factory`, one after
/// the other, as `conformance_suite!` runs them one per test.
macro_rules! run_cases {
    ($factory:expr, $($area:ident::$case:ident),* $(,)?) => {{
        const CASES: &[&str] = &[$(concat!(stringify!($area), "::", stringify!($case))),*];
        $(
            let started = Instant::now();
            run_case(
                "cluster_tls",
                concat!(stringify!($area), "::", stringify!($case)),
                CASES,
                $factory.clone(),
                jobs_conformance::cases::$area::$case,
            )
            .await;
            eprintln!(
                "cluster_tls::{}::{} passed in {:?}",
                stringify!($area),
                stringify!($case),
                started.elapsed()
            );
        )*
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_cases_pass_over_tls() {
    let Some((_tmp, pki, nodes)) = tls_cluster("cluster-tls-suite").await else {
        return;
    };
    let url = format!(
        "{}?groups=4&route=default:1&ca={}",
        nodes.url(),
        pki.ca.display()
    );
    // Through the registry, as an app gives the URL.
    let backend = jobs_backends::connect(&format!("{url}&prefix=ctls-url"))
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

    let next = Arc::new(AtomicU32::new(0));
    let factory = Factory::fallible(move || {
        let prefix = format!("ctls{}", next.fetch_add(1, Ordering::Relaxed));
        let opts = ClusterOptions::from_url(&format!("{url}&prefix={prefix}"))
            .unwrap_or_else(|e| panic!("{e}"));
        async move {
            let backend = cluster::connect(opts).await?;
            Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
        }
    })
    .require_all();
    run_cases!(
        factory,
        push_reserve::fifo_per_queue,
        push_reserve::queues_in_given_order,
        push_reserve::concurrent_reserves_take_each_job_once,
        push_reserve::reserve_wakes_on_push,
        scheduled::promote_limit_takes_soonest_first,
        finish::retry_goes_to_retry_set_and_back,
        finish::dead_goes_to_dead_set,
        finish::counters_total_and_per_day,
        leases::rescue_after_expiry_returns_jobs_to_head,
        leases::heartbeat_extends_leases,
        unique::a_duplicate_is_skipped_and_names_the_holder,
        concurrency::a_limit_of_two_runs_two_at_once,
        rate::a_window_holds_at_most_limit_starts,
        bulk::thousand_jobs_in_one_push_arrive_in_order,
        admin_jobs::job_list_orders_each_set,
        admin_processes::process_list_shows_heartbeats,
        admin_processes::stats_counts_every_set,
        schedule::claim_once_across_concurrent_claimers,
        cancel::the_channel_announces_a_request,
        cancel_worker::a_running_job_sees_its_cancel_by_the_channel,
        results::result_stored_with_success_settle,
        worker::flaky_job_retries_then_succeeds,
        worker::outcomes_snooze_discard_kill,
    );
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
