//! Redis under Sentinel (`redis+sentinel://`): a worker and an enqueuer ride through two
//! failovers (a `SENTINEL FAILOVER`, then a `kill -9` of the new master) and no job whose
//! enqueue returned Ok before a failover is lost, and the worker keeps processing after.
//!
//! The deployment is the test's own: one master and one replica (`PrivateRedis`, AOF on)
//! and three sentinels (`redis-server <conf> --sentinel`, configuration generated under
//! `CARGO_TARGET_TMPDIR`), all on free ports of 127.0.0.1. The check is history-style: the
//! enqueuer records when each enqueue started and when it returned Ok; after the run every
//! job acknowledged before a failover began (once the replica had caught up with the
//! master, which is what asynchronous replication needs to keep a write) and every job
//! enqueued after the failover finished must have been performed. Jobs acknowledged during
//! the failover itself are Redis's own loss window (README, "Scaling Redis"); they are
//! counted and printed, not asserted. Skipped (with a line on stderr) when `redis-server`
//! is not installed.

mod failover_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use failover_support::{until, Run};
use jobs_backends::redis_sentinel::SentinelRedis;
use jobs_conformance::faults::servers::{free_port, PrivateRedis};
use tokio::process::{Child, Command};

const MASTER: &str = "mymaster";

/// A sentinel process of the test's own, killed when dropped.
struct Sentinel {
    port: u16,
    _child: Child,
}

impl Sentinel {
    async fn start(dir: &Path, master_port: u16) -> Sentinel {
        let port = free_port();
        let conf = dir.join(format!("sentinel-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 5000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server --sentinel");
        let s = Sentinel {
            port,
            _child: child,
        };
        until("the sentinel answers", || async {
            s.master().await.is_some()
        })
        .await;
        s
    }

    async fn cmd<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?;
        let mut c = client.get_multiplexed_async_connection().await?;
        cmd.query_async(&mut c).await
    }

    /// The master's port as this sentinel sees it.
    async fn master(&self) -> Option<u16> {
        let reply: Option<(String, String)> = self
            .cmd(
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(MASTER),
            )
            .await
            .ok()?;
        reply.and_then(|(_, p)| p.parse().ok())
    }

    /// Whether this sentinel knows a healthy replica and the two other sentinels.
    async fn ready(&self) -> bool {
        let replicas: Vec<std::collections::HashMap<String, String>> = self
            .cmd(redis::cmd("SENTINEL").arg("replicas").arg(MASTER))
            .await
            .unwrap_or_default();
        let sentinels: Vec<redis::Value> = self
            .cmd(redis::cmd("SENTINEL").arg("sentinels").arg(MASTER))
            .await
            .unwrap_or_default();
        replicas
            .iter()
            .any(|r| r.get("flags").map(String::as_str) == Some("slave"))
            && sentinels.len() == 2
    }
}

/// `field` of `INFO replication` on `server` (`None`: unreachable or absent).
async fn replication(server: &PrivateRedis, field: &str) -> Option<String> {
    let client = redis::Client::open(server.url()).ok()?;
    let mut c = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut c)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// Waits until `replica` has every write `master` had when this was called.
async fn caught_up(master: &PrivateRedis, replica: &PrivateRedis) {
    let Some(offset) = replication(master, "master_repl_offset").await else {
        panic!("the master does not report its replication offset");
    };
    let offset: u64 = offset.parse().unwrap();
    until("the replica catches up with the master", || async {
        replication(replica, "slave_repl_offset")
            .await
            .and_then(|o| o.parse::<u64>().ok())
            .is_some_and(|o| o >= offset)
    })
    .await;
}

/// Waits until `server` is a replica of the master on `port` with its link up.
async fn replica_of(server: &PrivateRedis, port: u16) {
    until(
        "the old master becomes a replica of the new one",
        || async {
            replication(server, "master_port").await == Some(port.to_string())
                && replication(server, "master_link_status").await.as_deref() == Some("up")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failovers_lose_no_job_acknowledged_before_them_and_the_worker_follows_the_master() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sentinel");
    std::fs::create_dir_all(&tmp).unwrap();
    let Some(a) = PrivateRedis::start(&tmp).await else {
        return;
    };
    let Some(mut b) = PrivateRedis::start(&tmp).await else {
        return;
    };
    let _: () = b
        .command(redis::cmd("REPLICAOF").arg("127.0.0.1").arg(a.port()))
        .await;
    replica_of(&b, a.port()).await;
    let dir = tmp.join(format!("sentinels-{}", a.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let sentinels = vec![
        Sentinel::start(&dir, a.port()).await,
        Sentinel::start(&dir, a.port()).await,
        Sentinel::start(&dir, a.port()).await,
    ];
    for s in &sentinels {
        until("each sentinel knows the replica and the others", || {
            s.ready()
        })
        .await;
    }

    let hosts: Vec<String> = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let url = format!(
        "redis+sentinel://{}/{MASTER}?prefix=sentinel-test",
        hosts.join(",")
    );
    let backend = Arc::new(SentinelRedis::from_url(&url).await.unwrap());
    assert_eq!(backend.master().1, a.port());
    // Through the URL registry too.
    let via_registry = jobs_backends::connect(&url).await.unwrap();
    assert_eq!(via_registry.name(), "redis");

    let run = Run::start(backend.clone(), "default");

    // Windows in which an acknowledged job may be lost by Redis itself: (began, ended).
    let mut windows: Vec<(Instant, Instant)> = Vec::new();

    // 1. A manual failover: b becomes master, a its replica.
    run.more_acks(100).await;
    let began = Instant::now();
    caught_up(&a, &b).await;
    let _: String = sentinels[0]
        .cmd(redis::cmd("SENTINEL").arg("failover").arg(MASTER))
        .await
        .unwrap();
    until("the sentinels name the replica master", || async {
        sentinels[0].master().await == Some(b.port())
    })
    .await;
    replica_of(&a, b.port()).await;
    windows.push((began, Instant::now()));
    run.more_acks(100).await;
    until("the backend follows the new master", || async {
        backend.master().1 == b.port()
    })
    .await;

    // 2. kill -9 of the new master: the sentinels agree it is down and promote a.
    let began = Instant::now();
    caught_up(&b, &a).await;
    b.crash().await;
    until("the sentinels promote the surviving server", || async {
        sentinels[1].master().await == Some(a.port())
    })
    .await;
    windows.push((began, Instant::now()));
    run.more_acks(100).await;
    until("the backend follows the promoted server", || async {
        backend.master().1 == a.port()
    })
    .await;

    run.finish("sentinel", &windows).await;
    drop(a);
}

#[tokio::test]
async fn no_sentinel_answering_is_a_connection_error_naming_each_sentinel() {
    let (p1, p2) = (free_port(), free_port());
    let url = format!("redis+sentinel://127.0.0.1:{p1},127.0.0.1:{p2}/{MASTER}");
    let err = SentinelRedis::from_url(&url).await.unwrap_err().to_string();
    assert!(
        err.contains("no sentinel gave the master's address"),
        "{err}"
    );
    assert!(
        err.contains(&format!("127.0.0.1:{p1}")) && err.contains(&format!("127.0.0.1:{p2}")),
        "{err}"
    );
}
