//! The JSON API shows and does what the pages do.

mod common;

use common::*;
use jobs::backend::*;
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

    // Refusals: wrong action for the set, no selection, bad JSON, not JSON, unknown action.
    assert_eq!(
        post_json(&app, "/admin/jobs/api/dead/kill", json!({ "all": true }))
            .await
            .status,
        400
    );
    assert_eq!(
        post_json(&app, "/admin/jobs/api/dead/delete", json!({}))
            .await
            .status,
        400
    );
    assert_eq!(
        post_json(&app, "/admin/jobs/api/dead/delete", json!({ "jidz": [] }))
            .await
            .status,
        400
    );
    let r = post(&app, "/admin/jobs/api/dead/delete", "jids=1").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("application/json"));
    assert_eq!(
        post_json(&app, "/admin/jobs/api/queues/payments/explode", json!({}))
            .await
            .status,
        404
    );
    let r = post_json(
        &app,
        "/admin/jobs/api/processes/signal",
        json!({ "process": s.process, "signal": "kill" }),
    )
    .await;
    assert_eq!(r.status, 400);
    let _ = JobSet::Dead;
}
