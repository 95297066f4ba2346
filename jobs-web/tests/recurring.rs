//! The Recurring page and API: timing in words, zone, next fire times, last run, enabled;
//! enable, disable, run now and remove; orphaned records marked; schedule names and
//! descriptions escaped.

mod common;

use common::*;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs::schedule::DeclareParams;

async fn declare(b: &std::sync::Arc<dyn AdminBackend>, name: &str, description: &str, class: &str) {
    let store = b.schedules().expect("the memory backend keeps schedules");
    store
        .schedule_declare(DeclareParams::new(
            name,
            description,
            JobEnvelope::new(class, "reports", vec![serde_json::json!(name)]),
            Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn recurring_page_and_actions() {
    let b = memory();
    declare(
        &b,
        "nightly-report",
        "cron 0 3 * * * (Europe/Berlin)",
        "NightlyReport",
    )
    .await;
    declare(&b, "heartbeat", "every 5m", "Ping").await;
    let app = app(&b);
    let page = get(&app, "/admin/jobs/recurring").await;
    assert_eq!(page.status, 200);
    for needle in [
        "nightly-report",
        "every day at 03:00",
        "Europe/Berlin",
        "every 5m",
        "never",
        "Run now",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    let api = get(&app, "/admin/jobs/api/recurring").await.json();
    let nightly = &api["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nightly-report")
        .unwrap()
        .clone();
    assert_eq!(nightly["next"].as_array().unwrap().len(), 5);
    assert_eq!(nightly["zone"], "Europe/Berlin");

    // Disable, enable, run now: each through a POST; the run enqueues the job.
    let before = snapshot(&b).await;
    for uri in [
        "/admin/jobs/recurring/nightly-report/disable",
        "/admin/jobs/recurring/nightly-report/run",
    ] {
        assert_eq!(get(&app, uri).await.status, 405);
    }
    assert_eq!(snapshot(&b).await, before);
    let store = b.schedules().unwrap();
    assert_eq!(
        post(&app, "/admin/jobs/recurring/nightly-report/disable", "")
            .await
            .status,
        303
    );
    assert!(
        !store
            .schedule_get(ScheduleGetParams::new("nightly-report"))
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert!(get(&app, "/admin/jobs/recurring")
        .await
        .body
        .contains("Enable"));
    assert_eq!(
        post(&app, "/admin/jobs/recurring/nightly-report/enable", "")
            .await
            .status,
        303
    );
    assert!(
        store
            .schedule_get(ScheduleGetParams::new("nightly-report"))
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert_eq!(
        post(&app, "/admin/jobs/recurring/nightly-report/run", "")
            .await
            .status,
        303
    );
    let queued = b
        .job_list(JobListParams::new(JobSet::Queue("reports".into()), 10))
        .await
        .unwrap();
    assert_eq!(queued.total, 1);
    assert_eq!(queued.jobs[0].job.class, "NightlyReport");
    let r = post_json(
        &app,
        "/admin/jobs/api/recurring/heartbeat/run",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(r.json()["jid"].as_str().map(str::len), Some(24));
    assert_eq!(
        post(&app, "/admin/jobs/recurring/nope/run", "")
            .await
            .status,
        404
    );
    assert_eq!(
        post(&app, "/admin/jobs/recurring/heartbeat/explode", "")
            .await
            .status,
        404
    );

    // Cross-site and read-only refusals apply here too.
    let req = axum::http::Request::post("/admin/jobs/recurring/heartbeat/disable")
        .header("sec-fetch-site", "cross-site")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.status, 403);
    assert!(
        store
            .schedule_get(ScheduleGetParams::new("heartbeat"))
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn schedule_fields_are_escaped() {
    for payload in [XSS, XSS_ATTR] {
        let b = memory();
        declare(&b, payload, &format!("cron {payload}"), payload).await;
        let app = app(&b);
        let r = get(&app, "/admin/jobs/recurring").await;
        assert_eq!(r.status, 200);
        assert_inert("recurring", &r.body);
        assert!(r.body.contains("&lt;"));
    }
}

/// Told which schedules the app declares, the page and the API mark the other records as
/// orphaned and offer Remove on them only; Remove deletes the record. Not told, nothing is
/// marked and every row offers Remove.
#[tokio::test]
async fn orphaned_schedules_are_marked_and_removed() {
    let b = memory();
    declare(&b, "nightly-report", "every 1h", "NightlyReport").await;
    declare(&b, "old-export", "every 5m", "OldExport").await;
    let told = axum::Router::new().nest(
        "/admin/jobs",
        jobs_web::Dashboard::new(b.clone())
            .declared_schedules(["nightly-report".to_owned()])
            .router(),
    );
    let page = get(&told, "/admin/jobs/recurring").await.body;
    let row = |name: &str| {
        let at = page.find(&format!("<strong>{name}</strong>")).unwrap();
        let end = page[at..].find("</tr>").unwrap() + at;
        page[at..end].to_owned()
    };
    assert!(row("old-export").contains("orphaned"), "{page}");
    assert!(row("old-export").contains("/recurring/old-export/remove"));
    assert!(!row("nightly-report").contains("orphaned"));
    assert!(!row("nightly-report").contains("/remove"));

    let api = get(&told, "/admin/jobs/api/recurring").await.json();
    let orphaned: Vec<(String, bool)> = api["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["orphaned"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(orphaned.contains(&("old-export".to_owned(), true)));
    assert!(orphaned.contains(&("nightly-report".to_owned(), false)));

    let r = post(&told, "/admin/jobs/recurring/old-export/remove", "").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let store = b.schedules().unwrap();
    assert!(store
        .schedule_get(ScheduleGetParams::new("old-export"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .schedule_get(ScheduleGetParams::new("nightly-report"))
        .await
        .unwrap()
        .is_some());
    let r = post(&told, "/admin/jobs/recurring/old-export/remove", "").await;
    assert_eq!(r.status, 404, "removing it twice: {}", r.body);

    // A dashboard that was not told cannot know: no mark, Remove on every row, `null`.
    let plain = app(&b);
    let page = get(&plain, "/admin/jobs/recurring").await.body;
    assert!(!page.contains("orphaned"), "{page}");
    assert!(page.contains("/recurring/nightly-report/remove"));
    let api = get(&plain, "/admin/jobs/api/recurring").await.json();
    assert!(api["schedules"][0]["orphaned"].is_null(), "{api}");
}
