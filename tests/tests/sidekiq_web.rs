//! Ruby's Sidekiq::Web (Debian's `ruby-sidekiq` 6.4) renders data written by Rust: the
//! dashboard, Busy (a running Rust worker and its job), queues, scheduled, retries, morgue
//! and the retry and dead job pages, each rendered in process by `Rack::MockRequest`
//! (`tests/ruby/web_pages.rb`), in a Redis database of the test's own; and its actions
//! (kill, retry, add to queue, delete, quiet, stop) work on that data
//! (`tests/ruby/web_actions.rb`).

mod servers;
mod sidekiq_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, JobGetParams, JobSet};
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

    // An operator's clicks in Sidekiq::Web on the same Rust-written data: kill a retry,
    // retry a dead job, enqueue a scheduled one now, delete a queued one, quiet the Rust
    // process; each does to our data what it does to Ruby's.
    let clicks = json!([
        {"do": "kill", "set": "retries", "jid": fail_jid.jid()},
        {"do": "retry", "set": "morgue", "jid": doomed_jid.jid()},
        {"do": "add_to_queue", "set": "scheduled", "jid": scheduled.jid()},
        {"do": "delete", "queue": "waiting", "jid": queued.jid()},
        {"do": "quiet", "identity": worker.id},
    ]);
    let acted = web_actions(&db, &clicks).await;
    let has = |set: JobSet, jid: &str| {
        let (backend, jid) = (backend.clone(), jid.to_owned());
        async move {
            backend
                .job_get(JobGetParams::new(set, &jid))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(has(JobSet::Dead, fail_jid.jid()).await, "killed: {acted}");
    assert!(!has(JobSet::Retry, fail_jid.jid()).await, "{acted}");
    assert!(
        has(JobSet::Queue("failing".into()), doomed_jid.jid()).await,
        "retried: {acted}"
    );
    assert!(!has(JobSet::Dead, doomed_jid.jid()).await, "{acted}");
    assert!(
        has(JobSet::Queue("waiting".into()), scheduled.jid()).await,
        "added: {acted}"
    );
    assert!(!has(JobSet::Scheduled, scheduled.jid()).await, "{acted}");
    assert!(
        !has(JobSet::Queue("waiting".into()), queued.jid()).await,
        "deleted: {acted}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !worker.handle.is_quiet() {
        assert!(
            Instant::now() < deadline,
            "the Rust worker was not quieted: {acted}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Stop from Sidekiq::Web: the Rust worker ends by itself once its held job is done.
    gate.0.add_permits(1);
    let stop = json!([{"do": "stop", "identity": worker.id}]);
    let acted = web_actions(&db, &stop).await;
    let ended = tokio::time::timeout(Duration::from_secs(30), worker.task).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "stop from Sidekiq::Web did not end the worker: {ended:?} {acted}"
    );
}

/// Runs `web_actions.rb` with `clicks`; its answer, every click answered 302 (acted).
async fn web_actions(db: &Db, clicks: &Value) -> Value {
    let out = ruby(
        db,
        "web_actions.rb",
        &[&clicks.to_string()],
        Duration::from_secs(60),
    )
    .await;
    let acted: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    for a in acted.as_array().unwrap() {
        assert_eq!(a["status"], 302, "{a}");
    }
    acted
}
