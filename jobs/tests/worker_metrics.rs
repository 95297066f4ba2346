//! The worker counts each run (job name, failed or not, duration) and writes the counts to
//! the backend's metrics store in batches: every `metrics_interval`, and at shutdown.

mod common;

use std::time::Duration;

use common::Oops;
use jobs::backend::Backend;
use jobs::backend::MetricsQueryParams;
use jobs::chrono::Utc;
use jobs::memory::MemoryBackend;
use jobs::metrics::JobMetrics;
use jobs::prelude::*;

#[jobs::job(queue = "m_work")]
async fn metered_job(ms: u64) -> Result<(), Oops> {
    // Stands for real work that takes `ms`.
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[jobs::job(queue = "m_work", retry = false)]
async fn failing_metered_job() -> Result<(), Oops> {
    Err(Oops("no".into()))
}

async fn metrics(backend: &MemoryBackend) -> Vec<JobMetrics> {
    let now = Utc::now();
    let store = backend.metrics().expect("the memory backend keeps metrics");
    store
        .metrics_query(MetricsQueryParams::new(
            now - jobs::chrono::Duration::hours(2),
            now,
        ))
        .await
        .unwrap()
}

fn registry() -> jobs::Registry {
    jobs::Registry::new()
        .with::<MeteredJob>()
        .and_then(|r| r.with::<FailingMeteredJob>())
        .unwrap()
}

async fn enqueue(client: &Client) {
    for ms in [20, 20, 20, 20, 60] {
        MeteredJob::set()
            .client(client)
            .perform_later(ms)
            .await
            .unwrap();
    }
    for _ in 0..2 {
        FailingMeteredJob::set()
            .client(client)
            .perform_later()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn runs_reach_the_store_while_the_worker_runs() {
    let backend = common::backend();
    let client = Client::builder(backend.clone()).build();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["m_work"])
            .registry(registry())
            .metrics_interval(Duration::from_millis(50))
            .build()
            .unwrap(),
    );
    enqueue(&client).await;
    let rows = common::eventually("seven runs in the metrics store", || async {
        let rows = metrics(&backend).await;
        let total: u64 = rows.iter().map(|r| r.counts.processed).sum();
        (total >= 7).then_some(rows)
    })
    .await;
    running.stop().await;
    let failing = &rows[0];
    assert_eq!(failing.class, <FailingMeteredJob as jobs::Job>::NAME);
    assert_eq!((failing.counts.processed, failing.counts.failed), (2, 2));
    let metered = &rows[1];
    assert_eq!(metered.class, <MeteredJob as jobs::Job>::NAME);
    assert_eq!((metered.counts.processed, metered.counts.failed), (5, 0));
    let avg = metered.counts.average().unwrap_or_default();
    assert!(avg >= Duration::from_millis(28), "average {avg:?}");
    let p95 = metered.counts.p95().unwrap_or_default();
    assert!(p95 >= Duration::from_millis(42), "p95 {p95:?}");
    // Stopping wrote nothing twice.
    assert_eq!(metrics(&backend).await, rows);
}

#[tokio::test]
async fn the_last_counts_are_written_at_shutdown() {
    let backend = common::backend();
    let client = Client::builder(backend.clone()).build();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["m_work"])
            .registry(registry())
            .metrics_interval(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    enqueue(&client).await;
    common::processed(&backend, 7).await;
    running.stop().await;
    let rows = metrics(&backend).await;
    let total: Vec<u64> = rows.iter().map(|r| r.counts.processed).collect();
    assert_eq!(total, vec![2, 5]);
}
