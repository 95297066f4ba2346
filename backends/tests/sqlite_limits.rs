//! Concurrency and rate limits on the SQLite backend where the conformance suite cannot
//! look: several backends on one file (as several processes would share it) racing for
//! the slots of one key and the starts of one rate, a process that stops holding a slot,
//! admin operations meeting jobs moved aside, slots taken in run order across priorities
//! and queues, and rate logs pruned as they go. (Throughput with limits: `sqlite_speed`.)

mod sqlite_support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use jobs::backend::*;
use jobs::clock::LeaseClock;
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;
use jobs_backends::sqlite::SqliteBackend;
use sqlite_support::*;

const Q: &str = "limited";

/// Job `n` on `queue`, limited to `limit` at once per `key`.
fn limited(queue: &str, n: i64, key: &str, limit: u32) -> JobEnvelope {
    let mut j = job(queue, n);
    j.set_concurrency(Some(ConcurrencyLimit::new(key, limit)));
    j
}

/// (key, in use, waiting) of every concurrency limit listed.
async fn usage(b: &SqliteBackend) -> Vec<(String, u64, u64)> {
    b.limits_list(LimitsListParams::new(Utc::now()))
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.kind == LimitKind::Concurrency)
        .map(|u| (u.key, u.in_use, u.waiting))
        .collect()
}

/// A read-only connection pool on the file, to count rows as the backends left them.
async fn reader(db: &TempDb) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&db.url()).await.unwrap()
}

/// Leased rows per concurrency key, read in one snapshot.
async fn leased_per_key(pool: &sqlx::SqlitePool) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT concurrency_key, count(*) FROM jobs
         WHERE state = 'running' AND concurrency_key IS NOT NULL GROUP BY concurrency_key",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// What the racing workers share.
#[derive(Default)]
struct Race {
    /// Jobs of the hot key between their reserve returning and their settle starting: a
    /// lower bound of the leases the store holds for it, so a count above the limit is a
    /// limit broken, never a false alarm.
    holding: AtomicUsize,
    most_held: AtomicUsize,
    /// Jobs whose completion was applied, by jid.
    done: Mutex<HashSet<String>>,
    /// Jids given back or abandoned once already.
    tried: Mutex<HashSet<String>>,
    over: AtomicBool,
}

/// Four backends on one file, three reservers each, race for the slots of key `hot`
/// (limited to `limit`) among plain jobs and jobs of another key; some jobs are given
/// back, some abandoned as a crashed process would (their leases expire and are rescued).
/// Neither the reservers nor a reader polling the file ever see more than `limit` leases
/// of the key, and every job is completed exactly once.
async fn race(limit: u32) {
    const BACKENDS: usize = 4;
    const HOT: i64 = 120;
    let db = TempDb::new("limits-race");
    let mut backends = Vec::new();
    for _ in 0..BACKENDS {
        backends.push(db.open().await);
    }
    let mut jobs = Vec::new();
    for n in 0..HOT {
        jobs.push(limited(Q, n, "hot", limit));
        if n % 3 == 0 {
            jobs.push(job(Q, 1000 + n));
            jobs.push(limited(Q, 2000 + n, "warm", 1));
        }
    }
    let total = jobs.len();
    // Half before the race, half from the racing backends while it runs.
    let (first, later) = jobs.split_at(total / 2);
    push(&backends[0], first.to_vec()).await.unwrap();
    let state = Arc::new(Race::default());
    let mut tasks = Vec::new();
    for (i, chunk) in later.chunks(later.len() / BACKENDS + 1).enumerate() {
        let (b, chunk) = (backends[i % BACKENDS].clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for part in chunk.chunks(7) {
                push(&b, part.to_vec()).await.unwrap();
            }
        }));
    }
    for (i, b) in backends.iter().enumerate() {
        for r in 0..3 {
            let (b, state) = (b.clone(), state.clone());
            tasks.push(tokio::spawn(async move {
                work(&b, &format!("backend-{i}-{r}"), &state, total).await
            }));
        }
    }
    // Expired leases (the abandoned ones) go back to their queues.
    let rescuer = {
        let (b, state) = (backends[1].clone(), state.clone());
        tokio::spawn(async move {
            while !state.over.load(Ordering::SeqCst) {
                b.lease_rescue(RescueParams::new(Utc::now()).max_rescues(1000))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let pool = reader(&db).await;
    let mut most_leased = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while state.done.lock().unwrap().len() < total {
        let leased = leased_per_key(&pool).await;
        let hot = leased.get("hot").copied().unwrap_or(0);
        assert!(hot <= i64::from(limit), "{hot} leases of `hot` at once");
        assert!(leased.get("warm").copied().unwrap_or(0) <= 1, "{leased:?}");
        most_leased = most_leased.max(hot);
        for u in b_usage(&backends[2]).await {
            assert!(
                u.in_use <= u64::from(u.limit),
                "listed over its limit: {u:?}"
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {total} jobs done",
            state.done.lock().unwrap().len()
        );
        tokio::task::yield_now().await;
    }
    state.over.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("a task panicked");
    }
    rescuer.await.unwrap();
    let most_held = state.most_held.load(Ordering::SeqCst);
    assert!(most_held <= limit as usize, "{most_held} held at once");
    assert_eq!(
        most_leased,
        i64::from(limit),
        "the limit was used, not serialized below it"
    );
    assert!(
        usage(&backends[3]).await.is_empty(),
        "no slot or waiting job is left"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(backends[0].stats().await.unwrap().processed, total as u64);
}

async fn b_usage(b: &SqliteBackend) -> Vec<LimitUsage> {
    b.limits_list(LimitsListParams::new(Utc::now()))
        .await
        .unwrap()
}

/// One racing reserver: takes up to four jobs at a time with a short lease; gives every
/// ninth hot job back once, abandons every thirteenth once, completes the rest.
async fn work(b: &SqliteBackend, process: &str, state: &Race, total: usize) {
    while state.done.lock().unwrap().len() < total {
        let mut p = ReserveParams::new(vec![Q.to_owned()], process, Utc::now());
        p.limit = 4;
        p.wait = Duration::from_millis(20);
        p.lease_ttl = Duration::from_millis(400);
        let got = b.job_reserve(p).await.unwrap();
        let hot: Vec<bool> = got
            .iter()
            .map(|r| r.job.concurrency().is_some_and(|c| c.key == "hot"))
            .collect();
        let holding = hot.iter().filter(|h| **h).count();
        let now = state.holding.fetch_add(holding, Ordering::SeqCst) + holding;
        state.most_held.fetch_max(now, Ordering::SeqCst);
        // The jobs run a moment, so leases overlap.
        tokio::time::sleep(Duration::from_millis(2)).await;
        state.holding.fetch_sub(holding, Ordering::SeqCst);
        let mut finish = Vec::new();
        for r in got {
            let n = r.job.args[0].as_i64().unwrap_or(0);
            let first = state.tried.lock().unwrap().insert(r.job.jid.clone());
            if first && n % 9 == 4 {
                b.job_requeue(RequeueParams::new(vec![r.token.clone()], Utc::now()))
                    .await
                    .unwrap();
            } else if first && n % 13 == 5 {
                // Abandoned: its lease runs out and the rescuer gives it back.
            } else {
                finish.push(r);
            }
        }
        if finish.is_empty() {
            continue;
        }
        let report = complete(b, &finish).await.unwrap();
        let mut done = state.done.lock().unwrap();
        for (i, r) in finish.iter().enumerate() {
            // A lease that ran out under load was rescued: the job runs again.
            if !report.lost.contains(&i) {
                assert!(
                    done.insert(r.job.jid.clone()),
                    "{} completed twice",
                    r.job.jid
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_backends_never_lease_more_than_a_limit_of_one() {
    race(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_backends_never_lease_more_than_a_limit_of_two() {
    race(2).await;
}

/// A process that holds the slot of a key and stops (closed, as if killed) keeps it only
/// until its lease is rescued: another process on the file then runs the job again, and
/// the job waiting for the key after it.
#[tokio::test]
async fn a_stopped_process_holds_its_slot_only_until_rescue() {
    let db = TempDb::new("limits-crash");
    let (gone, alive) = (db.open().await, db.open().await);
    let (k1, k2) = (limited(Q, 1, "k", 1), limited(Q, 2, "k", 1));
    push(&alive, vec![k1.clone(), k2.clone(), job(Q, 3)])
        .await
        .unwrap();
    let mut p = ReserveParams::new(vec![Q.to_owned()], "gone", Utc::now());
    p.limit = 1;
    let held = gone.job_reserve(p).await.unwrap();
    assert_eq!(held[0].job.jid, k1.jid);
    gone.close().await;
    let got = reserve(&alive, Q, 10, "alive", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "only the plain job: k2 waits for the slot");
    complete(&alive, &got).await.unwrap();
    assert_eq!(usage(&alive).await, vec![("k".to_owned(), 1, 1)]);
    let later = Utc::now() + chrono::Duration::seconds(120);
    assert_eq!(
        alive.lease_rescue(RescueParams::new(later)).await.unwrap(),
        1
    );
    for expected in [&k1, &k2] {
        let got = reserve(&alive, Q, 10, "alive", Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job.jid, expected.jid);
        assert!(complete(&alive, &got).await.unwrap().lost.is_empty());
    }
    assert!(usage(&alive).await.is_empty());
}

/// Admin operations never strand a job moved aside: clearing the queue leaves them to come
/// back; deleting or killing the job a freed slot brought back brings the next one; and
/// clearing everything removes them.
#[tokio::test]
async fn admin_operations_leave_no_waiting_job_stranded() {
    let db = TempDb::new("limits-admin");
    let b = db.open().await;
    let ks: Vec<_> = (1..=4).map(|n| limited(Q, n, "k", 1)).collect();
    push(&b, ks.clone()).await.unwrap();
    let first = reserve(&b, Q, 10, "p", Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(usage(&b).await, vec![("k".to_owned(), 1, 3)]);
    let cleared = b.queue_clear(QueueClearParams::new(Q)).await.unwrap();
    assert_eq!(cleared, 0, "the queue held no job: they wait for the slot");
    assert_eq!(usage(&b).await, vec![("k".to_owned(), 1, 3)]);

    // The slot frees: k2 comes back, and is deleted before it runs; k3 comes back for it.
    complete(&b, &first).await.unwrap();
    let queue = JobSet::Queue(Q.into());
    let deleted = b
        .job_delete(JobActionParams::jids(
            queue.clone(),
            vec![ks[1].jid.clone()],
            Utc::now(),
        ))
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    // k3 is killed the same way; k4 comes back for it.
    let killed = b
        .job_kill(JobActionParams::jids(
            queue,
            vec![ks[2].jid.clone()],
            Utc::now(),
        ))
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let got = reserve(&b, Q, 10, "p", Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.jid, ks[3].jid);

    push(&b, vec![limited(Q, 5, "k", 1)]).await.unwrap();
    assert!(reserve(&b, Q, 10, "p", Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(usage(&b).await, vec![("k".to_owned(), 1, 1)]);
    b.clear_all().await.unwrap();
    assert!(usage(&b).await.is_empty());
    let pool = reader(&db).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Twenty callers on four backends ask one rate key at once for five starts each: exactly
/// the limit is granted, judged by the store's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_backends_never_grant_more_than_a_rate() {
    let db = TempDb::new("limits-rate");
    let mut tasks = Vec::new();
    let granted = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let b = db.open().await;
        for _ in 0..5 {
            let (b, granted) = (b.clone(), granted.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    let p = RateAcquireParams::new("r", 7, Duration::from_secs(3600), Utc::now())
                        .clock(LeaseClock::Store);
                    if b.rate_acquire(p).await.unwrap() == RateDecision::Granted {
                        granted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(granted.load(Ordering::SeqCst), 7);
}

/// A key whose window emptied is deleted with its starts by the next start taken of any
/// key, so idle keys leave nothing behind.
#[tokio::test]
async fn idle_rate_keys_are_pruned() {
    let db = TempDb::new("limits-prune");
    let b = db.open().await;
    let per = Duration::from_secs(10);
    let t0 = Utc::now();
    for _ in 0..3 {
        let p = RateAcquireParams::new("old", 5, per, t0);
        assert_eq!(b.rate_acquire(p).await.unwrap(), RateDecision::Granted);
    }
    let later = t0 + chrono::Duration::seconds(11);
    let p = RateAcquireParams::new("new", 5, per, later);
    assert_eq!(b.rate_acquire(p).await.unwrap(), RateDecision::Granted);
    let pool = reader(&db).await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT key, (SELECT count(*) FROM rate_starts AS s WHERE s.key = r.key)
         FROM rate_limits AS r
         UNION ALL SELECT 'orphans', count(*) FROM rate_starts
         WHERE key NOT IN (SELECT key FROM rate_limits)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows, vec![("new".to_owned(), 1), ("orphans".to_owned(), 0)]);
    let listed = b.limits_list(LimitsListParams::new(later)).await.unwrap();
    assert_eq!(listed, vec![LimitUsage::rate("new", 5, per, 1, None)]);
}

/// Jobs of one key met by one reserve take the slots in run order, not in the order they
/// were stored: a job pushed later at a higher priority runs first, and the one pushed
/// before it waits.
#[tokio::test]
async fn the_slots_go_in_run_order() {
    let db = TempDb::new("limits-order");
    let b = db.open().await;
    let mut early = limited(Q, 1, "k", 1);
    early.set_priority(9);
    let late = limited(Q, 2, "k", 1);
    push(&b, vec![early.clone(), late.clone()]).await.unwrap();
    let got = reserve(&b, Q, 10, "p", Duration::ZERO).await.unwrap();
    let jids: Vec<_> = got.iter().map(|r| r.job.jid.clone()).collect();
    assert_eq!(jids, vec![late.jid]);
    complete(&b, &got).await.unwrap();
    let got = reserve(&b, Q, 10, "p", Duration::ZERO).await.unwrap();
    assert_eq!(got[0].job.jid, early.jid);
}

/// A key shared by two queues: a job waiting for it comes back to its own queue, and a job
/// that expired before it ran frees its slot as it is deleted.
#[tokio::test]
async fn a_key_shared_by_queues_and_an_expired_job() {
    let db = TempDb::new("limits-queues");
    let b = db.open().await;
    let (a1, b1) = (limited("qa", 1, "k", 1), limited("qb", 2, "k", 1));
    push(&b, vec![a1.clone(), b1.clone()]).await.unwrap();
    let mut p = ReserveParams::new(vec!["qa".into(), "qb".into()], "p", Utc::now());
    p.limit = 10;
    let got = b.job_reserve(p).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.jid, a1.jid);
    let expired = Finish::new(
        got[0].token.clone(),
        got[0].job.clone(),
        FinishOutcome::Expired,
        false,
    );
    let report = b
        .job_finish(FinishParams::new(vec![expired], Utc::now()))
        .await
        .unwrap();
    assert!(report.lost.is_empty());
    assert!(reserve(&b, "qa", 10, "p", Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    let got = reserve(&b, "qb", 10, "p", Duration::ZERO).await.unwrap();
    assert_eq!(got[0].job.jid, b1.jid, "b1 came back to its own queue");
    assert_eq!(b.stats().await.unwrap().expired, 1);
}
