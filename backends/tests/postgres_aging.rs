//! Priority aging on Postgres beyond the conformance suite: a pass over a deep queue of
//! young jobs reads almost nothing (the pass timings are printed with `--nocapture`, never
//! asserted), and an aged job that leaves its queue comes back at its declared priority.

mod postgres_support;

mod postgres {
    use std::time::{Duration, Instant};

    use chrono::{DateTime, Utc};
    use jobs::backend::*;
    use jobs::envelope::JobEnvelope;
    use jobs_backends::postgres::PostgresBackend;

    use super::postgres_support::*;

    fn with_priority(queue: &str, n: i64, priority: u8) -> JobEnvelope {
        let mut j = job(queue, n);
        j.set_priority(priority);
        j
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(s)
    }

    /// One aging pass at `now`, one step per `every` seconds; how many moved and how long
    /// the call took.
    async fn age(b: &PostgresBackend, now: DateTime<Utc>, every: u64) -> (u64, Duration) {
        let started = Instant::now();
        let moved = b
            .priority_age(AgeParams::new(now, Duration::from_secs(every)))
            .await
            .unwrap();
        (moved, started.elapsed())
    }

    /// The `priority` and `aged` columns of job `jid`.
    async fn band(db: &TestDb, jid: &str) -> (i16, i16) {
        sqlx::query_as(&format!(
            "SELECT priority, aged FROM \"{}\".jobs WHERE jid = $1",
            db.schema
        ))
        .bind(jid)
        .fetch_one(db.backend.pool())
        .await
        .unwrap()
    }

    /// The plan of the pass at 30 s, 60 s a step: the custom one a first run gets, or the
    /// generic one a cached statement may switch to.
    async fn plan(db: &TestDb, generic: bool) -> String {
        let sql = include_str!("../sql/postgres/age.sql")
            .replace("__SCHEMA__", &format!("\"{}\"", db.schema));
        let mut conn = db.backend.pool().acquire().await.unwrap();
        let rows: Vec<String> = if !generic {
            sqlx::query_scalar(&format!("EXPLAIN {sql}"))
                .bind(jobs::envelope::to_epoch(secs(30)))
                .bind(60.0_f64)
                .fetch_all(&mut *conn)
                .await
                .unwrap()
        } else {
            sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::raw_sql(&format!("PREPARE age (float8, float8) AS {sql}"))
                .execute(&mut *conn)
                .await
                .unwrap();
            let at = jobs::envelope::to_epoch(secs(30));
            let rows = sqlx::query_scalar(&format!("EXPLAIN EXECUTE age ({at}, 60)"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            sqlx::raw_sql("DEALLOCATE age; RESET plan_cache_mode")
                .execute(&mut *conn)
                .await
                .unwrap();
            rows
        };
        rows.join("\n")
    }

    #[tokio::test]
    async fn a_pass_over_ten_thousand_young_jobs_moves_nothing() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let jobs: Vec<JobEnvelope> = (0..10_000)
            .map(|n| with_priority("deep", n, 1 + (n % 9) as u8))
            .collect();
        for chunk in jobs.chunks(1_000) {
            push(b, chunk.to_vec()).await;
        }
        // Planner statistics, as a running backend has them once autovacuum ran.
        sqlx::query(&format!("ANALYZE \"{}\".jobs", db.schema))
            .execute(b.pool())
            .await
            .unwrap();
        for plan in [plan(&db, false).await, plan(&db, true).await] {
            assert!(plan.contains("jobs_aging_idx"), "{plan}");
            assert!(plan.contains("jobs_pkey"), "{plan}");
            assert!(!plan.contains("Seq Scan on jobs"), "{plan}");
        }
        let (moved, young) = age(b, secs(30), 60).await;
        assert_eq!(moved, 0, "no job has waited a step");
        let (moved, all) = age(b, secs(60), 60).await;
        assert_eq!(moved, 10_000, "every job climbs one step at once");
        let (moved, after) = age(b, secs(60), 60).await;
        assert_eq!(moved, 0, "a second pass at the same time moves nothing");
        let (moved, later) = age(b, secs(90), 60).await;
        assert_eq!(moved, 0, "with every job aged once, still nothing is due");
        assert_eq!(band(&db, &jobs[0].jid).await, (0, 1));
        assert_eq!(band(&db, &jobs[8].jid).await, (8, 1));
        eprintln!(
            "postgres, 10,000 jobs in 9 bands: a pass moving nothing took {young:?}; moving \
             them all {all:?}; then passes moving nothing {after:?} and {later:?}"
        );
        db.drop().await;
    }

    /// A priority-9 job aged to 0, retried and promoted, runs at 9 again, behind a job of
    /// priority 5 pushed after it; one requeued leads its queue (band -1) and, promoted
    /// after a retry, is back at 9 as well.
    #[tokio::test]
    async fn an_aged_job_that_leaves_its_queue_comes_back_at_its_declared_priority() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let (nine, other) = (with_priority("q", 1, 9), with_priority("q", 2, 9));
        push(b, vec![nine.clone(), other.clone()]).await;
        assert_eq!(age(b, secs(100), 10).await.0, 2);
        assert_eq!(band(&db, &nine.jid).await, (0, 9));
        let taken = reserve(b, "q", 2, "p1").await;
        assert_eq!(taken.len(), 2);

        b.job_requeue(RequeueParams::new(vec![taken[1].token.clone()], secs(101)))
            .await
            .unwrap();
        assert_eq!(
            band(&db, &other.jid).await,
            (-1, 0),
            "given back to the head"
        );

        let retry = Finish::new(
            taken[0].token.clone(),
            taken[0].job.clone(),
            FinishOutcome::Retry { at: secs(110) },
            true,
        );
        b.job_finish(FinishParams::new(vec![retry], secs(102)).dead_limits(DeadLimits::default()))
            .await
            .unwrap();
        b.scheduled_promote(PromoteParams::new(secs(110)))
            .await
            .unwrap();
        assert_eq!(band(&db, &nine.jid).await, (9, 0), "declared again");
        let five = with_priority("q", 3, 5);
        b.job_push(PushParams::new(vec![five.clone()], secs(111)))
            .await
            .unwrap();
        let mut p = ReserveParams::new(vec!["q".into()], "p1", secs(112));
        p.limit = 3;
        let order: Vec<String> = b
            .job_reserve(p)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.job.jid.clone())
            .collect();
        assert_eq!(order, vec![other.jid, five.jid, nine.jid]);
        db.drop().await;
    }
}
