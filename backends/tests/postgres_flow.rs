//! Flow control on Postgres beyond the conformance suite: requeued and rescued jobs ahead
//! of every priority and their priority back when they move again, the expired counter,
//! unique pushes racing each other, and unique pushes on the app's own transaction.

mod postgres_support;

mod postgres {
    use std::time::{Duration, Instant};

    use chrono::{DateTime, Utc};
    use jobs::backend::*;
    use jobs::envelope::flow::{UniqueLock, UniqueUntil};
    use jobs::envelope::JobEnvelope;
    use jobs_backends::postgres::PostgresBackend;

    use super::postgres_support::*;

    fn with_priority(queue: &str, n: i64, priority: u8) -> JobEnvelope {
        let mut j = job(queue, n);
        j.set_priority(priority);
        j
    }

    fn unique(n: i64, key: &str) -> JobEnvelope {
        let mut j = job("u", n);
        let lock = UniqueLock::new("J", None, &[key.into()], UniqueUntil::Success, 2e9);
        j.set_unique(Some(lock));
        j
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(s)
    }

    async fn listed(b: &PostgresBackend, queue: &str) -> Vec<String> {
        let page = b
            .job_list(JobListParams::new(JobSet::Queue(queue.into()), 100))
            .await
            .unwrap();
        page.jobs.into_iter().map(|s| s.job.jid).collect()
    }

    async fn priority_column(db: &TestDb, jid: &str) -> i16 {
        sqlx::query_scalar(&format!(
            "SELECT priority FROM \"{}\".jobs WHERE jid = $1",
            db.schema
        ))
        .bind(jid)
        .fetch_one(db.backend.pool())
        .await
        .unwrap()
    }

    async fn settle(b: &PostgresBackend, r: &Reserved, outcome: FinishOutcome) -> FinishReport {
        let item = Finish::new(r.token.clone(), r.job.clone(), outcome, false);
        b.job_finish(FinishParams::new(vec![item], t0()).dead_limits(DeadLimits::default()))
            .await
            .unwrap()
    }

    /// A rescued job of priority 5 and a requeued one of priority 7 run before the jobs of
    /// priority 0 that waited (the memory backend's head); once retried and promoted, the
    /// rescued job is back at priority 5, behind a priority-0 job pushed after it.
    #[tokio::test]
    async fn rescued_and_requeued_jobs_lead_every_priority_then_get_theirs_back() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let (five, seven) = (with_priority("q", 1, 5), with_priority("q", 2, 7));
        push(b, vec![five.clone(), seven.clone()]).await;
        let taken = reserve(b, "q", 2, "p1").await;
        assert_eq!(taken[0].job.jid, five.jid, "setup: 5 before 7");
        let zeros = vec![with_priority("q", 3, 0), with_priority("q", 4, 0)];
        push(b, zeros.clone()).await;
        b.job_requeue(RequeueParams::new(vec![taken[1].token.clone()], t0()))
            .await
            .unwrap();
        assert_eq!(
            b.lease_rescue(RescueParams::new(secs(120))).await.unwrap(),
            1
        );
        let run_order = vec![
            five.jid.clone(),
            seven.jid.clone(),
            zeros[0].jid.clone(),
            zeros[1].jid.clone(),
        ];
        assert_eq!(listed(b, "q").await, run_order, "listed in run order");
        let again = reserve(b, "q", 4, "p2").await;
        let got: Vec<String> = again.iter().map(|r| r.job.jid.clone()).collect();
        assert_eq!(
            got, run_order,
            "the rescued, then the requeued, then priority 0"
        );
        assert_eq!(
            again[0].job.priority(),
            5,
            "the envelope keeps its priority"
        );

        let report = settle(b, &again[0], FinishOutcome::Retry { at: secs(10) }).await;
        assert!(report.lost.is_empty());
        let later = with_priority("q", 5, 0);
        push(b, vec![later.clone()]).await;
        b.scheduled_promote(PromoteParams::new(secs(10)))
            .await
            .unwrap();
        assert_eq!(priority_column(&db, &five.jid).await, 5);
        assert_eq!(listed(b, "q").await, vec![later.jid, five.jid]);
        db.drop().await;
    }

    /// A requeued job killed from its queue and enqueued again from the dead set waits at
    /// its own priority, not at the head.
    #[tokio::test]
    async fn enqueue_now_gives_a_requeued_job_its_priority_back() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let three = with_priority("q", 1, 3);
        push(b, vec![three.clone()]).await;
        let taken = reserve(b, "q", 1, "p1").await;
        b.job_requeue(RequeueParams::new(vec![taken[0].token.clone()], t0()))
            .await
            .unwrap();
        assert_eq!(priority_column(&db, &three.jid).await, -1, "at the head");
        let kill = JobActionParams::jids(JobSet::Queue("q".into()), vec![three.jid.clone()], t0());
        assert_eq!(b.job_kill(kill).await.unwrap(), 1);
        let zero = with_priority("q", 2, 0);
        push(b, vec![zero.clone()]).await;
        let back = JobActionParams::jids(JobSet::Dead, vec![three.jid.clone()], t0());
        assert_eq!(b.job_enqueue_now(back).await.unwrap(), 1);
        assert_eq!(priority_column(&db, &three.jid).await, 3);
        assert_eq!(listed(b, "q").await, vec![zero.jid, three.jid]);
        db.drop().await;
    }

    /// An expired job is deleted and counted in `expired` only: not processed, not failed,
    /// not in the day's history.
    #[tokio::test]
    async fn an_expired_job_is_counted_apart() {
        let db = TestDb::new().await;
        let b = &db.backend;
        push(b, vec![job("q", 1), job("q", 2)]).await;
        let taken = reserve(b, "q", 2, "p1").await;
        let items = taken
            .iter()
            .map(|r| {
                Finish::new(
                    r.token.clone(),
                    r.job.clone(),
                    FinishOutcome::Expired,
                    false,
                )
            })
            .collect();
        let report = b
            .job_finish(FinishParams::new(items, t0()).dead_limits(DeadLimits::default()))
            .await
            .unwrap();
        assert!(report.lost.is_empty());
        let stats = b.stats().await.unwrap();
        assert_eq!(
            (stats.expired, stats.processed, stats.failed, stats.enqueued),
            (2, 0, 0, 0)
        );
        let days = b
            .stats_history(StatsHistoryParams::new(t0().date_naive(), 1))
            .await
            .unwrap();
        assert_eq!((days[0].processed, days[0].failed), (0, 0));
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\".jobs", db.schema))
            .fetch_one(b.pool())
            .await
            .unwrap();
        assert_eq!(rows, 0);
        db.drop().await;
    }

    /// Many processes pushing the same unique job at once store it once; every other push
    /// names the one stored.
    #[tokio::test]
    async fn concurrent_pushes_of_one_key_store_one_job() {
        let db = TestDb::new().await;
        let others = [db.another().await, db.another().await];
        let pushes = (0..12).map(|n| {
            let b = if n % 3 == 0 {
                db.backend.clone()
            } else {
                others[n % 2].clone()
            };
            tokio::spawn(async move {
                let j = unique(n as i64, "k");
                let r = b
                    .job_push(PushParams::new(vec![j.clone()], t0()))
                    .await
                    .unwrap();
                (j.jid, r)
            })
        });
        let results: Vec<_> = futures::future::join_all(pushes)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let stored = listed(&db.backend, "u").await;
        assert_eq!(stored.len(), 1, "{results:?}");
        for (jid, report) in &results {
            if *jid == stored[0] {
                assert!(report.duplicates.is_empty());
            } else {
                assert_eq!(report.duplicates, vec![(0, stored[0].clone())]);
            }
        }
        db.drop().await;
    }

    /// Waits until a statement waits on the transaction of backend `pid`.
    async fn until_blocked_by(db: &TestDb, pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            )
            .bind(pid)
            .fetch_one(db.backend.pool())
            .await
            .unwrap();
            if waiting > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the push never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A key another push takes after this push read the holders (an app's transaction,
    /// committed while the insert waits on it) is read again: the job is reported a
    /// duplicate of that holder. Had the transaction rolled back, the job would be stored.
    #[tokio::test]
    async fn a_key_taken_meanwhile_by_an_apps_transaction_is_read_again() {
        let db = TestDb::new().await;
        for commit in [true, false] {
            let key = format!("k{commit}");
            let first = unique(1, &key);
            let mut tx = db.backend.pool().begin().await.unwrap();
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            let r = db
                .backend
                .push_in(&mut tx, vec![first.clone()])
                .await
                .unwrap();
            assert!(r.duplicates.is_empty());
            let second = unique(2, &key);
            let b = db.backend.clone();
            let racing = second.clone();
            let push = tokio::spawn(async move {
                b.job_push(PushParams::new(vec![racing], t0()))
                    .await
                    .unwrap()
            });
            until_blocked_by(&db, pid).await;
            if commit {
                tx.commit().await.unwrap();
                let report = push.await.unwrap();
                assert_eq!(report.duplicates, vec![(0, first.jid.clone())]);
            } else {
                tx.rollback().await.unwrap();
                let report = push.await.unwrap();
                assert!(report.duplicates.is_empty(), "{report:?}");
                assert!(listed(&db.backend, "u").await.contains(&second.jid));
            }
        }
        db.drop().await;
    }

    /// A unique push on the app's transaction reports duplicates there, and holds its key
    /// only once that transaction commits.
    #[tokio::test]
    async fn a_unique_push_in_the_apps_transaction_holds_the_key_when_it_commits() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let mut tx = b.pool().begin().await.unwrap();
        let first = unique(1, "k");
        let report = b
            .push_in(&mut tx, vec![first.clone(), unique(2, "k")])
            .await
            .unwrap();
        assert_eq!(report.duplicates, vec![(1, first.jid.clone())]);
        tx.rollback().await.unwrap();
        assert!(listed(b, "u").await.is_empty());
        let held = b.unique_list(UniqueListParams::new(t0())).await.unwrap();
        assert!(held.is_empty(), "{held:?}");

        let mut tx = b.pool().begin().await.unwrap();
        let second = unique(3, "k");
        let report = b.push_in(&mut tx, vec![second.clone()]).await.unwrap();
        assert!(report.duplicates.is_empty());
        tx.commit().await.unwrap();
        let report = b
            .job_push(PushParams::new(vec![unique(4, "k")], t0()))
            .await
            .unwrap();
        assert_eq!(report.duplicates, vec![(0, second.jid)]);
        db.drop().await;
    }

    /// Pushing a stored unique job again (same jid) is a conflict, as on the plain path,
    /// and stores nothing.
    #[tokio::test]
    async fn a_unique_job_pushed_twice_is_a_conflict() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let j = unique(1, "k");
        push(b, vec![j.clone()]).await;
        let err = b
            .job_push(PushParams::new(vec![unique(2, "other"), j], t0()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
        assert_eq!(listed(b, "u").await.len(), 1);
        db.drop().await;
    }
}
