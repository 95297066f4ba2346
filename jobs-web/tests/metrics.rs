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

jobs::forward_backend! {
    NoMetrics,
    inner(this) = &this.0,
    around(this, op, call) = call.await,
    name(this) = "no-metrics",
    metrics(this) = None,
    schedules(this) = this.0.schedules(),
    facts(this) = Ok(Vec::new()),
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

/// Records `processed` runs of `class` (the first `failed` failing, run i taking 10·(i+1)
/// ms) in the hour `back` hours before now.
async fn record_hour(
    b: &std::sync::Arc<dyn jobs::backend::AdminBackend>,
    class: &str,
    back: i64,
    processed: u64,
    failed: u64,
) {
    let now = chrono::Utc::now();
    let mut counts = jobs::metrics::Counts::default();
    for i in 0..processed {
        counts.record(i < failed, std::time::Duration::from_millis(10 * (i + 1)));
    }
    let sample = jobs::metrics::MetricsSample {
        class: class.to_owned(),
        hour: jobs::metrics::hour_of(now - chrono::Duration::hours(back)),
        counts,
    };
    b.metrics()
        .unwrap()
        .metrics_record(jobs::metrics::RecordParams::new(vec![sample], now))
        .await
        .unwrap();
}

/// A job name's own page shows it hour by hour: bars of processed and failed scaled to the
/// busiest hour, p50/p95 lines, each hour's numbers on hover and in a table; the Metrics
/// table links to it; another job's runs are not counted in.
#[tokio::test]
async fn a_job_names_page_shows_it_hour_by_hour() {
    let b = memory();
    record_hour(&b, "Charge", 0, 4, 1).await;
    record_hour(&b, "Charge", 2, 10, 0).await;
    record_hour(&b, "Other", 1, 99, 9).await;
    let app = app(&b);
    let list = get(&app, "/admin/jobs/metrics").await.body;
    assert!(
        list.contains("href=\"/admin/jobs/metrics/Charge\""),
        "{list}"
    );

    let page = get(&app, "/admin/jobs/metrics/Charge?hours=6").await.body;
    for id in ["runs-chart", "duration-chart", "job-metrics"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}: {page}");
    }
    // The busiest hour (10 runs) sets the scale: 10, 5, 0.
    assert!(
        page.contains("<span>10</span><span>5</span><span>0</span>"),
        "{page}"
    );
    assert!(page.contains(": 10 processed, 0 failed</title>"), "{page}");
    assert!(page.contains(": 4 processed, 1 failed</title>"), "{page}");
    assert!(
        page.contains(": 0 processed, 0 failed</title>"),
        "an hour without runs"
    );
    assert!(!page.contains("99 processed"), "another job's runs: {page}");
    // Six hours, one bar group each.
    assert_eq!(page.matches("processed, ").count(), 6, "{page}");
    // p95 of 10 runs of 10..100 ms is in the slowest bucket reached: about 100 ms.
    assert!(page.contains("p95 "), "{page}");

    let none = get(&app, "/admin/jobs/metrics/Nobody").await;
    assert_eq!(none.status, 200);
    assert!(
        none.body.contains("did not run in this period"),
        "{}",
        none.body
    );
    let bad = get(&app, "/admin/jobs/metrics/Charge?hours=abc").await;
    assert_eq!(bad.status, 400);
}
