//! The fault suite (`jobs_conformance::faults`) on Redis: worker processes killed, stopped
//! past their lease and skewed, and a process-killing job, on the shared server under a key
//! prefix of their own; the store crashed and restarted, connections killed, blocked
//! reserves unblocked with an error, and a partition, each on a `redis-server` of the
//! test's own (AOF with `appendfsync always`).

mod servers;

use std::net::SocketAddr;
use std::path::PathBuf;

use jobs_conformance::faults::run::Target;
use jobs_conformance::faults::servers::PrivateRedis;
use jobs_conformance::faults::{scenarios, store_faults};

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

async fn target(url: String) -> Target {
    let admin = jobs_backends::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    Target {
        backend: "redis",
        url,
        admin,
        worker_bin: PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_worker")),
        tmp: tmp(),
    }
}

/// A target on the shared server, under a prefix of its own; cleared by [`done`].
async fn shared(name: &str) -> Target {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let prefix = format!("faults:{name}:{}:{nanos:x}", std::process::id());
    target(servers::with_params(
        &servers::redis_url(),
        &format!("prefix={prefix}"),
    ))
    .await
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
async fn store_restart() {
    let Some(mut redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    store_faults::store_restart(&t, &mut redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_kills() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    store_faults::connection_kills(&t, || async {
        redis
            .command::<u64>(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"))
            .await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unblocked_reserves() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    store_faults::unblocked(&t, &redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_longer_than_the_lease() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    let upstream = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    store_faults::partition(&t, upstream, |port| {
        format!("redis://127.0.0.1:{port}?prefix=faults")
    })
    .await;
}
