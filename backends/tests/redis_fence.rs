//! The lease fence on Redis across a rescue: a token handed out before a rescue of its process
//! never settles or requeues, even when the same process reserves the same job (same bytes,
//! same in-flight list) again; and a blocking pop that moves a job after such a rescue hands
//! it out under a lease that holds.

mod redis_support;

use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use redis_support::*;

fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new("Echo", queue, vec![n.into()])
}

/// Reserves one job of `q` as `p1` with a 10 s lease at `now`.
async fn reserve_p1(f: &Fixture, now: chrono::DateTime<chrono::Utc>) -> Vec<Reserved> {
    let p = ReserveParams::new(vec!["q".into()], "p1", now)
        .limit(1)
        .lease_ttl(Duration::from_secs(10));
    f.backend.job_reserve(p).await.unwrap()
}

#[tokio::test]
async fn a_rescued_token_is_lost_even_when_the_same_process_reserves_the_job_again() {
    let f = Fixture::new("fence-same").await;
    let now = t0();
    f.push(vec![job("q", 1)], now).await;
    let old = reserve_p1(&f, now).await;
    assert_eq!(old.len(), 1);
    let rescued = f
        .backend
        .lease_rescue(RescueParams::new(now + secs(10)))
        .await
        .unwrap();
    assert_eq!(rescued, 1);

    // The same process takes the same bytes into the same in-flight list.
    let new = reserve_p1(&f, now + secs(11)).await;
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].job.jid, old[0].job.jid);
    assert_eq!(new[0].rescues, 1);
    let inflight = f.key("jobs-rs:inflight:2:p1:q");

    let late = f
        .finish(&old[0], FinishOutcome::Completed, false, now + secs(12))
        .await;
    assert_eq!(late.lost, vec![0], "the rescued lease must not settle");
    let held: u64 = f.cmd(redis::cmd("LLEN").arg(&inflight)).await;
    assert_eq!(held, 1, "the job is still leased to the new run");
    let processed: Option<u64> = f.cmd(redis::cmd("GET").arg(f.key("stat:processed"))).await;
    assert_eq!(processed, None, "a lost finish counts nothing");

    // A requeue with the old token is skipped as well: the job is not queued twice.
    f.backend
        .job_requeue(RequeueParams::new(
            vec![old[0].token.clone()],
            now + secs(12),
        ))
        .await
        .unwrap();
    let queued: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(queued, 0, "a rescued lease must not requeue");
    let held: u64 = f.cmd(redis::cmd("LLEN").arg(&inflight)).await;
    assert_eq!(held, 1);

    let ok = f
        .finish(&new[0], FinishOutcome::Completed, false, now + secs(12))
        .await;
    assert!(ok.lost.is_empty(), "the new lease settles");
    let held: u64 = f.cmd(redis::cmd("LLEN").arg(&inflight)).await;
    assert_eq!(held, 0);
    let processed: u64 = f.cmd(redis::cmd("GET").arg(f.key("stat:processed"))).await;
    assert_eq!(processed, 1);
    let counted: u64 = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:rescues")))
        .await;
    assert_eq!(
        counted, 0,
        "the finish of the new run cleared the rescue count"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn a_token_of_the_epoch_before_a_rescue_never_requeues_over_a_new_one() {
    let f = Fixture::new("fence-requeue").await;
    let now = t0();
    f.push(vec![job("q", 1)], now).await;
    let old = reserve_p1(&f, now).await;
    f.backend
        .lease_rescue(RescueParams::new(now + secs(10)))
        .await
        .unwrap();
    let new = reserve_p1(&f, now + secs(11)).await;
    assert_eq!(new[0].job.jid, old[0].job.jid);
    // The new token requeues; the old one then finds nothing to settle either.
    f.backend
        .job_requeue(RequeueParams::new(
            vec![new[0].token.clone()],
            now + secs(12),
        ))
        .await
        .unwrap();
    let queued: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(queued, 1);
    let late = f
        .finish(&old[0], FinishOutcome::Completed, false, now + secs(12))
        .await;
    assert_eq!(late.lost, vec![0]);
    f.cleanup().await;
}

#[tokio::test]
async fn a_job_a_blocking_pop_moves_after_a_rescue_is_handed_out_under_the_new_epoch() {
    let f = Fixture::new("fence-block").await;
    let b = f.backend.clone();
    let waiter = tokio::spawn(async move {
        let p = ReserveParams::new(vec!["q".into()], "p1", t0())
            .lease_ttl(Duration::from_secs(10))
            .wait(Duration::from_secs(10));
        b.job_reserve(p).await.unwrap()
    });
    // The round registered the queue (and read the epoch) before its blocking pop.
    let leased = f.key("jobs-rs:leased:2:p1");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let on: bool = f.cmd(redis::cmd("SISMEMBER").arg(&leased).arg("q")).await;
        if on {
            break;
        }
        assert!(Instant::now() < deadline, "the reserve never registered");
        tokio::task::yield_now().await;
    }
    // The process is taken for silent while it waits: rescued with nothing in flight.
    f.backend
        .lease_rescue(RescueParams::new(t0() + secs(20)))
        .await
        .unwrap();
    let epoch: u64 = f
        .cmd(redis::cmd("GET").arg(f.key("jobs-rs:epoch:2:p1")))
        .await;
    assert_eq!(epoch, 1);
    f.push(vec![job("q", 1)], t0()).await;
    let got = waiter.await.unwrap();
    assert_eq!(got.len(), 1);

    let ok = f
        .finish(&got[0], FinishOutcome::Completed, false, t0() + secs(1))
        .await;
    assert!(
        ok.lost.is_empty(),
        "the job popped after the rescue settles"
    );
    let held: u64 = f
        .cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:inflight:2:p1:q")))
        .await;
    let queued: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!((held, queued), (0, 0), "nothing is left behind");
    f.cleanup().await;
}
