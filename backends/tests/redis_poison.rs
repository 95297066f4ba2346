//! Bytes that are not a job, and rescue counts, where only the Redis backend can be looked
//! at: the blocking pop, the exact bytes Ruby reads, the rescue hash, and admin actions on
//! members that are not jobs. The portable cases are in the conformance suite (poison area
//! and `leases::rescues_are_counted_and_the_last_buries`).

mod redis_support;

use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::{undecodable_jid, JobEnvelope, UNDECODABLE_ERROR};
use redis_support::*;

fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new("Echo", queue, vec![n.into()])
}

/// Not UTF-8: no string reply can carry these.
const GARBAGE: &[u8] = &[0xff, 0xfe, b'{', 0x80, b'}'];

/// Waits until `key` exists (a reserve registers its blocking queue in its lease
/// bookkeeping just before it blocks).
async fn until_exists(f: &Fixture, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n: u64 = f.cmd(redis::cmd("EXISTS").arg(key)).await;
        if n == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "{key} never appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn blocking(f: &Fixture, process: &str) -> tokio::task::JoinHandle<Vec<Reserved>> {
    let b = f.backend.clone();
    let mut p = ReserveParams::new(vec!["q".into()], process, t0());
    p.wait = Duration::from_secs(10);
    tokio::spawn(async move { b.job_reserve(p).await.unwrap() })
}

#[tokio::test]
async fn a_blocking_reserve_buries_bytes_that_are_not_a_job_and_waits_on() {
    let f = Fixture::new("poison-block").await;
    let waiter = blocking(&f, "p1");
    until_exists(&f, &f.key("jobs-rs:leased:2:p1")).await;
    let _: () = f
        .cmd(redis::cmd("LPUSH").arg(f.key("queue:q")).arg(GARBAGE))
        .await;
    f.push(vec![job("q", 1)], t0()).await;
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1, "the valid job is handed out: {got:?}");
    assert_eq!(got[0].job.args[0], 1);
    let dead = f
        .backend
        .job_list(JobListParams::new(JobSet::Dead, 10))
        .await
        .unwrap();
    assert_eq!(dead.jobs.len(), 1);
    assert_eq!(dead.jobs[0].job.jid, undecodable_jid(GARBAGE));
    assert_eq!(
        dead.jobs[0].job.error_class.as_deref(),
        Some(UNDECODABLE_ERROR)
    );
    let inflight: u64 = f
        .cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:inflight:2:p1:q")))
        .await;
    assert_eq!(inflight, 1, "only the valid job is in flight");
    f.cleanup().await;
}

#[tokio::test]
async fn a_job_taken_by_a_blocking_pop_carries_its_rescue_count_and_its_finish_clears_it() {
    let f = Fixture::new("rescue-block").await;
    f.push(vec![job("q", 1)], t0()).await;
    let mut p = ReserveParams::new(vec!["q".into()], "p1", t0());
    p.lease_ttl = Duration::from_secs(10);
    let first = f.backend.job_reserve(p).await.unwrap();
    assert_eq!(first[0].rescues, 0);
    // The queue is empty: p2 blocks on it, and the rescue hands the job to that pop.
    let waiter = blocking(&f, "p2");
    until_exists(&f, &f.key("jobs-rs:leased:2:p2")).await;
    let rescued = f
        .backend
        .lease_rescue(RescueParams::new(t0() + secs(10)))
        .await
        .unwrap();
    assert_eq!(rescued, 1);
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.jid, first[0].job.jid);
    assert_eq!(got[0].rescues, 1, "the blocking pop reads the count");
    let counts: u64 = f
        .cmd(redis::cmd("HLEN").arg(f.key("jobs-rs:rescues")))
        .await;
    assert_eq!(counts, 1);
    let report = f
        .finish(&got[0], FinishOutcome::Completed, false, t0() + secs(11))
        .await;
    assert!(report.lost.is_empty());
    let counts: u64 = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:rescues")))
        .await;
    assert_eq!(counts, 0, "the finish cleared the count");
    f.cleanup().await;
}

#[tokio::test]
async fn a_rescued_job_goes_back_byte_for_byte_and_is_buried_with_its_payload_parsed() {
    let f = Fixture::new("rescue-bytes").await;
    // As Ruby may write it: key order, spacing and number formats serde would change.
    let ruby = br#"{"retry":true,"queue":"q","class":"Echo","args":[123456789012345678901234567890, 1.50],"jid":"0123456789abcdef01234567","created_at":1767225600.0,"enqueued_at":1767225600.0}"#;
    let _: () = f
        .cmd(redis::cmd("LPUSH").arg(f.key("queue:q")).arg(&ruby[..]))
        .await;
    let mut now = t0();
    for rescues in 0..2u32 {
        let mut p = ReserveParams::new(vec!["q".into()], "p1", now);
        p.lease_ttl = Duration::from_secs(10);
        let got = f.backend.job_reserve(p).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rescues, rescues);
        now += secs(10);
        f.backend
            .lease_rescue(RescueParams::new(now).max_rescues(3))
            .await
            .unwrap();
        let back: Vec<u8> = f
            .cmd(redis::cmd("LINDEX").arg(f.key("queue:q")).arg(-1))
            .await;
        assert_eq!(back, ruby, "back at the head byte for byte");
    }
    let mut p = ReserveParams::new(vec!["q".into()], "p1", now);
    p.lease_ttl = Duration::from_secs(10);
    assert_eq!(f.backend.job_reserve(p).await.unwrap()[0].rescues, 2);
    now += secs(10);
    f.backend
        .lease_rescue(RescueParams::new(now).max_rescues(3))
        .await
        .unwrap();
    let left: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(left, 0, "the third rescue buries it");
    let dead: Vec<Vec<u8>> = f
        .cmd(redis::cmd("ZRANGE").arg(f.key("dead")).arg(0).arg(-1))
        .await;
    assert_eq!(
        dead.len(),
        1,
        "buried once, marked, the unmarked copy replaced"
    );
    let buried: serde_json::Value = serde_json::from_slice(&dead[0]).unwrap();
    assert_eq!(buried["jid"], "0123456789abcdef01234567");
    assert_eq!(buried["error_class"], jobs::envelope::KILLED_PROCESS_ERROR);
    let counts: u64 = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:rescues")))
        .await;
    assert_eq!(counts, 0, "a buried job's count is dropped");
    f.cleanup().await;
}

#[tokio::test]
async fn members_that_are_not_jobs_are_found_and_acted_on_by_the_jid_they_show() {
    let f = Fixture::new("poison-admin").await;
    let now = t0();
    let jid = undecodable_jid(GARBAGE);
    // In a queue: found by its computed jid, deleted by it, alone.
    f.push(vec![job("q", 1)], now).await;
    let _: () = f
        .cmd(redis::cmd("LPUSH").arg(f.key("queue:q")).arg(GARBAGE))
        .await;
    let got = f
        .backend
        .job_get(JobGetParams::new(JobSet::Queue("q".into()), &jid))
        .await
        .unwrap()
        .expect("found by its computed jid");
    assert_eq!(got.job.error_class.as_deref(), Some(UNDECODABLE_ERROR));
    let deleted = f
        .backend
        .job_delete(JobActionParams::jids(
            JobSet::Queue("q".into()),
            vec![jid.clone()],
            now,
        ))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let left: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(left, 1, "the valid job stays");

    // In the retry set, beside a valid job: "retry now" buries it, enqueues the other.
    let named = br#"{"jid":"named-1","args":[]}"#; // no class
    for (member, score) in [(GARBAGE, 10), (&named[..], 11)] {
        let _: () = f
            .cmd(
                redis::cmd("ZADD")
                    .arg(f.key("retry"))
                    .arg(score)
                    .arg(member),
            )
            .await;
    }
    let moved = f
        .backend
        .job_enqueue_now(JobActionParams::jids(
            JobSet::Retry,
            vec![jid.clone(), "named-1".into()],
            now,
        ))
        .await
        .unwrap();
    assert_eq!(moved, 2);
    let dead = f
        .backend
        .job_list(JobListParams::new(JobSet::Dead, 10))
        .await
        .unwrap();
    let mut dead_jids: Vec<_> = dead.jobs.iter().map(|s| s.job.jid.clone()).collect();
    dead_jids.sort();
    let mut want = vec![jid.clone(), "named-1".to_owned()];
    want.sort();
    assert_eq!(dead_jids, want);
    assert!(dead
        .jobs
        .iter()
        .all(|s| s.job.error_class.as_deref() == Some(UNDECODABLE_ERROR)));
    let left: u64 = f.cmd(redis::cmd("LLEN").arg(f.key("queue:q"))).await;
    assert_eq!(left, 1, "nothing that is not a job reached a queue");

    // Scheduled and killed by the jid it shows: buried as the dead job keeping its bytes.
    let odd = b"\xfe scheduled";
    let _: () = f
        .cmd(
            redis::cmd("ZADD")
                .arg(f.key("schedule"))
                .arg(50)
                .arg(&odd[..]),
        )
        .await;
    let odd_jid = undecodable_jid(odd);
    let killed = f
        .backend
        .job_kill(JobActionParams::jids(
            JobSet::Scheduled,
            vec![odd_jid.clone()],
            now,
        ))
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let buried = f
        .backend
        .job_get(JobGetParams::new(JobSet::Dead, &odd_jid))
        .await
        .unwrap()
        .expect("dead under the jid it showed");
    assert_eq!(buried.job.extra["raw_base64"], "/iBzY2hlZHVsZWQ=");
    let scheduled: u64 = f.cmd(redis::cmd("ZCARD").arg(f.key("schedule"))).await;
    assert_eq!(scheduled, 0);

    // A dead member that is not a job cannot be enqueued: it stays where it is.
    let _: () = f
        .cmd(
            redis::cmd("ZADD")
                .arg(f.key("dead"))
                .arg(12)
                .arg(b"\xff".as_slice()),
        )
        .await;
    let bad_dead = undecodable_jid(b"\xff");
    let moved = f
        .backend
        .job_enqueue_now(JobActionParams::jids(
            JobSet::Dead,
            vec![bad_dead.clone()],
            now,
        ))
        .await
        .unwrap();
    assert_eq!(moved, 0);
    assert!(f
        .backend
        .job_get(JobGetParams::new(JobSet::Dead, &bad_dead))
        .await
        .unwrap()
        .is_some());
    f.cleanup().await;
}

#[tokio::test]
async fn a_rescued_job_deleted_from_its_queue_leaves_no_count_behind() {
    let f = Fixture::new("rescue-delete").await;
    let j = job("q", 1);
    f.push(vec![j.clone()], t0()).await;
    let mut p = ReserveParams::new(vec!["q".into()], "p1", t0());
    p.lease_ttl = Duration::from_secs(10);
    assert_eq!(f.backend.job_reserve(p).await.unwrap().len(), 1);
    f.backend
        .lease_rescue(RescueParams::new(t0() + secs(10)))
        .await
        .unwrap();
    let counts: u64 = f
        .cmd(redis::cmd("HLEN").arg(f.key("jobs-rs:rescues")))
        .await;
    assert_eq!(counts, 1, "the rescue was counted");
    let deleted = f
        .backend
        .job_delete(JobActionParams::jids(
            JobSet::Queue("q".into()),
            vec![j.jid.clone()],
            t0() + secs(11),
        ))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let counts: u64 = f
        .cmd(redis::cmd("EXISTS").arg(f.key("jobs-rs:rescues")))
        .await;
    assert_eq!(counts, 0, "deleting the job dropped its count");
    f.cleanup().await;
}
