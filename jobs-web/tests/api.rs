//! The JSON API shows and does what the pages do, keeps the shape of every answer, and
//! answers every error as `{"error": {"code", "message"}}` with a stable code.

mod common;

use axum::Router;
use common::*;
use jobs_web::Access;
use serde_json::json;

#[tokio::test]
async fn reads() {
    let b = memory();
    let s = seed(&b, "SendPush", "push", "device-1").await;
    let app = app(&b);
    let st = get(&app, "/admin/jobs/api/stats").await.json();
    assert_eq!(st["backend"], "memory");
    assert_eq!(
        (
            st["scheduled"].as_u64(),
            st["retries"].as_u64(),
            st["dead"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(st["busy"], 1);
    let h = get(&app, "/admin/jobs/api/history?days=7").await.json();
    assert_eq!(h["history"].as_array().unwrap().len(), 7);
    let q = get(&app, "/admin/jobs/api/queues").await.json();
    assert!(q["queues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["name"] == "push" && q["size"] == 1));
    let jobs = get(&app, "/admin/jobs/api/queues/push?per_page=10")
        .await
        .json();
    assert_eq!(jobs["jobs"][0]["job"]["jid"], s.queued.as_str());
    let p = get(&app, "/admin/jobs/api/processes").await.json();
    assert_eq!(p["processes"][0]["info"]["id"], s.process.as_str());
    assert_eq!(p["processes"][0]["running"][0]["job"]["class"], "SendPush");
    for (set, jid) in [
        ("scheduled", &s.scheduled),
        ("retries", &s.retry),
        ("dead", &s.dead),
    ] {
        let l = get(
            &app,
            &format!("/admin/jobs/api/{set}?class=SendPush&q=device"),
        )
        .await
        .json();
        assert_eq!(l["total"], 1, "{set}");
        let one = get(&app, &format!("/admin/jobs/api/{set}/{jid}"))
            .await
            .json();
        assert_eq!(one["job"]["jid"], jid.as_str());
        let n = get(&app, &format!("/admin/jobs/api/{set}/count?class=Other"))
            .await
            .json();
        assert_eq!(n["count"], 0);
    }
    assert_eq!(get(&app, "/admin/jobs/api/dead/nope").await.status, 404);
    assert_eq!(get(&app, "/admin/jobs/api/nope").await.status, 404);
}

#[tokio::test]
async fn actions() {
    let b = memory();
    let s = seed(&b, "ChargeCard", "payments", "order-1").await;
    let t = seed(&b, "ChargeCard", "payments", "order-2").await;
    let app = app(&b);
    let r = post_json(&app, "/admin/jobs/api/queues/payments/pause", json!({})).await;
    assert_eq!(r.json()["paused"], true);
    post_json(&app, "/admin/jobs/api/queues/payments/resume", json!({})).await;
    let r = post_json(
        &app,
        "/admin/jobs/api/queues/payments/delete",
        json!({ "jids": [s.queued] }),
    )
    .await;
    assert_eq!(r.json()["deleted"], 1);
    let r = post_json(&app, "/admin/jobs/api/queues/payments/clear", json!({})).await;
    assert_eq!(r.json()["removed"], 1);
    let r = post_json(
        &app,
        "/admin/jobs/api/processes/signal",
        json!({ "process": s.process, "signal": "quiet" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_json(
        &app,
        "/admin/jobs/api/retries/kill",
        json!({ "jids": [s.retry] }),
    )
    .await;
    assert_eq!(r.json()["count"], 1);
    let r = post_json(
        &app,
        "/admin/jobs/api/dead/retry",
        json!({ "all": true, "q": "order-1" }),
    )
    .await;
    assert_eq!(r.json()["count"], 2);
    let r = post_json(
        &app,
        "/admin/jobs/api/scheduled/enqueue",
        json!({ "all": true }),
    )
    .await;
    assert_eq!(r.json()["count"], 2);
    let r = post_json(
        &app,
        "/admin/jobs/api/dead/delete",
        json!({ "jids": [t.dead] }),
    )
    .await;
    assert_eq!(r.json()["count"], 1);
    let r = post_json(
        &app,
        "/admin/jobs/api/retries/retry",
        json!({ "jids": [t.retry] }),
    )
    .await;
    assert_eq!(r.json()["count"], 1);
    let st = get(&app, "/admin/jobs/api/stats").await.json();
    assert_eq!(
        (
            st["scheduled"].as_u64(),
            st["retries"].as_u64(),
            st["dead"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    // Refusals: see api_errors_are_json_with_stable_codes.
}

/// The sorted keys of a JSON object.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn every_answer_keeps_its_shape() {
    let b = memory();
    let s = seed(&b, "SendPush", "push", "device-1").await;
    b.schedules()
        .unwrap()
        .schedule_declare(jobs::schedule::DeclareParams::new(
            "nightly",
            "every 1h",
            jobs::envelope::JobEnvelope::new("Report", "reports", vec![]),
            Some(chrono::Utc::now()),
        ))
        .await
        .unwrap();
    let app = app(&b);
    let read = |uri: &'static str| {
        let app = app.clone();
        async move { get(&app, &format!("/admin/jobs/api/{uri}")).await.json() }
    };
    let v = read("stats").await;
    assert_eq!(
        keys(&v),
        [
            "backend",
            "busy",
            "dead",
            "dead_trimmed",
            "enqueued",
            "expired",
            "failed",
            "now",
            "processed",
            "processes",
            "retries",
            "scheduled"
        ]
    );
    let v = read("facts").await;
    assert_eq!(keys(&v), ["backend", "facts"]);
    assert_eq!(keys(&v["facts"][0]), ["label", "value"]);
    let v = read("metrics").await;
    assert_eq!(keys(&v), ["enabled", "hours", "jobs", "now"]);
    assert_eq!(
        keys(&v["jobs"][0]),
        ["avg_ms", "class", "failed", "p95_ms", "processed"]
    );
    let v = read("history").await;
    assert_eq!(keys(&v), ["days", "history"]);
    assert_eq!(keys(&v["history"][0]), ["date", "failed", "processed"]);
    let v = read("queues").await;
    assert_eq!(keys(&v), ["queues"]);
    assert_eq!(keys(&v["queues"][0]), ["latency", "name", "paused", "size"]);
    let v = read("queues/push").await;
    assert_eq!(keys(&v), ["jobs", "page", "per_page", "total"]);
    assert_eq!(keys(&v["jobs"][0]), ["at", "job", "priority"]);
    let v = read("dead").await;
    assert_eq!(keys(&v), ["jobs", "page", "per_page", "total"]);
    let one = get(&app, &format!("/admin/jobs/api/dead/{}", s.dead))
        .await
        .json();
    assert_eq!(keys(&one), ["at", "job", "priority"]);
    assert_eq!(one["job"]["jid"], s.dead.as_str());
    assert_eq!(keys(&read("dead/count").await), ["count"]);
    let v = read("processes").await;
    assert_eq!(keys(&v), ["processes"]);
    assert_eq!(
        keys(&v["processes"][0]),
        ["beat_at", "busy", "info", "quiet", "running"]
    );
    assert_eq!(
        keys(&v["processes"][0]["running"][0]),
        ["job", "progress", "running_for", "started_at"]
    );
    let one = get(&app, &format!("/admin/jobs/api/jobs/{}", s.dead))
        .await
        .json();
    assert_eq!(
        keys(&one),
        [
            "finished_at",
            "jid",
            "result",
            "result_expires_at",
            "result_masked",
            "status"
        ]
    );
    assert_eq!(one["status"]["state"], "dead");
    let v = read("locks").await;
    assert_eq!(keys(&v), ["locks", "more", "page", "per_page", "supported"]);
    let v = read("recurring").await;
    assert_eq!(keys(&v), ["schedules", "supported"]);
    assert_eq!(
        keys(&v["schedules"][0]),
        [
            "description",
            "enabled",
            "job",
            "last_run",
            "name",
            "next",
            "orphaned",
            "words",
            "zone"
        ]
    );

    let act = |uri: &'static str, body: serde_json::Value| {
        let app = app.clone();
        async move {
            let r = post_json(&app, &format!("/admin/jobs/api/{uri}"), body).await;
            assert_eq!(r.status, 200, "{uri}: {}", r.body);
            r.json()
        }
    };
    let v = act("queues/push/pause", json!({})).await;
    assert_eq!(
        (keys(&v), &v["paused"]),
        (vec!["paused", "queue"], &json!(true))
    );
    let v = act("queues/push/delete", json!({ "jids": [s.queued] })).await;
    assert_eq!(keys(&v), ["deleted"]);
    let v = act("queues/push/clear", json!({})).await;
    assert_eq!(keys(&v), ["queue", "removed"]);
    let body = json!({ "process": s.process, "signal": "quiet" });
    let v = act("processes/signal", body).await;
    assert_eq!(keys(&v), ["process", "signal"]);
    assert_eq!(v["signal"], "quiet");
    let v = act("dead/retry", json!({ "all": true })).await;
    assert_eq!(keys(&v), ["action", "count"]);
    let v = act("recurring/nightly/run", json!({})).await;
    assert_eq!(keys(&v), ["action", "jid", "schedule"]);
    assert!(v["jid"].is_string(), "{v}");
}

/// Asserts `r` is the API's JSON error with `status` and `code`, and its message contains
/// `words`; returns the message.
fn assert_error(what: &str, r: &Resp, status: u16, code: &str, words: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    let ct = r.headers["content-type"].to_str().unwrap_or_default();
    assert_eq!(ct, "application/json", "{what}");
    let v = r.json();
    assert_eq!(keys(&v), ["error"], "{what}: {v}");
    assert_eq!(keys(&v["error"]), ["code", "message"], "{what}: {v}");
    assert_eq!(v["error"]["code"], code, "{what}: {v}");
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains(words), "{what}: {message}");
    message
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_json_400_naming_it() {
    let b = memory();
    let app = app(&b);
    let r = get(&app, "/admin/jobs/api/history?days=abc").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({ "error": {
            "code": "bad_request",
            "message": "days must be a whole number from 1 to 90",
        } })
    );
    for (uri, param) in [
        ("api/dead?per_page=ten", "per_page"),
        ("api/queues/default?page=-1", "page"),
        ("api/metrics?hours=1h", "hours"),
        ("api/scheduled?class=A&page=1.5", "page"),
    ] {
        let r = get(&app, &format!("/admin/jobs/{uri}")).await;
        let m = assert_error(uri, &r, 400, "bad_request", "must be a whole number");
        assert!(m.starts_with(&format!("{param} ")), "{uri}: {m}");
    }
}

#[tokio::test]
async fn api_errors_are_json_with_stable_codes() {
    let b = memory();
    let s = seed(&b, "ChargeCard", "payments", "order-1").await;
    let app = app(&b);
    let r = get(&app, "/admin/jobs/api/dead/ffff").await;
    assert_error("no job", &r, 404, "not_found", "no such job in this set");
    let r = get(&app, "/admin/jobs/api/nope").await;
    assert_error("no set", &r, 404, "not_found", "no such page");
    let r = get(&app, "/admin/jobs/api/a/b/c/d").await;
    assert_error("no endpoint", &r, 404, "not_found", "no such API endpoint");
    let r = post_json(&app, "/admin/jobs/api/queues/payments/explode", json!({})).await;
    assert_error(
        "no action",
        &r,
        404,
        "not_found",
        "pause, resume, clear, delete",
    );
    let r = post_json(&app, "/admin/jobs/api/stats", json!({})).await;
    assert_error("method", &r, 405, "method_not_allowed", "POST");
    assert_eq!(r.headers["allow"], "GET,HEAD");
    let r = get(&app, "/admin/jobs/api/queues/%FF").await;
    // Not UTF-8 once decoded: the message names the segment.
    assert_error("path", &r, 400, "bad_request", "`name`");

    let r = post_json(&app, "/admin/jobs/api/dead/kill", json!({ "all": true })).await;
    assert_error(
        "kill dead",
        &r,
        400,
        "bad_request",
        "cannot be sent to 'kill'",
    );
    let r = post_json(&app, "/admin/jobs/api/dead/delete", json!({})).await;
    assert_error(
        "no selection",
        &r,
        400,
        "bad_request",
        "give jids, or all: true",
    );
    let r = post_json(&app, "/admin/jobs/api/dead/delete", json!({ "jidz": [] })).await;
    assert_error("bad field", &r, 400, "bad_request", "jidz");
    let r = post(&app, "/admin/jobs/api/dead/delete", "jids=1").await;
    assert_error("form body", &r, 400, "bad_request", "application/json");
    let big = json!({ "jids": ["x".repeat(3 << 20)] });
    let r = post_json(&app, "/admin/jobs/api/dead/delete", big).await;
    assert_error("huge body", &r, 413, "payload_too_large", "length limit");
    let quiet = |process: &str, signal: &str| json!({ "process": process, "signal": signal });
    let r = post_json(
        &app,
        "/admin/jobs/api/processes/signal",
        quiet(&s.process, "kill"),
    )
    .await;
    assert_error("signal", &r, 400, "bad_request", "quiet or stop");
    let r = post_json(
        &app,
        "/admin/jobs/api/processes/signal",
        quiet("nobody", "quiet"),
    )
    .await;
    assert_error("process", &r, 404, "not_found", "no such process");
    let r = post_json(&app, "/admin/jobs/api/recurring/nope/run", json!({})).await;
    assert_error("schedule", &r, 404, "not_found", "no such schedule");
}

#[tokio::test]
async fn the_guard_refuses_the_api_in_json() {
    let b = memory();
    seed(&b, "ChargeCard", "payments", "order-1").await;
    let pause = "/admin/jobs/api/queues/payments/pause";
    let with = |d: jobs_web::Dashboard| Router::new().nest("/admin/jobs", d.router());

    let read_only = with(jobs_web::Dashboard::new(b.clone()).read_only(true));
    let r = post_json(&read_only, pause, json!({})).await;
    assert_error("read-only", &r, 403, "read_only", "read-only");

    let viewer = with(jobs_web::Dashboard::new(b.clone()).authorize(|_| Access::read_only()));
    let r = post_json(&viewer, pause, json!({})).await;
    assert_error("viewer", &r, 403, "forbidden", "may not take actions");

    let nobody = with(jobs_web::Dashboard::new(b.clone()).authorize(|_| Access::none()));
    let r = get(&nobody, "/admin/jobs/api/stats").await;
    assert_error("nobody", &r, 403, "forbidden", "may not view");

    let req = axum::http::Request::post(pause)
        .header("host", "localhost")
        .header("origin", "https://evil.example")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = send(&app(&b), req).await;
    assert_error("cross-site", &r, 403, "cross_site", "cross-site");
}

/// A page's error is a page of the dashboard: the layout (navigation), the status and the
/// message, and a link back to the listing it came from.
#[tokio::test]
async fn pages_answer_errors_in_the_layout_with_a_way_back() {
    let b = memory();
    let app = app(&b);
    for (uri, status, text, back) in [
        (
            "/admin/jobs?days=abc",
            400,
            "days must be a whole number",
            "/admin/jobs/",
        ),
        ("/admin/jobs/nope", 404, "no such page", "/admin/jobs/"),
        (
            "/admin/jobs/dead/ffff",
            404,
            "no such job in this set",
            "/admin/jobs/dead",
        ),
        (
            "/admin/jobs/retries/ffff",
            404,
            "no such job in this set",
            "/admin/jobs/retries",
        ),
        ("/admin/jobs/apis", 404, "no such page", "/admin/jobs/"),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, status, "{uri}");
        let ct = r.headers["content-type"].to_str().unwrap_or_default();
        assert!(ct.starts_with("text/html"), "{uri}: {ct}");
        assert!(r.body.starts_with("<!DOCTYPE html>"), "{uri}: {}", r.body);
        assert!(r.body.contains(text), "{uri}: {}", r.body);
        assert!(r.body.contains(&format!("{status} ")), "{uri}");
        assert!(
            r.body.contains(&format!("href=\"{back}\"")),
            "{uri}: no link back to {back}: {}",
            r.body
        );
        assert!(r.body.contains("<nav>"), "{uri}: the layout's navigation");
    }
    // The job page of a job that is gone says why that happens.
    let r = get(&app, "/admin/jobs/retries/ffff").await;
    assert!(r.body.contains("may have run, been retried"), "{}", r.body);

    let read_only = Router::new().nest(
        "/admin/jobs",
        jobs_web::Dashboard::new(b.clone()).read_only(true).router(),
    );
    let r = post(
        &read_only,
        "/admin/jobs/queues/default/pause",
        "paused=true",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("the dashboard is read-only"), "{}", r.body);
    assert!(r.body.contains("href=\"/admin/jobs/queues\""), "{}", r.body);
}

/// A request that may not view the dashboard gets no layout (no navigation, no names of
/// pages): a plain-text 403.
#[tokio::test]
async fn a_request_that_may_not_view_gets_no_layout() {
    let b = memory();
    let app = Router::new().nest(
        "/admin/jobs",
        jobs_web::Dashboard::new(b.clone())
            .authorize(|_| jobs_web::Access::none())
            .router(),
    );
    let r = get(&app, "/admin/jobs/dead/ffff").await;
    assert_eq!(r.status, 403);
    assert!(r.body.starts_with("403 Forbidden"), "{}", r.body);
    assert!(!r.body.contains("<nav"), "{}", r.body);
}
