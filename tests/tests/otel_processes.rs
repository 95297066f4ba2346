//! A trace from enqueue to perform across two processes and a retry (feature `otel`): this
//! test enqueues inside a request span into a SQLite file; a worker process
//! (`jobs_otel_worker`) performs the job, which fails its first attempt and succeeds on
//! the retry, and writes its spans to a file. Both attempts' `process` spans are in the
//! request's trace, children of the `publish` span this process exported.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use jobs::envelope::JobEnvelope;
use jobs::telemetry::otel::TRACEPARENT;
use jobs_conformance::otel::{install, traceparent_ids, SpanRecord};
use opentelemetry::trace::TraceContextExt;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

fn temp(tag: &str, ext: &str) -> PathBuf {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    std::env::temp_dir().join(format!(
        "jobs-{tag}-{}-{nanos:x}.{ext}",
        std::process::id()
    ))
}

fn remove(db: &Path, spans: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let _ = std::fs::remove_file(spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_job_in_another_process_stays_in_the_enqueuers_trace() {
    let pipeline = install();
    let (db, spans_file) = (temp("otel", "db"), temp("otel-spans", "jsonl"));
    let url = format!("sqlite://{}", db.display());
    let admin = jobs_backends::connect(&url).await.unwrap();
    let backend: std::sync::Arc<dyn jobs::backend::Backend> = admin.clone();
    let client = jobs::Client::new(backend);

    let request = tracing::info_span!("request");
    let trace_id = request.context().span().span_context().trace_id().to_string();
    let job = JobEnvelope::new("OtelProcessFlaky", "otel", vec![json!(true)]);
    let jid = job.jid.clone();
    client
        .push(vec![job])
        .instrument(request.clone())
        .await
        .unwrap();
    drop(request);
    let stored = admin
        .job_list(jobs::backend::JobListParams::new(
            jobs::backend::JobSet::Queue("otel".into()),
            10,
        ))
        .await
        .unwrap();
    let parent = stored.jobs[0].job.extra[TRACEPARENT].as_str().unwrap();
    let (stored_trace, publish_id) = traceparent_ids(parent).unwrap();
    assert_eq!(stored_trace, trace_id);

    let mut worker = Command::new(env!("CARGO_BIN_EXE_jobs_otel_worker"))
        .args(["--url", &url, "--spans"])
        .arg(&spans_file)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l.starts_with("ready ")),
        "{ready:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = admin.stats().await.unwrap();
        if stats.processed == 2 && stats.retries == 0 {
            assert_eq!(stats.failed, 1, "{stats:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the job and its retry: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = worker.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");

    // This process: the request and its publish span.
    let here: Vec<SpanRecord> = (pipeline.spans().into_iter())
        .filter(|s| s.trace_id == trace_id)
        .collect();
    let request = here.iter().find(|s| s.name == "request").unwrap();
    let publish = here.iter().find(|s| s.kind == "producer").unwrap();
    assert_eq!(publish.span_id, publish_id);
    assert_eq!(publish.parent_span_id, request.span_id);
    assert_eq!(publish.attr("messaging.message.id"), Some(&*jid));
    assert_eq!(publish.attr("jobs.backend"), Some("sqlite"));

    // The worker process: both attempts, children of that publish span.
    let text = std::fs::read_to_string(&spans_file).unwrap();
    let there: Vec<SpanRecord> = text
        .lines()
        .map(|l| SpanRecord::from_json(l).unwrap())
        .collect();
    let mut runs: Vec<&SpanRecord> = there.iter().filter(|s| s.kind == "consumer").collect();
    runs.sort_by(|a, b| a.attr("jobs.attempt").cmp(&b.attr("jobs.attempt")));
    assert_eq!(runs.len(), 2, "{there:#?}");
    for (run, (attempt, status)) in runs.iter().zip([("1", "error"), ("2", "unset")]) {
        assert_eq!(run.trace_id, trace_id, "{run:#?}");
        assert_eq!(run.parent_span_id, publish_id, "{run:#?}");
        assert_eq!(run.links, vec![(trace_id.clone(), publish_id.clone())]);
        assert_eq!(run.attr("jobs.attempt"), Some(attempt));
        assert_eq!(run.status, status, "{run:#?}");
        assert_eq!(run.name, "process otel");
        assert_eq!(run.attr("messaging.message.id"), Some(&*jid));
        assert_eq!(run.attr("messaging.destination.name"), Some("otel"));
        assert_eq!(run.attr("messaging.operation"), Some("process"));
        assert_eq!(run.attr("jobs.class"), Some("OtelProcessFlaky"));
    }
    remove(&db, &spans_file);
}
