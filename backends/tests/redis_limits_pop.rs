//! Concurrency limits on Redis where a blocking pop moves a job without the reserve script:
//! a pop that meets a full key moves its job aside and waits on, and a rescued job leads its
//! key again even with idle reservers blocked on its queue.

mod redis_support;

use std::time::{Duration, Instant};

use chrono::Utc;
use jobs::backend::*;
use redis_support::*;

/// Polls `check` until it holds, failing after five seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// How many jobs wait aside for key `k`.
async fn waiting(f: &Fixture) -> u64 {
    f.cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:waiting:k")))
        .await
}

/// Waits until `process`'s reserve registered `q` for a blocking pop.
async fn registered(f: &Fixture, process: &str) {
    let leased = f.key(&format!("jobs-rs:leased:{}:{process}", process.len()));
    eventually("the reserve registered for a blocking pop", || {
        let mut raw = f.raw.clone();
        let leased = leased.clone();
        async move {
            redis::cmd("SISMEMBER")
                .arg(&leased)
                .arg("q")
                .query_async(&mut raw)
                .await
                .unwrap()
        }
    })
    .await;
}

#[tokio::test]
async fn a_blocking_pop_that_meets_a_full_key_moves_the_job_aside_and_waits_on() {
    let f = Fixture::new("limits-pop").await;
    f.push(vec![limited(1, "k", 1)], Utc::now()).await;
    let first = f.reserve(&["q"], "p1", 10, Utc::now()).await;
    assert_eq!(first.len(), 1);

    let b = f.backend.clone();
    let waiter = tokio::spawn(async move {
        let p = reserve_params("p2", Duration::from_secs(10)).limit(10);
        b.job_reserve(p).await.unwrap()
    });
    registered(&f, "p2").await;
    let second = limited(2, "k", 1);
    f.push(vec![second.clone()], Utc::now()).await;
    let waiting = f.key("jobs-rs:waiting:k");
    eventually("the popped job is moved aside", || {
        let mut raw = f.raw.clone();
        let waiting = waiting.clone();
        async move {
            let n: u64 = redis::cmd("LLEN")
                .arg(&waiting)
                .query_async(&mut raw)
                .await
                .unwrap();
            n == 1
        }
    })
    .await;
    let free = plain(3);
    f.push(vec![free.clone()], Utc::now()).await;
    let got = waiter.await.unwrap();
    let jids: Vec<_> = got.iter().map(|r| r.job.jid.clone()).collect();
    assert_eq!(
        jids,
        vec![free.jid.clone()],
        "the pop waited on for a runnable job"
    );
    let inflight: u64 = f
        .cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:inflight:2:p2:q")))
        .await;
    assert_eq!(inflight, 1, "only the job handed out is in flight");

    assert!(finish_ok(&f.backend, &first[0]).await.lost.is_empty());
    let next = f.reserve(&["q"], "p2", 10, Utc::now()).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].job.jid, second.jid, "the waiting job came back");
    f.cleanup().await;
}

/// A dead process held the slot of a key whose next job waits. Its rescue puts its job back
/// at the head of the queue while two idle reservers are blocked on it: the rescued job runs
/// next and the waiting one keeps its place, rather than being brought back to race the
/// rescued job for the slot (the loser of that race would go to the back of the line).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rescued_job_leads_its_key_again_with_reservers_blocked_on_its_queue() {
    let f = Fixture::new("limits-rescue-pop").await;
    let (k1, k2) = (limited(1, "k", 1), limited(2, "k", 1));
    f.push(vec![k1.clone(), k2.clone()], Utc::now()).await;
    let long_ago = Utc::now() - chrono::Duration::seconds(100);
    let dead = f.reserve(&["q"], "p1", 10, long_ago).await;
    assert_eq!(dead.len(), 1, "k2 waits aside");
    let mut waiters = Vec::new();
    for p in ["p2", "p3"] {
        let b = f.backend.clone();
        waiters.push(tokio::spawn(async move {
            let got = b
                .job_reserve(reserve_params(p, Duration::from_secs(10)).limit(1))
                .await
                .unwrap();
            (b, got)
        }));
        registered(&f, p).await;
    }
    let rescued = f
        .backend
        .lease_rescue(RescueParams::new(Utc::now()))
        .await
        .unwrap();
    assert_eq!(rescued, 1);
    let (done, _, others) = futures::future::select_all(waiters).await;
    let (b, first) = done.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].job.jid, k1.jid, "the rescued job runs first");
    assert_eq!(waiting(&f).await, 1, "k2 kept its place aside");
    assert!(finish_ok(&b, &first[0]).await.lost.is_empty());
    let mut rest = Vec::new();
    for w in others {
        let (_, got) = tokio::time::timeout(Duration::from_secs(15), w)
            .await
            .expect("the other reserver returns")
            .unwrap();
        rest.extend(got);
    }
    let jids: Vec<_> = rest.iter().map(|r| r.job.jid.clone()).collect();
    assert!(
        jids.contains(&k2.jid),
        "k2 came back once k1 settled: {jids:?}"
    );
    f.cleanup().await;
}
