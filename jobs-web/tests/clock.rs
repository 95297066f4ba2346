//! Pages and the API read the time from the injected clock: at a fixed instant (years away
//! from the real one) relative times, latencies, history days and the server time are exact,
//! and moving the clock moves them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use common::*;
use jobs::backend::*;
use jobs::clock::ManualClock;
use jobs::envelope::{to_epoch, JobEnvelope};
use serde_json::json;

const T: &str = "2030-01-15T12:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

/// A job waiting 90 s in `reports`, one scheduled in 5 minutes for `later`, a retry due in
/// 2 hours, a job that died 2 hours ago, and a process started 5 minutes ago (last beat 3 s
/// ago) running a job for 30 s.
async fn seed_at(b: &Arc<dyn AdminBackend>, t: DateTime<Utc>) -> String {
    let queued = JobEnvelope::new("Report", "reports", vec![json!(1)]);
    let mut scheduled = JobEnvelope::new("Report", "later", vec![json!(2)]);
    scheduled.at = Some(to_epoch(t + mins(5)));
    let pushed = t - chrono::Duration::seconds(90);
    b.job_push(PushParams::new(vec![queued.clone(), scheduled], pushed))
        .await
        .unwrap();
    let args = [json!(3)];
    let retry_at = t + mins(120);
    fail_at(
        b,
        "Report",
        "reports",
        &args,
        "r",
        FinishOutcome::Retry { at: retry_at },
        t,
    )
    .await;
    fail_at(
        b,
        "Report",
        "reports",
        &args,
        "d",
        FinishOutcome::Dead,
        t - mins(120),
    )
    .await;
    let id = "host:1:clock".to_owned();
    b.process_heartbeat(
        HeartbeatParams::new(
            ProcessInfo {
                id: id.clone(),
                hostname: "host".into(),
                pid: 1,
                tag: None,
                queues: vec!["reports".into()],
                concurrency: 2,
                started_at: t - mins(5),
                labels: vec![],
                version: "0.1.0".into(),
            },
            t - chrono::Duration::seconds(3),
        )
        .running(vec![RunningJob {
            job: queued,
            started_at: t - chrono::Duration::seconds(30),
        }])
        .quiet(false)
        .lease_ttl(Duration::from_secs(600)),
    )
    .await
    .unwrap();
    id
}

fn app_at(b: &Arc<dyn AdminBackend>, clock: &Arc<ManualClock>) -> Router {
    let dashboard = jobs_web::Dashboard::new(b.clone()).clock(clock.clone());
    Router::new().nest("/admin/jobs", dashboard.router())
}

/// The part of `body` from the `<tr>` of the first row containing `needle` to the next one.
fn row_with<'a>(body: &'a str, needle: &str) -> &'a str {
    body.split("<tr>")
        .find(|row| row.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle} in {body}"))
}

#[tokio::test]
async fn pages_show_times_relative_to_the_clock() {
    let b = memory();
    let t = at(T);
    seed_at(&b, t).await;
    let clock = Arc::new(ManualClock::new(t));
    let app = app_at(&b, &clock);

    let scheduled = get(&app, "/admin/jobs/scheduled").await.body;
    assert!(scheduled.contains(">in 5m 00s<"), "{scheduled}");
    let retries = get(&app, "/admin/jobs/retries").await.body;
    assert!(retries.contains(">in 2h 00m<"), "{retries}");
    let dead = get(&app, "/admin/jobs/dead").await.body;
    assert!(dead.contains(">2h 00m ago<"), "{dead}");

    let busy = get(&app, "/admin/jobs/busy").await.body;
    let process = row_with(&busy, "host:1:clock");
    assert!(
        process.contains(">5m 00s ago</time></td>") && process.contains(">3s ago</time></td>"),
        "{process}"
    );
    let running = row_with(&busy, "2030-01-15 11:59:30 UTC");
    assert!(running.contains(">30s</td>"), "{running}");

    let queues = get(&app, "/admin/jobs/queues").await.body;
    assert!(
        row_with(&queues, ">reports<").contains("<td class=\"num\">1m 30s</td>"),
        "{queues}"
    );

    // The history ends on the clock's day; the server time is the clock's.
    let home = get(&app, "/admin/jobs?days=7").await.body;
    assert!(home.contains("2030-01-15 12:00:00 UTC"), "{home}");
    let days: Vec<&str> = home
        .split("<td>")
        .skip(1)
        .filter_map(|cell| cell.split('<').next())
        .filter(|cell| cell.starts_with("2030-01-"))
        .collect();
    assert_eq!(
        days,
        [
            "2030-01-15",
            "2030-01-14",
            "2030-01-13",
            "2030-01-12",
            "2030-01-11",
            "2030-01-10",
            "2030-01-09"
        ]
    );

    // An hour later, the same jobs read differently.
    clock.advance(Duration::from_secs(3600));
    let scheduled = get(&app, "/admin/jobs/scheduled").await.body;
    assert!(scheduled.contains(">55m 00s ago<"), "{scheduled}");
    let retries = get(&app, "/admin/jobs/retries").await.body;
    assert!(retries.contains(">in 1h 00m<"), "{retries}");
}

#[tokio::test]
async fn the_api_and_actions_use_the_clock() {
    let b = memory();
    let t = at(T);
    seed_at(&b, t).await;
    let clock = Arc::new(ManualClock::new(t));
    let app = app_at(&b, &clock);

    let stats = get(&app, "/admin/jobs/api/stats").await.json();
    assert_eq!(stats["now"], "2030-01-15T12:00:00Z");
    let history = get(&app, "/admin/jobs/api/history?days=2").await.json();
    assert_eq!(history["history"][0]["date"], "2030-01-14");
    assert_eq!(history["history"][1]["date"], "2030-01-15");
    let procs = get(&app, "/admin/jobs/api/processes").await.json();
    assert_eq!(procs["processes"][0]["running"][0]["running_for"], 30.0);
    assert_eq!(latency(&app, "reports").await, Some(90.0));
    assert_eq!(latency(&app, "later").await, None);

    // Enqueued by the dashboard at the clock's time: two minutes later it has waited 120 s.
    let r = post_json(
        &app,
        "/admin/jobs/api/scheduled/enqueue",
        json!({ "all": true }),
    )
    .await;
    assert_eq!(r.json()["count"], 1, "{}", r.body);
    clock.advance(Duration::from_secs(120));
    assert_eq!(latency(&app, "later").await, Some(120.0));
    assert_eq!(latency(&app, "reports").await, Some(210.0));
}

/// The latency of `queue` in seconds, from `api/queues`.
async fn latency(app: &Router, queue: &str) -> Option<f64> {
    let v = get(app, "/admin/jobs/api/queues").await.json();
    v["queues"]
        .as_array()?
        .iter()
        .find(|q| q["name"] == queue)?["latency"]
        .as_f64()
}
