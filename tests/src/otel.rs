//! The OpenTelemetry pipeline of the trace-context tests: an in-memory exporter behind a
//! `tracing` subscriber, and the exported spans as plain records that a worker process
//! writes to a file and a test reads back.
//!
//! 1. [`install`] sets, once per process, a global `tracing` subscriber whose only layer is
//!    `tracing-opentelemetry` over an SDK tracer exporting to an [`InMemorySpanExporter`].
//! 2. [`SpanRecord`] is what the tests assert on: name, kind, ids, parent, attributes,
//!    links; [`SpanRecord::to_json`] and [`SpanRecord::from_json`] carry it across processes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use opentelemetry::trace::{SpanKind, TracerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

/// The process's pipeline: its exporter, and the provider that must outlive the spans.
pub struct Pipeline {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
}

impl Pipeline {
    /// Every span ended so far in this process.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.exporter
            .get_finished_spans()
            .unwrap_or_default()
            .iter()
            .map(SpanRecord::from_data)
            .collect()
    }
}

/// Installs the pipeline as the global `tracing` subscriber, the first time; later calls
/// return the same one. Panics if another global subscriber was set first.
pub fn install() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        // The simple processor exports each span as it ends, so a span is readable as soon
        // as the code that held it returned.
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("jobs-tests"));
        let subscriber = tracing_subscriber::registry().with(layer);
        if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
            panic!("the OpenTelemetry test pipeline must be the global subscriber: {e}");
        }
        Pipeline {
            exporter,
            _provider: provider,
        }
    })
}

/// One exported span, as the tests read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// The span's OpenTelemetry name (`otel.name` when given).
    pub name: String,
    /// `producer`, `consumer`, `internal`, `client` or `server`.
    pub kind: String,
    /// 32 hex characters.
    pub trace_id: String,
    /// 16 hex characters.
    pub span_id: String,
    /// The parent's span id; all zeros for a root span.
    pub parent_span_id: String,
    /// Every attribute, its value as text.
    pub attributes: BTreeMap<String, String>,
    /// The `(trace id, span id)` of each link.
    pub links: Vec<(String, String)>,
    /// `error` when the span was marked failed, else `unset` or `ok`.
    pub status: String,
}

impl SpanRecord {
    fn from_data(data: &SpanData) -> SpanRecord {
        let kind = match data.span_kind {
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Client => "client",
            SpanKind::Server => "server",
            SpanKind::Internal => "internal",
        };
        let status = match data.status {
            opentelemetry::trace::Status::Error { .. } => "error",
            opentelemetry::trace::Status::Ok => "ok",
            opentelemetry::trace::Status::Unset => "unset",
        };
        SpanRecord {
            name: data.name.to_string(),
            kind: kind.to_owned(),
            trace_id: data.span_context.trace_id().to_string(),
            span_id: data.span_context.span_id().to_string(),
            parent_span_id: data.parent_span_id.to_string(),
            attributes: data
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect(),
            links: data
                .links
                .iter()
                .map(|l| {
                    (
                        l.span_context.trace_id().to_string(),
                        l.span_context.span_id().to_string(),
                    )
                })
                .collect(),
            status: status.to_owned(),
        }
    }

    /// The attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        json!({
            "name": self.name,
            "kind": self.kind,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "attributes": self.attributes,
            "links": self.links.iter().map(|(t, s)| json!([t, s])).collect::<Vec<_>>(),
            "status": self.status,
        })
        .to_string()
    }

    /// Reads a line written by [`SpanRecord::to_json`], naming what was missing.
    pub fn from_json(line: &str) -> Result<SpanRecord, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{e} in {line}"))?;
        let text = |key: &str| {
            v[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("no `{key}` in {line}"))
        };
        let attributes = v["attributes"]
            .as_object()
            .ok_or_else(|| format!("no `attributes` in {line}"))?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let links = v["links"]
            .as_array()
            .ok_or_else(|| format!("no `links` in {line}"))?
            .iter()
            .map(|l| {
                (
                    l[0].as_str().unwrap_or_default().to_owned(),
                    l[1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        Ok(SpanRecord {
            name: text("name")?,
            kind: text("kind")?,
            trace_id: text("trace_id")?,
            span_id: text("span_id")?,
            parent_span_id: text("parent_span_id")?,
            attributes,
            links,
            status: text("status")?,
        })
    }
}

/// The trace id and span id of a `traceparent` (`00-<trace>-<span>-<flags>`).
pub fn traceparent_ids(traceparent: &str) -> Option<(String, String)> {
    let mut parts = traceparent.split('-').skip(1);
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}
