//! Flow control on the real Redis: where unique locks and priorities live, plain jobs left as
//! Sidekiq writes them, replacing a holder wherever it waits, and prioritized jobs waking an
//! idle blocking reserve.
//!
//! Times are in 2031: Redis expires a lock at its lapse by its own clock too, so a lock
//! lapsing in the past would be gone at once.

mod redis_support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::envelope::flow::{UniqueLock, UniqueUntil};
use jobs::envelope::{to_epoch, JobEnvelope};
use redis_support::*;
use serde_json::json;

fn t9() -> DateTime<Utc> {
    "2031-01-01T00:00:00Z".parse().unwrap()
}

fn at(s: i64) -> DateTime<Utc> {
    t9() + secs(s)
}

fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new("Echo", queue, vec![n.into()])
}

fn unique(queue: &str, n: i64, key: &str, until: UniqueUntil) -> JobEnvelope {
    let mut j = job(queue, n);
    let lock = UniqueLock::new("Echo", None, &[json!(key)], until, to_epoch(at(600)));
    j.set_unique(Some(lock));
    j
}

fn prioritized(queue: &str, n: i64, p: u8) -> JobEnvelope {
    let mut j = job(queue, n);
    j.set_priority(p);
    j
}

fn lock_key(j: &JobEnvelope) -> String {
    j.unique().unwrap().key
}

impl Fixture {
    async fn push_with(
        &self,
        jobs: Vec<JobEnvelope>,
        now: DateTime<Utc>,
        c: PushConflict,
    ) -> PushReport {
        let p = PushParams::new(jobs, now).on_conflict(c);
        self.backend.job_push(p).await.unwrap()
    }

    /// The keys under this fixture's prefix that start with `jobs-rs:`.
    async fn own_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cmd(redis::cmd("KEYS").arg(format!("{}:jobs-rs:*", self.prefix)))
            .await;
        keys.sort();
        keys
    }

    async fn lock_field(&self, key: &str, field: &str) -> Option<String> {
        let k = self.key(&format!("jobs-rs:unique:{key}"));
        self.cmd(redis::cmd("HGET").arg(k).arg(field)).await
    }

    async fn queued(&self, queue: &str) -> Vec<String> {
        let page = self
            .backend
            .job_list(JobListParams::new(JobSet::Queue(queue.into()), 100))
            .await
            .unwrap();
        page.jobs.into_iter().map(|s| s.job.jid).collect()
    }
}

#[tokio::test]
async fn plain_jobs_stay_as_sidekiq_writes_them_and_flow_keys_stay_unwritten() {
    let f = Fixture::new("flow-plain").await;
    f.push(vec![job("q", 1), job("q", 2)], at(0)).await;
    let got = f.reserve(&["q"], "p1", 1, at(1)).await;
    f.finish(&got[0], FinishOutcome::Completed, false, at(2))
        .await;
    let raw: Vec<String> = f
        .cmd(redis::cmd("LRANGE").arg(f.key("queue:q")).arg(0).arg(-1))
        .await;
    assert_eq!(raw.len(), 1);
    assert!(!raw[0].contains("jobs_rs"), "{}", raw[0]);
    let own = f.own_keys().await;
    assert!(
        own.iter()
            .all(|k| !k.contains("unique") && !k.contains("pqueue")),
        "{own:?}"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn a_lock_is_a_hash_expiring_at_its_lapse_and_indexed_and_priorities_have_lists() {
    let f = Fixture::new("flow-layout").await;
    let a = unique("q", 1, "k", UniqueUntil::Success);
    let p = prioritized("q", 2, 3);
    f.push(vec![a.clone(), p.clone(), job("q", 3)], at(0)).await;
    let key = lock_key(&a);
    assert_eq!(f.lock_field(&key, "jid").await, Some(a.jid.clone()));
    assert_eq!(
        f.lock_field(&key, "until").await.as_deref(),
        Some("success")
    );
    assert_eq!(f.lock_field(&key, "place").await, Some(f.key("queue:q")));
    let expire_ms: i64 = f
        .cmd(redis::cmd("PEXPIRETIME").arg(f.key(&format!("jobs-rs:unique:{key}"))))
        .await;
    assert_eq!(expire_ms, at(600).timestamp_millis());
    let score: f64 = f
        .cmd(redis::cmd("ZSCORE").arg(f.key("jobs-rs:uniques")).arg(&key))
        .await;
    assert_eq!(score, to_epoch(at(600)));

    let plist: Vec<String> = f
        .cmd(
            redis::cmd("LRANGE")
                .arg(f.key("jobs-rs:pqueue:3:q"))
                .arg(0)
                .arg(-1),
        )
        .await;
    assert_eq!(plist.len(), 1);
    assert!(plist[0].contains(&p.jid));
    let sidekiq: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(
        sidekiq, 2,
        "priority 0 stays in Sidekiq's list, the rest does not"
    );
    let stats = f.backend.stats().await.unwrap();
    assert_eq!(stats.enqueued, 3);
    let found = f
        .backend
        .job_get(JobGetParams::new(JobSet::Queue("q".into()), p.jid.clone()))
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.job.priority()), Some(3));

    let got = f.reserve(&["q"], "p1", 10, at(1)).await;
    let order: Vec<&str> = got.iter().map(|r| r.job.jid.as_str()).collect();
    assert_eq!(order, [a.jid.as_str(), order[1], p.jid.as_str()]);
    let member: bool = f
        .cmd(
            redis::cmd("SISMEMBER")
                .arg(f.key("jobs-rs:pqueues"))
                .arg("q"),
        )
        .await;
    assert!(
        !member,
        "a queue with no prioritized job left leaves the set"
    );
    f.cleanup().await;
}

/// Pushes a job of lock `k` with `Replace`; the job and what the push reported.
async fn replace(f: &Fixture, n: i64, now: DateTime<Utc>) -> (JobEnvelope, PushReport) {
    let next = unique("q", n, "k", UniqueUntil::Success);
    let pushed = f
        .push_with(vec![next.clone()], now, PushConflict::Replace)
        .await;
    (next, pushed)
}

#[tokio::test]
async fn replace_finds_the_holder_in_the_retry_set_the_schedule_a_priority_list_and_after_a_requeue(
) {
    let f = Fixture::new("flow-replace").await;
    // Waiting to retry.
    let a = unique("q", 1, "k", UniqueUntil::Success);
    f.push(vec![a.clone()], at(0)).await;
    let got = f.reserve(&["q"], "p1", 1, at(1)).await;
    f.finish(&got[0], FinishOutcome::Retry { at: at(100) }, true, at(2))
        .await;
    let (b, r) = replace(&f, 2, at(3)).await;
    assert_eq!(
        r.replaced,
        vec![(0, a.jid.clone())],
        "replaced in the retry set"
    );
    let retries: u64 = f.cmd(redis::cmd("ZCARD").arg(f.key("retry"))).await;
    assert_eq!(retries, 0);

    // Given back by a requeue: at the queue's head with the same bytes.
    let got = f.reserve(&["q"], "p1", 1, at(4)).await;
    assert_eq!(got[0].job.jid, b.jid);
    f.backend
        .job_requeue(RequeueParams::new(vec![got[0].token.clone()], at(5)))
        .await
        .unwrap();
    let (c, r) = replace(&f, 3, at(6)).await;
    assert_eq!(
        r.replaced,
        vec![(0, b.jid.clone())],
        "replaced after a requeue"
    );
    assert_eq!(f.queued("q").await, vec![c.jid.clone()]);

    // Scheduled, with a priority, then promoted to its priority list.
    f.cleanup().await;
    let mut d = unique("q", 4, "k", UniqueUntil::Success);
    d.set_priority(2);
    d.at = Some(to_epoch(at(10)));
    f.push(vec![d.clone()], at(0)).await;
    let (_, r) = replace(&f, 5, at(1)).await;
    assert_eq!(
        r.replaced,
        vec![(0, d.jid.clone())],
        "replaced in the schedule"
    );
    let mut e = unique("q", 6, "k", UniqueUntil::Success);
    e.set_priority(2);
    e.at = Some(to_epoch(at(10)));
    let r = f
        .push_with(vec![e.clone()], at(2), PushConflict::Replace)
        .await;
    assert_eq!(r.replaced.len(), 1);
    let moved = f
        .backend
        .scheduled_promote(PromoteParams::new(at(10)))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(
        f.lock_field(&lock_key(&e), "place").await,
        Some(f.key("jobs-rs:pqueue:2:q"))
    );
    let (g, r) = replace(&f, 7, at(11)).await;
    assert_eq!(
        r.replaced,
        vec![(0, e.jid.clone())],
        "replaced in its priority list"
    );
    assert_eq!(f.queued("q").await, vec![g.jid.clone()]);
    f.cleanup().await;
}

/// Waits until a blocking reserve of this fixture sleeps on `queue` (registered, then
/// blocked in the same round trip).
async fn until_asleep(f: &Fixture, queue: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let sleepers = f.key(&format!("jobs-rs:sleepers:{queue}"));
    while Instant::now() < deadline {
        let n: u64 = f.cmd(redis::cmd("ZCARD").arg(&sleepers)).await;
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no reserve went to sleep on {queue}");
}

/// A reserve of one job from `q` that may wait 20 s, blocking 20 s at a time.
fn sleeper(f: &Fixture) -> tokio::task::JoinHandle<(Vec<Reserved>, Duration)> {
    let b = f.backend.clone();
    tokio::spawn(async move {
        let p = ReserveParams::new(vec!["q".into()], "p1", at(0))
            .wait(Duration::from_secs(20))
            .lease_ttl(Duration::from_secs(60));
        let started = Instant::now();
        let got = b.job_reserve(p).await.unwrap();
        (got, started.elapsed())
    })
}

#[tokio::test]
async fn a_prioritized_push_or_promotion_wakes_an_idle_blocking_reserve() {
    let f = Fixture::with("flow-wake", |mut o| {
        o.max_block = Duration::from_secs(20);
        o
    })
    .await;
    let waiter = sleeper(&f);
    until_asleep(&f, "q").await;
    let p = prioritized("q", 1, 4);
    f.push(vec![p.clone()], at(0)).await;
    let (got, waited) = waiter.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.jid, p.jid);
    assert!(waited < Duration::from_secs(3), "woke late: {waited:?}");

    let mut later = prioritized("q", 2, 9);
    later.at = Some(to_epoch(at(5)));
    f.push(vec![later.clone()], at(0)).await;
    let waiter = sleeper(&f);
    until_asleep(&f, "q").await;
    f.backend
        .scheduled_promote(PromoteParams::new(at(5)))
        .await
        .unwrap();
    let (got, waited) = waiter.await.unwrap();
    assert_eq!(got.first().map(|r| r.job.jid.clone()), Some(later.jid));
    assert!(waited < Duration::from_secs(3), "woke late: {waited:?}");
    f.cleanup().await;
}

#[tokio::test]
async fn a_blocking_pop_releases_a_start_lock_in_its_round_trip() {
    let f = Fixture::with("flow-start", |mut o| {
        o.max_block = Duration::from_secs(20);
        o
    })
    .await;
    let waiter = sleeper(&f);
    until_asleep(&f, "q").await;
    let a = unique("q", 1, "k", UniqueUntil::Start);
    f.push(vec![a.clone()], at(0)).await;
    let (got, _) = waiter.await.unwrap();
    assert_eq!(got[0].job.jid, a.jid);
    assert_eq!(
        f.lock_field(&lock_key(&a), "jid").await,
        None,
        "released when taken"
    );
    let index: u64 = f
        .cmd(redis::cmd("ZCARD").arg(f.key("jobs-rs:uniques")))
        .await;
    assert_eq!(index, 0);
    f.cleanup().await;
}

#[tokio::test]
async fn a_rescue_that_buries_clear_and_expiry_release_locks() {
    let f = Fixture::new("flow-release").await;
    let a = unique("q", 1, "a", UniqueUntil::Success);
    f.push(vec![a.clone()], at(0)).await;
    let p = ReserveParams::new(vec!["q".into()], "p1", at(0)).lease_ttl(Duration::from_secs(10));
    f.backend.job_reserve(p).await.unwrap();
    let rescued = f
        .backend
        .lease_rescue(RescueParams::new(at(20)).max_rescues(1))
        .await
        .unwrap();
    assert_eq!(rescued, 1);
    assert_eq!(
        f.lock_field(&lock_key(&a), "jid").await,
        None,
        "buried: released"
    );

    let mut b = unique("q", 2, "b", UniqueUntil::Success);
    b.set_priority(5);
    let c = unique("q", 3, "c", UniqueUntil::Success);
    f.push(vec![b.clone(), c.clone()], at(30)).await;
    let cleared = f
        .backend
        .queue_clear(QueueClearParams::new("q"))
        .await
        .unwrap();
    assert_eq!(cleared, 2);
    assert_eq!(f.lock_field(&lock_key(&b), "jid").await, None);
    assert_eq!(f.lock_field(&lock_key(&c), "jid").await, None);
    let prio: u64 = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:pqueue:5:q")))
        .await;
    assert_eq!(prio, 0, "the priority lists are cleared too");

    let d = unique("q", 4, "d", UniqueUntil::Success);
    f.push(vec![d.clone()], at(40)).await;
    let got = f.reserve(&["q"], "p1", 1, at(41)).await;
    f.finish(&got[0], FinishOutcome::Expired, false, at(42))
        .await;
    assert_eq!(f.lock_field(&lock_key(&d), "jid").await, None);
    let expired: u64 = f
        .cmd(redis::cmd("GET").arg(f.key("jobs-rs:stat:expired")))
        .await;
    assert_eq!(expired, 1);
    let stats = f.backend.stats().await.unwrap();
    assert_eq!((stats.expired, stats.processed, stats.failed), (1, 0, 0));
    f.cleanup().await;
}

#[tokio::test]
async fn a_queue_pages_in_run_order_across_its_lists_and_admin_acts_on_prioritized_jobs() {
    let f = Fixture::new("flow-page").await;
    let jobs = vec![
        prioritized("q", 1, 5),
        job("q", 2),
        prioritized("q", 3, 9),
        prioritized("q", 4, 5),
        job("q", 5),
    ];
    f.push(jobs.clone(), at(0)).await;
    let jid = |i: usize| jobs[i].jid.clone();
    let page = f
        .backend
        .job_list(JobListParams::new(JobSet::Queue("q".into()), 3).offset(1))
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    let listed: Vec<String> = page.jobs.into_iter().map(|s| s.job.jid).collect();
    assert_eq!(listed, vec![jid(4), jid(0), jid(3)]);
    let queues = f
        .backend
        .queue_list(QueueListParams::new(at(60)))
        .await
        .unwrap();
    assert_eq!(
        (queues[0].size, queues[0].latency),
        (5, Duration::from_secs(60))
    );

    let set = JobSet::Queue("q".into());
    let deleted = f
        .backend
        .job_delete(JobActionParams::jids(set.clone(), vec![jid(3)], at(1)))
        .await
        .unwrap();
    let killed = f
        .backend
        .job_kill(JobActionParams::jids(set, vec![jid(2)], at(1)))
        .await
        .unwrap();
    assert_eq!((deleted, killed), (1, 1));
    assert_eq!(f.queued("q").await, vec![jid(1), jid(4), jid(0)]);
    f.cleanup().await;
}

/// A push of more jobs than one Redis call takes arguments for (push.lua gathers its LPUSHes,
/// lock-index entries and key checks and sends them 4,000 at a time): every job is stored in
/// push order, a key taken earlier in the same push makes a later job a duplicate (or, with
/// `Replace`, takes the earlier job's place), and every lock is indexed.
#[tokio::test]
async fn a_push_bigger_than_one_call_keeps_order_and_sees_its_own_locks() {
    let f = Fixture::new("flow-big").await;
    let n = 9_000i64;
    let jobs: Vec<JobEnvelope> = (0..n)
        .map(|i| unique("q", i, &format!("k{}", i % 8_500), UniqueUntil::Success))
        .collect();
    let first_of_dup = jobs[10].jid.clone();
    let report = f.push_with(jobs.clone(), at(0), PushConflict::Skip).await;
    assert_eq!(report.duplicates.len(), 500, "k0..k499 come twice");
    assert_eq!(report.duplicates[0], (8_500, jobs[0].jid.clone()));
    let llen: i64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(llen, 8_500);
    let indexed: i64 = f
        .cmd(redis::cmd("ZCARD").arg(f.key("jobs-rs:uniques")))
        .await;
    assert_eq!(indexed, 8_500);
    // Sidekiq pops from the right: the oldest pushed is the rightmost.
    let tail: Vec<String> = f
        .cmd(redis::cmd("LRANGE").arg(f.key("queue:q")).arg(-1).arg(-1))
        .await;
    assert!(tail[0].contains(&jobs[0].jid));
    let head: Vec<String> = f
        .cmd(redis::cmd("LRANGE").arg(f.key("queue:q")).arg(0).arg(0))
        .await;
    assert!(head[0].contains(&jobs[8_499].jid));

    // Again with Replace, in one push: a waiting earlier job of the same key gives way.
    let g = Fixture::new("flow-big-replace").await;
    let report = g
        .push_with(jobs.clone(), at(0), PushConflict::Replace)
        .await;
    assert_eq!(report.duplicates, vec![]);
    assert_eq!(report.replaced.len(), 500);
    assert!(report.replaced.contains(&(8_510, first_of_dup.clone())));
    let llen: i64 = g.cmd(redis::cmd("LLEN").arg(g.key("queue:q"))).await;
    assert_eq!(llen, 8_500);
    assert_eq!(
        g.lock_field(&lock_key(&jobs[8_510]), "jid").await,
        Some(jobs[8_510].jid.clone())
    );
    let all: Vec<String> = g
        .cmd(redis::cmd("LRANGE").arg(g.key("queue:q")).arg(0).arg(-1))
        .await;
    assert!(!all.iter().any(|p| p.contains(&first_of_dup)));
    f.cleanup().await;
    g.cleanup().await;
}
