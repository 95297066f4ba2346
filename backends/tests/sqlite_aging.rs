//! Priority aging on SQLite beyond the conformance suite: a pass over a deep queue of young
//! jobs reads almost nothing (the pass timings are printed with `--nocapture`, never
//! asserted), and an aged job that leaves its queue comes back at its declared priority.

mod sqlite_support;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::sqlite::SqliteBackend;
use sqlite_support::*;

fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn with_priority(queue: &str, n: i64, priority: u8) -> JobEnvelope {
    let mut j = job(queue, n);
    j.set_priority(priority);
    j
}

async fn push_at(b: &SqliteBackend, jobs: Vec<JobEnvelope>, now: DateTime<Utc>) {
    b.job_push(PushParams::new(jobs, now)).await.unwrap();
}

/// One aging pass at `now`, one step per `every` seconds; how many moved and how long the
/// call took.
async fn age(b: &SqliteBackend, now: DateTime<Utc>, every: u64) -> (u64, Duration) {
    let started = Instant::now();
    let moved = b
        .priority_age(AgeParams::new(now, Duration::from_secs(every)))
        .await
        .unwrap();
    (moved, started.elapsed())
}

/// The `priority` and `pos` columns of job `jid`, read on a connection of the test's own.
async fn band(db: &TempDb, jid: &str) -> (i64, i64) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
    sqlx::query_as("SELECT priority, pos FROM jobs WHERE jid = ?1")
        .bind(jid)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn reserve_at(b: &SqliteBackend, limit: usize, now: DateTime<Utc>) -> Vec<Reserved> {
    let mut p = ReserveParams::new(vec!["q".into()], "p1", now);
    p.limit = limit;
    b.job_reserve(p).await.unwrap()
}

#[tokio::test]
async fn a_pass_over_ten_thousand_young_jobs_moves_nothing() {
    let db = TempDb::new("aging-deep");
    let b = db.open().await;
    let jobs: Vec<JobEnvelope> = (0..10_000)
        .map(|n| with_priority("deep", n, 1 + (n % 9) as u8))
        .collect();
    for chunk in jobs.chunks(1_000) {
        push_at(&b, chunk.to_vec(), at(0)).await;
    }
    let (moved, young) = age(&b, at(30), 60).await;
    assert_eq!(moved, 0, "no job has waited a step");
    let (moved, all) = age(&b, at(60), 60).await;
    assert_eq!(moved, 10_000, "every job climbs one step at once");
    let (moved, after) = age(&b, at(60), 60).await;
    assert_eq!(moved, 0, "a second pass at the same time moves nothing");
    let (moved, later) = age(&b, at(90), 60).await;
    assert_eq!(moved, 0, "with every job aged once, still nothing is due");
    let (priority, pos) = band(&db, &jobs[0].jid).await;
    assert_eq!(priority, 0);
    assert!(pos < 0, "aged into band 0, below the jobs pushed there");
    eprintln!(
        "sqlite, 10,000 jobs in 9 bands: a pass moving nothing took {young:?}; moving them \
         all {all:?}; then passes moving nothing {after:?} and {later:?}"
    );
}

/// A priority-9 job aged to 0, retried and promoted, runs at 9 again, behind a job of
/// priority 5 pushed after it; one requeued leads its queue (band -1).
#[tokio::test]
async fn an_aged_job_that_leaves_its_queue_comes_back_at_its_declared_priority() {
    let db = TempDb::new("aging-back");
    let b = db.open().await;
    let (nine, other) = (with_priority("q", 1, 9), with_priority("q", 2, 9));
    push_at(&b, vec![nine.clone(), other.clone()], at(0)).await;
    assert_eq!(age(&b, at(100), 10).await.0, 2);
    assert_eq!(band(&db, &nine.jid).await.0, 0);
    let taken = reserve_at(&b, 2, at(100)).await;
    assert_eq!(taken.len(), 2);

    b.job_requeue(RequeueParams::new(vec![taken[1].token.clone()], at(101)))
        .await
        .unwrap();
    assert_eq!(band(&db, &other.jid).await.0, -1, "given back to the head");

    let retry = Finish::new(
        taken[0].token.clone(),
        taken[0].job.clone(),
        FinishOutcome::Retry { at: at(110) },
        true,
    );
    b.job_finish(FinishParams::new(vec![retry], at(102)).dead_limits(DeadLimits::default()))
        .await
        .unwrap();
    b.scheduled_promote(PromoteParams::new(at(110)))
        .await
        .unwrap();
    let (priority, pos) = band(&db, &nine.jid).await;
    assert_eq!(priority, 9, "declared again");
    assert!(pos >= 0, "among the jobs pushed into its band");
    let five = with_priority("q", 3, 5);
    push_at(&b, vec![five.clone()], at(111)).await;
    let order: Vec<String> = reserve_at(&b, 3, at(112))
        .await
        .into_iter()
        .map(|r| r.job.jid.clone())
        .collect();
    assert_eq!(order, vec![other.jid, five.jid, nine.jid]);
}
