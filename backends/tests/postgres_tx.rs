//! Transactional enqueue: a job pushed on the app's own transaction exists, and wakes a
//! worker, exactly when that transaction commits.

mod postgres_support;

mod postgres {
    use std::time::{Duration, Instant};

    use jobs::backend::*;
    use jobs::envelope::to_epoch;
    use jobs_backends::postgres::PostgresBackend;

    use super::postgres_support::*;

    async fn app_table(db: &TestDb) -> String {
        let table = format!("\"{}\".users", db.schema);
        sqlx::query(&format!("CREATE TABLE {table} (email text PRIMARY KEY)"))
            .execute(db.backend.pool())
            .await
            .unwrap();
        table
    }

    #[tokio::test]
    async fn a_rolled_back_transaction_leaves_no_job() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let users = app_table(&db).await;
        let mut later = job("mailers", 2);
        later.at = Some(to_epoch(t0() + chrono::Duration::hours(1)));

        let mut tx = b.pool().begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {users} VALUES ('bob@example.com')"))
            .execute(&mut *tx)
            .await
            .unwrap();
        b.push_in(&mut tx, vec![job("mailers", 1), later])
            .await
            .unwrap();
        tx.rollback().await.unwrap();

        let stats = b.stats().await.unwrap();
        assert_eq!((stats.enqueued, stats.scheduled), (0, 0));
        assert!(reserve(b, "mailers", 10, "p1").await.is_empty());
        assert!(b
            .queue_list(QueueListParams::new(t0()))
            .await
            .unwrap()
            .is_empty());
        db.drop().await;
    }

    #[tokio::test]
    async fn a_committed_transaction_stores_single_delayed_and_bulk_pushes() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let users = app_table(&db).await;
        let single = job("mailers", 1);
        let bulk = vec![job("mailers", 2), job("mailers", 3)];
        let mut delayed = job("mailers", 4);
        delayed.at = Some(to_epoch(t0() + chrono::Duration::hours(1)));

        let mut tx = b.pool().begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {users} VALUES ('alice@example.com')"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let now = t0();
        b.job_push_in(&mut tx, PushParams::new(vec![single.clone()], now))
            .await
            .unwrap();
        b.job_push_in(&mut tx, PushParams::new(vec![delayed.clone()], now))
            .await
            .unwrap();
        b.job_push_in(&mut tx, PushParams::new(bulk.clone(), now))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let got: Vec<String> = reserve(b, "mailers", 10, "p1")
            .await
            .into_iter()
            .map(|r| r.job.jid.clone())
            .collect();
        assert_eq!(
            got,
            vec![single.jid, bulk[0].jid.clone(), bulk[1].jid.clone()]
        );
        let parked = b
            .job_get(JobGetParams::new(JobSet::Scheduled, &delayed.jid))
            .await
            .unwrap();
        assert_eq!(parked.unwrap().at, Some(t0() + chrono::Duration::hours(1)));
        db.drop().await;
    }

    #[tokio::test]
    async fn a_plain_connection_pushes_at_once() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let mut conn = b.pool().acquire().await.unwrap();
        b.push_in(&mut conn, vec![job("q", 1)]).await.unwrap();
        assert_eq!(reserve(b, "q", 10, "p1").await.len(), 1);
        db.drop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_never_sees_a_job_before_its_transaction_commits() {
        let db = TestDb::new().await;
        // Another process, polling only every minute: the commit's NOTIFY must wake it.
        let url = format!("{}&poll_interval_ms=60000", url(&db.schema));
        let worker = PostgresBackend::connect(&url).await.unwrap();
        let j = job("q", 1);

        let mut tx = db.backend.pool().begin().await.unwrap();
        db.backend.push_in(&mut tx, vec![j.clone()]).await.unwrap();
        // While the transaction is open, concurrent reserves find nothing.
        let attempts = (0..20).map(|i| {
            let worker = worker.clone();
            tokio::spawn(async move { reserve(&worker, "q", 10, &format!("w{i}")).await })
        });
        for attempt in futures::future::join_all(attempts).await {
            assert!(
                attempt.unwrap().is_empty(),
                "a reserve saw an uncommitted job"
            );
        }
        // A reserver waiting now is woken by the commit.
        let waiting = {
            let worker = worker.clone();
            tokio::spawn(async move {
                let mut p = ReserveParams::new(vec!["q".into()], "waiter", t0());
                p.wait = Duration::from_secs(50);
                let started = Instant::now();
                (worker.job_reserve(p).await.unwrap(), started.elapsed())
            })
        };
        tx.commit().await.unwrap();
        let (got, waited) = waiting.await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job.jid, j.jid);
        assert!(waited < Duration::from_secs(30), "woke after {waited:?}");
        db.drop().await;
    }
}
