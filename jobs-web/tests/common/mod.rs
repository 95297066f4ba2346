//! Shared helpers for the dashboard's HTTP tests: a memory backend with jobs in every set,
//! the dashboard nested under `/admin/jobs`, and one-shot requests against it.
#![allow(dead_code)]

pub mod locks;
pub mod roles;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const XSS: &str = "<script>alert(1)</script>";
pub const XSS_ATTR: &str = "\"'><img src=x onerror=alert(1)>";

/// What [`seed`] put where.
pub struct Seeded {
    pub queue: String,
    pub queued: String,
    pub scheduled: String,
    pub retry: String,
    pub dead: String,
    pub process: String,
}

pub fn memory() -> Arc<dyn AdminBackend> {
    Arc::new(jobs::memory::MemoryBackend::new())
}

pub fn app(b: &Arc<dyn AdminBackend>) -> Router {
    Router::new().nest("/admin/jobs", jobs_web::Dashboard::new(b.clone()).router())
}

fn job(class: &str, queue: &str, args: Vec<Value>) -> JobEnvelope {
    JobEnvelope::new(class, queue, args)
}

/// One job in a queue, one scheduled, one retry, one dead, and a process running one.
pub async fn seed(b: &Arc<dyn AdminBackend>, class: &str, queue: &str, text: &str) -> Seeded {
    let now = Utc::now();
    let later = now + chrono::Duration::hours(1);
    let args = vec![json!(text), json!({ "note": text }), json!(42)];
    let queued = job(class, queue, args.clone());
    let mut scheduled = job(class, queue, args.clone());
    scheduled.at = Some(jobs::envelope::to_epoch(later));
    b.job_push(PushParams::new(
        vec![queued.clone(), scheduled.clone()],
        now,
    ))
    .await
    .unwrap();
    let retry = fail(
        b,
        class,
        queue,
        &args,
        text,
        FinishOutcome::Retry { at: later },
    )
    .await;
    let dead = fail(b, class, queue, &args, text, FinishOutcome::Dead).await;
    let process = format!("host-{}:{}:abc", text.len(), rand_id());
    let info = ProcessInfo {
        id: process.clone(),
        hostname: format!("web-{text}"),
        pid: 4242,
        tag: Some(text.to_owned()),
        queues: vec![queue.to_owned()],
        concurrency: 5,
        started_at: now - chrono::Duration::minutes(5),
        labels: vec![],
        version: "0.1.0".into(),
    };
    let running = vec![RunningJob {
        job: job(class, queue, args),
        started_at: now - chrono::Duration::seconds(30),
    }];
    b.process_heartbeat(
        HeartbeatParams::new(info, now)
            .running(running)
            .quiet(false)
            .lease_ttl(Duration::from_secs(600)),
    )
    .await
    .unwrap();
    record_metrics(b, class, 3, 1).await;
    Seeded {
        queue: queue.to_owned(),
        queued: queued.jid,
        scheduled: scheduled.jid,
        retry,
        dead,
        process,
    }
}

fn rand_id() -> String {
    // The end of a jid is its random part (the start is the time).
    jobs::envelope::new_jid()[18..].to_owned()
}

/// Puts a failed job (with error and backtrace carrying `text`) in the retry or dead set.
pub async fn fail(
    b: &Arc<dyn AdminBackend>,
    class: &str,
    queue: &str,
    args: &[Value],
    text: &str,
    outcome: FinishOutcome,
) -> String {
    fail_at(b, class, queue, args, text, outcome, Utc::now()).await
}

/// [`fail`] with the backend told the time is `now` (when a dead job died).
pub async fn fail_at(
    b: &Arc<dyn AdminBackend>,
    class: &str,
    queue: &str,
    args: &[Value],
    text: &str,
    outcome: FinishOutcome,
    now: DateTime<Utc>,
) -> String {
    let staging = format!("staging-{}", rand_id());
    let j = job(class, &staging, args.to_vec());
    b.job_push(PushParams::new(vec![j], now)).await.unwrap();
    let mut got = b
        .job_reserve(ReserveParams::new(vec![staging.clone()], "seeder", now))
        .await
        .unwrap();
    let r = got.pop().unwrap();
    let mut stored = (*r.job).clone();
    stored.queue = queue.to_owned();
    stored.retry_count = Some(2);
    stored.error_class = Some(format!("PaymentError{text}"));
    stored.error_message = Some(format!("gateway said {text}"));
    stored.error_backtrace = Some(json!([format!("at pay ({text})"), "at main"]));
    stored.failed_at = Some(jobs::envelope::to_epoch(now));
    let jid = stored.jid.clone();
    b.job_finish(
        FinishParams::new(vec![Finish::new(r.token, stored, outcome, true)], now)
            .dead_limits(DeadLimits::default()),
    )
    .await
    .unwrap();
    b.queue_clear(QueueClearParams::new(&staging))
        .await
        .unwrap();
    jid
}

/// Everything observable, to compare before and after a request.
pub async fn snapshot(b: &Arc<dyn AdminBackend>) -> String {
    let at: DateTime<Utc> = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
    let mut out = format!(
        "{:?}\n{:?}\n",
        b.stats().await.unwrap(),
        b.queue_list(QueueListParams::new(at)).await.unwrap()
    );
    let mut sets = vec![JobSet::Scheduled, JobSet::Retry, JobSet::Dead];
    for q in b.queue_list(QueueListParams::new(at)).await.unwrap() {
        sets.push(JobSet::Queue(q.name));
    }
    for set in sets {
        let page = b
            .job_list(JobListParams::new(set.clone(), 1000))
            .await
            .unwrap();
        let jids: Vec<_> = page.jobs.iter().map(|j| j.job.jid.clone()).collect();
        out.push_str(&format!("{set:?}: {jids:?}\n"));
    }
    let procs = b.process_list().await.unwrap();
    out.push_str(&format!(
        "{:?}\n",
        procs
            .iter()
            .map(|p| (&p.info.id, p.quiet))
            .collect::<Vec<_>>()
    ));
    out
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Resp {
    send(
        app,
        Request::get(uri)
            .header("host", "localhost")
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// A same-origin form POST, as a browser sends it.
pub async fn post(app: &Router, uri: &str, form: &str) -> Resp {
    let req = Request::post(uri)
        .header("host", "localhost")
        .header("origin", "http://localhost")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    send(app, req).await
}

/// A same-origin JSON POST.
pub async fn post_json(app: &Router, uri: &str, body: Value) -> Resp {
    let req = Request::post(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, req).await
}

/// Form-encodes pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Percent-encodes a path segment.
pub fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every `href`, `src` and `action` value in a page (HTML entities for `&` decoded).
pub fn urls(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "action=\""] {
        for part in body.split(attr).skip(1) {
            if let Some(end) = part.find('"') {
                out.push(part[..end].replace("&amp;", "&"));
            }
        }
    }
    out
}

/// The tags of a page with their quoted attribute values removed: what a browser parses
/// as element and attribute names.
pub fn tag_heads(body: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in body.chars() {
        match (&mut cur, quote) {
            (None, _) => {
                if c == '<' {
                    cur = Some(String::new());
                }
            }
            (Some(_), Some(q)) => {
                if c == q {
                    quote = None;
                }
            }
            (Some(head), None) => match c {
                '"' | '\'' => quote = Some(c),
                '>' => heads.push(cur.take().unwrap_or_default()),
                _ => head.push(c),
            },
        }
    }
    heads
}

/// Asserts no payload came back live: the only scripts are ours (`<script src=…>`), no
/// element is an `img` from data, and no attribute is an event handler.
pub fn assert_inert(what: &str, body: &str) {
    for head in tag_heads(body) {
        let mut words = head.split(|c: char| c.is_whitespace() || c == '/');
        let name = words.next().unwrap_or("").to_ascii_lowercase();
        assert!(
            name != "script" || head.contains("src="),
            "{what}: inline <script in {body}"
        );
        assert!(
            !(name == "img" && head.contains("src=x")),
            "{what}: raw <img in {body}"
        );
        for w in words {
            let attr = w.split('=').next().unwrap_or("").to_ascii_lowercase();
            assert!(
                !attr.starts_with("on"),
                "{what}: event attribute {attr} in {body}"
            );
        }
    }
    assert!(!body.contains("<script>"), "{what}: raw <script> in {body}");
    assert!(!body.contains("<img src=x"), "{what}: raw <img in {body}");
}

/// Adds `processed` runs of `class` (of 10 ms, 20 ms, ...), `failed` of them failed, to the
/// backend's metrics for the current hour.
pub async fn record_metrics(b: &Arc<dyn AdminBackend>, class: &str, processed: u64, failed: u64) {
    let now = Utc::now();
    let mut counts = jobs::metrics::Counts::default();
    for i in 0..processed {
        counts.record(i < failed, Duration::from_millis(10 * (i + 1)));
    }
    let sample = jobs::metrics::MetricsSample {
        class: class.to_owned(),
        hour: jobs::metrics::hour_of(now),
        counts,
    };
    let store = b.metrics().expect("the memory backend keeps metrics");
    store
        .metrics_record(jobs::metrics::RecordParams::new(vec![sample], now))
        .await
        .unwrap();
}
