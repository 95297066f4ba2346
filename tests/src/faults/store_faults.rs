//! The faults done to the store or the path to it: a crash and restart, connection kills,
//! Redis `CLIENT UNBLOCK ... ERROR` against blocked reserves, Redis `-READONLY` replies (a
//! proxy playing a demoted primary), and a partition longer than the lease (a stalling proxy
//! between one worker and the store).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use jobs::Client;

use super::fleet::{history_job, push_recorded};
use super::history::{now_ms, Event, HistoryLog};
use super::proxy::StallProxy;
use super::resp_proxy::ReadOnlyProxy;
use super::run::{Run, Target};
use super::scenarios::{finish_clean, hold, hold_past_the_lease};
use super::servers::{PrivateCluster, PrivateRedis, PrivateRedisCluster};
use super::Settings;

/// A store the test may crash and start again.
#[async_trait]
pub trait Crashable: Send {
    /// Stops it as a crash does.
    async fn crash(&mut self);
    /// Starts it again, on the same port and files; returns once it answers.
    async fn restart(&mut self);
}

#[async_trait]
impl Crashable for PrivateRedis {
    async fn crash(&mut self) {
        PrivateRedis::crash(self).await;
    }
    async fn restart(&mut self) {
        self.start_again().await;
    }
}

#[async_trait]
impl Crashable for PrivateCluster {
    async fn crash(&mut self) {
        tokio::task::block_in_place(|| PrivateCluster::crash(self));
    }
    async fn restart(&mut self) {
        tokio::task::block_in_place(|| self.start_again());
    }
}

#[async_trait]
impl Crashable for PrivateRedisCluster {
    async fn crash(&mut self) {
        PrivateRedisCluster::crash(self).await;
    }
    async fn restart(&mut self) {
        self.start_again().await;
    }
}

/// Whether any job is running in any worker.
fn any_running(run: &Run, pids: &[u32]) -> bool {
    let history = run.history();
    pids.iter().any(|p| !history.running_in(*p).is_empty())
}

/// Whether the store applied at least `n` settles at or after `since_ms` (from `pid`, when
/// given).
fn settled_since(run: &Run, since_ms: u64, pid: Option<u32>, n: usize) -> bool {
    run.history()
        .events
        .iter()
        .filter(|e| {
            matches!(e, Event::Settled { at_ms, pid: p, .. }
                if *at_ms >= since_ms && pid.is_none_or(|want| want == *p))
        })
        .count()
        >= n
}

/// Settles to wait for after a fault before the next one, so jobs flow between faults.
const BETWEEN_FAULTS: usize = 10;

/// The store crashes while jobs run (SIGKILL of `redis-server`, of every node of a Redis
/// Cluster, `pg_ctl -m immediate`),
/// stays down for a second, and starts again, `rounds` times. Enqueues go on throughout;
/// each one that returned Ok must survive.
pub async fn store_restart(target: &Target, store: &mut dyn Crashable) {
    let s = Settings::from_env();
    let mut run = Run::new("store_restart", target, s);
    let workers = vec![run.worker().await, run.worker().await];
    let pids: Vec<u32> = workers.iter().map(|w| w.pid()).collect();
    let enqueuer = run.enqueuer();
    for _ in 0..s.rounds {
        hold(&run, Duration::ZERO, Duration::from_secs(60), |run| {
            any_running(run, &pids)
        })
        .await;
        let at = now_ms();
        store.crash().await;
        // The outage itself: the store stays down this long.
        tokio::time::sleep(Duration::from_secs(1)).await;
        store.restart().await;
        run.injected(at, Vec::new(), 1);
        let lifted = now_ms();
        run.wait_for("settles after the restart", Duration::from_secs(60), |_| {
            settled_since(&run, lifted, None, BETWEEN_FAULTS)
        })
        .await;
    }
    let bound = s.duplicate_bound(run.injected, workers.len() as u64);
    finish_clean(&mut run, enqueuer, workers, bound).await;
}

/// Every worker connection is killed by the store (`kill` returns how many it killed),
/// `rounds` × 2 times while jobs run.
pub async fn connection_kills<F, Fut>(target: &Target, kill: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64>,
{
    let s = Settings::from_env();
    let mut run = Run::new("connection_kills", target, s);
    let workers = vec![run.worker().await, run.worker().await];
    let pids: Vec<u32> = workers.iter().map(|w| w.pid()).collect();
    let enqueuer = run.enqueuer();
    let mut connections = 0;
    for _ in 0..s.rounds * 2 {
        hold(&run, Duration::ZERO, Duration::from_secs(60), |run| {
            any_running(run, &pids)
        })
        .await;
        let at = now_ms();
        let killed = kill().await;
        assert!(killed > 0, "the store killed no connection");
        connections += killed;
        run.injected(at, Vec::new(), 1);
        run.wait_for("settles after the kill", Duration::from_secs(60), |_| {
            settled_since(&run, at, None, BETWEEN_FAULTS)
        })
        .await;
    }
    eprintln!(
        "connection_kills on {}: {connections} connections killed",
        target.backend
    );
    let bound = s.duplicate_bound(run.injected, workers.len() as u64);
    finish_clean(&mut run, enqueuer, workers, bound).await;
}

/// The ids of the clients of `redis` blocked in a command.
pub async fn blocked_clients(redis: &PrivateRedis) -> Vec<u64> {
    let list: String = redis.command(redis::cmd("CLIENT").arg("LIST")).await;
    list.lines()
        .filter(|line| {
            line.split(' ')
                .any(|f| f.strip_prefix("flags=").is_some_and(|v| v.contains('b')))
        })
        .filter_map(|line| {
            line.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .and_then(|id| id.parse().ok())
        })
        .collect()
}

/// Idle workers blocked in their reserve (`BLMOVE`) get `-UNBLOCKED` errors through
/// `CLIENT UNBLOCK <id> ERROR`, `rounds` × 2 times; jobs pushed afterwards must still be
/// taken and run.
pub async fn unblocked(target: &Target, redis: &PrivateRedis) {
    let s = Settings::from_env();
    let mut run = Run::new("unblocked", target, s);
    let log = HistoryLog::open(run.history_path())
        .unwrap_or_else(|e| panic!("cannot open the history: {e}"));
    let client = Client::new(target.admin.clone());
    let workers = vec![run.worker().await, run.worker().await];
    let mut next = 0u64;
    for _ in 0..s.rounds * 2 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let ids = loop {
            let ids = blocked_clients(redis).await;
            if !ids.is_empty() {
                break ids;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no worker blocked in a reserve within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let at = now_ms();
        let mut unblocked = 0;
        for id in ids {
            let n: u64 = redis
                .command(redis::cmd("CLIENT").arg("UNBLOCK").arg(id).arg("ERROR"))
                .await;
            unblocked += n;
        }
        if unblocked == 0 {
            // Each had returned on its own just before: try again.
            continue;
        }
        run.injected(at, Vec::new(), unblocked);
        let batch: Vec<_> = (next..next + 2 * s.concurrency as u64)
            .map(history_job)
            .collect();
        next += batch.len() as u64;
        assert_eq!(
            push_recorded(&client, &log, batch).await,
            0,
            "enqueues succeed"
        );
        run.wait_for(
            "the jobs pushed after the unblock ended",
            Duration::from_secs(60),
            |h| super::check::unsettled(h, &Default::default(), now_ms(), Duration::MAX).is_empty(),
        )
        .await;
    }
    let quiet = run.quiesce(s.quiesce_within).await;
    let verdict = run.end(workers).await;
    run.assert_clean(&verdict, s.duplicate_bound(run.injected, 1));
    assert!(quiet, "unblocked: not every job ended");
}

/// One worker reaches the store through a proxy that stalls all its traffic for longer
/// than the lease, then lets it through, `rounds` times; another worker is connected
/// directly. The partitioned worker's jobs run on the other one, its late settles are
/// refused, and it works on once the partition heals. `url_via(port)` is the store's URL
/// through the proxy's port.
pub async fn partition(target: &Target, upstream: SocketAddr, url_via: impl Fn(u16) -> String) {
    let s = Settings::from_env();
    let mut run = Run::new("partition", target, s);
    let proxy = StallProxy::start(upstream)
        .await
        .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
    let b = run.worker().await;
    let a = super::fleet::WorkerProc::start(&run.spec.with_url(url_via(proxy.port()))).await;
    let enqueuer = run.enqueuer();
    for _ in 0..s.rounds {
        run.wait_running(a.pid()).await;
        let (at, pid) = (now_ms(), a.pid());
        proxy.stall();
        hold_past_the_lease(&run, pid, at).await;
        proxy.resume();
        healed(&mut run, at, pid).await;
    }
    let bound = s.duplicate_bound(run.injected, 1);
    finish_clean(&mut run, enqueuer, vec![a, b], bound).await;
}

/// Records a partition of worker `pid` begun at `at_ms` and just lifted, and waits (60 s at
/// most) until that worker settles again.
pub(crate) async fn healed(run: &mut Run, at_ms: u64, pid: u32) {
    run.injected(at_ms, vec![pid], 1);
    let lifted = now_ms();
    run.wait_for(
        "a settle by the partitioned worker once healed",
        Duration::from_secs(60),
        |_| settled_since(run, lifted, Some(pid), 1),
    )
    .await;
}

/// Every worker reaches Redis through a proxy that, `rounds` times, answers each of their
/// commands with `-READONLY` without forwarding it, as a demoted primary would after a
/// failover the workers have not noticed: for half the lease (a few heartbeats and polls) in
/// even rounds, for 1.5 × the lease in odd ones, while jobs run. Enqueues go to the store
/// directly, so jobs wait meanwhile. Once the proxy lets commands through again the workers
/// must settle what they ran, and take the jobs that waited. `url_via(port)` is the store's
/// URL through the proxy's port.
pub async fn readonly_replies(
    target: &Target,
    upstream: SocketAddr,
    url_via: impl Fn(u16) -> String,
) {
    let s = Settings::from_env();
    let mut run = Run::new("readonly_replies", target, s);
    let proxy = ReadOnlyProxy::start(upstream)
        .await
        .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
    let spec = run.spec.with_url(url_via(proxy.port()));
    let workers = vec![
        super::fleet::WorkerProc::start(&spec).await,
        super::fleet::WorkerProc::start(&spec).await,
    ];
    let pids: Vec<u32> = workers.iter().map(|w| w.pid()).collect();
    let enqueuer = run.enqueuer();
    readonly_rounds(&mut run, &proxy, &pids).await;
    let bound = s.duplicate_bound(run.injected, workers.len() as u64);
    finish_clean(&mut run, enqueuer, workers, bound).await;
}

/// `rounds` times, once a job runs in one of `pids`: `proxy` answers `-READONLY` for half
/// the lease (even rounds) or 1.5 × the lease (odd ones), which must refuse at least one
/// command; then the workers must settle again. Says how many commands were refused, past
/// the test harness's capture.
pub(crate) async fn readonly_rounds(run: &mut Run, proxy: &ReadOnlyProxy, pids: &[u32]) {
    let s = run.settings;
    for round in 0..s.rounds {
        hold(run, Duration::ZERO, Duration::from_secs(60), |run| {
            any_running(run, pids)
        })
        .await;
        let (at, before) = (now_ms(), proxy.refused());
        proxy.set_readonly(true);
        // The fault's own length.
        let length = if round % 2 == 0 {
            s.lease_ttl / 2
        } else {
            s.lease_ttl * 3 / 2
        };
        tokio::time::sleep(length).await;
        proxy.set_readonly(false);
        assert!(
            proxy.refused() > before,
            "{}: no command was refused in round {round}",
            run.name
        );
        run.injected(at, Vec::new(), 1);
        let lifted = now_ms();
        run.wait_for(
            "settles after read-only ended",
            Duration::from_secs(60),
            |_| settled_since(run, lifted, None, BETWEEN_FAULTS),
        )
        .await;
    }
    let _ = writeln!(
        std::io::stderr(),
        "{} on {}: {} commands answered -READONLY",
        run.name,
        run.target.backend,
        proxy.refused()
    );
}
