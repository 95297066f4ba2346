//! `GET metrics.txt` beside the dashboard: the app's Prometheus text when
//! `Dashboard::metrics_endpoint` was given, behind the authorize hook like any page, and a
//! 404 without it.

mod common;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use common::*;
use jobs_web::{Access, Dashboard};

/// A dashboard serving the text of a Prometheus recorder in which one job was enqueued,
/// letting in only requests with the scraper's token.
fn scraped_app() -> Router {
    let recorder = jobs::telemetry::prometheus::builder()
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        jobs::telemetry::describe();
        metrics::counter!("jobs_enqueued_total", "queue" => "default", "job" => "SendEmail")
            .increment(1);
    });
    let dashboard = Dashboard::new(memory())
        .metrics_endpoint(move || handle.render())
        .authorize(|parts| match parts.headers.get("authorization") {
            Some(v) if v == "Bearer scraper" => Access::read_only(),
            _ => Access::none(),
        });
    Router::new().nest("/admin/jobs", dashboard.router())
}

async fn scrape(app: &Router, token: Option<&str>) -> Resp {
    let mut req = Request::get("/admin/jobs/metrics.txt").header("host", "localhost");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn the_scrape_is_served_to_a_role_that_may_view() {
    let app = scraped_app();
    let r = scrape(&app, Some("scraper")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let kind = r.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert!(
        r.body
            .contains("jobs_enqueued_total{queue=\"default\",job=\"SendEmail\"} 1"),
        "{}",
        r.body
    );
    assert!(r.body.contains("# HELP jobs_enqueued_total "), "{}", r.body);
}

#[tokio::test]
async fn the_scrape_is_refused_without_the_view_action() {
    let app = scraped_app();
    for token in [None, Some("wrong")] {
        let r = scrape(&app, token).await;
        assert_eq!(r.status, 403, "{token:?}: {}", r.body);
        assert!(!r.body.contains("jobs_enqueued_total"), "{}", r.body);
    }
}

#[tokio::test]
async fn without_a_metrics_endpoint_the_path_is_a_404_and_the_metrics_page_stays() {
    let b = memory();
    let app = app(&b);
    assert_eq!(get(&app, "/admin/jobs/metrics.txt").await.status, 404);
    assert_eq!(get(&app, "/admin/jobs/metrics").await.status, 200);
}
