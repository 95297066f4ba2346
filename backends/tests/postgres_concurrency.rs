//! Many reservers on many connections (as many processes would) never take the same job.

mod postgres_support;

mod postgres {
    use std::collections::HashSet;

    use jobs::backend::*;

    use super::postgres_support::*;

    const JOBS: i64 = 2000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reservers_never_take_the_same_job() {
        let db = TestDb::new().await;
        let jobs: Vec<_> = (0..JOBS)
            .map(|n| job(["a", "b"][n as usize % 2], n))
            .collect();
        push(&db.backend, jobs).await;

        // Three "processes" (each its own pool), four reserving tasks each.
        let mut tasks = Vec::new();
        for p in 0..3 {
            let backend = db.another().await;
            for t in 0..4 {
                let backend = backend.clone();
                let process = format!("proc-{p}-{t}");
                tasks.push(tokio::spawn(async move {
                    let mut taken = Vec::new();
                    loop {
                        let mut params =
                            ReserveParams::new(vec!["a".into(), "b".into()], &*process, t0());
                        params.limit = 7;
                        let got = backend.job_reserve(params).await.unwrap();
                        if got.is_empty() {
                            return taken;
                        }
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
                        let report = backend
                            .job_finish(
                                FinishParams::new(items, t0()).dead_limits(DeadLimits::default()),
                            )
                            .await
                            .unwrap();
                        assert!(report.lost.is_empty(), "a fresh lease was refused");
                        taken.extend(got.into_iter().map(|r| r.job.jid.clone()));
                    }
                }));
            }
        }
        let mut all = Vec::new();
        for t in futures::future::join_all(tasks).await {
            all.extend(t.unwrap());
        }
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "a job was reserved twice");
        assert_eq!(all.len() as i64, JOBS);
        let stats = db.backend.stats().await.unwrap();
        assert_eq!((stats.processed, stats.enqueued), (JOBS as u64, 0));
        db.drop().await;
    }
}
