//! Tests that need the backend's insides: the plans of the hot statements, and wake-ups
//! across processes (a backend whose `Notify` no other backend shares stands in for
//! another process).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use tokio::sync::Notify;

use super::listing::LISTED;
use super::sets::{candidates, set_sql};
use super::{
    finish, lease, limits, listing, moves, open, process, promote, reserve, unique, SqliteBackend,
    SqliteConfig,
};

/// The plan SQLite picks for `sql` (with every parameter null), one detail line per step.
async fn plan(b: &SqliteBackend, sql: &str) -> Vec<String> {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(&b.db.readers)
        .await
        .unwrap();
    rows.into_iter().map(|r| r.3).collect()
}

/// Asserts the plan reads `jobs` only through `index`, never by a full scan of the table.
async fn assert_uses(b: &SqliteBackend, sql: &str, index: &str) {
    let steps = plan(b, sql).await;
    assert!(
        steps.iter().any(|s| s.contains(index)),
        "{index} unused for {sql}: {steps:?}"
    );
    assert!(
        !steps
            .iter()
            .any(|s| s == "SCAN jobs" || s.starts_with("SCAN jobs AS")),
        "a full scan of jobs for {sql}: {steps:?}"
    );
}

/// A value bound for [`plan_bound`].
enum V {
    T(&'static str),
    I(i64),
}

/// The plan SQLite picks for `sql` with these parameters bound. With STAT4 (which the
/// bundled SQLite has) the planner looks at bound values, and an equality to null orders
/// nothing: a plan that relies on `queue = ?` to read an index in order is only seen with
/// a real value bound.
async fn plan_bound(b: &SqliteBackend, sql: &str, binds: &[V]) -> Vec<String> {
    let sql = format!("EXPLAIN QUERY PLAN {sql}");
    let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
    for v in binds {
        q = match v {
            V::T(t) => q.bind(*t),
            V::I(i) => q.bind(*i),
        };
    }
    let rows = q.fetch_all(&b.db.readers).await.unwrap();
    rows.into_iter().map(|r| r.3).collect()
}

/// How many sorts a plan does.
fn sorts(steps: &[String]) -> usize {
    steps.iter().filter(|s| s.contains("TEMP B-TREE")).count()
}

#[tokio::test]
async fn hot_statements_use_their_partial_indexes() {
    let b = SqliteBackend::temporary().await.unwrap();
    // Every priority, and a unique job in ten.
    let lapse = jobs::envelope::to_epoch(chrono::Utc::now()) + 600.0;
    let jobs: Vec<_> = (0..3000)
        .map(|i| {
            let mut job = JobEnvelope::new("A", ["a", "b", "c"][i % 3], vec![i.into()]);
            job.set_priority((i % 10) as u8);
            if i % 10 == 0 {
                let by = [serde_json::json!(i)];
                let until = jobs::envelope::flow::UniqueUntil::Success;
                let lock = jobs::envelope::flow::UniqueLock::new("A", None, &by, until, lapse);
                job.set_unique(Some(lock));
            }
            job
        })
        .collect();
    b.job_push(PushParams::new(jobs, chrono::Utc::now()))
        .await
        .unwrap();
    let mut p = ReserveParams::new(vec!["a".into()], "p", chrono::Utc::now());
    p.limit = 50;
    assert_eq!(b.job_reserve(p).await.unwrap().len(), 50);
    sqlx::query("ANALYZE").execute(&b.db.readers).await.unwrap();
    assert_uses(&b, &reserve::reserve_sql(3), "jobs_available").await;
    let steps = plan(&b, &reserve::reserve_sql(3)).await;
    // Each queue is read twice: for the jobs to take, and (only once a job with a
    // concurrency key is met) for the decisions on the keyed ones.
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.contains("jobs_available"))
            .count(),
        6,
        "{steps:?}"
    );
    // Each queue's jobs come from the index in run order (priority, position).
    // With queues bound, each queue's jobs come from the index in run order (priority,
    // position): the one sort is of the few rows taken, across queues.
    let binds = [
        V::T("p"),
        V::T("n"),
        V::I(0),
        V::I(50),
        V::T("a"),
        V::T("b"),
        V::T("c"),
    ];
    let steps = plan_bound(&b, &reserve::reserve_sql(3), &binds).await;
    // The plain path is the plan before the decisions on keyed jobs (`g`), which a reserve
    // of jobs without a key never runs.
    let keyed = steps
        .iter()
        .position(|s| s == "MATERIALIZE g")
        .unwrap_or(steps.len());
    let (plain, keyed) = steps.split_at(keyed);
    let arms = |steps: &[String]| {
        steps
            .iter()
            .filter(|s| s.contains("COVERING INDEX jobs_available (queue=?)"))
            .count()
    };
    assert_eq!((arms(plain), sorts(plain)), (3, 1), "{steps:?}");
    assert_eq!(arms(keyed), 3, "{steps:?}");
    assert!(
        keyed
            .iter()
            .any(|s| s.contains("COVERING INDEX jobs_slots (concurrency_key=?)")),
        "the slots of a key are counted from their index: {steps:?}"
    );
    // Reading ahead past jobs moved aside: the heads of the queues from their index, the
    // slots of each key from theirs.
    let ahead = plan(&b, &reserve::reserve_ahead_sql(3)).await;
    for index in ["jobs_available (queue=?)", "jobs_slots (concurrency_key=?)"] {
        assert!(
            ahead.iter().any(|s| s.contains(index)),
            "{index}: {ahead:?}"
        );
    }
    assert!(!ahead.iter().any(|s| s == "SCAN jobs"), "{ahead:?}");
    // The dashboard's listing reads leased and waiting rows from their partial indexes.
    assert_uses(&b, limits::CONCURRENCY_USED, "jobs_slots").await;
    assert_uses(&b, limits::CONCURRENCY_USED, "jobs_waiting").await;
    assert_uses(&b, reserve::ANY_AVAILABLE, "jobs_available").await;
    assert_uses(&b, lease::EXPIRED, "jobs_running").await;
    assert_uses(&b, process::EXTEND_LEASES, "jobs_running").await;
    let steps = plan(&b, process::EXTEND_LISTED).await;
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH jobs USING INTEGER PRIMARY KEY")),
        "{steps:?}"
    );
    assert_uses(&b, promote::DUE_SCHEDULED, "jobs_scheduled").await;
    assert_uses(&b, promote::DUE_RETRIES, "jobs_retryable").await;
    assert_uses(&b, moves::REQUEUE_HEAD, "jobs_available").await;
    // The head of a queue is one seek into the band of requeued jobs.
    let steps = plan(&b, moves::REQUEUE_HEAD).await;
    assert!(
        steps
            .iter()
            .any(|s| s.contains("jobs_available (queue=? AND priority=?)")),
        "{steps:?}"
    );
    // A queue lists, and its head is read, in run order straight from the index.
    let queue = jobs::backend::JobSet::Queue("a".into());
    let s = set_sql(&queue).unwrap();
    let listing = candidates(&s, &JobFilter::default(), LISTED, s.listing) + " LIMIT 10";
    assert_uses(&b, &listing, "jobs_available").await;
    let steps = plan_bound(&b, &listing, &[V::T("a")]).await;
    assert_eq!(sorts(&steps), 0, "{steps:?}");
    assert_uses(&b, listing::QUEUES, "jobs_available").await;
    let steps = plan(&b, listing::QUEUES).await;
    assert_eq!(
        sorts(&steps),
        2,
        "only the names are sorted (union, order): {steps:?}"
    );
    // Unique locks: a push reads the holders of its keys, an operator lists and releases
    // them, all through the partial unique index.
    assert_uses(&b, unique::HOLDERS, "jobs_unique").await;
    assert_uses(&b, unique::LIST, "jobs_unique").await;
    assert_uses(&b, unique::RELEASE, "jobs_unique").await;
    let steps = plan(&b, finish::EXPIRE).await;
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH jobs USING INTEGER PRIMARY KEY")),
        "{steps:?}"
    );
    // Removal looks each row up by id, driven by the (small) list of tokens.
    let steps = plan(&b, finish::REMOVE).await;
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH jobs USING INTEGER PRIMARY KEY")),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN jobs")),
        "{steps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_from_another_process_is_seen_within_the_poll_interval() {
    let waiter = SqliteBackend::temporary_with(|c| c.poll_interval(Duration::from_millis(50)))
        .await
        .unwrap();
    // Same file, but a Notify of its own: to `waiter`, its pushes come from elsewhere.
    let config = SqliteConfig::new(waiter.path()).poll_interval(Duration::from_secs(60));
    let mut db = open::open(&config).await.unwrap();
    db.wake = Arc::new(Notify::new());
    let other = SqliteBackend { db: Arc::new(db) };

    let mut p = ReserveParams::new(vec!["far".into()], "p", chrono::Utc::now());
    p.wait = Duration::from_secs(120);
    let w = waiter.clone();
    let mut reserving = Box::pin(async move { w.job_reserve(p).await });
    assert!(futures::poll!(reserving.as_mut()).is_pending());
    let reserving = tokio::spawn(reserving);
    let started = Instant::now();
    let pushed = JobEnvelope::new("A", "far", vec![]);
    other
        .job_push(PushParams::new(vec![pushed.clone()], chrono::Utc::now()))
        .await
        .unwrap();
    let got = reserving.await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.jid, pushed.jid);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "seen after {:?}, not at a poll",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_temporary_database_is_removed_with_its_last_clone() {
    let b = SqliteBackend::temporary().await.unwrap();
    let path = b.path().to_owned();
    let clone = b.clone();
    drop(b);
    assert!(path.exists());
    drop(clone);
    assert!(!path.exists(), "{} is still there", path.display());
}

#[tokio::test]
async fn each_reserve_call_is_one_lease_number_higher_than_the_last() {
    let b = SqliteBackend::temporary().await.unwrap();
    let jobs: Vec<_> = (0..10)
        .map(|i| JobEnvelope::new("A", ["a", "b"][i % 2], vec![]))
        .collect();
    b.job_push(PushParams::new(jobs, chrono::Utc::now()))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    for limit in [4, 3] {
        let mut p = ReserveParams::new(vec!["a".into(), "b".into()], "p", chrono::Utc::now());
        p.limit = limit;
        let got = b.job_reserve(p).await.unwrap();
        let ids: Vec<String> = got
            .iter()
            .map(|r| r.token.0.split(':').next().unwrap().to_owned())
            .collect();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT queue, lease_seq FROM jobs WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(format!("[{}]", ids.join(",")))
        .fetch_all(&b.db.readers)
        .await
        .unwrap();
        seqs.push(rows);
    }
    // The first call took 4 from `a`, the second 1 from `a` and 2 from `b`: each call one
    // number, the later one higher.
    let numbers: Vec<HashSet<i64>> = seqs
        .iter()
        .map(|rows| rows.iter().map(|r| r.1).collect())
        .collect();
    assert_eq!(seqs[1].len(), 3, "{seqs:?}");
    assert!(numbers.iter().all(|n| n.len() == 1), "{seqs:?}");
    assert!(
        numbers[0].iter().max() < numbers[1].iter().min(),
        "{seqs:?}"
    );
}

#[tokio::test]
async fn a_reserve_over_more_queues_than_one_statement_reads_keeps_their_order() {
    let b = SqliteBackend::temporary().await.unwrap();
    let names: Vec<String> = (0..250).map(|i| format!("q{i:03}")).collect();
    // Jobs only in queues 120 and 230, pushed in the opposite order.
    let late = JobEnvelope::new("A", "q230", vec![]);
    let early = JobEnvelope::new("A", "q120", vec![]);
    b.job_push(PushParams::new(
        vec![late.clone(), early.clone()],
        chrono::Utc::now(),
    ))
    .await
    .unwrap();
    let mut p = ReserveParams::new(names, "p", chrono::Utc::now());
    p.limit = 5;
    let got = b.job_reserve(p).await.unwrap();
    let jids: Vec<_> = got.iter().map(|r| r.job.jid.clone()).collect();
    assert_eq!(jids, vec![early.jid, late.jid]);
}

#[tokio::test]
async fn facts_name_the_file_and_count_the_jobs() {
    let b = SqliteBackend::temporary().await.unwrap();
    b.job_push(PushParams::new(
        vec![JobEnvelope::new("A", "q", vec![])],
        chrono::Utc::now(),
    ))
    .await
    .unwrap();
    let facts: std::collections::HashMap<_, _> = b.facts().await.unwrap().into_iter().collect();
    assert!(facts["SQLite version"].starts_with("3."), "{facts:?}");
    assert_eq!(facts["Database file"], b.path().display().to_string());
    assert_eq!(facts["Jobs stored"], "1");
}

/// A sealed batch of one member with a `success` callback; the member reserved.
async fn one_member_batch(b: &SqliteBackend, bid: &str) -> Reserved {
    use jobs::batch::{BatchEvent, BatchInfo, BATCH_FIELD};
    let now = chrono::Utc::now();
    let cb = JobEnvelope::new("OnSuccess", "cb", vec![bid.into()]);
    let info = BatchInfo::new(
        bid,
        "t",
        jobs::envelope::to_epoch(now),
        Duration::from_secs(3600),
    )
    .callback(BatchEvent::Success, cb);
    let mut member = JobEnvelope::new("M", "q", vec![]);
    member.extra.insert(BATCH_FIELD.into(), bid.into());
    b.batch_create(
        BatchCreateParams::new(info, now)
            .jobs(vec![member])
            .sealed(true),
    )
    .await
    .unwrap();
    let mut got = b
        .job_reserve(ReserveParams::new(vec!["q".into()], "p", now))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    got.remove(0)
}

/// How many callback jobs wait on `cb`, and which batches are noted due.
async fn callbacks_and_notes(b: &SqliteBackend) -> (i64, Vec<String>) {
    let n = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE queue = 'cb'")
        .fetch_one(&b.db.readers)
        .await
        .unwrap();
    let due = sqlx::query_scalar("SELECT bid FROM batch_due")
        .fetch_all(&b.db.readers)
        .await
        .unwrap();
    (n, due)
}

/// The last member's removal moves it in its batch and notes the batch due in its own
/// statement; when the process dies before it fires the callbacks (here: the removal runs
/// alone), the next promotion pass of any process fires them, once.
#[tokio::test]
async fn a_batch_left_due_by_a_dead_settle_fires_from_the_next_promotion_pass() {
    let b = SqliteBackend::temporary().await.unwrap();
    let r = one_member_batch(&b, "b-due").await;
    let (id, nonce) = super::db::parse_token(&r.token).unwrap();
    let now = chrono::Utc::now();
    let list = serde_json::to_string(&[(id, nonce, false, now.timestamp_micros())]).unwrap();
    let mut conn = b.db.exec().await.unwrap();
    let removed: Vec<(i64, bool)> = sqlx::query_as(finish::REMOVE)
        .bind(list)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    conn.settle();
    // Removed, and flagged as perhaps leaving its batch due.
    assert_eq!(removed, vec![(id, true)]);
    assert_eq!(callbacks_and_notes(&b).await, (0, vec!["b-due".to_owned()]));
    let st = b.batch_status("b-due").await.unwrap().unwrap();
    assert_eq!((st.counts.pending, st.counts.succeeded), (0, 1));

    promote::scheduled_promote(&b.db, PromoteParams::new(now))
        .await
        .unwrap();
    assert_eq!(callbacks_and_notes(&b).await, (1, vec![]));
    // A second pass (another process) fires nothing again.
    promote::scheduled_promote(&b.db, PromoteParams::new(now))
        .await
        .unwrap();
    assert_eq!(callbacks_and_notes(&b).await, (1, vec![]));
}

/// Through the backend, the last member's settle fires the callback in its own call and
/// leaves no note behind.
#[tokio::test]
async fn a_settle_that_leaves_its_batch_due_fires_it_before_returning() {
    let b = SqliteBackend::temporary().await.unwrap();
    let r = one_member_batch(&b, "b-now").await;
    let f = Finish::new(
        r.token.clone(),
        r.job.clone(),
        FinishOutcome::Completed,
        false,
    );
    let rep = b
        .job_finish(FinishParams::new(vec![f], chrono::Utc::now()))
        .await
        .unwrap();
    assert!(rep.lost.is_empty());
    assert_eq!(callbacks_and_notes(&b).await, (1, vec![]));
}

/// A file of version 9 keeps its batches through migration 10: its member rows are copied,
/// and a member job leased before the upgrade is linked to its member row, so its settle
/// moves it in its batch and fires the callback.
#[tokio::test]
async fn a_version_9_file_keeps_its_batch_members() {
    use jobs::batch::{BatchEvent, BatchInfo, BATCH_FIELD};
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let path = open::temporary_path();
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut conn = options.connect().await.unwrap();
    for m in &open::MIGRATIONS[..9] {
        sqlx::Executor::execute(&mut conn, m.sql).await.unwrap();
    }
    let now = chrono::Utc::now();
    let cb = JobEnvelope::new("OnSuccess", "cb", vec![]);
    let info = BatchInfo::new(
        "b9",
        "t",
        jobs::envelope::to_epoch(now),
        Duration::from_secs(3600),
    )
    .callback(BatchEvent::Success, cb);
    let mut member = JobEnvelope::new("M", "q", vec![]);
    member.extra.insert(BATCH_FIELD.into(), "b9".into());
    sqlx::query(
        "INSERT INTO batches (bid, info, sealed, pending, expires_at)
         VALUES ('b9', ?1, 1, 1, ?2)",
    )
    .bind(serde_json::to_string(&info).unwrap())
    .bind(jobs::envelope::to_epoch(now) + 3600.0)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("INSERT INTO batch_members (bid, member, state) VALUES ('b9', ?1, 'pending')")
        .bind(&member.jid)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, jid, queue, class, state, run_at, pos, payload,
             lease_owner, lease_token, lease_seq, lease_expires_at)
         VALUES (1, ?1, 'q', 'M', 'running', 0, 1, ?2, 'p', 'nonce', 1, ?3)",
    )
    .bind(&member.jid)
    .bind(member.to_json().unwrap())
    .bind(now.timestamp_micros() + 3_600_000_000)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::Executor::execute(&mut conn, "PRAGMA user_version = 9")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let mut db = open::open(&SqliteConfig::new(&path)).await.unwrap();
    db.temporary = Some(path);
    let b = SqliteBackend { db: Arc::new(db) };
    let done = Finish::new(
        LeaseToken("1:nonce".into()),
        member,
        FinishOutcome::Completed,
        false,
    );
    let rep = b
        .job_finish(FinishParams::new(vec![done], now))
        .await
        .unwrap();
    assert!(rep.lost.is_empty());
    let st = b.batch_status("b9").await.unwrap().unwrap();
    assert_eq!((st.counts.pending, st.counts.succeeded), (0, 1));
    assert_eq!(callbacks_and_notes(&b).await, (1, vec![]));
}
