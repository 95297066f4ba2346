//! The `web_query` target's check: bytes as a path and query string, sent as a GET to the
//! dashboard's router, built as its tests build it (`jobs-web/tests/common`): a memory
//! backend, the dashboard nested under `/admin/jobs`.
//!
//! 1. The input splits at its first `?` into a path under `/admin/jobs` and a query; bytes
//!    a URI cannot hold are percent-encoded, as a browser does (`%` stays, so malformed
//!    escapes reach the router).
//! 2. No request is answered with a 5xx: the documented ones (500 when the dashboard fails,
//!    503 when its backend does) cannot happen on a memory backend. No handler panics.
//! 3. As the proptest campaign (`jobs-web/tests/fuzz_query.rs`): on every page and API read
//!    it lists, any query is a page, a 400 naming what was wrong, or a 404.
//!
//! The backend holds a job in a queue, one scheduled, one retry, one dead and a busy
//! process, so that pages render rows; their jids are fixed, so detail pages can be found.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use jobs::backend::*;
use jobs::chrono::{DateTime, Utc};
use jobs::envelope::JobEnvelope;
use serde_json::json;
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The pages and API reads of the proptest campaign, under `/admin/jobs`.
pub const PATHS: [&str; 14] = [
    "",
    "/queues",
    "/queues/default",
    "/scheduled",
    "/retries",
    "/dead",
    "/busy",
    "/metrics",
    "/recurring",
    "/api/stats",
    "/api/history",
    "/api/queues/default",
    "/api/dead",
    "/api/retries/count",
];

/// The jids of the seeded jobs: queued, scheduled, retry, dead.
pub const JIDS: [&str; 4] = [
    "aaaaaaaaaaaaaaaaaaaaaaaa",
    "bbbbbbbbbbbbbbbbbbbbbbbb",
    "cccccccccccccccccccccccc",
    "dddddddddddddddddddddddd",
];

struct App {
    rt: Runtime,
    router: Router,
}

static APP: OnceLock<App> = OnceLock::new();

/// Builds the runtime, the seeded backend and the router; the targets call it before AFL's
/// fork server starts, so each run begins from the same state.
pub fn init() {
    app();
}

fn app() -> &'static App {
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let b: Arc<dyn AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
        rt.block_on(seed(&b));
        let router = Router::new().nest("/admin/jobs", jobs_web::Dashboard::new(b).router());
        App { rt, router }
    })
}

/// Runs the check on `data`; panics when it fails.
pub fn check(data: &[u8]) {
    let Some((uri, status)) = answer(data) else {
        return;
    };
    assert!(!status.is_server_error(), "{status} for {uri}");
    let path = data.split(|&b| b == b'?').next().unwrap_or_default();
    if PATHS.iter().any(|p| p.as_bytes() == path) {
        let ok = status.is_success() || status.as_u16() == 400 || status.as_u16() == 404;
        assert!(ok, "{status} for {uri}");
    }
}

/// The URI `data` stands for and the dashboard's status for it, its body read to the end;
/// `None` when it is not a URI (the HTTP server refuses it before the router sees it).
pub fn answer(data: &[u8]) -> Option<(String, StatusCode)> {
    let (path, query) = match data.iter().position(|&b| b == b'?') {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let mut uri = String::from("/admin/jobs");
    if !path.is_empty() && path[0] != b'/' {
        uri.push('/');
    }
    encode(&mut uri, path, b"-._~/%!$&'()*+,;=:@");
    if let Some(q) = query {
        uri.push('?');
        encode(&mut uri, q, b"-._~=&%+/?:@!$'()*,;");
    }
    let req = Request::get(&uri)
        .header("host", "localhost")
        .body(Body::empty())
        .ok()?;
    let app = app();
    let status = app.rt.block_on(async {
        let resp = app.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        status
    });
    Some((uri, status))
}

/// Appends `bytes` to `out`, percent-encoding all but ASCII letters, digits and `keep`.
fn encode(out: &mut String, bytes: &[u8], keep: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// One job of each kind and a busy process, as `jobs-web/tests/common::seed` puts them.
async fn seed(b: &Arc<dyn AdminBackend>) {
    let now = Utc::now();
    let later = now + jobs::chrono::Duration::hours(1);
    let args = vec![json!("<b>x</b>"), json!({ "note": "x" }), json!(42)];
    let job = |jid: &str| {
        let mut j = JobEnvelope::new("SendWelcome", "default", args.clone());
        j.jid = jid.to_owned();
        j
    };
    let mut scheduled = job(JIDS[1]);
    scheduled.at = Some(jobs::envelope::to_epoch(later));
    b.job_push(PushParams::new(vec![job(JIDS[0]), scheduled], now))
        .await
        .expect("push");
    fail(b, job(JIDS[2]), FinishOutcome::Retry { at: later }, now).await;
    fail(b, job(JIDS[3]), FinishOutcome::Dead, now).await;
    let info = ProcessInfo {
        id: "web-1:4242:abc".into(),
        hostname: "web-1".into(),
        pid: 4242,
        tag: Some("fuzz".into()),
        queues: vec!["default".into()],
        concurrency: 5,
        started_at: now - jobs::chrono::Duration::minutes(5),
        labels: vec![],
        version: "0.1.0".into(),
    };
    let running = vec![RunningJob {
        job: job("eeeeeeeeeeeeeeeeeeeeeeee"),
        started_at: now - jobs::chrono::Duration::seconds(30),
    }];
    b.process_heartbeat(
        HeartbeatParams::new(info, now)
            .running(running)
            .quiet(false)
            .lease_ttl(Duration::from_secs(600)),
    )
    .await
    .expect("heartbeat");
}

/// Reserves `job` from a staging queue and finishes it with `outcome`, with an error.
async fn fail(
    b: &Arc<dyn AdminBackend>,
    job: JobEnvelope,
    outcome: FinishOutcome,
    now: DateTime<Utc>,
) {
    let mut staged = job.clone();
    staged.queue = "staging".into();
    b.job_push(PushParams::new(vec![staged], now))
        .await
        .expect("push");
    let mut got = b
        .job_reserve(ReserveParams::new(vec!["staging".into()], "seeder", now))
        .await
        .expect("reserve");
    let r = got.pop().expect("the staged job");
    let mut stored = job;
    stored.retry_count = Some(2);
    stored.error_class = Some("PaymentError".into());
    stored.error_message = Some("gateway said <no>".into());
    stored.error_backtrace = Some(json!(["at pay", "at main"]));
    stored.failed_at = Some(jobs::envelope::to_epoch(now));
    b.job_finish(
        FinishParams::new(vec![Finish::new(r.token, stored, outcome, true)], now)
            .dead_limits(DeadLimits::default()),
    )
    .await
    .expect("finish");
    b.queue_clear(QueueClearParams::new("staging"))
        .await
        .expect("clear");
}
