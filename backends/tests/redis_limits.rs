//! Concurrency and rate limits on Redis under races and crashes: racing reservers never hold
//! more than a key's limit, every job runs, no slot outlives its lease, racing rate callers
//! get exactly the limit, and plain jobs write no limit keys.

mod redis_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use redis_support::*;

/// What `jobs-rs:limits` adds to a key's count of slots held while jobs of the key wait.
const WAITS: u64 = 1 << 32;

/// Another backend on the fixture's prefix, on connections of its own.
async fn other(f: &Fixture) -> RedisBackend {
    RedisBackend::connect(RedisOptions::new(url()).with_prefix(f.prefix.clone()))
        .await
        .unwrap()
}

/// Six reservers, each its own process on its own connections, race over 60 jobs of one key
/// limited to `limit` and 20 plain ones; half are pushed while they block, so blocking pops
/// meet the full key too. Jobs held at once never exceed the limit, nor do the slots Redis
/// records, every job runs once, and nothing is left behind.
async fn race(limit: u32) {
    let f = Fixture::new(&format!("limits-race-{limit}")).await;
    let jobs: Vec<JobEnvelope> = (0..80)
        .map(|n| match n % 4 {
            3 => plain(n),
            _ => limited(n, "k", limit),
        })
        .collect();
    let limited_jids: HashSet<String> = jobs
        .iter()
        .filter(|j| j.concurrency().is_some())
        .map(|j| j.jid.clone())
        .collect();
    f.push(jobs[..40].to_vec(), Utc::now()).await;

    let held = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let b = other(&f).await;
        let (held, most, done, stop) = (held.clone(), most.clone(), done.clone(), stop.clone());
        let limited_jids = limited_jids.clone();
        tasks.push(tokio::spawn(async move {
            let process = format!("p{i}");
            while !stop.load(Ordering::Relaxed) {
                let p = reserve_params(&process, Duration::from_millis(50));
                for r in b.job_reserve(p).await.unwrap() {
                    let is_limited = limited_jids.contains(&r.job.jid);
                    if is_limited {
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                    }
                    // The job's work: long enough for the others to try the key meanwhile.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    if is_limited {
                        held.fetch_sub(1, Ordering::SeqCst);
                    }
                    assert!(finish_ok(&b, &r).await.lost.is_empty());
                    done.lock().unwrap().push(r.job.jid.clone());
                }
            }
        }));
    }
    // Slots as Redis records them (holders, and the key's count), sampled during the race.
    let (slots, limits) = (f.key("jobs-rs:slots"), f.key("jobs-rs:limits"));
    let sampler = {
        let mut raw = f.raw.clone();
        let (slots, limits, stop) = (slots.clone(), limits.clone(), stop.clone());
        tokio::spawn(async move {
            let mut most = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (holders, count): (u64, Option<u64>) = redis::pipe()
                    .atomic()
                    .cmd("HLEN")
                    .arg(&slots)
                    .cmd("HGET")
                    .arg(&limits)
                    .arg("k")
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                most = most.max(holders).max(count.unwrap_or(0) % WAITS);
                tokio::task::yield_now().await;
            }
            most
        })
    };
    for job in &jobs[40..] {
        f.push(vec![job.clone()], Utc::now()).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.lock().unwrap().len() < jobs.len() {
        let ran = done.lock().unwrap().len();
        let most = most.load(Ordering::SeqCst);
        assert!(
            Instant::now() < deadline,
            "{ran} of {} jobs ran; at most {most} held at once",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let recorded = sampler.await.unwrap();

    let ran = done.lock().unwrap().clone();
    let unique: HashSet<&String> = ran.iter().collect();
    assert_eq!(ran.len(), jobs.len(), "every job ran once");
    assert_eq!(unique.len(), jobs.len());
    let most = most.load(Ordering::SeqCst);
    assert!(
        most <= limit as usize,
        "{most} jobs of the key held at once"
    );
    assert!(recorded <= u64::from(limit), "{recorded} slots recorded");
    let listed = f
        .backend
        .limits_list(LimitsListParams::new(Utc::now()))
        .await
        .unwrap();
    assert!(listed.is_empty(), "an idle key is not listed: {listed:?}");
    let left: u64 = f
        .cmd(
            redis::cmd("EXISTS")
                .arg(&slots)
                .arg(f.key("jobs-rs:waiting:k"))
                .arg(f.key("jobs-rs:onway"))
                .arg(&limits),
        )
        .await;
    assert_eq!(left, 0, "nothing is left behind");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_reservers_hold_at_most_one_slot_of_a_key_limited_to_one() {
    race(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_reservers_hold_at_most_two_slots_of_a_key_limited_to_two() {
    race(2).await;
}

#[tokio::test]
async fn a_crash_between_a_blocking_pop_and_its_slot_leaves_no_slot_held() {
    let f = Fixture::new("limits-crash").await;
    let t = t0();
    let (k1, k2) = (limited(1, "k", 1), limited(2, "k", 1));
    f.push(vec![k1.clone()], t).await;
    let p2 = f.reserve(&["q"], "p2", 10, t + secs(100)).await;
    assert_eq!(p2.len(), 1, "p2 holds the key's slot");
    // p1's blocking pop moved k2 into its in-flight list, and p1 died before `slot.lua`.
    f.push(vec![k2.clone()], t).await;
    let _: Vec<u8> = f
        .cmd(
            redis::cmd("LMOVE")
                .arg(f.key("queue:q"))
                .arg(f.key("jobs-rs:inflight:2:p1:q"))
                .arg("RIGHT")
                .arg("LEFT"),
        )
        .await;
    let _: u64 = f
        .cmd(
            redis::cmd("SADD")
                .arg(f.key("jobs-rs:leased:2:p1"))
                .arg("q"),
        )
        .await;
    let lease = t.timestamp() + 10;
    let _: u64 = f
        .cmd(
            redis::cmd("ZADD")
                .arg(f.key("jobs-rs:leases"))
                .arg(lease)
                .arg("p1"),
        )
        .await;

    let rescued = f
        .backend
        .lease_rescue(RescueParams::new(t + secs(20)))
        .await
        .unwrap();
    assert_eq!(rescued, 1, "p1's job is rescued, p2's lease holds");
    let holders: Vec<String> = f.cmd(redis::cmd("HKEYS").arg(f.key("jobs-rs:slots"))).await;
    assert_eq!(holders.len(), 1, "the rescue freed nothing p1 did not hold");
    assert!(holders[0].contains("inflight:2:p2:q{"), "{holders:?}");
    let held: u64 = f
        .cmd(redis::cmd("HGET").arg(f.key("jobs-rs:limits")).arg("k"))
        .await;
    assert_eq!(held % WAITS, 1, "one slot held");
    assert!(
        f.reserve(&["q"], "p1", 10, t + secs(21)).await.is_empty(),
        "the rescued job waits: p2 holds the slot"
    );
    assert!(finish_ok(&f.backend, &p2[0]).await.lost.is_empty());
    let again = f.reserve(&["q"], "p1", 10, t + secs(22)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].job.jid, k2.jid);
    f.cleanup().await;
}

#[tokio::test]
async fn one_finish_of_many_leases_brings_one_job_back_per_slot_in_order() {
    let f = Fixture::new("limits-batch").await;
    let t = t0();
    let k: Vec<_> = (1..=5).map(|n| limited(n, "k", 2)).collect();
    let l: Vec<_> = (6..=7).map(|n| limited(n, "l", 1)).collect();
    let mut all = k.clone();
    all.extend(l.clone());
    f.push(all, t).await;
    let first = f.reserve(&["q"], "p1", 10, t).await;
    let jids = |r: &[Reserved]| r.iter().map(|r| r.job.jid.clone()).collect::<Vec<_>>();
    assert_eq!(
        jids(&first),
        vec![k[0].jid.clone(), k[1].jid.clone(), l[0].jid.clone()]
    );
    let items = first
        .iter()
        .map(|r| {
            Finish::new(
                r.token.clone(),
                r.job.clone(),
                FinishOutcome::Completed,
                false,
            )
        })
        .collect();
    let report = f
        .backend
        .job_finish(FinishParams::new(items, t + secs(1)))
        .await
        .unwrap();
    assert!(report.lost.is_empty());
    let listed = f
        .backend
        .limits_list(LimitsListParams::new(t))
        .await
        .unwrap();
    assert_eq!(listed, vec![LimitUsage::concurrency("k", 2, 0, 1)]);
    let second = f.reserve(&["q"], "p1", 10, t + secs(2)).await;
    assert_eq!(
        jids(&second),
        vec![l[1].jid.clone(), k[3].jid.clone(), k[2].jid.clone()],
        "each freed slot brought its key's oldest job back to the head, in settle order"
    );
    let listed = f
        .backend
        .limits_list(LimitsListParams::new(t))
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![
            LimitUsage::concurrency("k", 2, 2, 1),
            LimitUsage::concurrency("l", 1, 1, 0)
        ]
    );
    f.cleanup().await;
}

fn process(id: &str) -> ProcessInfo {
    ProcessInfo {
        id: id.into(),
        hostname: "h".into(),
        pid: 1,
        tag: None,
        queues: vec!["q".into()],
        concurrency: 5,
        started_at: t0(),
        labels: vec![],
        version: "0.1.0".into(),
    }
}

#[tokio::test]
async fn the_heartbeat_giving_back_an_unheld_job_frees_its_slot() {
    let f = Fixture::new("limits-unheld").await;
    let t = t0();
    let (k1, k2) = (limited(1, "k", 1), limited(2, "k", 1));
    f.push(vec![k1.clone(), k2.clone()], t).await;
    let lost_reply = f.reserve(&["q"], "p1", 10, t).await;
    assert_eq!(lost_reply.len(), 1, "k2 waits aside");
    for s in [1, 2] {
        let beat = HeartbeatParams::new(process("p1"), t + secs(s))
            .lease_ttl(Duration::from_secs(60))
            .leases(vec![]);
        f.backend.process_heartbeat(beat).await.unwrap();
    }
    let exists: u64 = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:slots")))
        .await;
    assert_eq!(exists, 0, "the job given back freed its slot");
    let next = f.reserve(&["q"], "p1", 10, t + secs(3)).await;
    let jids: Vec<_> = next.iter().map(|r| r.job.jid.clone()).collect();
    assert_eq!(
        jids,
        vec![k1.jid.clone()],
        "the job given back leads, k2 waits again"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_rate_callers_get_exactly_the_limit() {
    let f = Fixture::new("limits-rate").await;
    let granted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let b = other(&f).await;
        let granted = granted.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let p = RateAcquireParams::new("partner", 5, Duration::from_secs(60), Utc::now())
                    .clock(LeaseClock::Store);
                if b.rate_acquire(p).await.unwrap() == RateDecision::Granted {
                    granted.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(granted.load(Ordering::SeqCst), 5);
    let ttl: i64 = f
        .cmd(redis::cmd("PTTL").arg(f.key("jobs-rs:rate:partner")))
        .await;
    assert!(
        ttl > 0 && ttl <= 60_000,
        "the log expires with its window: {ttl}"
    );
    let listed = f
        .backend
        .limits_list(LimitsListParams::new(Utc::now()).clock(LeaseClock::Store))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].in_use, listed[0].limit), (5, 5));
    assert!(
        listed[0].frees_at.is_some(),
        "a full window says when it frees"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn plain_jobs_write_no_limit_keys() {
    let f = Fixture::new("limits-plain").await;
    let t = t0();
    f.push((0..4).map(plain).collect(), t).await;
    let taken = f.reserve(&["q"], "p1", 4, t).await;
    assert_eq!(taken.len(), 4);
    assert!(finish_ok(&f.backend, &taken[0]).await.lost.is_empty());
    f.backend
        .job_requeue(RequeueParams::new(vec![taken[1].token.clone()], t))
        .await
        .unwrap();
    f.backend
        .lease_rescue(RescueParams::new(t + secs(3600)))
        .await
        .unwrap();
    let mut found = Vec::new();
    for pattern in ["slots", "waiting:*", "limits", "rate:*", "rates*"] {
        let keys: Vec<String> = f
            .cmd(redis::cmd("KEYS").arg(f.key(&format!("jobs-rs:{pattern}"))))
            .await;
        found.extend(keys);
    }
    assert!(found.is_empty(), "plain jobs wrote {found:?}");
    f.cleanup().await;
}

#[tokio::test]
async fn a_waiting_entry_that_is_not_a_job_is_listed_and_deleted_as_the_dead_job_standing_for_it() {
    let f = Fixture::new("limits-waiting-bad").await;
    let t = t0();
    let jobs: Vec<_> = (1..=2).map(|n| limited(n, "k", 1)).collect();
    f.push(jobs.clone(), t).await;
    assert_eq!(f.reserve(&["q"], "p1", 10, t).await.len(), 1);
    let _: i64 = f
        .cmd(
            redis::cmd("RPUSH")
                .arg(f.key("jobs-rs:waiting:k"))
                .arg(b"1:q\xff\xfe not json".as_slice()),
        )
        .await;
    let listed = f
        .backend
        .limit_waiting(LimitWaitingParams::new("k"))
        .await
        .expect("a bad entry does not fail the listing");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].jid, jobs[1].jid, "the job aside, as pushed");
    assert_eq!(listed[1].class, "UndecodableJob");
    assert_eq!(listed[1].queue, "q", "the queue the entry names");
    assert!(
        listed[1]
            .error_message
            .as_deref()
            .unwrap_or("")
            .contains("UTF-8"),
        "{:?}",
        listed[1].error_message
    );
    let gone = f
        .backend
        .limit_waiting_delete(LimitWaitingDeleteParams::new(
            "k",
            vec![listed[1].jid.clone()],
        ))
        .await
        .unwrap();
    assert_eq!(gone, 1, "deleted by the jid it is listed with");
    let left = f
        .backend
        .limit_waiting(LimitWaitingParams::new("k"))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].jid, jobs[1].jid);
    f.cleanup().await;
}

#[tokio::test]
async fn a_job_deep_in_a_long_waiting_list_is_found_and_deleted() {
    let f = Fixture::new("limits-waiting-long").await;
    let t = t0();
    let jobs: Vec<_> = (0..2500).map(|n| limited(n, "k", 1)).collect();
    f.push(jobs.clone(), t).await;
    // Each reserve of up to 500 takes one slot at most and moves the rest of what it reads
    // aside: six reserves read all 2,500.
    let mut reserved = 0;
    for _ in 0..6 {
        reserved += f.reserve(&["q"], "p1", 500, t).await.len();
    }
    assert_eq!(reserved, 1, "one job of the key runs; the rest wait aside");
    let deep = jobs[2200].jid.clone();
    let gone = f
        .backend
        .limit_waiting_delete(LimitWaitingDeleteParams::new("k", vec![deep.clone()]))
        .await
        .unwrap();
    assert_eq!(gone, 1, "found past the first slice of the list");
    let left = f
        .backend
        .limit_waiting(LimitWaitingParams::new("k").page(0, 3000))
        .await
        .unwrap();
    assert_eq!(left.len(), 2498);
    assert!(left.iter().all(|j| j.jid != deep));
    f.cleanup().await;
}
