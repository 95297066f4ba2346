//! Rows whose payload is not a job, written into the file by another connection: a reserve
//! that leases them beside valid jobs hands the valid ones out and buries them, and every
//! admin action (get, delete, enqueue now, kill, the text filter) works on them by jid.

mod sqlite_support;

use std::time::Duration;

use chrono::Utc;
use jobs::backend::*;
use jobs::envelope::UNDECODABLE_ERROR;
use jobs_backends::sqlite::SqliteBackend;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use sqlite_support::*;

/// A second connection to `b`'s file.
async fn raw(b: &SqliteBackend) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(b.path())
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

/// Inserts row `jid` in `state` of `queue` holding `bytes` as text, at the tail.
async fn put(conn: &mut SqliteConnection, state: &str, queue: &str, jid: &str, bytes: &[u8]) {
    sqlx::query(
        "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload)
         VALUES (?1, ?2, 'Raw', ?3, ?4, (SELECT value + 1 FROM sequences WHERE name = 'pos'),
                 CAST(?5 AS TEXT))",
    )
    .bind(jid)
    .bind(queue)
    .bind(state)
    .bind(Utc::now().timestamp_micros())
    .bind(bytes)
    .execute(conn)
    .await
    .unwrap();
}

async fn list(b: &SqliteBackend, set: JobSet) -> Vec<StoredJob> {
    b.job_list(JobListParams::new(set, 100)).await.unwrap().jobs
}

fn is_wrapper(job: &jobs::envelope::JobEnvelope) -> bool {
    job.error_class.as_deref() == Some(UNDECODABLE_ERROR)
}

#[tokio::test]
async fn a_reserve_hands_out_the_valid_jobs_of_its_batch_and_buries_the_rest() {
    let b = SqliteBackend::temporary().await.unwrap();
    let mut conn = raw(&b).await;
    let (first, last) = (job("mixed", 1), job("mixed", 2));
    push(&b, vec![first.clone()]).await.unwrap();
    put(
        &mut conn,
        "available",
        "mixed",
        "binary",
        &[0xff, 0xfe, b'{'],
    )
    .await;
    put(&mut conn, "available", "mixed", "array", b"[1,2]").await;
    push(&b, vec![last.clone()]).await.unwrap();

    let got = reserve(&b, "mixed", 10, "p", Duration::ZERO).await.unwrap();
    let jids: Vec<_> = got.iter().map(|r| r.job.jid.clone()).collect();
    assert_eq!(jids, [first.jid.clone(), last.jid.clone()]);
    assert!(complete(&b, &got).await.unwrap().lost.is_empty());
    let dead = list(&b, JobSet::Dead).await;
    let mut dead_jids: Vec<_> = dead.iter().map(|d| d.job.jid.as_str()).collect();
    dead_jids.sort_unstable();
    assert_eq!(dead_jids, ["array", "binary"]);
    assert!(dead.iter().all(|d| is_wrapper(&d.job)), "{dead:?}");
    let binary = dead.iter().find(|d| d.job.jid == "binary").unwrap();
    assert_eq!(binary.job.extra["raw_base64"], "//57");
    // Nothing was left leased: long after any lease, a rescue finds nothing.
    let later = Utc::now() + chrono::Duration::hours(1);
    assert_eq!(b.lease_rescue(RescueParams::new(later)).await.unwrap(), 0);
}

#[tokio::test]
async fn bad_rows_are_found_and_acted_on_by_jid() {
    let b = SqliteBackend::temporary().await.unwrap();
    let mut conn = raw(&b).await;
    put(&mut conn, "dead", "q", "dead-1", &[0x80, b'x']).await;
    put(&mut conn, "scheduled", "q", "sched-1", b"{\"class\":1}").await;
    put(&mut conn, "retryable", "q", "retry-1", b"not json").await;
    let now = Utc::now();

    let got = b
        .job_get(JobGetParams::new(JobSet::Dead, "dead-1"))
        .await
        .unwrap()
        .expect("found by its jid");
    assert!(is_wrapper(&got.job));

    // The text filter reads every row, the bad ones as their wrappers.
    let page = b
        .job_list(
            JobListParams::new(JobSet::Retry, 10).filter(JobFilter::default().text("not json")),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.jobs[0].job.jid, "retry-1");

    let killed = b
        .job_kill(JobActionParams::jids(
            JobSet::Scheduled,
            vec!["sched-1".into()],
            now,
        ))
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let moved = b
        .job_enqueue_now(JobActionParams::jids(
            JobSet::Dead,
            vec!["dead-1".into()],
            now,
        ))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let queued = list(&b, JobSet::Queue("q".into())).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].job.jid, "dead-1");
    let deleted = b
        .job_delete(JobActionParams::matching(
            JobSet::Retry,
            JobFilter::default().text("not json"),
            now,
        ))
        .await
        .unwrap();
    assert_eq!(deleted, 1);

    // The one moved to its queue is buried again by the reserve that meets it.
    assert!(reserve(&b, "q", 5, "p", Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let mut dead: Vec<_> = list(&b, JobSet::Dead)
        .await
        .into_iter()
        .map(|d| d.job.jid)
        .collect();
    dead.sort_unstable();
    assert_eq!(dead, ["dead-1", "sched-1"]);
}
