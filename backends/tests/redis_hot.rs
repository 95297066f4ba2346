//! The hot path against the real Redis: Sidekiq's layout, reliable reserve, fencing,
//! byte-identical requeue, promotion exactly once, blocking reserves.

mod redis_support;

use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use redis_support::*;

fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new("Echo", queue, vec![n.into()])
}

#[tokio::test]
async fn push_uses_sidekiq_keys_and_reserve_takes_oldest_first_into_inflight() {
    let f = Fixture::new("layout").await;
    let now = t0();
    f.push(
        vec![job("default", 1), job("default", 2), job("default", 3)],
        now,
    )
    .await;
    let queues: Vec<String> = f.cmd(redis::cmd("SMEMBERS").arg(f.key("queues"))).await;
    assert_eq!(queues, vec!["default"]);
    // LPUSH: the oldest is at the right end, the head.
    let head: String = f
        .cmd(redis::cmd("LINDEX").arg(f.key("queue:default")).arg(-1))
        .await;
    let head: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(head["args"], serde_json::json!([1]));
    assert_eq!(
        head["enqueued_at"].as_f64(),
        Some(jobs::envelope::to_epoch(now))
    );

    let got = f.reserve(&["default"], "p1", 2, now).await;
    assert_eq!(
        got.iter()
            .map(|r| r.job.args[0].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    let inflight: u64 = f
        .cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:inflight:2:p1:default")))
        .await;
    assert_eq!(inflight, 2);
    let left: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:default"))).await;
    assert_eq!(left, 1);

    let report = f
        .finish(&got[0], FinishOutcome::Completed, false, now)
        .await;
    assert!(report.lost.is_empty());
    let report = f.finish(&got[1], FinishOutcome::Completed, true, now).await;
    assert!(report.lost.is_empty());
    let processed: u64 = f.cmd(redis::cmd("GET").arg(f.key("stat:processed"))).await;
    let failed_today: u64 = f
        .cmd(redis::cmd("GET").arg(f.key("stat:failed:2026-01-01")))
        .await;
    assert_eq!((processed, failed_today), (2, 1));
    let inflight: u64 = f
        .cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:inflight:2:p1:default")))
        .await;
    assert_eq!(inflight, 0);
    f.cleanup().await;
}

#[tokio::test]
async fn a_rescued_lease_is_fenced_and_the_job_goes_back_to_the_head() {
    let f = Fixture::new("fence").await;
    let now = t0();
    f.push(vec![job("q", 1), job("q", 2)], now).await;
    let mut p = ReserveParams::new(vec!["q".into()], "p1", now);
    p.lease_ttl = Duration::from_secs(10);
    let got = f.backend.job_reserve(p).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        f.backend
            .lease_rescue(RescueParams::new(now + secs(9)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.backend
            .lease_rescue(RescueParams::new(now + secs(10)))
            .await
            .unwrap(),
        1
    );

    // Back at the head: the next reserve, by another process, gets it first.
    let again = f.reserve(&["q"], "p2", 1, now + secs(11)).await;
    assert_eq!(again[0].job.jid, got[0].job.jid);
    let late = f
        .finish(&got[0], FinishOutcome::Completed, false, now + secs(12))
        .await;
    assert_eq!(
        late.lost,
        vec![0],
        "the rescued process's finish must be refused"
    );
    let ok = f
        .finish(&again[0], FinishOutcome::Completed, false, now + secs(12))
        .await;
    assert!(ok.lost.is_empty());
    let processed: u64 = f.cmd(redis::cmd("GET").arg(f.key("stat:processed"))).await;
    assert_eq!(processed, 1, "a lost finish counts nothing");
    f.cleanup().await;
}

#[tokio::test]
async fn heartbeat_extends_leases_so_rescue_leaves_them() {
    let f = Fixture::new("beat").await;
    let now = t0();
    f.push(vec![job("q", 1)], now).await;
    let got = f.reserve(&["q"], "p1", 1, now).await;
    let info = ProcessInfo {
        id: "p1".into(),
        hostname: "h".into(),
        pid: 1,
        tag: None,
        queues: vec!["q".into()],
        concurrency: 5,
        started_at: now,
        labels: vec![],
        version: "0.1.0".into(),
    };
    f.backend
        .process_heartbeat(
            HeartbeatParams::new(info, now + secs(50))
                .running(vec![])
                .quiet(false)
                .lease_ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(
        f.backend
            .lease_rescue(RescueParams::new(now + secs(100)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.backend
            .lease_rescue(RescueParams::new(now + secs(110)))
            .await
            .unwrap(),
        1
    );
    assert!(
        f.backend.process_list().await.unwrap().is_empty(),
        "stale record dropped"
    );
    let lost = f
        .finish(&got[0], FinishOutcome::Completed, false, now + secs(111))
        .await;
    assert_eq!(lost.lost, vec![0]);
    f.cleanup().await;
}

#[tokio::test]
async fn requeue_puts_back_the_exact_bytes_at_the_head() {
    let f = Fixture::new("requeue").await;
    // As Ruby might write it: big integers, float formatting, key order, unicode, spaces.
    let raw = r#"{"retry":true,"queue":"q","class":"Interop","args":[123456789012345678901234567890, 1.50, {"é":null}],"jid":"0123456789abcdef01234567","created_at":1700000000.5,"enqueued_at":1700000001.25}"#;
    let _: () = f
        .cmd(redis::cmd("LPUSH").arg(f.key("queue:q")).arg(raw))
        .await;
    let _: () = f
        .cmd(
            redis::cmd("LPUSH")
                .arg(f.key("queue:q"))
                .arg(job("q", 2).to_json().unwrap()),
        )
        .await;
    let got = f.reserve(&["q"], "p1", 1, t0()).await;
    assert_eq!(got[0].job.class, "Interop");
    f.backend
        .job_requeue(RequeueParams::new(vec![got[0].token.clone()], t0()))
        .await
        .unwrap();
    let head: String = f
        .cmd(redis::cmd("LINDEX").arg(f.key("queue:q")).arg(-1))
        .await;
    assert_eq!(head, raw);
    // Requeueing an already settled lease does nothing.
    f.backend
        .job_requeue(RequeueParams::new(vec![got[0].token.clone()], t0()))
        .await
        .unwrap();
    let len: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(len, 2);
    f.cleanup().await;
}

#[tokio::test]
async fn finish_outcomes_land_in_sidekiq_sets_in_one_call() {
    let f = Fixture::new("outcomes").await;
    let now = t0();
    f.push((0..4).map(|n| job("q", n)).collect(), now).await;
    let got = f.reserve(&["q"], "p1", 4, now).await;
    let outcomes = [
        FinishOutcome::Retry { at: now + secs(30) },
        FinishOutcome::Snooze { at: now + secs(60) },
        FinishOutcome::Dead,
        FinishOutcome::Discard,
    ];
    let items = got
        .iter()
        .zip(outcomes)
        .map(|(r, outcome)| Finish::new(r.token.clone(), r.job.clone(), outcome, true))
        .collect();
    let limits = DeadLimits {
        max_jobs: 10,
        max_age: Duration::from_secs(3600),
    };
    let report = f
        .backend
        .job_finish(FinishParams::new(items, now).dead_limits(limits))
        .await
        .unwrap();
    assert_eq!(report, FinishReport::default());
    let retry: Vec<(String, f64)> = f
        .cmd(
            redis::cmd("ZRANGE")
                .arg(f.key("retry"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES"),
        )
        .await;
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].1, jobs::envelope::to_epoch(now + secs(30)));
    assert!(
        !retry[0].0.contains("\"at\""),
        "the score is the time; no `at` field"
    );
    let sched: u64 = f.cmd(redis::cmd("ZCARD").arg(f.key("schedule"))).await;
    let dead: u64 = f.cmd(redis::cmd("ZCARD").arg(f.key("dead"))).await;
    assert_eq!((sched, dead), (1, 1));
    let stats = f.backend.stats().await.unwrap();
    assert_eq!(
        (stats.processed, stats.failed),
        (3, 4),
        "snooze is not processed"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn dead_set_is_trimmed_by_count_and_age() {
    let f = Fixture::new("trim").await;
    let now = t0();
    f.push((0..3).map(|n| job("q", n)).collect(), now).await;
    let got = f.reserve(&["q"], "p1", 3, now).await;
    let limits = DeadLimits {
        max_jobs: 2,
        max_age: Duration::from_secs(3600),
    };
    let mut trimmed = 0;
    for (i, r) in got.iter().enumerate() {
        let report = f
            .backend
            .job_finish(
                FinishParams::new(
                    vec![Finish::new(
                        r.token.clone(),
                        r.job.clone(),
                        FinishOutcome::Dead,
                        true,
                    )],
                    now + secs(i as i64),
                )
                .dead_limits(limits),
            )
            .await
            .unwrap();
        trimmed += report.dead_trimmed;
    }
    assert_eq!(trimmed, 1);
    let stats = f.backend.stats().await.unwrap();
    assert_eq!((stats.dead, stats.dead_trimmed), (2, 1));
    f.cleanup().await;
}

#[tokio::test]
async fn promotion_moves_each_due_job_exactly_once_across_many_callers() {
    let f = Fixture::new("promote").await;
    let now = t0();
    let mut jobs = Vec::new();
    for n in 0..200 {
        let mut j = job("q", n);
        j.at = Some(jobs::envelope::to_epoch(
            now + secs(if n < 150 { -1 } else { 60 }),
        ));
        jobs.push(j);
    }
    f.push(jobs, now).await;
    let stored: Vec<String> = f
        .cmd(redis::cmd("ZRANGE").arg(f.key("schedule")).arg(0).arg(0))
        .await;
    assert!(!stored[0].contains("\"at\""));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let b = f.backend.clone();
            tokio::spawn(async move {
                let mut moved = 0;
                loop {
                    let n = b
                        .scheduled_promote(PromoteParams::new(now).limit(7))
                        .await
                        .unwrap();
                    if n == 0 {
                        let left = b
                            .job_list(JobListParams::new(JobSet::Scheduled, 0))
                            .await
                            .unwrap()
                            .total;
                        if left <= 50 {
                            return moved;
                        }
                    }
                    moved += n;
                }
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 150);
    let len: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(len, 150);
    let head: String = f
        .cmd(redis::cmd("LINDEX").arg(f.key("queue:q")).arg(0))
        .await;
    let head: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(
        head["enqueued_at"].as_f64(),
        Some(jobs::envelope::to_epoch(now))
    );
    assert!(head.get("at").is_none());
    f.cleanup().await;
}

#[tokio::test]
async fn paused_queues_are_skipped_in_order() {
    let f = Fixture::new("paused").await;
    let now = t0();
    f.push(vec![job("a", 1), job("b", 2), job("c", 3)], now)
        .await;
    f.backend
        .queue_pause(QueuePauseParams::new("a", true))
        .await
        .unwrap();
    let got = f.reserve(&["a", "b", "c"], "p1", 5, now).await;
    assert_eq!(
        got.iter().map(|r| r.job.queue.as_str()).collect::<Vec<_>>(),
        ["b", "c"]
    );
    f.cleanup().await;
}

#[tokio::test]
async fn a_blocking_reserve_wakes_on_push_and_never_delays_enqueues() {
    let f = Fixture::new("block").await;
    let b = f.backend.clone();
    let waiter = tokio::spawn(async move {
        let mut p = ReserveParams::new(vec!["q".into()], "p1", t0());
        p.wait = Duration::from_secs(10);
        let started = Instant::now();
        let got = b.job_reserve(p).await.unwrap();
        (got, started.elapsed())
    });
    // Enqueues on the shared connection while the reserve blocks: each answers at once.
    let until_blocked = Instant::now() + Duration::from_secs(5);
    loop {
        let clients: String = f.cmd(redis::cmd("CLIENT").arg("LIST")).await;
        if clients.contains("cmd=blmove") || Instant::now() > until_blocked {
            break;
        }
        tokio::task::yield_now().await;
    }
    let t = Instant::now();
    f.push(vec![job("other", 0)], t0()).await;
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "enqueue waited behind a blocking pop"
    );
    f.push(vec![job("q", 1)], t0()).await;
    let (got, waited) = waiter.await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(waited < Duration::from_secs(5), "woke late: {waited:?}");
    f.cleanup().await;
}

#[tokio::test]
async fn a_wait_longer_than_the_response_timeout_returns_empty_not_an_error() {
    let f = Fixture::with("longwait", |mut o| {
        o.response_timeout = Duration::from_millis(100);
        o.max_block = Duration::from_millis(300);
        o
    })
    .await;
    let mut p = ReserveParams::new(vec!["q".into(), "r".into()], "p1", t0());
    p.wait = Duration::from_millis(700);
    let started = Instant::now();
    let got = f.backend.job_reserve(p).await.unwrap();
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(650));
    f.cleanup().await;
}

#[tokio::test]
async fn a_blocking_reserve_over_several_queues_sees_a_push_to_any() {
    let f = Fixture::new("multi").await;
    let b = f.backend.clone();
    let waiter = tokio::spawn(async move {
        let mut p = ReserveParams::new(vec!["a".into(), "b".into(), "c".into()], "p1", t0());
        p.wait = Duration::from_secs(10);
        p.limit = 3;
        b.job_reserve(p).await.unwrap()
    });
    f.push(vec![job("c", 1)], t0()).await;
    let got = tokio::time::timeout(Duration::from_secs(3), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.queue, "c");
    f.cleanup().await;
}
