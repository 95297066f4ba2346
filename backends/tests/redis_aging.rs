//! Priority aging on the real Redis beyond the conformance suite: a pass over a deep queue
//! of young jobs reads almost nothing; jobs aged into `queue:<name>` are the pushed bytes,
//! plain Sidekiq jobs; a unique job aged into another band can still be replaced; jobs
//! reserved or deleted out of an aged band leave the pass exact and no tracking behind.
//! The pass timings are printed (`--nocapture`), never asserted.

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
    t9() + chrono::Duration::seconds(s)
}

fn prioritized(queue: &str, n: i64, p: u8) -> JobEnvelope {
    let mut j = JobEnvelope::new("Echo", queue, vec![n.into()]);
    j.set_priority(p);
    j
}

impl Fixture {
    /// One aging pass at `now`, one step per `every` seconds; how many moved and how long
    /// the call took.
    async fn age(&self, now: DateTime<Utc>, every: u64) -> (u64, Duration) {
        let started = Instant::now();
        let moved = self
            .backend
            .priority_age(AgeParams::new(now, Duration::from_secs(every)))
            .await
            .unwrap();
        (moved, started.elapsed())
    }

    /// The raw members of a list, head (right end) first.
    async fn list(&self, key: &str) -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = self
            .cmd(redis::cmd("LRANGE").arg(self.key(key)).arg(0).arg(-1))
            .await;
        all.reverse();
        all
    }

    async fn jids(&self, key: &str) -> Vec<String> {
        self.list(key)
            .await
            .iter()
            .map(|raw| {
                JobEnvelope::from_json(std::str::from_utf8(raw).unwrap())
                    .unwrap()
                    .jid
            })
            .collect()
    }
}

#[tokio::test]
async fn a_pass_over_ten_thousand_young_jobs_moves_nothing() {
    let f = Fixture::new("aging-deep").await;
    let jobs: Vec<JobEnvelope> = (0..10_000)
        .map(|n| prioritized("deep", n, 1 + (n % 9) as u8))
        .collect();
    for chunk in jobs.chunks(1_000) {
        f.push(chunk.to_vec(), at(0)).await;
    }
    let (moved, young) = f.age(at(30), 60).await;
    assert_eq!(moved, 0, "no job has waited a step");
    let (moved, all) = f.age(at(60), 60).await;
    assert_eq!(moved, 10_000, "every job climbs one step at once");
    let (moved, after) = f.age(at(60), 60).await;
    assert_eq!(moved, 0, "a second pass at the same time moves nothing");
    let (moved, later) = f.age(at(90), 60).await;
    assert_eq!(
        moved, 0,
        "with every band's head aged, still nothing is due"
    );
    let zero = f.list("queue:deep").await.len();
    assert_eq!(
        zero,
        10_000 / 9 + 1,
        "the priority-1 jobs reached queue:deep"
    );
    eprintln!(
        "redis, 10,000 jobs in 9 bands: a pass moving nothing took {young:?}; moving them all \
         {all:?}; then, with them all aged, passes moving nothing {after:?} and {later:?}"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn a_job_aged_into_queue_is_the_pushed_bytes_and_runs_with_its_priority() {
    let f = Fixture::new("aging-plain").await;
    let job = prioritized("plain", 1, 3);
    f.push(vec![job.clone()], at(0)).await;
    let pushed = f.list("jobs-rs:pqueue:3:plain").await;
    let (moved, _) = f.age(at(30), 10).await;
    assert_eq!(moved, 1);
    assert!(f.list("jobs-rs:pqueue:3:plain").await.is_empty());
    let queued = f.list("queue:plain").await;
    assert_eq!(queued, pushed, "moved byte for byte");
    let plain: serde_json::Value = serde_json::from_slice(&queued[0]).unwrap();
    for field in ["class", "jid", "args", "queue", "enqueued_at"] {
        assert!(
            plain.get(field).is_some(),
            "a Sidekiq job still has {field}"
        );
    }
    let got = f.reserve(&["plain"], "p1", 1, at(31)).await;
    assert_eq!(got[0].job.jid, job.jid);
    assert_eq!(got[0].job.priority(), 3, "the declared priority is kept");
    f.cleanup().await;
}

#[tokio::test]
async fn a_unique_job_aged_into_another_band_is_still_replaced() {
    let f = Fixture::new("aging-unique").await;
    let unique = |n: i64| {
        let mut j = prioritized("u", n, 9);
        let lock = UniqueLock::new(
            "Echo",
            None,
            &[json!("k")],
            UniqueUntil::Success,
            to_epoch(at(600)),
        );
        j.set_unique(Some(lock));
        j
    };
    let first = unique(1);
    f.push(vec![first.clone()], at(0)).await;
    assert_eq!(f.age(at(30), 10).await.0, 1);
    assert_eq!(f.jids("jobs-rs:pqueue:6:u").await, vec![first.jid.clone()]);
    let next = unique(2);
    let report = f
        .backend
        .job_push(PushParams::new(vec![next.clone()], at(31)).on_conflict(PushConflict::Replace))
        .await
        .unwrap();
    assert_eq!(report.replaced, vec![(0, first.jid.clone())]);
    assert!(f.jids("jobs-rs:pqueue:6:u").await.is_empty());
    assert_eq!(f.jids("jobs-rs:pqueue:9:u").await, vec![next.jid]);
    f.cleanup().await;
}

#[tokio::test]
async fn jobs_taken_or_deleted_from_an_aged_band_leave_the_pass_exact() {
    let f = Fixture::new("aging-taken").await;
    let jobs: Vec<JobEnvelope> = (0..100).map(|n| prioritized("t", n, 5)).collect();
    f.push(jobs.clone(), at(0)).await;
    assert_eq!(f.age(at(10), 10).await.0, 100, "all to band 4");
    let aged: u64 = f
        .cmd(redis::cmd("SCARD").arg(f.key("jobs-rs:aged:4:t")))
        .await;
    assert_eq!(aged, 100);

    // A reserve takes 30 from the head end, an admin deletes one in the middle, and a job
    // is pushed into band 4 behind them.
    let taken = f.reserve(&["t"], "p1", 30, at(11)).await;
    assert_eq!(taken.len(), 30);
    let middle = jobs[50].jid.clone();
    let deleted = f
        .backend
        .job_delete(JobActionParams::jids(
            JobSet::Queue("t".into()),
            vec![middle],
            at(11),
        ))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let pushed = prioritized("t", 100, 4);
    f.push(vec![pushed.clone()], at(12)).await;

    // At 20 s the 69 aged jobs left climb to band 3; the job pushed at 12 s stays.
    assert_eq!(f.age(at(20), 10).await.0, 69);
    assert_eq!(f.jids("jobs-rs:pqueue:4:t").await, vec![pushed.jid.clone()]);
    assert_eq!(f.list("jobs-rs:pqueue:3:t").await.len(), 69);
    let stale: bool = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:aged:4:t")))
        .await;
    assert!(!stale, "no aged job is left in band 4: its set is gone");

    // Taking them all leaves nothing tracked once a pass sees it.
    let rest = f.reserve(&["t"], "p1", 100, at(21)).await;
    assert_eq!(rest.len(), 70);
    assert_eq!(f.age(at(21), 10).await.0, 0);
    let left: bool = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:aged:3:t")))
        .await;
    assert!(!left);
    f.cleanup().await;
}
