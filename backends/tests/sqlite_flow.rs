//! Flow control on the SQLite backend beyond the shared cases: the head of a queue and the
//! priorities that come back after it, priorities read from payloads at promotion, unique
//! locks replaced within one push or released by a rescue that buries, concurrent pushes of
//! one key from several instances, and expired jobs counted apart.

mod sqlite_support;

use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::envelope::flow::{UniqueLock, UniqueUntil, PRIORITY_FIELD};
use jobs::envelope::{to_epoch, JobEnvelope};
use jobs_backends::sqlite::SqliteBackend;
use serde_json::json;

use sqlite_support::*;

const Q: &str = "flow";

fn at(t0: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t0 + chrono::Duration::seconds(secs)
}

fn prio(n: i64, priority: u8) -> JobEnvelope {
    let mut j = job(Q, n);
    j.set_priority(priority);
    j
}

fn unique(n: i64, key: &str, lapse: DateTime<Utc>) -> JobEnvelope {
    let mut j = job(Q, n);
    let lock = UniqueLock::new(
        "K",
        None,
        &[json!(key)],
        UniqueUntil::Success,
        to_epoch(lapse),
    );
    j.set_unique(Some(lock));
    j
}

async fn push_at(
    b: &SqliteBackend,
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
    on_conflict: PushConflict,
) -> PushReport {
    b.job_push(PushParams::new(jobs, now).on_conflict(on_conflict))
        .await
        .unwrap()
}

async fn take(b: &SqliteBackend, limit: usize, now: DateTime<Utc>) -> Vec<Reserved> {
    let mut p = ReserveParams::new(vec![Q.into()], "p", now);
    p.limit = limit;
    b.job_reserve(p).await.unwrap()
}

async fn queued(b: &SqliteBackend) -> Vec<String> {
    let page = b
        .job_list(JobListParams::new(JobSet::Queue(Q.into()), 100))
        .await
        .unwrap();
    page.jobs.into_iter().map(|s| s.job.jid).collect()
}

fn jids<'a>(jobs: impl IntoIterator<Item = &'a JobEnvelope>) -> Vec<String> {
    jobs.into_iter().map(|j| j.jid.clone()).collect()
}

async fn finish(b: &SqliteBackend, r: &Reserved, outcome: FinishOutcome, now: DateTime<Utc>) {
    let item = Finish::new(r.token.clone(), r.job.clone(), outcome, false);
    let report = b
        .job_finish(FinishParams::new(vec![item], now))
        .await
        .unwrap();
    assert!(report.lost.is_empty());
}

/// A requeued job runs ahead of every priority; once it moves on (a retry, or killed and
/// enqueued again) it waits among the jobs of its own priority again.
#[tokio::test]
async fn the_head_is_ahead_of_every_priority_and_a_job_leaving_it_takes_its_own_back() {
    let b = SqliteBackend::temporary().await.unwrap();
    let t0 = Utc::now();
    let (low, high) = (prio(1, 5), prio(2, 0));
    push_at(&b, vec![low.clone()], t0, PushConflict::Skip).await;
    let got = take(&b, 1, t0).await;
    b.job_requeue(RequeueParams::new(vec![got[0].token.clone()], t0))
        .await
        .unwrap();
    push_at(&b, vec![high.clone()], t0, PushConflict::Skip).await;
    assert_eq!(
        queued(&b).await,
        jids([&low, &high]),
        "requeued to the head"
    );

    let got = take(&b, 1, at(t0, 1)).await;
    assert_eq!(got[0].job.jid, low.jid);
    let retry = FinishOutcome::Retry { at: at(t0, 2) };
    finish(&b, &got[0], retry, at(t0, 1)).await;
    b.scheduled_promote(PromoteParams::new(at(t0, 3)))
        .await
        .unwrap();
    assert_eq!(
        queued(&b).await,
        jids([&high, &low]),
        "a promoted retry waits by its priority"
    );

    let got = take(&b, 2, at(t0, 4)).await;
    b.job_requeue(RequeueParams::new(
        got.iter().map(|r| r.token.clone()).collect(),
        at(t0, 4),
    ))
    .await
    .unwrap();
    assert_eq!(queued(&b).await, jids([&high, &low]), "requeued in order");
    let set = JobSet::Queue(Q.into());
    let kill = JobActionParams::jids(set, vec![high.jid.clone(), low.jid.clone()], at(t0, 5));
    assert_eq!(b.job_kill(kill).await.unwrap(), 2);
    let again = JobActionParams::jids(JobSet::Dead, vec![low.jid.clone()], at(t0, 6));
    assert_eq!(b.job_enqueue_now(again).await.unwrap(), 1);
    let fresh = prio(3, 0);
    push_at(&b, vec![fresh.clone()], at(t0, 7), PushConflict::Skip).await;
    assert_eq!(
        queued(&b).await,
        jids([&fresh, &low]),
        "a job enqueued from the dead set left the head"
    );
}

/// Promotion reads a job's priority from its payload the way `JobEnvelope::priority` does:
/// capped at 9, 0 for anything that is not a non-negative integer.
#[tokio::test]
async fn promotion_reads_priorities_as_the_envelope_does() {
    let b = SqliteBackend::temporary().await.unwrap();
    let t0 = Utc::now();
    let values = [
        json!(15),
        json!(-3),
        json!("2"),
        json!(4),
        json!(1.5),
        json!(0),
    ];
    let mut jobs = Vec::new();
    for (n, v) in values.into_iter().enumerate() {
        let mut j = job(Q, n as i64);
        j.extra.insert(PRIORITY_FIELD.into(), v);
        j.at = Some(to_epoch(at(t0, 10)));
        jobs.push(j);
    }
    push_at(&b, jobs.clone(), t0, PushConflict::Skip).await;
    b.scheduled_promote(PromoteParams::new(at(t0, 10)))
        .await
        .unwrap();
    let mut expected = jobs.clone();
    expected.sort_by_key(|j| j.priority());
    assert_eq!(
        expected.iter().map(|j| j.priority()).collect::<Vec<_>>(),
        vec![0, 0, 0, 0, 4, 9]
    );
    let got = take(&b, 10, at(t0, 11)).await;
    let taken: Vec<String> = got.iter().map(|r| r.job.jid.clone()).collect();
    assert_eq!(taken, jids(&expected));
}

/// Replace takes the place of an earlier job of the same push, and of a scheduled holder;
/// skip reports the earlier job of the push as the holder.
#[tokio::test]
async fn replace_works_within_one_push_and_on_a_scheduled_holder() {
    let b = SqliteBackend::temporary().await.unwrap();
    let t0 = Utc::now();
    let lapse = at(t0, 600);
    let (a, c) = (unique(1, "k", lapse), unique(2, "k", lapse));
    let r = push_at(&b, vec![a.clone(), c.clone()], t0, PushConflict::Replace).await;
    assert_eq!(r.replaced, vec![(1, a.jid.clone())]);
    assert!(r.duplicates.is_empty());
    assert_eq!(queued(&b).await, jids([&c]));

    let (d, e) = (unique(3, "j", lapse), unique(4, "j", lapse));
    let r = push_at(&b, vec![d.clone(), e], t0, PushConflict::Skip).await;
    assert_eq!(r.duplicates, vec![(1, d.jid.clone())]);

    let mut later = unique(5, "s", lapse);
    later.at = Some(to_epoch(at(t0, 300)));
    push_at(&b, vec![later.clone()], t0, PushConflict::Skip).await;
    let now = unique(6, "s", lapse);
    let r = push_at(&b, vec![now.clone()], t0, PushConflict::Replace).await;
    assert_eq!(r.replaced, vec![(0, later.jid.clone())]);
    let scheduled = b
        .job_list(JobListParams::new(JobSet::Scheduled, 10))
        .await
        .unwrap();
    assert_eq!(scheduled.total, 0, "the scheduled holder is gone");
    assert_eq!(queued(&b).await, jids([&c, &d, &now]));
    let held = b.unique_list(UniqueListParams::new(t0)).await.unwrap();
    let mut holders: Vec<String> = held.into_iter().map(|h| h.jid).collect();
    holders.sort();
    let mut expected = jids([&c, &d, &now]);
    expected.sort();
    assert_eq!(holders, expected);
}

/// A rescue that buries a job at its last rescue releases its lock, in the same write.
#[tokio::test]
async fn a_rescue_that_buries_the_job_releases_its_lock() {
    let b = SqliteBackend::temporary().await.unwrap();
    let t0 = Utc::now();
    let a = unique(1, "k", at(t0, 6000));
    push_at(&b, vec![a.clone()], t0, PushConflict::Skip).await;
    take(&b, 1, t0).await;
    let rescued = b
        .lease_rescue(RescueParams::new(at(t0, 3600)).max_rescues(1))
        .await
        .unwrap();
    assert_eq!(rescued, 1);
    let dead = b
        .job_list(JobListParams::new(JobSet::Dead, 10))
        .await
        .unwrap();
    assert_eq!(dead.total, 1, "setup: the job was buried");
    let r = push_at(
        &b,
        vec![unique(2, "k", at(t0, 6000))],
        at(t0, 3601),
        PushConflict::Skip,
    )
    .await;
    assert!(r.duplicates.is_empty(), "the buried job holds no lock");
}

/// Instances on one file pushing jobs of one key at once store exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_one_key_store_one_job() {
    let db = TempDb::new("unique");
    let t0 = Utc::now();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let b = db.open().await;
        tasks.push(tokio::spawn(async move {
            let mut reports = Vec::new();
            for n in 0..10 {
                let j = unique(i * 100 + n, "one", at(t0, 600));
                reports.push(push_at(&b, vec![j], t0, PushConflict::Skip).await);
            }
            reports
        }));
    }
    let mut duplicates = 0;
    for t in tasks {
        for r in t.await.unwrap() {
            duplicates += r.duplicates.len();
        }
    }
    assert_eq!(duplicates, 39);
    let b = db.open().await;
    assert_eq!(queued(&b).await.len(), 1);
}

/// An expired job is removed and counted as expired only: not processed, not failed, not in
/// any day's counts; jobs finished beside it in one call are counted as usual.
#[tokio::test]
async fn expired_jobs_are_counted_apart() {
    let b = SqliteBackend::temporary().await.unwrap();
    let t0 = Utc::now();
    push_at(&b, vec![job(Q, 1), job(Q, 2)], t0, PushConflict::Skip).await;
    let got = take(&b, 2, t0).await;
    let items = vec![
        Finish::new(
            got[0].token.clone(),
            got[0].job.clone(),
            FinishOutcome::Expired,
            false,
        ),
        Finish::new(
            got[1].token.clone(),
            got[1].job.clone(),
            FinishOutcome::Completed,
            false,
        ),
    ];
    let report = b.job_finish(FinishParams::new(items, t0)).await.unwrap();
    assert!(report.lost.is_empty());
    // The same lease again is lost, and not counted twice.
    let again = Finish::new(
        got[0].token.clone(),
        got[0].job.clone(),
        FinishOutcome::Expired,
        false,
    );
    let report = b
        .job_finish(FinishParams::new(vec![again], t0))
        .await
        .unwrap();
    assert_eq!(report.lost, vec![0]);
    let stats = b.stats().await.unwrap();
    assert_eq!((stats.expired, stats.processed, stats.failed), (1, 1, 0));
    assert_eq!(stats.enqueued, 0);
    let days = b
        .stats_history(StatsHistoryParams::new(t0.date_naive(), 1))
        .await
        .unwrap();
    assert_eq!((days[0].processed, days[0].failed), (1, 0));
}
