//! Tracing: each job runs in a `job` span (jid, class, queue, attempt); failures log at warn,
//! deaths at error. Its own binary, every test with a subscriber: tracing caches callsite
//! interest per binary, and a test without one could hide these callsites from the others.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{Events, Oops};
use jobs::backend::JobSet;
use jobs::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[jobs::job(queue = "h_traced")]
async fn traced_job(events: State<Events>) -> Result<(), Oops> {
    tracing::info!(marker = "inside", "working");
    events.send("performed");
    Ok(())
}

#[jobs::job(queue = "h_failing", retry = 1)]
async fn logged_failure(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("bad luck {n}")))
}

/// The fields of a span, kept in its extensions.
#[derive(Clone, Debug, Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// An event's fields, with those of the `job` span it happened in.
type Seen = (Fields, Option<Fields>);

/// Records every `job` span and, for each event, the `job` span it happened in.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<Fields>>>,
    events: Arc<Mutex<Vec<Seen>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if attrs.metadata().name() == "job" {
            self.spans.lock().unwrap().push(fields.clone());
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = event.metadata().level().to_string();
        fields.0.insert("level".into(), level);
        let job_span = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find(|s| s.name() == "job")
                .and_then(|s| s.extensions().get::<Fields>().cloned())
        });
        self.events.lock().unwrap().push((fields, job_span));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_job_runs_in_a_job_span_with_jid_class_queue_and_attempt() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["h_traced"])
            .registry(jobs::Registry::new().with::<TracedJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let jid = TracedJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap()
        .into_jid();
    assert_eq!(common::next(&mut rx).await, "performed");
    common::processed(&backend, 1).await;
    running.stop().await;

    let spans = capture.spans.lock().unwrap().clone();
    let span = spans
        .iter()
        .find(|s| s.0.get("jid") == Some(&jid))
        .unwrap_or_else(|| panic!("no job span for {jid}: {spans:?}"));
    assert_eq!(span.0.get("class").map(String::as_str), Some("TracedJob"));
    assert_eq!(span.0.get("queue").map(String::as_str), Some("h_traced"));
    assert_eq!(span.0.get("attempt").map(String::as_str), Some("1"));

    let events = capture.events.lock().unwrap().clone();
    let (_, inside) = events
        .iter()
        .find(|(f, _)| f.0.get("marker").map(String::as_str) == Some("inside"))
        .expect("the job's own event was captured");
    let inside = inside
        .as_ref()
        .unwrap_or_else(|| panic!("not in a job span: {events:?} spans {spans:?}"));
    assert_eq!(inside.0.get("jid"), Some(&jid));
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_is_logged_at_warn_with_the_next_retry_and_a_death_at_error() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let running = common::spawn(
        common::worker(&backend)
            .queues(["h_failing"])
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<LoggedFailure>().unwrap())
            .build()
            .unwrap(),
    );
    let jid = LoggedFailure::set()
        .client(&client)
        .perform_later(3)
        .await
        .unwrap()
        .into_jid();
    let retry = common::the_one(&backend, JobSet::Retry).await;
    clock.set(retry.at.unwrap());
    common::the_one(&backend, JobSet::Dead).await;
    running.stop().await;

    let events = capture.events.lock().unwrap().clone();
    let find = |message: &str| {
        events
            .iter()
            .map(|(f, _)| &f.0)
            .find(|f| f.get("message").map(String::as_str) == Some(message))
            .unwrap_or_else(|| panic!("no event {message:?}"))
            .clone()
    };
    let failed = find("job failed; will retry");
    assert_eq!(failed.get("level").map(String::as_str), Some("WARN"));
    assert_eq!(failed.get("jid"), Some(&jid));
    assert_eq!(
        failed.get("class").map(String::as_str),
        Some("LoggedFailure")
    );
    assert_eq!(failed.get("attempt").map(String::as_str), Some("1"));
    assert_eq!(
        failed.get("next_retry_at"),
        Some(&retry.at.unwrap().to_rfc3339())
    );
    assert_eq!(failed.get("error").map(String::as_str), Some("bad luck 3"));
    let died = find("job died; moved to the dead set");
    assert_eq!(died.get("level").map(String::as_str), Some("ERROR"));
    assert_eq!(died.get("jid"), Some(&jid));
    assert_eq!(died.get("attempt").map(String::as_str), Some("2"));
}
