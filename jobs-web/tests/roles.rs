//! Per-action authorization: every state-changing route of the pages and the API needs one
//! action; a role with only that action changes state, a role with every other action gets
//! 403 and changes nothing; pages show only the forms of the actions granted.

mod common;

use axum::http::StatusCode;
use common::roles::*;
use common::*;
use jobs::backend::JobSet;
use jobs_web::{Access, Action};
use serde_json::{json, Value};

/// How a route is called: a form POST of the pages, or a JSON POST of the API.
enum Body {
    Form(String),
    Json(Value),
}

/// One state-changing route, called on one target.
struct Case {
    action: Action,
    uri: String,
    body: Body,
    /// What it changes.
    probe: Probe,
    /// Done through the backend first, so the route has something to undo.
    prep: Prep,
}

enum Prep {
    Nothing,
    PauseQueue,
    DisableSchedule,
}

fn page(action: Action, path: &str, form: &str, probe: Probe) -> Case {
    Case {
        action,
        uri: format!("/admin/jobs{path}"),
        body: Body::Form(form.to_owned()),
        probe,
        prep: Prep::Nothing,
    }
}

fn api(action: Action, path: &str, body: Value, probe: Probe) -> Case {
    Case {
        action,
        uri: format!("/admin/jobs/api{path}"),
        body: Body::Json(body),
        probe,
        prep: Prep::Nothing,
    }
}

fn prepped(mut c: Case, prep: Prep) -> Case {
    c.prep = prep;
    c
}

/// Every state-changing route of the dashboard (each operation of each POST route), with
/// the action it needs and where its effect shows.
fn cases(w: &World) -> Vec<Case> {
    let s = &w.s;
    let q = || JobSet::Queue(s.queue.clone());
    let paused = || Probe::Paused(s.queue.clone());
    let lock = seg(&w.lock);
    let waiting = format!("?{}", form(&[("key", WAIT_KEY)]));
    vec![
        // The pages' forms.
        page(
            Action::Pause,
            "/queues/payments/pause",
            "paused=true",
            paused(),
        ),
        prepped(
            page(
                Action::Pause,
                "/queues/payments/pause",
                "paused=false",
                paused(),
            ),
            Prep::PauseQueue,
        ),
        page(
            Action::Delete,
            "/queues/payments/clear",
            "",
            Probe::Jobs(q()),
        ),
        page(
            Action::Delete,
            "/queues/payments/delete",
            &form(&[("jid", &s.queued)]),
            Probe::Jobs(q()),
        ),
        page(
            Action::Quiet,
            "/busy/signal",
            &form(&[("process", &s.process), ("signal", "quiet")]),
            Probe::Signals,
        ),
        page(
            Action::Stop,
            "/busy/signal",
            &form(&[("process", &s.process), ("signal", "stop")]),
            Probe::Signals,
        ),
        page(
            Action::Retry,
            "/retries/action",
            &form(&[("action", "retry"), ("jid", &s.retry)]),
            Probe::Jobs(JobSet::Retry),
        ),
        page(
            Action::Retry,
            "/dead/action",
            &form(&[("action", "retry"), ("scope", "all")]),
            Probe::Jobs(JobSet::Dead),
        ),
        page(
            Action::Retry,
            "/scheduled/action",
            &form(&[("action", "enqueue"), ("jid", &s.scheduled)]),
            Probe::Jobs(JobSet::Scheduled),
        ),
        page(
            Action::Delete,
            "/dead/action",
            &form(&[("action", "delete"), ("scope", "all"), ("expected", "1")]),
            Probe::Jobs(JobSet::Dead),
        ),
        page(
            Action::Kill,
            "/retries/action",
            &form(&[("action", "kill"), ("jid", &s.retry)]),
            Probe::Jobs(JobSet::Retry),
        ),
        page(
            Action::Kill,
            "/scheduled/action",
            &form(&[("action", "kill"), ("jid", &s.scheduled)]),
            Probe::Jobs(JobSet::Scheduled),
        ),
        page(
            Action::Schedule,
            "/recurring/nightly/disable",
            "",
            Probe::Schedule,
        ),
        prepped(
            page(
                Action::Schedule,
                "/recurring/nightly/enable",
                "",
                Probe::Schedule,
            ),
            Prep::DisableSchedule,
        ),
        page(
            Action::Schedule,
            "/recurring/nightly/run",
            "",
            Probe::Schedule,
        ),
        page(
            Action::Release,
            &format!("/locks/{lock}/release"),
            &form(&[("jid", &w.lock_jid)]),
            Probe::Locks,
        ),
        page(
            Action::Release,
            "/limits/waiting/delete",
            &form(&[("key", WAIT_KEY), ("jid", &w.waiting)]),
            Probe::Waiting,
        ),
        // The API.
        api(Action::Pause, "/queues/payments/pause", json!({}), paused()),
        prepped(
            api(
                Action::Pause,
                "/queues/payments/resume",
                json!({}),
                paused(),
            ),
            Prep::PauseQueue,
        ),
        api(
            Action::Delete,
            "/queues/payments/clear",
            json!({}),
            Probe::Jobs(q()),
        ),
        api(
            Action::Delete,
            "/queues/payments/delete",
            json!({ "jids": [s.queued] }),
            Probe::Jobs(q()),
        ),
        api(
            Action::Quiet,
            "/processes/signal",
            json!({ "process": s.process, "signal": "quiet" }),
            Probe::Signals,
        ),
        api(
            Action::Stop,
            "/processes/signal",
            json!({ "process": s.process, "signal": "stop" }),
            Probe::Signals,
        ),
        api(
            Action::Retry,
            "/retries/retry",
            json!({ "jids": [s.retry] }),
            Probe::Jobs(JobSet::Retry),
        ),
        api(
            Action::Retry,
            "/dead/retry",
            json!({ "all": true }),
            Probe::Jobs(JobSet::Dead),
        ),
        api(
            Action::Retry,
            "/scheduled/enqueue",
            json!({ "jids": [s.scheduled] }),
            Probe::Jobs(JobSet::Scheduled),
        ),
        api(
            Action::Delete,
            "/retries/delete",
            json!({ "jids": [s.retry] }),
            Probe::Jobs(JobSet::Retry),
        ),
        api(
            Action::Delete,
            "/scheduled/delete",
            json!({ "all": true }),
            Probe::Jobs(JobSet::Scheduled),
        ),
        api(
            Action::Kill,
            "/retries/kill",
            json!({ "all": true }),
            Probe::Jobs(JobSet::Retry),
        ),
        api(
            Action::Kill,
            "/scheduled/kill",
            json!({ "jids": [s.scheduled] }),
            Probe::Jobs(JobSet::Scheduled),
        ),
        api(
            Action::Schedule,
            "/recurring/nightly/disable",
            json!({}),
            Probe::Schedule,
        ),
        prepped(
            api(
                Action::Schedule,
                "/recurring/nightly/enable",
                json!({}),
                Probe::Schedule,
            ),
            Prep::DisableSchedule,
        ),
        api(
            Action::Schedule,
            "/recurring/nightly/run",
            json!({}),
            Probe::Schedule,
        ),
        api(
            Action::Release,
            &format!("/locks/{lock}/release"),
            json!({}),
            Probe::Locks,
        ),
        api(
            Action::Release,
            &format!("/limits/waiting/delete{waiting}"),
            json!({ "jids": [w.waiting] }),
            Probe::Waiting,
        ),
    ]
}

async fn call(app: &axum::Router, c: &Case) -> Resp {
    match &c.body {
        Body::Form(f) => post(app, &c.uri, f).await,
        Body::Json(v) => post_json(app, &c.uri, v.clone()).await,
    }
}

async fn prepare(w: &World, prep: &Prep) {
    use jobs::backend::{EnableParams, QueuePauseParams};
    match prep {
        Prep::Nothing => {}
        Prep::PauseQueue => {
            w.b.queue_pause(QueuePauseParams::new(&w.s.queue, true))
                .await
                .unwrap()
        }
        Prep::DisableSchedule => {
            let store = w.b.schedules().unwrap();
            assert!(store
                .schedule_set_enabled(EnableParams::new(SCHEDULE, false))
                .await
                .unwrap());
        }
    }
}

/// Every action but view is needed by some route, and the reserved `cancel` by none yet.
#[tokio::test]
async fn every_action_has_a_route() {
    let w = world().await;
    let needed: Vec<Action> = cases(&w).iter().map(|c| c.action).collect();
    for a in Action::ALL {
        let expected = !matches!(a, Action::View | Action::Cancel);
        assert_eq!(needed.contains(&a), expected, "{a}");
    }
}

#[tokio::test]
async fn each_route_needs_exactly_its_action() {
    let n = cases(&world().await).len();
    for i in 0..n {
        // A fresh world per case: each starts from the same state.
        let w = world().await;
        let case = cases(&w).swap_remove(i);
        prepare(&w, &case.prep).await;
        let what = format!("{} {}", case.uri, case.action);
        let is_api = matches!(case.body, Body::Json(_));

        // Every other action: refused, nothing changes.
        let lacking = dashboard(&w.b, Access::full().without(case.action), |_| {});
        let before = case.probe.read(&w).await;
        let all_before = snapshot(&w.b).await;
        let r = call(&lacking, &case).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
        if is_api {
            assert_eq!(r.json()["error"]["code"], "forbidden", "{what}");
        } else {
            assert!(
                r.body.starts_with("403 Forbidden you may not"),
                "{what}: {}",
                r.body
            );
        }
        assert_eq!(
            case.probe.read(&w).await,
            before,
            "{what}: changed when refused"
        );
        assert_eq!(
            snapshot(&w.b).await,
            all_before,
            "{what}: changed when refused"
        );

        // Only this action: done.
        let only = dashboard(&w.b, Access::only([case.action]), |_| {});
        let r = call(&only, &case).await;
        let ok = if is_api { 200 } else { 303 };
        assert_eq!(r.status, ok, "{what}: {}", r.body);
        let after = case.probe.read(&w).await;
        assert_ne!(after, before, "{what}: nothing changed");
    }
}

/// The pages of a world, confirmations included.
fn pages(w: &World) -> Vec<String> {
    let s = &w.s;
    let key = form(&[("key", WAIT_KEY)]);
    vec![
        "/admin/jobs".into(),
        "/admin/jobs/busy".into(),
        "/admin/jobs/queues".into(),
        "/admin/jobs/queues/payments".into(),
        "/admin/jobs/queues/payments/clear".into(),
        "/admin/jobs/scheduled".into(),
        "/admin/jobs/retries".into(),
        "/admin/jobs/dead".into(),
        format!("/admin/jobs/scheduled/{}", s.scheduled),
        format!("/admin/jobs/retries/{}", s.retry),
        format!("/admin/jobs/dead/{}", s.dead),
        format!("/admin/jobs/dead/confirm?action=delete&jid={}", s.dead),
        "/admin/jobs/retries/confirm?action=kill&scope=all".into(),
        "/admin/jobs/scheduled/confirm?action=enqueue&scope=all".into(),
        "/admin/jobs/recurring".into(),
        "/admin/jobs/locks".into(),
        format!("/admin/jobs/locks/{}/release", seg(&w.lock)),
        "/admin/jobs/limits".into(),
        format!("/admin/jobs/limits/waiting?{key}"),
        format!("/admin/jobs/limits/waiting/confirm?{key}&jid={}", w.waiting),
        "/admin/jobs/metrics".into(),
    ]
}

/// How many forms posting somewhere a page has.
fn post_forms(body: &str) -> usize {
    body.split("<form")
        .skip(1)
        .filter(|f| {
            let head = f.split('>').next().unwrap_or("");
            head.to_ascii_lowercase().contains("method=\"post\"")
        })
        .count()
}

#[tokio::test]
async fn a_read_only_role_sees_no_form_that_posts() {
    let w = world().await;
    let viewer = dashboard(&w.b, Access::read_only(), |_| {});
    let full = dashboard(&w.b, Access::full(), |_| {});
    let mut posting_pages = 0;
    for uri in pages(&w) {
        let r = get(&viewer, &uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.body);
        assert_eq!(post_forms(&r.body), 0, "{uri}: {}", r.body);
        let r = get(&full, &uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.body);
        if post_forms(&r.body) > 0 {
            posting_pages += 1;
        }
    }
    // The same pages have forms for a role that may act: the check above is not empty.
    assert!(posting_pages >= 10, "{posting_pages}");
}

#[tokio::test]
async fn pages_show_only_the_buttons_of_granted_actions() {
    let w = world().await;
    let s = &w.s;
    let retry = dashboard(&w.b, Access::only([Action::Retry]), |_| {});
    let dead = get(&retry, "/admin/jobs/dead").await.body;
    assert!(
        dead.contains(">Retry now<") && !dead.contains(">Delete<"),
        "{dead}"
    );
    let detail = get(&retry, &format!("/admin/jobs/retries/{}", s.retry))
        .await
        .body;
    assert!(
        detail.contains(">Retry now<") && !detail.contains(">Kill<"),
        "{detail}"
    );
    let confirm = get(
        &retry,
        &format!("/admin/jobs/dead/confirm?action=delete&jid={}", s.dead),
    )
    .await
    .body;
    assert_eq!(post_forms(&confirm), 0, "{confirm}");
    assert!(
        confirm.contains("You may not take this action."),
        "{confirm}"
    );
    let queues = get(&retry, "/admin/jobs/queues").await.body;
    assert!(
        !queues.contains(">Pause<") && !queues.contains("Clear…"),
        "{queues}"
    );

    let quiet = dashboard(&w.b, Access::only([Action::Quiet]), |_| {});
    let busy = get(&quiet, "/admin/jobs/busy").await.body;
    assert!(
        busy.contains(">Quiet<") && !busy.contains(">Stop<"),
        "{busy}"
    );

    let pause = dashboard(&w.b, Access::only([Action::Pause]), |_| {});
    let queues = get(&pause, "/admin/jobs/queues").await.body;
    assert!(
        queues.contains(">Pause<") && !queues.contains("Clear…"),
        "{queues}"
    );
    let queue = get(&pause, "/admin/jobs/queues/payments").await.body;
    assert!(!queue.contains(">Delete<"), "{queue}");

    let release = dashboard(&w.b, Access::only([Action::Release]), |_| {});
    let locks = get(&release, "/admin/jobs/locks").await.body;
    assert!(locks.contains("Release…"), "{locks}");
    let recurring = get(&release, "/admin/jobs/recurring").await.body;
    assert!(!recurring.contains("Run now"), "{recurring}");
    let schedule = dashboard(&w.b, Access::only([Action::Schedule]), |_| {});
    let recurring = get(&schedule, "/admin/jobs/recurring").await.body;
    assert!(recurring.contains("Run now"), "{recurring}");
    let locks = get(&schedule, "/admin/jobs/locks").await.body;
    assert!(!locks.contains("Release…"), "{locks}");
}

#[tokio::test]
async fn a_role_without_view_sees_nothing_and_changes_nothing() {
    let w = world().await;
    let nobody = dashboard(&w.b, Access::none(), |_| {});
    let before = snapshot(&w.b).await;
    assert_eq!(get(&nobody, "/admin/jobs").await.status, 403);
    let r = post(&nobody, "/admin/jobs/queues/payments/clear", "").await;
    assert_eq!(r.status, 403);
    assert_eq!(snapshot(&w.b).await, before);
}
