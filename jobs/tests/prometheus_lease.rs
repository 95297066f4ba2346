//! A job dropped because its lease went unconfirmed for a TTL counts as `abandoned`, and
//! its rescue and second run count too (`prometheus` and `health-http` features). Its own
//! binary, so the label-free `jobs_rescued_total` counts only this test's rescue. Run with
//! `cargo test -p jobs --features prometheus,health-http --test prometheus_lease`.

mod common;
mod prom;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::hooked::{Hooked, Hooks};
use common::{Events, Gate, Oops};
use jobs::backend::*;
use jobs::prelude::*;
use prom::{assert_series, handle, value};

/// Heartbeats fail while `down` is set.
#[derive(Default)]
struct CutBeats {
    down: AtomicBool,
}

#[jobs::__private::async_trait]
impl Hooks for Arc<CutBeats> {
    async fn before_heartbeat(&self) -> Result<(), BackendError> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(BackendError::connection("test", "heartbeats are cut off")),
            false => Ok(()),
        }
    }
}

#[jobs::job(queue = "p_lease")]
async fn prom_held(events: State<Events>, gate: State<Gate>) -> Result<(), Oops> {
    events.send("started");
    gate.pass().await;
    Ok(())
}

#[tokio::test]
async fn a_job_whose_lease_lapsed_counts_abandoned_then_rescued_then_success() {
    let scrape_handle = handle();
    let beats = Arc::new(CutBeats::default());
    let backend = Arc::new(Hooked::new(beats.clone()));
    let client = Client::new(backend.clone());
    PromHeld::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    beats.down.store(true, Ordering::SeqCst);
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_lease"])
            .lease_ttl(Duration::from_millis(400))
            .state(events)
            .state(gate.clone())
            .registry(jobs::Registry::new().with::<PromHeld>().unwrap())
            .build()
            .unwrap(),
    );
    assert_eq!(common::next(&mut rx).await, "started");
    let ex = "jobs_executions_total";
    let run = |outcome: &'static str| {
        [
            ("queue", "p_lease"),
            ("job", "PromHeld"),
            ("outcome", outcome),
        ]
    };
    common::eventually("the job to be abandoned", || async {
        value(&scrape_handle.render(), ex, &run("abandoned")).map(|_| ())
    })
    .await;
    // Heartbeats back: the store rescues the lapsed lease and the job runs to the end.
    beats.down.store(false, Ordering::SeqCst);
    assert_eq!(common::next(&mut rx).await, "started");
    gate.open(1);
    common::eventually("the job to succeed", || async {
        value(&scrape_handle.render(), ex, &run("success")).map(|_| ())
    })
    .await;
    running.stop().await;
    let scrape = scrape_handle.render();
    assert_series(&scrape, ex, &run("abandoned"), 1.0);
    assert_series(&scrape, ex, &run("success"), 1.0);
    assert_series(&scrape, "jobs_rescued_total", &[], 1.0);
}
