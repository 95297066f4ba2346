//! Trace context from enqueue to perform (feature `otel`), the same on every backend: the
//! W3C `traceparent` written at enqueue survives the store (queue, scheduled set, retry set)
//! and every attempt's `process` span is in the trace of the request that enqueued it.
//!
//! The case installs the process-wide in-memory pipeline ([`crate::otel::install`]) and
//! keeps to the spans of its own trace, so it shares the binary with the other cases.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jobs::backend::JobSet;
use jobs::clock::ManualClock;
use jobs::prelude::*;
use jobs::retry::Backoff;
use jobs::telemetry::otel::{TRACEPARENT, TRACESTATE};
use jobs::EnqueueOptions;
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::worker::{client_on, registry_of, wait_for, ApiDown, Running};
use crate::otel::{traceparent_ids, SpanRecord};
use crate::support::*;
use crate::CaseResult;

const QUEUE: &str = "conformance-otel";

/// Fails its first run when asked to, then succeeds; retries one second later.
#[jobs::job(name = "ConformanceTraced", queue = "conformance-otel",
    backoff = Backoff::Constant(Duration::from_secs(1)))]
async fn conformance_traced(ctx: JobContext, fail_first: bool) -> Result<(), ApiDown> {
    if fail_first && ctx.attempt() == 1 {
        return Err(ApiDown("first attempt".into()));
    }
    Ok(())
}

/// A single, a bulk and a scheduled enqueue inside a request span: each stored job carries
/// the `traceparent` of its `publish` span (a producer child of the request), and every
/// run, the failed first attempt and its retry alike, is a `process` span (consumer)
/// child of and linked to that publish span, with the messaging attributes.
pub async fn trace_context_reaches_every_attempt(b: Subject) -> CaseResult {
    let pipeline = crate::otel::install();
    let clock = Arc::new(ManualClock::new(t0()));
    let client = client_on(&b, &clock);

    let request = tracing::info_span!("request");
    let trace_id = request
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string();
    let (flaky, bulk, later) = async {
        let none = EnqueueOptions::default();
        let flaky = client.enqueue(ConformanceTraced::new(true), &none).await?;
        let bulk = client
            .enqueue_all(
                [ConformanceTraced::new(false), ConformanceTraced::new(false)],
                &none,
            )
            .await?;
        let mut wait = EnqueueOptions::default();
        wait.wait = Some(Duration::from_secs(10));
        let later = client.enqueue(ConformanceTraced::new(false), &wait).await?;
        Ok::<_, EnqueueError>((flaky, bulk, later))
    }
    .instrument(request.clone())
    .await
    .unwrap_or_else(|e| panic!("enqueue: {e}"));
    drop(request);
    let flaky = flaky.into_jid();
    let bulk: Vec<String> = bulk.into_iter().map(|e| e.into_jid()).collect();
    let later = later.into_jid();

    // What the store holds: every job names the request's trace.
    let mut stored = list(&b, JobSet::Queue(QUEUE.into())).await?;
    stored.extend(list(&b, JobSet::Scheduled).await?);
    let mut parents = BTreeMap::new();
    for s in &stored {
        let parent = s.job.extra.get(TRACEPARENT).and_then(|v| v.as_str());
        let ids = parent.and_then(traceparent_ids);
        let Some((trace, span)) = ids else {
            panic!(
                "job {} stored without a traceparent: {:?}",
                s.job.jid, s.job.extra
            );
        };
        assert_eq!(trace, trace_id, "job {}", s.job.jid);
        assert!(!s.job.extra.contains_key(TRACESTATE), "empty state kept");
        parents.insert(s.job.jid.clone(), span);
    }
    assert_eq!(parents.len(), 4, "{stored:?}");
    assert_eq!(
        parents[&bulk[0]], parents[&bulk[1]],
        "one publish span per bulk"
    );

    let jobs = registry_of([jobs::registry::JobRegistration::of::<ConformanceTraced>()]);
    let w = Running::launch(&b, (client, clock.clone()), jobs, &[QUEUE], |w| w);
    wait_for(&b, "three runs and a retry", |s| {
        s.processed == 3 && s.retries == 1
    })
    .await?;
    // Past the retry (1 s) and the scheduled job (10 s).
    clock.advance(Duration::from_secs(11));
    wait_for(&b, "five runs", |s| s.processed == 5 && s.retries == 0).await?;
    w.stop().await;

    // The runs' spans ended before their outcomes were stored, so all are exported.
    let spans: Vec<SpanRecord> = (pipeline.spans().into_iter())
        .filter(|s| s.trace_id == trace_id)
        .collect();
    let request = one(&spans, |s| s.name == "request");
    let publishes: Vec<&SpanRecord> = spans.iter().filter(|s| s.kind == "producer").collect();
    assert_eq!(publishes.len(), 3, "single, bulk, scheduled: {spans:#?}");
    for p in &publishes {
        assert_eq!(p.parent_span_id, request.span_id, "{p:#?}");
        assert_eq!(p.name, format!("publish {QUEUE}"));
        assert_eq!(p.attr("messaging.system"), Some("jobs"));
        assert_eq!(p.attr("messaging.operation"), Some("publish"));
        assert_eq!(p.attr("messaging.destination.name"), Some(QUEUE));
        assert_eq!(p.attr("jobs.backend"), Some(b.name()));
        assert_eq!(p.attr("jobs.class"), Some("ConformanceTraced"));
    }
    let publish_of = |jid: &str| one(&spans, |s| s.span_id == parents[jid]);
    assert_eq!(
        publish_of(&flaky).attr("messaging.message.id"),
        Some(&*flaky)
    );
    assert_eq!(
        publish_of(&later).attr("messaging.message.id"),
        Some(&*later)
    );
    let batch = publish_of(&bulk[0]);
    assert_eq!(batch.attr("messaging.batch.message_count"), Some("2"));
    assert_eq!(batch.attr("messaging.message.id"), None);

    let runs: Vec<&SpanRecord> = spans.iter().filter(|s| s.kind == "consumer").collect();
    assert_eq!(runs.len(), 5, "{spans:#?}");
    for r in &runs {
        let jid = r.attr("messaging.message.id").unwrap_or_default();
        let parent = parents
            .get(jid)
            .unwrap_or_else(|| panic!("a run of an unknown job: {r:#?}"));
        assert_eq!(&r.parent_span_id, parent, "child of its publish: {r:#?}");
        assert_eq!(r.links, vec![(trace_id.clone(), parent.clone())], "{r:#?}");
        assert_eq!(r.name, format!("process {QUEUE}"));
        assert_eq!(r.attr("messaging.system"), Some("jobs"));
        assert_eq!(r.attr("messaging.operation"), Some("process"));
        assert_eq!(r.attr("messaging.destination.name"), Some(QUEUE));
        assert_eq!(r.attr("jobs.class"), Some("ConformanceTraced"));
        assert_eq!(r.attr("jobs.backend"), Some(b.name()));
    }
    let mut attempts: Vec<(&str, &str)> = (runs.iter())
        .filter(|r| r.attr("messaging.message.id") == Some(&*flaky))
        .map(|r| {
            (
                r.attr("jobs.attempt").unwrap_or_default(),
                r.status.as_str(),
            )
        })
        .collect();
    attempts.sort();
    assert_eq!(attempts, [("1", "error"), ("2", "unset")], "{runs:#?}");
    Ok(())
}

/// The only span that `matches`.
fn one(spans: &[SpanRecord], matches: impl Fn(&SpanRecord) -> bool) -> &SpanRecord {
    let found: Vec<&SpanRecord> = spans.iter().filter(|s| matches(s)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}
