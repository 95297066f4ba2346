//! Redacted arguments (`#[job(redact = [..])]`) never reach the worker's logs or the errors
//! it stores, while the job itself receives the real value and the store keeps it. Its own
//! binary with a subscriber in every test: tracing caches callsite interest per binary.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Events, Oops};
use jobs::backend::JobSet;
use jobs::envelope::{JobEnvelope, RetrySetting};
use jobs::prelude::*;
use serde_json::json;

const SECRET: &str = "4111-1111-1111-1111";

#[jobs::job(queue = "r_charge", retry = 0, redact = [card_number])]
async fn charge(order_id: u64, card_number: String, events: State<Events>) -> Result<(), Oops> {
    // The job gets the real value.
    events.send(format!("received {}", card_number == SECRET));
    tracing::info!(order_id, "charging");
    Err(Oops(format!("declined order {order_id}")))
}

#[jobs::job(queue = "r_charge", retry = 0, redact = [card_number])]
async fn charge_typed(order_id: u64, card_number: u64) -> Result<(), Oops> {
    let _ = (order_id, card_number);
    Ok(())
}

/// Everything the subscriber wrote, every field and span of every level.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_log_line_or_stored_error_holds_a_redacted_argument() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let reported: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = reported.clone();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["r_charge"])
            .registry(
                jobs::Registry::new()
                    .with::<Charge>()
                    .unwrap()
                    .with::<ChargeTyped>()
                    .unwrap(),
            )
            .state(events)
            .on_error(move |job, failure| {
                let shown = jobs::redact::args(&job.class, &job.args);
                keep.lock()
                    .unwrap()
                    .push(format!("{shown:?} {}", failure.message));
            })
            .build()
            .unwrap(),
    );
    // A job that fails, one whose argument does not decode, one with a wrong count.
    Charge::set()
        .client(&client)
        .perform_later(7, SECRET.to_owned())
        .await
        .unwrap();
    let raw = |args| {
        let mut job = JobEnvelope::new("ChargeTyped", "r_charge", args);
        job.retry = RetrySetting::Count(0);
        job
    };
    let undecodable = raw(vec![json!(8), json!(SECRET)]);
    let miscounted = raw(vec![json!(SECRET)]);
    client.push(vec![undecodable, miscounted]).await.unwrap();

    assert_eq!(common::next(&mut rx).await, "received true");
    let dead = common::eventually("three dead jobs", || async {
        let dead = common::list(&backend, JobSet::Dead).await;
        (dead.len() == 3).then_some(dead)
    })
    .await;
    running.stop().await;

    // The store keeps the real values (Sidekiq reads the same payload)...
    for d in &dead {
        assert!(d.job.args.contains(&json!(SECRET)), "{:?}", d.job.args);
        // ...but nothing else stored (error, backtrace, ...) quotes it.
        let mut rest = d.job.clone();
        rest.args.clear();
        let rest = serde_json::to_string(&rest).unwrap();
        assert!(!rest.contains(SECRET), "stored: {rest}");
        // Nor does the job's `Debug`, as a middleware might log it.
        let debug = format!("{:?}", d.job);
        assert!(
            !debug.contains(SECRET) && debug.contains("[redacted]"),
            "{debug}"
        );
    }
    let errors: Vec<String> = dead
        .iter()
        .filter_map(|d| d.job.error_message.clone())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("declined order 7")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("`card_number: u64`")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("expected 2 argument(s)")),
        "{errors:?}"
    );
    let reported = reported.lock().unwrap().join("\n");
    assert!(reported.contains("[redacted]"), "{reported}");
    assert!(!reported.contains(SECRET), "error handler saw: {reported}");

    let text = log.text();
    assert!(text.contains("job died"), "nothing logged: {text}");
    assert!(text.contains("charging"), "the job's own line: {text}");
    for line in text.lines() {
        assert!(!line.contains(SECRET), "logged: {line}");
    }
}
