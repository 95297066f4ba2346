//! The audit: every state-changing request that succeeds gives the `on_action` hook who did
//! it, the action, what it was done to and how many it affected; a refused or failed
//! request gives nothing.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use chrono::Utc;
use common::roles::*;
use common::*;
use jobs::backend::PushParams;
use jobs::envelope::JobEnvelope;
use jobs_web::{Access, Action, AuditEvent};
use serde_json::json;

/// The events the hook was given.
type Seen = Arc<Mutex<Vec<AuditEvent>>>;

fn recorded(w: &World, access: Access) -> (Router, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let app = dashboard(&w.b, access, move |e| keep.lock().unwrap().push(e.clone()));
    (app, seen)
}

/// What the hook was given since the last call, as (user, action, verb, target, count).
fn take(seen: &Seen) -> Vec<(Option<String>, Action, &'static str, String, u64)> {
    let events = std::mem::take(&mut *seen.lock().unwrap());
    events
        .into_iter()
        .map(|e| (e.user, e.action, e.verb, e.target, e.count))
        .collect()
}

fn ann(
    action: Action,
    verb: &'static str,
    target: &str,
    count: u64,
) -> Vec<(Option<String>, Action, &'static str, String, u64)> {
    vec![(Some("ann".into()), action, verb, target.to_owned(), count)]
}

/// A form POST as user `ann`.
async fn post_as_ann(app: &Router, uri: &str, form: &str) -> Resp {
    let req = Request::post(uri)
        .header("host", "localhost")
        .header("origin", "http://localhost")
        .header("x-user", "ann")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    send(app, req).await
}

/// A JSON POST as user `ann`.
async fn api_as_ann(app: &Router, uri: &str, body: serde_json::Value) -> Resp {
    let req = Request::post(uri)
        .header("host", "localhost")
        .header("x-user", "ann")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, req).await
}

#[tokio::test]
async fn each_action_is_recorded_with_user_target_and_count() {
    let w = world().await;
    let s = &w.s;
    // Two more jobs in the queue, so clearing it removes three.
    let more = vec![
        JobEnvelope::new("ChargeCard", "payments", vec![]),
        JobEnvelope::new("ChargeCard", "payments", vec![]),
    ];
    w.b.job_push(PushParams::new(more, Utc::now()))
        .await
        .unwrap();
    let (app, seen) = recorded(&w, Access::full());

    let r = post_as_ann(&app, "/admin/jobs/queues/payments/pause", "paused=true").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        take(&seen),
        ann(Action::Pause, "pause", "queue payments", 1)
    );

    let r = api_as_ann(&app, "/admin/jobs/api/queues/payments/clear", json!({})).await;
    assert_eq!(r.json()["removed"], 3);
    assert_eq!(
        take(&seen),
        ann(Action::Delete, "clear", "queue payments", 3)
    );

    let r = api_as_ann(
        &app,
        "/admin/jobs/api/retries/retry",
        json!({ "jids": [s.retry] }),
    )
    .await;
    assert_eq!(r.json()["count"], 1);
    let target = format!("retries: job {}", s.retry);
    assert_eq!(take(&seen), ann(Action::Retry, "retry", &target, 1));

    let form = form(&[
        ("action", "delete"),
        ("scope", "all"),
        ("class", "ChargeCard"),
    ]);
    let r = post_as_ann(&app, "/admin/jobs/dead/action", &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let target = "dead: all jobs named ChargeCard";
    assert_eq!(take(&seen), ann(Action::Delete, "delete", target, 1));

    let r = api_as_ann(
        &app,
        "/admin/jobs/api/processes/signal",
        json!({ "process": s.process, "signal": "stop" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let target = format!("process {}", s.process);
    assert_eq!(take(&seen), ann(Action::Stop, "stop", &target, 1));

    let r = post_as_ann(&app, "/admin/jobs/recurring/nightly/run", "").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        take(&seen),
        ann(Action::Schedule, "run", "schedule nightly", 1)
    );

    let uri = format!("/admin/jobs/api/locks/{}/release", seg(&w.lock));
    let r = api_as_ann(&app, &uri, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let target = format!("lock {}", w.lock);
    assert_eq!(take(&seen), ann(Action::Release, "release", &target, 1));

    let form = common::form(&[("key", WAIT_KEY), ("jid", &w.waiting)]);
    let r = post_as_ann(&app, "/admin/jobs/limits/waiting/delete", &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let target = format!("waiting for {WAIT_KEY}: job {}", w.waiting);
    assert_eq!(take(&seen), ann(Action::Release, "delete", &target, 1));

    // A request that finds nothing to act on is still recorded, with its count of 0.
    let r = api_as_ann(
        &app,
        "/admin/jobs/api/scheduled/kill",
        json!({ "jids": ["nope", "gone"] }),
    )
    .await;
    assert_eq!(r.json()["count"], 0);
    let target = "scheduled: 2 selected jobs";
    assert_eq!(take(&seen), ann(Action::Kill, "kill", target, 0));

    // Without the identify header, the event names no one.
    let r = post(&app, "/admin/jobs/queues/payments/pause", "paused=false").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let resume = vec![(
        None,
        Action::Pause,
        "resume",
        "queue payments".to_owned(),
        1,
    )];
    assert_eq!(take(&seen), resume);
}

#[tokio::test]
async fn refused_and_failed_requests_are_not_recorded() {
    let w = world().await;
    let s = &w.s;
    let (lacking, seen) = recorded(&w, Access::full().without(Action::Delete));
    let before = snapshot(&w.b).await;
    let r = post_as_ann(&lacking, "/admin/jobs/queues/payments/clear", "").await;
    assert_eq!(r.status, 403);
    let r = api_as_ann(
        &lacking,
        "/admin/jobs/api/dead/delete",
        json!({ "all": true }),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(snapshot(&w.b).await, before);
    assert_eq!(take(&seen), []);

    let (viewer, seen) = recorded(&w, Access::read_only());
    let r = post_as_ann(&viewer, "/admin/jobs/queues/payments/pause", "paused=true").await;
    assert_eq!(r.status, 403);
    assert_eq!(take(&seen), []);

    // Allowed, but failing: no such schedule, no such process, a bad body.
    let (app, seen) = recorded(&w, Access::full());
    let r = post_as_ann(&app, "/admin/jobs/recurring/nope/run", "").await;
    assert_eq!(r.status, 404);
    let r = api_as_ann(
        &app,
        "/admin/jobs/api/processes/signal",
        json!({ "process": "nobody", "signal": "quiet" }),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = api_as_ann(&app, "/admin/jobs/api/retries/retry", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(take(&seen), []);

    // The same hook does record what succeeds.
    let r = api_as_ann(
        &app,
        "/admin/jobs/api/dead/delete",
        json!({ "jids": [s.dead] }),
    )
    .await;
    assert_eq!(r.json()["count"], 1);
    assert_eq!(take(&seen).len(), 1);
}

#[tokio::test]
async fn recent_actions_lists_what_was_done_newest_first() {
    let w = world().await;
    let s = &w.s;
    let (app, _seen) = recorded(&w, Access::full());
    let r = get(&app, "/admin/jobs/actions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("No action taken yet."), "{}", r.body);

    let r = post_as_ann(&app, "/admin/jobs/queues/payments/pause", "paused=true").await;
    assert_eq!(r.status, 303);
    // A user name is shown as text, never as markup.
    let req = Request::post("/admin/jobs/api/dead/delete")
        .header("host", "localhost")
        .header("x-user", XSS)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "jids": [s.dead] }).to_string()))
        .unwrap();
    assert_eq!(send(&app, req).await.json()["count"], 1);
    // Refused: not listed.
    let (viewer, _) = recorded(&w, Access::read_only());
    let r = post_as_ann(&viewer, "/admin/jobs/queues/payments/clear", "").await;
    assert_eq!(r.status, 403);

    let page = get(&app, "/admin/jobs/actions").await.body;
    assert_inert("actions", &page);
    let rows: Vec<&str> = page.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{page}");
    let dead = format!("dead: job {}", s.dead);
    assert!(
        rows[0].contains("&lt;script&gt;") && rows[0].contains(&dead),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("ann")
            && rows[1].contains("queue payments")
            && rows[1].contains(">pause<"),
        "{}",
        rows[1]
    );

    let api = get(&app, "/admin/jobs/api/actions").await.json();
    assert_eq!(api["kept"], 100);
    let actions = api["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["user"], XSS);
    assert_eq!(actions[0]["action"], "delete");
    assert_eq!(actions[0]["target"], dead.as_str());
    assert_eq!(actions[1]["user"], "ann");
    assert_eq!(actions[1]["verb"], "pause");
    assert_eq!(actions[1]["count"], 1);
    // Another dashboard (another process) keeps its own list.
    let (other, _) = recorded(&w, Access::full());
    let api = get(&other, "/admin/jobs/api/actions").await.json();
    assert_eq!(api["actions"].as_array().map(Vec::len), Some(0));
}

/// A tracing subscriber that keeps the fields of every event, as `name=value` lines.
#[derive(Default)]
struct Capture {
    events: Mutex<Vec<String>>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!("{}={value} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut fields);
        self.events.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn by_default_each_action_is_logged_at_info() {
    let w = world().await;
    let capture = Arc::new(Capture::default());
    // The test's runtime runs the request on this thread, where this subscriber is the default.
    let _guard = tracing::subscriber::set_default(capture.clone());
    let app = Router::new().nest(
        "/admin/jobs",
        jobs_web::Dashboard::new(w.b.clone())
            .identify(|parts| Some(parts.headers.get("x-user")?.to_str().ok()?.to_owned()))
            .router(),
    );
    let r = post_as_ann(&app, "/admin/jobs/queues/payments/clear", "").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let events = capture.events.lock().unwrap().clone();
    let logged: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("message=dashboard action"))
        .collect();
    assert_eq!(logged.len(), 1, "{events:?}");
    for field in [
        "INFO ",
        "user=ann ",
        "action=delete ",
        "verb=clear ",
        "target=queue payments ",
        "count=1 ",
    ] {
        assert!(logged[0].contains(field), "{field} in {}", logged[0]);
    }
}
