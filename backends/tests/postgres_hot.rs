//! The Postgres backend's own behaviour, beyond the shared conformance suite: the reserve
//! plan, notifications across processes, fencing, migrations under concurrency, the URL.

mod postgres_support;

mod postgres {
    use std::time::{Duration, Instant};

    use super::postgres_support::*;
    use jobs::backend::*;
    use jobs_backends::postgres::PostgresBackend;
    use sqlx::Row;

    /// The reserve statement of `schema`, as the backend runs it.
    fn reserve_sql(schema: &str) -> String {
        include_str!("../sql/postgres/reserve.sql")
            .replace("__SCHEMA__", &format!("\"{schema}\""))
            .replace("__CHANNEL__", &format!("'jobs.{schema}'"))
    }

    #[tokio::test]
    async fn reserve_uses_the_partial_index() {
        let db = TestDb::new().await;
        let jobs: Vec<_> = (0..5000)
            .map(|i| job(["a", "b", "c"][i % 3], i as i64))
            .collect();
        push(&db.backend, jobs).await;
        let pool = db.backend.pool();
        sqlx::query(&format!("ANALYZE \"{}\".jobs", db.schema))
            .execute(pool)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN {}", reserve_sql(&db.schema)))
            .bind(vec!["b".to_owned(), "a".to_owned()])
            .bind(10_i64)
            .bind("p1")
            .bind(t0())
            .bind(60_000_000_i64)
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        let plan = plan.join("\n");
        println!("{plan}");
        assert!(plan.contains("jobs_available_idx"), "{plan}");
        assert!(plan.contains("LockRows"), "{plan}");
        assert!(!plan.contains("Seq Scan on jobs"), "{plan}");
        db.drop().await;
    }

    /// The generic plan of `sql` (`$n` parameters as `types`), as a cached prepared
    /// statement gets it after a few runs.
    async fn generic_plan(db: &TestDb, sql: &str, types: &str) -> String {
        let mut conn = db.backend.pool().acquire().await.unwrap();
        for step in [
            "SET plan_cache_mode = force_generic_plan".to_owned(),
            format!("PREPARE settle ({types}) AS {sql}"),
        ] {
            sqlx::raw_sql(&step).execute(&mut *conn).await.unwrap();
        }
        let nulls = vec!["NULL"; types.split(',').count()].join(", ");
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN EXECUTE settle ({nulls})"))
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        sqlx::raw_sql("DEALLOCATE settle; RESET plan_cache_mode")
            .execute(&mut *conn)
            .await
            .unwrap();
        plan.join("\n")
    }

    /// Statistics taken while nothing ran (as `stats.rs` or autovacuum may leave them) say
    /// no row is running. Finish and requeue must still find each lease by its primary key,
    /// not walk every running row once per item: that plan made a 200-item finish at
    /// concurrency 500 take ~80 ms.
    #[tokio::test]
    async fn finish_and_requeue_find_leases_by_primary_key() {
        let db = TestDb::new().await;
        push(&db.backend, (0..2000).map(|i| job("a", i)).collect()).await;
        sqlx::query(&format!("ANALYZE \"{}\".jobs", db.schema))
            .execute(db.backend.pool())
            .await
            .unwrap();
        assert_eq!(reserve(&db.backend, "a", 1000, "p1").await.len(), 1000);
        let sql = |text: &str| {
            text.replace("__SCHEMA__", &format!("\"{}\"", db.schema))
                .replace("__CHANNEL__", &format!("'jobs.{}'", db.schema))
        };
        let finish = generic_plan(
            &db,
            &sql(include_str!("../sql/postgres/finish.sql")),
            "bigint[], bigint[], text[], text[], timestamptz[], boolean[], timestamptz, date, \
             float8[], boolean",
        )
        .await;
        let requeue = generic_plan(
            &db,
            &sql(include_str!("../sql/postgres/requeue.sql")),
            "bigint[], bigint[]",
        )
        .await;
        for plan in [finish, requeue] {
            println!("{plan}");
            assert!(plan.contains("jobs_pkey"), "{plan}");
            assert!(!plan.contains("jobs_running_idx"), "{plan}");
        }
        db.drop().await;
    }

    /// A push of unique jobs finds the holders of its keys through the partial unique index
    /// (never a walk of `jobs`), and its insert names that index as its conflict arbiter;
    /// generic plans, as cached prepared statements get them, with 3,000 locks held.
    #[tokio::test]
    async fn push_flow_and_unique_hold_use_the_unique_index() {
        use jobs::envelope::flow::{UniqueLock, UniqueUntil};
        let db = TestDb::new().await;
        let unique = |n: i64| {
            let mut j = job("a", n);
            let lock = UniqueLock::new("J", None, &[n.into()], UniqueUntil::Success, 2e9);
            j.set_unique(Some(lock));
            j.set_priority((n % 10) as u8);
            j
        };
        push(&db.backend, (0..3000).map(unique).collect()).await;
        push(&db.backend, (0..2000).map(|i| job("b", i)).collect()).await;
        sqlx::query(&format!("ANALYZE \"{}\".jobs", db.schema))
            .execute(db.backend.pool())
            .await
            .unwrap();
        let sql = |text: &str| {
            text.replace("__SCHEMA__", &format!("\"{}\"", db.schema))
                .replace("__CHANNEL__", &format!("'jobs.{}'", db.schema))
        };
        let hold = generic_plan(
            &db,
            &sql(include_str!("../sql/postgres/unique_hold.sql")),
            "text[], timestamptz",
        )
        .await;
        println!("{hold}");
        // An index scan, or a bitmap scan for a key list of unknown length.
        assert!(
            hold.contains("Index Cond: (unique_key = ANY ($1))"),
            "{hold}"
        );
        assert!(hold.contains("jobs_unique_key_idx"), "{hold}");
        assert!(hold.contains("jobs_pkey"), "{hold}");
        assert!(!hold.contains("Seq Scan on jobs"), "{hold}");
        let insert = generic_plan(
            &db,
            &sql(include_str!("../sql/postgres/push_flow.sql")),
            "text[], text[], text[], timestamptz[], timestamptz, float8[], smallint[], text[], \
             text[], timestamptz[]",
        )
        .await;
        println!("{insert}");
        assert!(
            insert.contains("Conflict Arbiter Indexes: jobs_unique_key_idx"),
            "{insert}"
        );
        assert!(!insert.contains("Seq Scan on jobs"), "{insert}");
        db.drop().await;
    }

    /// A heartbeat does not wait for a lease row another statement holds (a finish of the
    /// same lease, say): it extends the others now and that one at the next beat. Waiting
    /// deadlocked with finishes that lock their rows in a different order.
    #[tokio::test]
    async fn a_heartbeat_skips_lease_rows_another_statement_holds() {
        let db = TestDb::new().await;
        push(&db.backend, vec![job("q", 1), job("q", 2)]).await;
        assert_eq!(reserve(&db.backend, "q", 2, "p1").await.len(), 2);
        let q = format!("\"{}\"", db.schema);
        let pool = db.backend.pool();
        let mut holder = pool.begin().await.unwrap();
        let held: i64 = sqlx::query_scalar(&format!(
            "SELECT id FROM {q}.jobs WHERE lease_owner = 'p1' ORDER BY id LIMIT 1 FOR UPDATE"
        ))
        .fetch_one(&mut *holder)
        .await
        .unwrap();
        let beat = |now| {
            HeartbeatParams::new(
                ProcessInfo {
                    id: "p1".into(),
                    hostname: "h".into(),
                    pid: 1,
                    tag: None,
                    queues: vec!["q".into()],
                    concurrency: 5,
                    started_at: t0(),
                    labels: vec![],
                    version: "0.1.0".into(),
                },
                now,
            )
            .running(vec![])
            .quiet(false)
            .lease_ttl(Duration::from_secs(60))
        };
        let expiries = || async {
            sqlx::query_as::<_, (i64, chrono::DateTime<chrono::Utc>)>(&format!(
                "SELECT id, lease_expires_at FROM {q}.jobs WHERE lease_owner = 'p1' ORDER BY id"
            ))
            .fetch_all(pool)
            .await
            .unwrap()
        };
        let before = expiries().await;
        let at = t0() + chrono::Duration::seconds(10);
        tokio::time::timeout(
            Duration::from_secs(5),
            db.backend.process_heartbeat(beat(at)),
        )
        .await
        .expect("the heartbeat waited for the held row")
        .unwrap();
        let after = expiries().await;
        let extended = at + chrono::Duration::seconds(60);
        for ((id, old), (_, new)) in before.iter().zip(&after) {
            let want = if *id == held { *old } else { extended };
            assert_eq!(*new, want, "row {id} (held: {held})");
        }
        holder.rollback().await.unwrap();
        db.backend.process_heartbeat(beat(at)).await.unwrap();
        assert!(expiries().await.iter().all(|(_, e)| *e == extended));
        db.drop().await;
    }

    #[tokio::test]
    async fn a_push_from_another_process_wakes_an_idle_reserver() {
        let db = TestDb::new().await;
        // Polling every minute: only the notification can wake the reserver in time.
        let url = format!("{}&poll_interval_ms=60000", url(&db.schema));
        let idle = PostgresBackend::connect(&url).await.unwrap();
        let reserver = tokio::spawn(async move {
            let mut p = ReserveParams::new(vec!["q".into()], "idle", t0());
            p.wait = Duration::from_secs(50);
            let started = Instant::now();
            let got = idle.job_reserve(p).await.unwrap();
            (got, started.elapsed())
        });
        let pusher = db.another().await;
        let j = job("q", 1);
        push(&pusher, vec![j.clone()]).await;
        let (got, waited) = reserver.await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job.jid, j.jid);
        assert!(waited < Duration::from_secs(30), "woke after {waited:?}");
        db.drop().await;
    }

    #[tokio::test]
    async fn a_lease_rescued_and_reserved_again_fences_the_first_holder() {
        let db = TestDb::new().await;
        let b = &db.backend;
        push(b, vec![job("q", 1)]).await;
        let first = reserve(b, "q", 1, "p1").await;
        // p1 stops beating; its lease expires and the job goes to p2.
        let later = t0() + chrono::Duration::seconds(120);
        assert_eq!(b.lease_rescue(RescueParams::new(later)).await.unwrap(), 1);
        let mut p = ReserveParams::new(vec!["q".into()], "p2", later);
        p.limit = 1;
        let second = b.job_reserve(p).await.unwrap();
        assert_eq!(second[0].job.jid, first[0].job.jid);
        assert_ne!(second[0].token, first[0].token);

        let settle = |r: &Reserved| {
            FinishParams::new(
                vec![Finish::new(
                    r.token.clone(),
                    r.job.clone(),
                    FinishOutcome::Completed,
                    false,
                )],
                later,
            )
            .dead_limits(DeadLimits::default())
        };
        // The first holder's completion is refused, and requeue of its token does nothing.
        let report = b.job_finish(settle(&first[0])).await.unwrap();
        assert_eq!(report.lost, vec![0]);
        b.job_requeue(RequeueParams::new(vec![first[0].token.clone()], later))
            .await
            .unwrap();
        assert_eq!(b.stats().await.unwrap().enqueued, 0);
        // The current holder's goes through, once.
        assert!(b
            .job_finish(settle(&second[0]))
            .await
            .unwrap()
            .lost
            .is_empty());
        assert_eq!(
            b.job_finish(settle(&second[0])).await.unwrap().lost,
            vec![0]
        );
        assert_eq!(b.stats().await.unwrap().processed, 1);
        db.drop().await;
    }

    #[tokio::test]
    async fn a_token_from_elsewhere_is_reported_lost() {
        let db = TestDb::new().await;
        let report = db
            .backend
            .job_finish(
                FinishParams::new(
                    vec![Finish::new(
                        LeaseToken("memory:1:abc".into()),
                        job("q", 1),
                        FinishOutcome::Completed,
                        false,
                    )],
                    t0(),
                )
                .dead_limits(DeadLimits::default()),
            )
            .await
            .unwrap();
        assert_eq!(report.lost, vec![0]);
        db.drop().await;
    }

    #[tokio::test]
    async fn many_processes_migrating_one_schema_at_once_all_succeed() {
        let schema = unique_schema();
        let connects = (0..6).map(|_| {
            let url = url(&schema);
            tokio::spawn(async move { PostgresBackend::connect(&url).await })
        });
        for c in futures::future::join_all(connects).await {
            c.unwrap().unwrap();
        }
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base_url())
            .await
            .unwrap();
        let versions: Vec<i32> = sqlx::query_scalar(&format!(
            "SELECT version FROM \"{schema}\".schema_migrations ORDER BY version"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(versions, (1..=13).collect::<Vec<i32>>());
        // On demand, again: nothing left to apply.
        let applied = jobs_backends::postgres::migrate(&mut conn, &schema)
            .await
            .unwrap();
        assert!(applied.is_empty());
        drop_schema(&schema).await;
    }

    #[tokio::test]
    async fn jobs_connect_knows_the_postgres_schemes() {
        let schema = unique_schema();
        for scheme in ["postgres", "postgresql"] {
            let url = base_url_with(&format!("schema={schema}"));
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let url = format!("{scheme}://{rest}");
            let backend = jobs_backends::connect(&url).await.unwrap();
            assert_eq!(backend.name(), "postgres");
            assert!(backend
                .queue_list(QueueListParams::new(t0()))
                .await
                .unwrap()
                .is_empty());
        }
        drop_schema(&schema).await;
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transient_error() {
        let err = PostgresBackend::connect(
            "postgres://root@127.0.0.1:1/test?schema=nowhere&acquire_timeout_ms=300",
        )
        .await
        .unwrap_err();
        match err {
            jobs::ConnectError::Backend(e) => assert!(e.is_transient(), "{e:?}"),
            other => panic!("expected a backend error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_undecodable_row_goes_to_the_dead_set_instead_of_blocking_the_queue() {
        let db = TestDb::new().await;
        let b = &db.backend;
        sqlx::query(&format!(
            "INSERT INTO \"{}\".jobs (jid, queue, state, run_at, position, payload)
             VALUES ('bad', 'q', 'available', now(), 0, '{{\"not\": \"a job\"}}')",
            db.schema
        ))
        .execute(b.pool())
        .await
        .unwrap();
        let good = job("q", 1);
        push(b, vec![good.clone()]).await;
        let got = reserve(b, "q", 10, "p1").await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job.jid, good.jid);
        let state: String = sqlx::query_scalar(&format!(
            "SELECT state::text FROM \"{}\".jobs WHERE jid = 'bad'",
            db.schema
        ))
        .fetch_one(b.pool())
        .await
        .unwrap();
        assert_eq!(state, "dead");
        db.drop().await;
    }

    #[tokio::test]
    async fn completed_jobs_can_be_kept_for_a_while_then_pruned() {
        let schema = unique_schema();
        let url = format!("{}&completed_retention_secs=60", url(&schema));
        let b = PostgresBackend::connect(&url).await.unwrap();
        push(&b, vec![job("q", 1)]).await;
        let got = reserve(&b, "q", 1, "p1").await;
        let report = b
            .job_finish(
                FinishParams::new(
                    vec![Finish::new(
                        got[0].token.clone(),
                        got[0].job.clone(),
                        FinishOutcome::Completed,
                        false,
                    )],
                    t0(),
                )
                .dead_limits(DeadLimits::default()),
            )
            .await
            .unwrap();
        assert!(report.lost.is_empty());
        let kept = || async {
            sqlx::query_scalar::<_, i64>(&format!(
                "SELECT count(*) FROM \"{schema}\".jobs WHERE state = 'completed'"
            ))
            .fetch_one(b.pool())
            .await
            .unwrap()
        };
        assert_eq!(kept().await, 1);
        let stats = b.stats().await.unwrap();
        assert_eq!((stats.processed, stats.enqueued, stats.dead), (1, 0, 0));
        let rescue =
            |secs| b.lease_rescue(RescueParams::new(t0() + chrono::Duration::seconds(secs)));
        rescue(59).await.unwrap();
        assert_eq!(kept().await, 1, "pruned before its retention ended");
        rescue(61).await.unwrap();
        assert_eq!(kept().await, 0, "kept after its retention ended");
        drop_schema(&schema).await;
    }
}
