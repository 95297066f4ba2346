//! Rows whose payload is JSON but not a job, written into the table directly: a reserve
//! that leases them beside valid jobs hands the valid ones out and buries them (a payload
//! nested past serde_json's limit included), and every admin action (get, delete, enqueue
//! now, kill, the text filter) works on them by jid.

mod postgres_support;

mod postgres {
    use jobs::backend::*;
    use jobs::envelope::{JobEnvelope, UNDECODABLE_ERROR};

    use super::postgres_support::*;

    /// Inserts row `jid` in `state` of `queue` holding `text`, at the tail.
    async fn put(db: &TestDb, state: &str, queue: &str, jid: &str, text: &str) {
        let s = format!("\"{}\"", db.schema);
        sqlx::query(&format!(
            "INSERT INTO {s}.jobs (jid, queue, state, run_at, position, payload)
             VALUES ($1, $2, $3::{s}.job_state, $4, nextval('{s}.position_seq'), $5::json)"
        ))
        .bind(jid)
        .bind(queue)
        .bind(state)
        .bind(t0())
        .bind(text)
        .execute(db.backend.pool())
        .await
        .unwrap();
    }

    async fn list(b: &impl AdminBackend, set: JobSet) -> Vec<StoredJob> {
        b.job_list(JobListParams::new(set, 100)).await.unwrap().jobs
    }

    fn is_wrapper(job: &JobEnvelope) -> bool {
        job.error_class.as_deref() == Some(UNDECODABLE_ERROR)
    }

    #[tokio::test]
    async fn a_reserve_hands_out_the_valid_jobs_of_its_batch_and_buries_the_rest() {
        let db = TestDb::new().await;
        let b = &db.backend;
        let (first, last) = (job("mixed", 1), job("mixed", 2));
        let deep = format!(
            r#"{{"class":"Deep","jid":"deep","args":[{}1{}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        push(b, vec![first.clone()]).await;
        put(&db, "available", "mixed", "deep", &deep).await;
        put(
            &db,
            "available",
            "mixed",
            "badargs",
            r#"{"class":"X","args":5}"#,
        )
        .await;
        push(b, vec![last.clone()]).await;

        let got = reserve(b, "mixed", 10, "p").await;
        let jids: Vec<_> = got.iter().map(|r| r.job.jid.clone()).collect();
        assert_eq!(jids, [first.jid.clone(), last.jid.clone()]);
        let items = got
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
        assert!(report.lost.is_empty(), "the valid jobs' leases hold");
        let dead = list(b, JobSet::Dead).await;
        let mut dead_jids: Vec<_> = dead.iter().map(|d| d.job.jid.as_str()).collect();
        dead_jids.sort_unstable();
        assert_eq!(dead_jids, ["badargs", "deep"]);
        assert!(dead.iter().all(|d| is_wrapper(&d.job)), "{dead:?}");
        let kept = dead.iter().find(|d| d.job.jid == "deep").unwrap();
        assert_eq!(kept.job.args[0].as_str(), Some(deep.as_str()));
        // Nothing was left leased: long after any lease, a rescue finds nothing.
        let later = t0() + chrono::Duration::hours(1);
        assert_eq!(b.lease_rescue(RescueParams::new(later)).await.unwrap(), 0);
        db.drop().await;
    }

    #[tokio::test]
    async fn bad_rows_are_found_and_acted_on_by_jid() {
        let db = TestDb::new().await;
        let b = &db.backend;
        put(&db, "dead", "q", "dead-1", "[1,2,3]").await;
        put(&db, "scheduled", "q", "sched-1", r#"{"class":1}"#).await;
        put(&db, "retryable", "q", "retry-1", r#""a bare string""#).await;
        let now = t0();

        let got = b
            .job_get(JobGetParams::new(JobSet::Dead, "dead-1"))
            .await
            .unwrap()
            .expect("found by its jid");
        assert!(is_wrapper(&got.job));

        let page = b
            .job_list(
                JobListParams::new(JobSet::Retry, 10)
                    .filter(JobFilter::default().text("bare string")),
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
        let queued = list(b, JobSet::Queue("q".into())).await;
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].job.jid, "dead-1");
        let deleted = b
            .job_delete(JobActionParams::matching(
                JobSet::Retry,
                JobFilter::default().text("bare string"),
                now,
            ))
            .await
            .unwrap();
        assert_eq!(deleted, 1);

        // The one moved to its queue is buried again by the reserve that meets it.
        assert!(reserve(b, "q", 5, "p").await.is_empty());
        let mut dead: Vec<_> = list(b, JobSet::Dead)
            .await
            .into_iter()
            .map(|d| d.job.jid)
            .collect();
        dead.sort_unstable();
        assert_eq!(dead, ["dead-1", "sched-1"]);
        db.drop().await;
    }
}
