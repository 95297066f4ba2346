//! The Metrics page and `api/metrics`, and the backend facts on the dashboard and in
//! `api/facts`, over the in-memory backend.

mod common;

use common::*;

#[tokio::test]
async fn metrics_page_shows_counts_average_and_p95_per_job_name() {
    let b = memory();
    // 10, 20, 30, 40 ms: average 25 ms; two of four failed.
    record_metrics(&b, "GeneratePdf", 4, 2).await;
    record_metrics(&b, "SendEmail", 1, 0).await;
    let app = app(&b);
    let r = get(&app, "/admin/jobs/metrics?hours=6").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_inert("metrics", &r.body);
    assert!(r.body.contains("last 6 hours"), "{}", r.body);
    let row = r
        .body
        .split("<tr>")
        .find(|row| row.contains("GeneratePdf"))
        .unwrap_or_default();
    for cell in [">4<", ">2<", ">50.0<", ">25.0<"] {
        assert!(row.contains(cell), "{cell} missing in {row}");
    }
    // The navigation links the page, relative to the mount.
    let home = get(&app, "/admin/jobs").await.body;
    assert!(home.contains("href=\"/admin/jobs/metrics\""), "{home}");
}

#[tokio::test]
async fn metrics_api_gives_the_same_numbers() {
    let b = memory();
    record_metrics(&b, "GeneratePdf", 4, 2).await;
    record_metrics(&b, "SendEmail", 1, 0).await;
    let app = app(&b);
    let v = get(&app, "/admin/jobs/api/metrics?hours=3").await.json();
    assert_eq!(
        (v["hours"].as_u64(), v["enabled"].as_bool()),
        (Some(3), Some(true))
    );
    let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["class"], "GeneratePdf");
    assert_eq!(
        (jobs[0]["processed"].as_u64(), jobs[0]["failed"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(jobs[0]["avg_ms"].as_f64(), Some(25.0));
    let p95 = jobs[0]["p95_ms"].as_f64().unwrap_or_default();
    assert!((28.0..=42.0).contains(&p95), "p95 {p95}");
    assert_eq!(jobs[1]["class"], "SendEmail");
}

#[tokio::test]
async fn empty_period_says_so() {
    let b = memory();
    let app = app(&b);
    let r = get(&app, "/admin/jobs/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("No job ran in this period."), "{}", r.body);
    let v = get(&app, "/admin/jobs/api/metrics").await.json();
    assert_eq!(
        (v["hours"].as_u64(), v["jobs"].as_array().map(Vec::len)),
        (Some(24), Some(0))
    );
}

#[tokio::test]
async fn facts_on_the_dashboard_and_in_the_api() {
    let b = memory();
    seed(&b, "SendPush", "push", "x").await;
    let app = app(&b);
    let home = get(&app, "/admin/jobs").await.body;
    // Queued, scheduled, retry and dead: four jobs stored.
    assert!(
        home.contains("<dt>Jobs stored</dt><dd data-fact=\"Jobs stored\">4</dd>"),
        "{home}"
    );
    let v = get(&app, "/admin/jobs/api/facts").await.json();
    assert_eq!(v["backend"], "memory");
    assert_eq!(v["facts"][0]["label"], "Jobs stored");
    assert_eq!(v["facts"][0]["value"], "4");
}

/// The in-memory backend without a metrics store (`metrics()` stays `None`).
struct NoMetrics(jobs::memory::MemoryBackend);

mod no_metrics {
    use super::NoMetrics;
    use chrono::{DateTime, NaiveDate, Utc};
    use jobs::__private::async_trait;
    use jobs::backend::*;

    #[async_trait]
    impl Backend for NoMetrics {
        fn name(&self) -> &'static str {
            "no-metrics"
        }
        async fn job_push(&self, p: PushParams) -> Result<(), BackendError> {
            self.0.job_push(p).await
        }
        async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
            self.0.job_reserve(p).await
        }
        async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
            self.0.job_finish(p).await
        }
        async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
            self.0.job_requeue(p).await
        }
        async fn process_heartbeat(
            &self,
            p: HeartbeatParams,
        ) -> Result<HeartbeatReply, BackendError> {
            self.0.process_heartbeat(p).await
        }
        async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
            self.0.process_remove(id).await
        }
        async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
            self.0.scheduled_promote(p).await
        }
        async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
            self.0.lease_rescue(p).await
        }
    }

    #[async_trait]
    impl AdminBackend for NoMetrics {
        async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError> {
            self.0.queue_list(now).await
        }
        async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError> {
            self.0.queue_pause(queue, paused).await
        }
        async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError> {
            self.0.queue_clear(queue).await
        }
        async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
            self.0.job_list(p).await
        }
        async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError> {
            self.0.job_get(set, jid).await
        }
        async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
            self.0.job_delete(p).await
        }
        async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
            self.0.job_enqueue_now(p).await
        }
        async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
            self.0.job_kill(p).await
        }
        async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
            self.0.process_list().await
        }
        async fn process_signal(
            &self,
            id: &ProcessId,
            s: ProcessSignal,
        ) -> Result<(), BackendError> {
            self.0.process_signal(id, s).await
        }
        async fn stats(&self) -> Result<Stats, BackendError> {
            self.0.stats().await
        }
        async fn stats_history(
            &self,
            today: NaiveDate,
            days: u32,
        ) -> Result<Vec<DayStats>, BackendError> {
            self.0.stats_history(today, days).await
        }
        async fn clear_all(&self) -> Result<(), BackendError> {
            self.0.clear_all().await
        }
    }
}

#[tokio::test]
async fn a_backend_without_metrics_says_so_and_has_no_facts() {
    let b: std::sync::Arc<dyn jobs::backend::AdminBackend> =
        std::sync::Arc::new(NoMetrics(jobs::memory::MemoryBackend::new()));
    let app = app(&b);
    let r = get(&app, "/admin/jobs/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("This backend keeps no job metrics."),
        "{}",
        r.body
    );
    let v = get(&app, "/admin/jobs/api/metrics").await.json();
    assert_eq!(v["enabled"], false);
    assert_eq!(v["jobs"].as_array().map(Vec::len), Some(0));
    let v = get(&app, "/admin/jobs/api/facts").await.json();
    assert_eq!(v["facts"].as_array().map(Vec::len), Some(0));
    assert_eq!(get(&app, "/admin/jobs").await.status, 200);
}
