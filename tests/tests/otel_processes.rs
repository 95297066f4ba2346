//! A trace from enqueue to perform across processes (feature `otel`), on SQLite and Redis:
//! this test enqueues inside a request span; worker processes (`jobs_otel_worker`) perform
//! the jobs and write their spans to a file when they stop.
//!
//! 1. A retry: the job fails its first attempt and succeeds on the second, both `process`
//!    spans children of the `publish` span this process exported, in the request's trace.
//! 2. A SIGKILL: worker A is killed while it runs the job; worker B rescues it once A's
//!    lease expired and runs it, and B's span is in the request's trace: the context is
//!    stored with the job, not held by the process that ran it.

mod servers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, Backend, JobListParams, JobSet, Stats};
use jobs::envelope::JobEnvelope;
use jobs::telemetry::otel::TRACEPARENT;
use jobs_conformance::otel::{install, traceparent_ids, SpanRecord};
use opentelemetry::trace::TraceContextExt;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

fn temp(tag: &str, ext: &str) -> PathBuf {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    std::env::temp_dir().join(format!("jobs-{tag}-{}-{nanos:x}.{ext}", std::process::id()))
}

fn sqlite_url(tag: &str) -> (String, PathBuf) {
    let db = temp(tag, "db");
    (format!("sqlite://{}", db.display()), db)
}

fn redis_url(tag: &str) -> String {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    servers::with_params(
        &servers::redis_url(),
        &format!("prefix={tag}:{}:{nanos:x}", std::process::id()),
    )
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// A worker process on `url` writing its spans to `spans`, once it said `ready`.
async fn start_worker(
    url: &str,
    spans: &Path,
    extra: &[&str],
) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs_otel_worker"))
        .args(["--url", url, "--spans"])
        .arg(spans)
        .args(extra)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l.starts_with("ready ")),
        "{ready:?}"
    );
    (child, lines)
}

/// SIGTERMs `child`, waits for its clean exit, and reads the spans it wrote to `spans`.
async fn stop_and_read(mut child: Child, spans: &Path) -> Vec<SpanRecord> {
    let pid = child.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the worker exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(spans).unwrap();
    let _ = std::fs::remove_file(spans);
    text.lines()
        .map(|l| SpanRecord::from_json(l).unwrap())
        .collect()
}

/// Polls the store until `done` holds, for at most 60 s.
async fn wait_stats(admin: &Arc<dyn AdminBackend>, what: &str, done: impl Fn(&Stats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = admin.stats().await.unwrap();
        if done(&stats) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What was enqueued: the trace, the job, and the id of the publish span it carries.
struct Enqueued {
    trace_id: String,
    jid: String,
    publish_id: String,
}

/// Pushes `job` inside a fresh request span; checks the stored `traceparent` names it.
async fn enqueue_in_request(admin: &Arc<dyn AdminBackend>, job: JobEnvelope) -> Enqueued {
    let backend: Arc<dyn Backend> = admin.clone();
    let client = jobs::Client::new(backend);
    let request = tracing::info_span!("request");
    let trace_id = request
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string();
    let jid = job.jid.clone();
    client
        .push(vec![job])
        .instrument(request.clone())
        .await
        .unwrap();
    drop(request);
    let stored = admin
        .job_list(JobListParams::new(JobSet::Queue("otel".into()), 10))
        .await
        .unwrap();
    assert_eq!(stored.jobs.len(), 1, "{stored:?}");
    let parent = stored.jobs[0].job.extra[TRACEPARENT].as_str().unwrap();
    let (stored_trace, publish_id) = traceparent_ids(parent).unwrap();
    assert_eq!(stored_trace, trace_id);
    // This process exported the request and its publish span.
    let here: Vec<SpanRecord> = (install().spans().into_iter())
        .filter(|s| s.trace_id == trace_id)
        .collect();
    let request = here.iter().find(|s| s.name == "request").unwrap();
    let publish = here.iter().find(|s| s.kind == "producer").unwrap();
    assert_eq!(publish.span_id, publish_id);
    assert_eq!(publish.parent_span_id, request.span_id);
    assert_eq!(publish.attr("messaging.message.id"), Some(&*jid));
    assert_eq!(publish.attr("jobs.backend"), Some(admin.name()));
    Enqueued {
        trace_id,
        jid,
        publish_id,
    }
}

/// Asserts `run` is a process span of `e`'s job, child of and linked to its publish span.
fn assert_continues(run: &SpanRecord, e: &Enqueued, class: &str) {
    assert_eq!(run.trace_id, e.trace_id, "{run:#?}");
    assert_eq!(run.parent_span_id, e.publish_id, "{run:#?}");
    assert_eq!(run.links, vec![(e.trace_id.clone(), e.publish_id.clone())]);
    assert_eq!(run.name, "process otel");
    assert_eq!(run.attr("messaging.message.id"), Some(&*e.jid));
    assert_eq!(run.attr("messaging.destination.name"), Some("otel"));
    assert_eq!(run.attr("messaging.operation"), Some("process"));
    assert_eq!(run.attr("jobs.class"), Some(class));
}

/// Part 1 on the store at `url`.
async fn retry_in_another_process(url: &str) {
    install();
    let admin = jobs_backends::connect(url).await.unwrap();
    let job = JobEnvelope::new("OtelProcessFlaky", "otel", vec![json!(true)]);
    let e = enqueue_in_request(&admin, job).await;
    let spans = temp("otel-spans", "jsonl");
    let (worker, _lines) = start_worker(url, &spans, &[]).await;
    wait_stats(&admin, "the job and its retry", |s| {
        s.processed == 2 && s.retries == 0 && s.failed == 1
    })
    .await;
    let there = stop_and_read(worker, &spans).await;
    let mut runs: Vec<&SpanRecord> = there.iter().filter(|s| s.kind == "consumer").collect();
    runs.sort_by(|a, b| a.attr("jobs.attempt").cmp(&b.attr("jobs.attempt")));
    assert_eq!(runs.len(), 2, "{there:#?}");
    for (run, (attempt, status)) in runs.iter().zip([("1", "error"), ("2", "unset")]) {
        assert_continues(run, &e, "OtelProcessFlaky");
        assert_eq!(run.attr("jobs.attempt"), Some(attempt));
        assert_eq!(run.status, status, "{run:#?}");
    }
}

/// Part 2 on the store at `url`.
async fn rescue_after_sigkill(url: &str) {
    install();
    let admin = jobs_backends::connect(url).await.unwrap();
    let e = enqueue_in_request(&admin, JobEnvelope::new("OtelProcessHold", "otel", vec![])).await;
    let lease = ["--lease-ttl-ms", "1000", "--heartbeat-ms", "200"];
    let spans_a = temp("otel-spans-a", "jsonl");
    let hold = [&lease[..], &["--hold-ms", "600000"]].concat();
    let (mut a, mut lines) = start_worker(url, &spans_a, &hold).await;
    let started = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    let started = started.ok().and_then(|l| l.ok()).flatten();
    assert_eq!(started, Some(format!("started {}", e.jid)));
    a.kill().await.unwrap();
    // A's lease is left to expire: B rescues the job and runs it.
    let spans_b = temp("otel-spans-b", "jsonl");
    let (b, _lines) = start_worker(url, &spans_b, &lease).await;
    wait_stats(&admin, "the rescued job's run", |s| s.processed == 1).await;
    let there = stop_and_read(b, &spans_b).await;
    let runs: Vec<&SpanRecord> = there.iter().filter(|s| s.kind == "consumer").collect();
    assert_eq!(runs.len(), 1, "{there:#?}");
    assert_continues(runs[0], &e, "OtelProcessHold");
    assert_eq!(runs[0].attr("jobs.attempt"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_retry_in_another_process_stays_in_the_enqueuers_trace() {
    let (url, db) = sqlite_url("otel-retry");
    retry_in_another_process(&url).await;
    remove_db(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_retry_in_another_process_stays_in_the_enqueuers_trace() {
    retry_in_another_process(&redis_url("otel-retry")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_job_rescued_after_sigkill_stays_in_the_enqueuers_trace() {
    let (url, db) = sqlite_url("otel-kill");
    rescue_after_sigkill(&url).await;
    remove_db(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_job_rescued_after_sigkill_stays_in_the_enqueuers_trace() {
    rescue_after_sigkill(&redis_url("otel-kill")).await;
}
