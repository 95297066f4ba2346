//! Concurrency and rate limits on Postgres where the conformance suite cannot reach: many
//! reservers on separate connections racing for one key's slots, settles and requeues of
//! many keys at once (no deadlock), the head order of jobs brought back, a settle lost with
//! its connection, rescue's sweep, and the rate log under concurrent takers and both
//! clocks.

mod postgres_support;

mod postgres {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use jobs::backend::*;
    use jobs::envelope::limits::ConcurrencyLimit;
    use jobs::envelope::JobEnvelope;
    use jobs_backends::postgres::PostgresBackend;

    use super::postgres_support::*;

    /// Job `n` on `queue`, at most `limit` at once per `key`.
    fn limited(queue: &str, n: i64, key: &str, limit: u32) -> JobEnvelope {
        let mut j = job(queue, n);
        j.set_concurrency(Some(ConcurrencyLimit::new(key, limit)));
        j
    }

    /// Settles `taken` as completed, in one call.
    async fn complete(b: &PostgresBackend, taken: &[Reserved]) {
        let items = taken
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
        let report = b.job_finish(FinishParams::new(items, t0())).await.unwrap();
        assert!(report.lost.is_empty(), "a held lease was refused");
    }

    /// How many rows of each key run right now.
    async fn running_per_key(pool: &sqlx::PgPool, schema: &str) -> Vec<(String, i64)> {
        sqlx::query_as(&format!(
            "SELECT concurrency_key, count(*) FROM \"{schema}\".jobs
             WHERE state = 'running' AND concurrency_key IS NOT NULL
             GROUP BY concurrency_key"
        ))
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// The rows left in `schema`: state, key, priority, position, lease token.
    async fn leftovers(
        pool: &sqlx::PgPool,
        schema: &str,
    ) -> Vec<(String, Option<String>, i16, i64, Option<i64>)> {
        sqlx::query_as(&format!(
            "SELECT state::text, concurrency_key, priority, position, lease_token
             FROM \"{schema}\".jobs ORDER BY id"
        ))
        .fetch_all(pool)
        .await
        .unwrap_or_default()
    }

    /// Rows of `table` in the test's schema.
    async fn rows_in(db: &TestDb, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\".{table}", db.schema))
            .fetch_one(db.backend.pool())
            .await
            .unwrap()
    }

    /// The jids of queue `q`, head first, as the dashboard lists them.
    async fn queue_order(b: &PostgresBackend, q: &str) -> Vec<String> {
        let page = b
            .job_list(JobListParams::new(JobSet::Queue(q.into()), 100))
            .await
            .unwrap();
        page.jobs.into_iter().map(|s| s.job.jid).collect()
    }

    /// Three processes (own pools) of three reserving tasks each work `jobs` off queue `q`
    /// until all ran, reserving `batch` at a time and settling each batch in one call; every
    /// fourth batch is requeued instead. A watcher checks, while they run, that no key ever
    /// has more than `limit` rows running, and the workers count the limited leases they
    /// hold against `limit` when there is one key. Each job runs once; nothing is left.
    async fn work_off(
        db: &TestDb,
        jobs: Vec<JobEnvelope>,
        batch: usize,
        limit: u32,
        one_key: bool,
    ) {
        let total = jobs.len();
        push(&db.backend, jobs).await;
        let done = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut tasks = Vec::new();
        for p in 0..3 {
            let backend = db.another().await;
            for t in 0..3 {
                let (backend, done, held, most) =
                    (backend.clone(), done.clone(), held.clone(), most.clone());
                let process = format!("proc-{p}-{t}");
                let (pool, schema) = (db.backend.pool().clone(), db.schema.clone());
                tasks.push(tokio::spawn(async move {
                    let mut round = 0;
                    while done.lock().unwrap().len() < total {
                        if Instant::now() >= deadline {
                            let left = leftovers(&pool, &schema).await;
                            panic!("the jobs did not all run; left: {left:?}");
                        }
                        let mut params = ReserveParams::new(vec!["q".into()], &*process, t0());
                        params.limit = batch;
                        let got = backend.job_reserve(params).await.unwrap();
                        if got.is_empty() {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            continue;
                        }
                        let mine = got.iter().filter(|r| r.job.concurrency().is_some()).count();
                        let now = held.fetch_add(mine, Ordering::SeqCst) + mine;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        // Let go in the count before the store frees the slots.
                        held.fetch_sub(mine, Ordering::SeqCst);
                        round += 1;
                        if round % 4 == 0 {
                            let tokens = got.iter().map(|r| r.token.clone()).collect();
                            backend
                                .job_requeue(RequeueParams::new(tokens, t0()))
                                .await
                                .unwrap();
                            continue;
                        }
                        complete(&backend, &got).await;
                        done.lock()
                            .unwrap()
                            .extend(got.into_iter().map(|r| r.job.jid.clone()));
                    }
                }));
            }
        }
        let watcher = {
            let finished = finished.clone();
            let (pool, schema) = (db.backend.pool().clone(), db.schema.clone());
            tokio::spawn(async move {
                let mut looks = 0;
                while !finished.load(Ordering::SeqCst) {
                    for (key, n) in running_per_key(&pool, &schema).await {
                        assert!(n <= i64::from(limit), "{n} of key {key} ran at once");
                    }
                    looks += 1;
                }
                looks
            })
        };
        for t in futures::future::join_all(tasks).await {
            t.unwrap();
        }
        finished.store(true, Ordering::SeqCst);
        assert!(watcher.await.unwrap() > 0);
        if one_key {
            let most = most.load(Ordering::SeqCst);
            assert!(
                most <= limit as usize,
                "{most} leases of one key held at once"
            );
        }
        let done = done.lock().unwrap().clone();
        let distinct: HashSet<_> = done.iter().collect();
        assert_eq!(
            (distinct.len(), done.len()),
            (total, total),
            "each job ran once"
        );
        assert_eq!(
            rows_in(db, "jobs").await,
            0,
            "nothing waits, nothing is left behind"
        );
    }

    async fn one_key_race(limit: u32) {
        let db = TestDb::new().await;
        let mut jobs: Vec<_> = (0..40).map(|n| limited("q", n, "k", limit)).collect();
        // Plain jobs behind and among them: they must not wait for the key.
        jobs.extend((100..120).map(|n| job("q", n)));
        jobs.swap(5, 45);
        work_off(&db, jobs, 2, limit, true).await;
        db.drop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_reservers_never_exceed_a_limit_of_one() {
        one_key_race(1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_reservers_never_exceed_a_limit_of_two() {
        one_key_race(2).await;
    }

    /// Batches of many keys settled and requeued at once, while others reserve, take the
    /// keys' locks in one order: nothing deadlocks (Postgres would fail a statement).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn settles_and_reserves_of_many_keys_never_deadlock() {
        let db = TestDb::new().await;
        let jobs: Vec<_> = (0..240)
            .map(|n| limited("q", n, &format!("key-{}", n % 12), 2))
            .collect();
        work_off(&db, jobs, 6, 2, false).await;
        db.drop().await;
    }

    /// Many keys limited to one with short backlogs, where a slot often frees just as a
    /// reserve finds its key full: no job is left waiting with its slot free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn short_backlogs_of_many_keys_all_run() {
        let db = TestDb::new().await;
        let jobs: Vec<_> = (0..240)
            .map(|n| limited("q", n, &format!("key-{}", n % 60), 1))
            .collect();
        work_off(&db, jobs, 3, 1, false).await;
        db.drop().await;
    }

    /// A process that has not met limited jobs reserves with the plain statement, which
    /// leaves them for the limits one: the jobs still come back in queue order.
    #[tokio::test]
    async fn a_reserve_that_meets_limited_rows_keeps_queue_order() {
        let db = TestDb::new().await;
        let jobs = vec![
            job("q", 1),
            limited("q", 2, "k", 1),
            job("q", 3),
            limited("q", 4, "k", 1),
            limited("q", 5, "l", 1),
        ];
        push(&db.backend, jobs.clone()).await;
        let fresh = db.another().await;
        let taken = reserve(&fresh, "q", 10, "p1").await;
        let jids: Vec<_> = taken.iter().map(|r| r.job.jid.clone()).collect();
        let expected: Vec<_> = [0, 1, 2, 4].iter().map(|&i| jobs[i].jid.clone()).collect();
        assert_eq!(jids, expected, "k's second job waits");
        db.drop().await;
    }

    /// Requeued jobs lead their queue in the order given, each followed by the job its slot
    /// brought back; a settle brings the waiting job to the very head.
    #[tokio::test]
    async fn jobs_brought_back_go_right_behind_the_job_given_back() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let (a1, b1) = (limited("q", 1, "a", 1), limited("q", 2, "b", 1));
        let (a2, b2) = (limited("q", 3, "a", 1), limited("q", 4, "b", 1));
        let plain = job("q", 5);
        push(
            b,
            vec![
                a1.clone(),
                b1.clone(),
                a2.clone(),
                b2.clone(),
                plain.clone(),
            ],
        )
        .await;
        let taken = reserve(b, "q", 10, "p1").await;
        let jids: Vec<_> = taken.iter().map(|r| r.job.jid.clone()).collect();
        assert_eq!(
            jids,
            vec![a1.jid.clone(), b1.jid.clone(), plain.jid.clone()]
        );
        assert!(queue_order(b, "q").await.is_empty(), "a2 and b2 wait");
        let tokens = taken[..2].iter().map(|r| r.token.clone()).collect();
        b.job_requeue(RequeueParams::new(tokens, t0()))
            .await
            .unwrap();
        assert_eq!(
            queue_order(b, "q").await,
            vec![
                a1.jid.clone(),
                a2.jid.clone(),
                b1.jid.clone(),
                b2.jid.clone()
            ]
        );
        let again = reserve(b, "q", 10, "p1").await;
        let jids: Vec<_> = again.iter().map(|r| r.job.jid.clone()).collect();
        assert_eq!(jids, vec![a1.jid.clone(), b1.jid.clone()]);
        push(b, vec![job("q", 6)]).await;
        complete(b, &again[..1]).await;
        assert_eq!(
            queue_order(b, "q").await[0],
            a2.jid,
            "a settle brings back to the head"
        );
        db.drop().await;
    }

    /// A settle whose connection dies before it commits frees nothing: the slot stays with
    /// the running row, and the rescue of its lease frees it and brings the next job back.
    #[tokio::test]
    async fn a_settle_lost_with_its_connection_leaves_the_slot_to_rescue() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let (k1, k2) = (limited("q", 1, "k", 1), limited("q", 2, "k", 1));
        push(b, vec![k1.clone(), k2.clone()]).await;
        let taken = reserve(b, "q", 10, "p1").await;
        assert_eq!(taken.len(), 1);
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base_url())
            .await
            .unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "BEGIN; DELETE FROM \"{}\".jobs WHERE jid = '{}'",
            db.schema, k1.jid
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(b.pool())
            .await
            .unwrap();
        assert!(killed);
        drop(conn);
        // The server rolls the transaction back as the backend exits: wait for that.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let alive: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                    .bind(pid)
                    .fetch_one(b.pool())
                    .await
                    .unwrap();
            if !alive {
                break;
            }
            assert!(Instant::now() < deadline, "the killed backend lingers");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let usage = b.limits_list(LimitsListParams::new(t0())).await.unwrap();
        assert_eq!(usage, vec![LimitUsage::concurrency("k", 1, 1, 1)]);
        assert!(
            reserve(b, "q", 10, "p2").await.is_empty(),
            "the slot is still held"
        );
        let later = t0() + chrono::Duration::seconds(120);
        assert_eq!(b.lease_rescue(RescueParams::new(later)).await.unwrap(), 1);
        let next = reserve(b, "q", 10, "p2").await;
        assert_eq!(next.len(), 1, "the rescued job runs again, alone");
        assert_eq!(next[0].job.jid, k1.jid);
        db.drop().await;
    }

    /// A job brought back for a freed slot and then cleared with its queue was the only way
    /// back for the jobs waiting behind it: rescue's sweep brings the next one back.
    #[tokio::test]
    async fn rescue_brings_back_waiting_jobs_whose_way_back_was_cleared() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let jobs: Vec<_> = (1..=3).map(|n| limited("q", n, "k", 1)).collect();
        push(b, jobs.clone()).await;
        let taken = reserve(b, "q", 10, "p1").await;
        assert_eq!(taken.len(), 1);
        complete(b, &taken).await;
        assert_eq!(queue_order(b, "q").await, vec![jobs[1].jid.clone()]);
        assert_eq!(b.queue_clear(QueueClearParams::new("q")).await.unwrap(), 1);
        assert!(
            reserve(b, "q", 10, "p1").await.is_empty(),
            "the last one waits"
        );
        b.lease_rescue(RescueParams::new(t0())).await.unwrap();
        let last = reserve(b, "q", 10, "p1").await;
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].job.jid, jobs[2].jid);
        db.drop().await;
    }

    /// Thirty takers on three connections pools, one key, five starts a minute: exactly
    /// five are granted, and every refusal names the same time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_rate_takers_get_exactly_the_limit() {
        let db = TestDb::new().await;
        let per = Duration::from_secs(60);
        let mut takers = Vec::new();
        for _ in 0..3 {
            let backend = db.another().await;
            for _ in 0..10 {
                let backend = backend.clone();
                takers.push(tokio::spawn(async move {
                    backend
                        .rate_acquire(RateAcquireParams::new("r", 5, per, t0()))
                        .await
                        .unwrap()
                }));
            }
        }
        let mut granted = 0;
        for t in futures::future::join_all(takers).await {
            match t.unwrap() {
                RateDecision::Granted => granted += 1,
                RateDecision::Refused { retry_at } => {
                    assert_eq!(retry_at, t0() + chrono::Duration::seconds(60))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(granted, 5);
        db.drop().await;
    }

    /// With the store's clock the window is judged by the server's time; once it empties,
    /// rescue deletes the key's log.
    #[tokio::test]
    async fn the_store_clock_judges_the_window_and_idle_logs_go() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let take = |key: &str, per: Duration, now| {
            RateAcquireParams::new(key, 1, per, now).clock(LeaseClock::Store)
        };
        let hour = Duration::from_secs(3600);
        let before = chrono::Utc::now();
        assert_eq!(
            b.rate_acquire(take("s", hour, t0())).await.unwrap(),
            RateDecision::Granted
        );
        let RateDecision::Refused { retry_at } =
            b.rate_acquire(take("s", hour, t0())).await.unwrap()
        else {
            panic!("a second start in the hour was granted");
        };
        let slack = chrono::Duration::seconds(30);
        let hour_later = before + chrono::Duration::seconds(3600);
        assert!(
            retry_at > hour_later - slack && retry_at < hour_later + slack,
            "{retry_at}"
        );
        let ago = chrono::Utc::now() - chrono::Duration::seconds(20);
        b.rate_acquire(RateAcquireParams::new("c", 1, Duration::from_secs(10), ago))
            .await
            .unwrap();
        assert_eq!(rows_in(&db, "limit_rates").await, 2);
        b.lease_rescue(RescueParams::new(chrono::Utc::now()))
            .await
            .unwrap();
        assert_eq!(
            rows_in(&db, "limit_rates").await,
            1,
            "only the idle key's log went"
        );
        db.drop().await;
    }

    /// Jobs moved aside outlive a cleared queue and come back when a slot frees; clearing
    /// everything removes them with their counts.
    #[tokio::test]
    async fn waiting_jobs_survive_a_queue_clear_and_go_with_clear_all() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let jobs: Vec<_> = (1..=3).map(|n| limited("q", n, "k", 1)).collect();
        push(b, jobs.clone()).await;
        let taken = reserve(b, "q", 10, "p1").await;
        assert_eq!(taken.len(), 1);
        b.queue_clear(QueueClearParams::new("q")).await.unwrap();
        complete(b, &taken).await;
        let next = reserve(b, "q", 10, "p1").await;
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].job.jid, jobs[1].jid);
        b.clear_all().await.unwrap();
        assert_eq!(rows_in(&db, "jobs").await, 0);
        assert!(b
            .limits_list(LimitsListParams::new(t0()))
            .await
            .unwrap()
            .is_empty());
        db.drop().await;
    }
}
