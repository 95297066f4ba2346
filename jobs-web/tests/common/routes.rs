//! Every state-changing route of the dashboard, pages and API, as a table of cases: the
//! action each needs, a call on one target of a [`World`], and where its effect shows.

use axum::Router;
use jobs::backend::JobSet;
use jobs_web::Action;
use serde_json::{json, Value};

use super::roles::*;
use super::*;

/// How a route is called: a form POST of the pages, or a JSON POST of the API.
pub enum Body {
    Form(String),
    Json(Value),
}

/// One state-changing route, called on one target.
pub struct Case {
    pub action: Action,
    pub uri: String,
    pub body: Body,
    /// What it changes.
    pub probe: Probe,
    /// Done through the backend first, so the route has something to undo.
    pub prep: Prep,
}

/// What a case needs done first.
pub enum Prep {
    Nothing,
    /// Pause the seeded queue (for resume).
    PauseQueue,
    /// Disable the schedule (for enable).
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
pub fn cases(w: &World) -> Vec<Case> {
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
            Action::Schedule,
            "/recurring/nightly/remove",
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
        page(
            Action::Cancel,
            "/retries/action",
            &form(&[("action", "cancel"), ("jid", &s.retry)]),
            Probe::Jobs(JobSet::Retry),
        ),
        page(
            Action::Cancel,
            "/cancel",
            &form(&[("jid", &s.queued)]),
            Probe::Jobs(q()),
        ),
        // The API.
        api(
            Action::Cancel,
            "/cancel",
            json!({ "jids": [s.scheduled] }),
            Probe::Jobs(JobSet::Scheduled),
        ),
        api(
            Action::Cancel,
            "/scheduled/cancel",
            json!({ "jids": [s.scheduled] }),
            Probe::Jobs(JobSet::Scheduled),
        ),
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
            Action::Schedule,
            "/recurring/nightly/remove",
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

pub async fn call(app: &Router, c: &Case) -> Resp {
    match &c.body {
        Body::Form(f) => post(app, &c.uri, f).await,
        Body::Json(v) => post_json(app, &c.uri, v.clone()).await,
    }
}

pub async fn prepare(w: &World, prep: &Prep) {
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
