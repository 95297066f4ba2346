//! The fault suite's worker-side cases (`jobs_conformance::faults`) on Redis Cluster
//! (`redis+cluster://`, the private three-master cluster of `scripts/test`): worker processes
//! killed, stopped past their lease and skewed, a process-killing job, concurrency and rate
//! limits and unique locks under kills, and a rolling restart, each under a prefix of its own
//! (cleared at the end). The store's own faults on a cluster (a master failing over while
//! jobs run) are `redis_cluster_failover.rs`.

mod servers;

use std::path::PathBuf;

use jobs_conformance::faults::run::Target;
use jobs_conformance::faults::{limits, scenarios, unique};

/// A target on the shared cluster, under the prefix `fcl<epoch secs>-<name>-<pid>`, with
/// `groups` hash-tag groups.
async fn shared(name: &str) -> Target {
    let secs = chrono::Utc::now().timestamp();
    let url = format!(
        "{}?prefix=fcl{secs}-{name}-{}&groups=4",
        servers::redis_cluster_url(),
        std::process::id()
    );
    let admin = jobs_backends::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    Target {
        backend: "redis",
        url,
        admin,
        worker_bin: PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_worker")),
        tmp: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    }
}

async fn done(target: Target) {
    target
        .admin
        .clear_all()
        .await
        .unwrap_or_else(|e| panic!("cannot clear the test's keys: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill() {
    let t = shared("sigkill").await;
    scenarios::sigkill(&t).await;
    done(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_the_lease() {
    let t = shared("sigstop").await;
    scenarios::sigstop(&t).await;
    done(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew() {
    let t = shared("skew").await;
    scenarios::clock_skew(&t).await;
    done(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killing_job() {
    let t = shared("abort").await;
    scenarios::process_killing_job(&t).await;
    done(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_under_kills_and_stops() {
    let t = shared("conc").await;
    limits::concurrency_limit(&t).await;
    done(t).await;
}

// A timing bound, as on the other backends: scripts/test runs it on its own, after the
// workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run alone by scripts/test (a timing bound)"]
async fn rate_limit_across_processes() {
    let t = shared("rate").await;
    limits::rate_limit(&t).await;
    done(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_locks_under_kills() {
    let t = shared("unique").await;
    unique::unique_locks(&t).await;
    done(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart() {
    let t = shared("rolling").await;
    jobs_conformance::faults::rolling::rolling_restart(&t).await;
    done(t).await;
}
