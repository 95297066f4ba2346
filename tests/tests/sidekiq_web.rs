//! Ruby's Sidekiq::Web (Debian's `ruby-sidekiq` 6.4) renders data written by Rust: the
//! dashboard, Busy (a running Rust worker and its job), queues, scheduled, retries, morgue
//! and the retry and dead job pages, each rendered in process by `Rack::MockRequest`
//! (`tests/ruby/web_pages.rb`), in a Redis database of the test's own.

mod servers;
mod sidekiq_support;

use std::sync::Arc;
use std::time::Duration;

use jobs::prelude::*;
use jobs::Registry;
use serde_json::{json, Value};
use sidekiq_support::*;

/// The error of the jobs made to fail.
#[derive(Debug)]
struct Boom(&'static str);

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Boom {}

/// Fails every time; allowed retries, so its first failure lands in the retry set.
#[jobs::job(name = "WebFail", queue = "failing", retry = 3)]
async fn web_fail(n: u64) -> Result<(), Boom> {
    let _ = n;
    Err(Boom("web failure to retry"))
}

/// Fails with no retries: straight to the dead set.
#[jobs::job(name = "WebDoomed", queue = "failing", retry = 0)]
async fn web_doomed(n: u64) -> Result<(), Boom> {
    let _ = n;
    Err(Boom("web failure to kill"))
}

/// Waits on a queue no worker takes.
#[jobs::job(name = "WebQueued", queue = "waiting")]
async fn web_queued(n: u64) -> Result<(), Boom> {
    let _ = n;
    Ok(())
}

/// Lets held jobs finish.
#[derive(Clone)]
struct Gate(Arc<tokio::sync::Semaphore>);

/// Runs until the gate opens.
#[jobs::job(name = "WebHold")]
async fn web_hold(gate: State<Gate>, n: u64) -> Result<(), Boom> {
    let _ = n;
    let _permit = gate.0 .0.acquire().await.map_err(|_| Boom("gate closed"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidekiq_web_renders_every_page_from_rust_written_data() {
    if !have_ruby_sidekiq("sidekiq_web_renders_every_page_from_rust_written_data") {
        return;
    }
    let db = Db::take(14).await;
    let backend = db.backend().await;
    let client = Client::new(backend.clone());

    // One job in the retry set, one in the dead set, through a Rust worker.
    let failing = start_worker(backend.clone(), |b| {
        b.queues(["failing"]).registry(
            Registry::new()
                .with::<WebFail>()
                .and_then(|r| r.with::<WebDoomed>())
                .unwrap(),
        )
    });
    let fail_jid = WebFail::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let doomed_jid = WebDoomed::set()
        .client(&client)
        .perform_later(2)
        .await
        .unwrap();
    until_one_retry_and_one_dead(&backend).await;
    failing.stop().await;

    // Queued and scheduled jobs, and a Rust worker busy with a held job.
    let queued = WebQueued::set()
        .client(&client)
        .perform_later(3)
        .await
        .unwrap();
    let scheduled = WebQueued::set()
        .client(&client)
        .perform_in(Duration::from_secs(3600), 4)
        .await
        .unwrap();
    let gate = Gate(Arc::new(tokio::sync::Semaphore::new(0)));
    let worker = start_worker(backend.clone(), |b| {
        b.registry(Registry::new().with::<WebHold>().unwrap())
            .state(gate.clone())
    });
    let held = WebHold::set()
        .client(&client)
        .perform_later(7)
        .await
        .unwrap();

    let spec = json!({
        "/": ["Dashboard", "Processed", "Failed"],
        "/busy": [worker.id, "WebHold", held.jid()],
        "/queues": ["waiting"],
        "/queues/waiting": ["WebQueued", queued.jid()],
        "/scheduled": ["WebQueued", scheduled.jid()],
        "/retries": ["WebFail", "web failure to retry"],
        "/morgue": ["WebDoomed", "web failure to kill"],
        "retry:first": ["WebFail", fail_jid.jid(), "web failure to retry"],
        "dead:first": ["WebDoomed", doomed_jid.jid(), "web failure to kill"],
    });
    let out = ruby(
        &db,
        "web_pages.rb",
        &[&spec.to_string()],
        Duration::from_secs(60),
    )
    .await;
    let pages: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    let mut problems = Vec::new();
    for (name, page) in pages.as_object().unwrap() {
        if page["status"] != 200 || page["missing"] != json!([]) {
            problems.push(format!("{name}: {page}"));
        }
    }
    assert_eq!(pages.as_object().map(|p| p.len()), Some(9), "{pages}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    gate.0.add_permits(1);
    worker.stop().await;
}
