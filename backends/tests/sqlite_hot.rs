//! The SQLite backend's own behaviour, beyond the shared conformance suite: many writers
//! on one file, durability across reopen, URLs, wake-ups, lock timeouts and conflicts.

mod sqlite_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs_backends::sqlite::SqliteBackend;
use sqlite_support::*;
use sqlx::{Connection, Executor};

/// Several backend instances (each with its own pools, as separate processes would have)
/// push and reserve on one file at once: no call fails (no "database is locked" reaches a
/// caller), every job is reserved exactly once, and every finish applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_instances_never_lock_and_never_double_reserve() {
    const INSTANCES: usize = 4;
    const PUSHERS: usize = 3;
    const PER_PUSHER: usize = 120;
    const TOTAL: usize = INSTANCES * PUSHERS * PER_PUSHER;
    let db = TempDb::new("concurrent");
    let mut backends = Vec::new();
    for _ in 0..INSTANCES {
        backends.push(db.open().await);
    }
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, b) in backends.iter().enumerate() {
        for p in 0..PUSHERS {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                // Odd pushers push one job per call, even ones batches of six.
                let per_call = if p % 2 == 0 { 6 } else { 1 };
                let numbers: Vec<i64> = (0..PER_PUSHER as i64).collect();
                for chunk in numbers.chunks(per_call) {
                    let jobs = chunk.iter().map(|n| job("shared", *n)).collect();
                    push(&b, jobs)
                        .await
                        .unwrap_or_else(|e| panic!("push from instance {i}/{p} failed: {e}"));
                }
            }));
        }
        for r in 0..3 {
            let (b, seen, done) = (b.clone(), seen.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let process = format!("instance-{i}-reserver-{r}");
                while done.load(Ordering::SeqCst) < TOTAL {
                    let got = reserve(&b, "shared", 7, &process, Duration::from_millis(50))
                        .await
                        .unwrap_or_else(|e| panic!("reserve in {process} failed: {e}"));
                    {
                        let mut seen = seen.lock().unwrap();
                        for r in &got {
                            assert!(
                                seen.insert(r.job.jid.clone()),
                                "{} reserved twice",
                                r.job.jid
                            );
                        }
                    }
                    let report = complete(&b, &got)
                        .await
                        .unwrap_or_else(|e| panic!("finish in {process} failed: {e}"));
                    assert!(
                        report.lost.is_empty(),
                        "a held lease was refused: {report:?}"
                    );
                    done.fetch_add(got.len(), Ordering::SeqCst);
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("a task panicked");
    }
    assert_eq!(seen.lock().unwrap().len(), TOTAL);
    let stats = backends[0].stats().await.unwrap();
    assert_eq!(stats.processed, TOTAL as u64);
    assert_eq!(stats.enqueued, 0);
}

/// A job pushed, then the backend dropped and the file opened again (through a URL), is
/// still there, unchanged.
#[tokio::test]
async fn pushed_jobs_survive_reopening_the_file() {
    let db = TempDb::new("reopen");
    let pushed = job("durable", 7);
    {
        let b = SqliteBackend::connect(&db.url()).await.unwrap();
        push(&b, vec![pushed.clone()]).await.unwrap();
        b.close().await;
    }
    let b = jobs_backends::connect(&db.url()).await.unwrap();
    assert_eq!(b.name(), "sqlite");
    let mut p = ReserveParams::new(vec!["durable".into()], "p", chrono::Utc::now());
    p.limit = 5;
    let got = b.job_reserve(p).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.jid, pushed.jid);
    assert_eq!(got[0].job.args, pushed.args);
}

/// `sqlite://name.db` is relative to the working directory and created when missing.
#[tokio::test]
async fn a_relative_url_creates_the_file_in_the_working_directory() {
    let name = format!("jobs-sqlite-relative-{}.db", std::process::id());
    let path = std::env::current_dir().unwrap().join(&name);
    remove_db(&path);
    let b = jobs::connect(&format!("sqlite://{name}")).await;
    let exists = path.exists();
    drop(b);
    remove_db(&path);
    assert!(exists, "{} was not created", path.display());
}

/// Several processes opening a new file at once all succeed: the switch to WAL is retried
/// and migrations run under the write lock, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_opens_all_succeed() {
    let db = TempDb::new("first-open");
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let config = db.config(Duration::from_millis(200));
            tokio::spawn(async move { SqliteBackend::open(config).await })
        })
        .collect();
    let mut backends = Vec::new();
    for o in opens {
        backends.push(o.await.unwrap().expect("a concurrent open failed"));
    }
    push(&backends[3], vec![job("q", 1)]).await.unwrap();
    assert_eq!(backends[5].stats().await.unwrap().enqueued, 1);
}

/// A reserver waiting on one backend instance is woken by a push through another instance
/// of the same file in this process, long before its poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_reservers_of_every_instance_in_the_process() {
    let db = TempDb::new("wake");
    let poll = Duration::from_secs(60);
    let waiter = SqliteBackend::open(db.config(poll)).await.unwrap();
    let pusher = SqliteBackend::open(db.config(poll)).await.unwrap();
    let mut reserving =
        Box::pin(async move { reserve(&waiter, "wake", 1, "p", Duration::from_secs(120)).await });
    assert!(futures::poll!(reserving.as_mut()).is_pending());
    let reserving = tokio::spawn(reserving);
    let started = Instant::now();
    push(&pusher, vec![job("wake", 1)]).await.unwrap();
    let got = reserving.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "woke after {:?}, by polling rather than by the push",
        started.elapsed()
    );
}

/// When another connection holds the write lock past the busy timeout, a write fails with
/// a transient timeout (never a plain error), and succeeds once the lock is released.
#[tokio::test]
async fn a_held_write_lock_is_a_transient_timeout() {
    let db = TempDb::new("busy");
    let b = SqliteBackend::open(
        db.config(Duration::from_millis(200))
            .busy_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.path.display()))
        .await
        .unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let err = push(&b, vec![job("q", 1)]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_transient());
    other.execute("ROLLBACK").await.unwrap();
    push(&b, vec![job("q", 1)]).await.unwrap();
}

/// A job id is stored once: pushing a jid that is already stored is a conflict, and the
/// other jobs of that push are not stored either.
#[tokio::test]
async fn a_stored_jid_pushed_again_is_a_conflict_and_nothing_is_stored() {
    let db = TempDb::new("jid");
    let b = db.open().await;
    let first = job("q", 1);
    push(&b, vec![first.clone()]).await.unwrap();
    let err = push(&b, vec![job("q", 2), first]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(b.stats().await.unwrap().enqueued, 1);
}

/// A token this backend did not issue is reported lost, not an error.
#[tokio::test]
async fn a_foreign_token_is_lost() {
    let db = TempDb::new("foreign");
    let b = db.open().await;
    let report = b
        .job_finish(
            FinishParams::new(
                vec![Finish::new(
                    LeaseToken("not-a-token".into()),
                    job("q", 1),
                    FinishOutcome::Completed,
                    false,
                )],
                chrono::Utc::now(),
            )
            .dead_limits(DeadLimits::default()),
        )
        .await
        .unwrap();
    assert_eq!(report.lost, vec![0]);
}

/// Finishes from many tasks at once (committed together) each get their own answer: every
/// held lease applies once, a lease finished twice at the same moment applies once, and
/// the counters add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_finishes_each_apply_once() {
    let db = TempDb::new("finishes");
    let b = db.open().await;
    push(&b, (0..200).map(|n| job("f", n)).collect())
        .await
        .unwrap();
    let got = reserve(&b, "f", 200, "p", Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 200);
    let now = chrono::Utc::now();
    let mut tasks = Vec::new();
    for (n, r) in got.into_iter().enumerate() {
        // Every fifth lease is finished twice at once; every seventh job is retried.
        let copies = if n % 5 == 0 { 2 } else { 1 };
        for _ in 0..copies {
            let (b, r) = (b.clone(), r.clone());
            tasks.push(tokio::spawn(async move {
                let outcome = if n % 7 == 0 {
                    FinishOutcome::Retry {
                        at: now + chrono::Duration::seconds(60),
                    }
                } else {
                    FinishOutcome::Completed
                };
                let report = b
                    .job_finish(
                        FinishParams::new(
                            vec![Finish::new(
                                r.token.clone(),
                                r.job.clone(),
                                outcome,
                                n % 7 == 0,
                            )],
                            now,
                        )
                        .dead_limits(DeadLimits::default()),
                    )
                    .await
                    .unwrap();
                (n, report.lost.is_empty())
            }));
        }
    }
    let mut applied = vec![0; 200];
    for t in tasks {
        let (n, ok) = t.await.unwrap();
        applied[n] += usize::from(ok);
    }
    assert!(applied.iter().all(|a| *a == 1), "{applied:?}");
    let stats = b.stats().await.unwrap();
    let retried = (0..200).filter(|n| n % 7 == 0).count() as u64;
    assert_eq!((stats.processed, stats.failed), (200, retried));
    assert_eq!(stats.retries, retried);
}

/// A transaction given up while it waits for the lock (its future dropped after `BEGIN`
/// was sent) leaves the writer usable: the next call first rolls back what was left open,
/// and nothing of the abandoned call is applied.
#[tokio::test]
async fn a_cancelled_transaction_leaves_the_writer_usable() {
    let db = TempDb::new("cancelled");
    let b = db.open().await;
    push(&b, vec![job("q", 1)]).await.unwrap();
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.path.display()))
        .await
        .unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let mut clearing = Box::pin(b.queue_clear(QueueClearParams::new("q")));
    assert!(futures::poll!(clearing.as_mut()).is_pending());
    drop(clearing);
    other.execute("ROLLBACK").await.unwrap();
    push(&b, vec![job("q", 2)]).await.unwrap();
    let got = reserve(&b, "q", 10, "p", Duration::ZERO).await.unwrap();
    let args: Vec<_> = got.iter().map(|r| r.job.args.clone()).collect();
    assert_eq!(
        args,
        vec![vec![serde_json::json!(1)], vec![serde_json::json!(2)]],
        "the abandoned clear removed nothing"
    );
}
