//! OpenTelemetry trace context from enqueue to perform (feature `otel`).
//!
//! 1. Enqueue ([`crate::Client::push`] and everything built on it: single, bulk and
//!    scheduled jobs) runs the store's push inside a `publish` span (kind producer), a child
//!    of the caller's current span, and writes that span's W3C trace context into every job
//!    it pushes, as the top-level fields [`TRACEPARENT`] and [`TRACESTATE`] (Ruby Sidekiq
//!    ignores them; they stay in the job through retries).
//! 2. The worker's `job` span (kind consumer, named `process <queue>`) is a child of the
//!    context the job carries, for the first attempt and every retry alike, and also links
//!    to it, as OpenTelemetry's messaging conventions recommend: every attempt of a job is
//!    in the trace of the request that enqueued it.
//! 3. Both spans carry the messaging attributes (`messaging.system` = `jobs`,
//!    `messaging.destination.name` = queue, `messaging.message.id` = jid,
//!    `messaging.operation` = `publish` or `process`), the backend (`jobs.backend`), the
//!    job's name (`jobs.class`) and, when processed, its attempt (`jobs.attempt`).
//!
//! The fields are written from the span's own context, not through the global propagator:
//! their names are W3C's, so they hold W3C's format whatever propagator the app installed
//! (the default global propagator writes nothing).

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use serde_json::Value;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::envelope::JobEnvelope;

/// The job field holding the W3C `traceparent` of the span that enqueued it.
pub const TRACEPARENT: &str = "traceparent";
/// The job field holding the W3C `tracestate` of the span that enqueued it (absent when
/// empty).
pub const TRACESTATE: &str = "tracestate";
/// `messaging.system` of every span: the framework, whatever the store (`jobs.backend`
/// names the store).
pub const MESSAGING_SYSTEM: &str = "jobs";

/// The `publish` span for pushing `jobs` to `backend`, with its context written into each
/// job. Returns a disabled span when there is nothing to push.
pub(crate) fn publish(jobs: &mut [JobEnvelope], backend: &'static str) -> Span {
    let Some(first) = jobs.first() else {
        return Span::none();
    };
    let single = jobs.len() == 1;
    let same_queue = jobs.iter().all(|j| j.queue == first.queue);
    let queue = if same_queue { first.queue.as_str() } else { "" };
    let span = tracing::info_span!(
        "jobs.publish",
        otel.name = %format_args!("publish {queue}"),
        otel.kind = "producer",
        messaging.system = MESSAGING_SYSTEM,
        messaging.operation = "publish",
        messaging.operation.type = "send",
        messaging.destination.name = queue,
        messaging.message.id = tracing::field::Empty,
        messaging.batch.message_count = tracing::field::Empty,
        jobs.backend = backend,
        jobs.class = %first.class,
    );
    if single {
        span.record("messaging.message.id", first.jid.as_str());
    } else {
        span.record("messaging.batch.message_count", jobs.len() as u64);
    }
    // The publish span when the filter lets it through, else the caller's span.
    let mut context = span.context().span().span_context().clone();
    if !context.is_valid() {
        context = Span::current().context().span().span_context().clone();
    }
    if context.is_valid() {
        let parent = traceparent(&context);
        let state = context.trace_state().header();
        for job in jobs.iter_mut() {
            job.extra
                .insert(TRACEPARENT.to_owned(), Value::String(parent.clone()));
            if state.is_empty() {
                job.extra.remove(TRACESTATE);
            } else {
                job.extra
                    .insert(TRACESTATE.to_owned(), Value::String(state.clone()));
            }
        }
    }
    span
}

/// The worker's `job` span for one run of `job`: a child of the context the job carries
/// (and linked to it), or of the current span when it carries none.
pub(crate) fn process(job: &JobEnvelope, backend: &'static str) -> Span {
    let span = tracing::info_span!(
        "job",
        jid = %job.jid,
        class = %job.class,
        queue = %job.queue,
        attempt = job.attempt(),
        otel.name = %format_args!("process {}", job.queue),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        messaging.system = MESSAGING_SYSTEM,
        messaging.operation = "process",
        messaging.operation.type = "process",
        messaging.destination.name = %job.queue,
        messaging.message.id = %job.jid,
        jobs.backend = backend,
        jobs.class = %job.class,
        jobs.attempt = job.attempt(),
    );
    if let Some(context) = carried(job) {
        let parent = opentelemetry::Context::new().with_remote_span_context(context.clone());
        // Without an OpenTelemetry layer there is nothing to parent: not an error.
        if span.set_parent(parent).is_ok() {
            span.add_link(context);
        }
    }
    span
}

/// Marks the run's span as failed, with the failure's message.
pub(crate) fn failed(span: &Span, message: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", message);
}

/// The trace context `job` carries, if its [`TRACEPARENT`] field holds a valid one.
///
/// ```
/// let mut job = jobs::envelope::JobEnvelope::new("A", "default", vec![]);
/// assert!(jobs::telemetry::otel::carried(&job).is_none());
/// job.extra.insert(
///     "traceparent".into(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
/// );
/// let context = jobs::telemetry::otel::carried(&job).unwrap();
/// assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(context.is_sampled() && context.is_remote());
/// ```
pub fn carried(job: &JobEnvelope) -> Option<SpanContext> {
    let parent = job.extra.get(TRACEPARENT)?.as_str()?;
    let state = match job.extra.get(TRACESTATE).and_then(Value::as_str) {
        Some(text) => text.parse().unwrap_or_default(),
        None => TraceState::default(),
    };
    parse_traceparent(parent, state)
}

/// `00-<trace id>-<span id>-<flags>`, as W3C Trace Context writes it.
fn traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()
    )
}

/// Reads a W3C `traceparent` (version 00, or a later version's first four fields), or
/// `None` when it is not one: wrong lengths, non-hex or upper-case digits, or all-zero ids.
fn parse_traceparent(text: &str, state: TraceState) -> Option<SpanContext> {
    let mut parts = text.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower_hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    if !lower_hex(trace, 32) || !lower_hex(span, 16) || !lower_hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    );
    context.is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let context = parse_traceparent(PARENT, TraceState::default()).unwrap();
        assert_eq!(traceparent(&context), PARENT);
        let unsampled = PARENT.replace("-01", "-00");
        let context = parse_traceparent(&unsampled, TraceState::default()).unwrap();
        assert!(!context.is_sampled());
        assert_eq!(traceparent(&context), unsampled);
    }

    #[test]
    fn what_is_not_a_traceparent_is_ignored() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        ] {
            assert!(
                parse_traceparent(bad, TraceState::default()).is_none(),
                "{bad:?}"
            );
        }
        // A later version may append fields.
        let later = format!("{}-more", PARENT.replacen("00", "01", 1));
        assert!(parse_traceparent(&later, TraceState::default()).is_some());
    }

    #[test]
    fn a_job_carries_its_state_too() {
        let mut job = JobEnvelope::new("A", "q", vec![]);
        job.extra.insert(TRACEPARENT.into(), PARENT.into());
        job.extra
            .insert(TRACESTATE.into(), "vendor=abc,other=1".into());
        let context = carried(&job).unwrap();
        assert_eq!(context.trace_state().get("vendor"), Some("abc"));
        assert_eq!(context.trace_state().header(), "vendor=abc,other=1");
        job.extra.insert(TRACEPARENT.into(), 7.into());
        assert!(carried(&job).is_none());
    }

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_written() {
        let mut jobs = vec![JobEnvelope::new("A", "q", vec![])];
        let _span = publish(&mut jobs, "memory");
        assert!(!jobs[0].extra.contains_key(TRACEPARENT));
    }
}
