//! Interop with the real Ruby Sidekiq (Debian's `ruby-sidekiq`, 6.4), both ways, on the Redis
//! at `JOBS_TEST_REDIS_URL`, each test in a database of its own (8..=15; see `sidekiq_support`).
//!
//! 1. Ruby pushes `InteropEcho` jobs with args of many JSON shapes; a Rust worker performs
//!    them and Ruby checks the args arrived unchanged.
//! 2. Jobs enqueued from Rust (queued, scheduled, retried, dead) are listed by Ruby's API and
//!    the queued ones performed by a Ruby `sidekiq` process.
//! 3. A Rust worker shows in Ruby's `ProcessSet` (with real `rss` and `rtt_us`), and its
//!    running job in `Sidekiq::Workers`.
//! 4. Ruby's "retry now" on jobs a Rust worker failed, and its quiet and stop signals, work.
//! 5. `examples/sidekiq_interop` keeps its command-line contract.

mod servers;
mod sidekiq_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::AdminBackend;
use jobs::prelude::*;
use jobs::{Enqueue, Registry};
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
#[jobs::job(name = "InteropFail", queue = "failing", retry = 3)]
async fn interop_fail(n: u64) -> Result<(), Boom> {
    let _ = n;
    Err(Boom("interop failure to retry"))
}

/// Fails with no retries: straight to the dead set.
#[jobs::job(name = "InteropDoomed", queue = "failing", retry = 0)]
async fn interop_doomed(n: u64) -> Result<(), Boom> {
    let _ = n;
    Err(Boom("interop failure to kill"))
}

/// Lets held jobs finish.
#[derive(Clone)]
struct Gate(Arc<tokio::sync::Semaphore>);

/// Runs until the gate opens.
#[jobs::job(name = "InteropHold")]
async fn interop_hold(gate: State<Gate>, n: u64) -> Result<(), Boom> {
    let _ = n;
    let _permit = gate.0 .0.acquire().await.map_err(|_| Boom("gate closed"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_pushes_and_a_rust_worker_performs_args_of_every_shape_unchanged() {
    if !have_ruby_sidekiq("ruby_pushes_and_a_rust_worker_performs") {
        return;
    }
    let db = Db::take(8).await;
    let backend = db.backend().await;
    let worker = start_worker(backend.clone(), |b| {
        b.registry(Registry::new().with::<InteropEcho>().unwrap())
            .state(Recorder(db.raw.clone()))
    });
    let out = ruby(&db, "push_shapes.rb", &[], Duration::from_secs(60)).await;
    assert!(out.lines().any(|l| l.starts_with("ok ")), "{out}");
    // Floats needing serde_json's `float_roundtrip` and integers past 64 bits: reported.
    for line in out.lines().filter(|l| l.starts_with("known")) {
        eprintln!("KNOWN sidekiq_interop: {line}");
    }
    worker.stop().await;
    let stats = backend.stats().await.unwrap();
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!((stats.retries, stats.dead, stats.enqueued), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_from_rust_are_listed_by_ruby_and_performed_by_ruby_sidekiq() {
    if !have_ruby_sidekiq("jobs_from_rust_are_listed_by_ruby") {
        return;
    }
    // With the OpenTelemetry pipeline (feature `otel`) every push stores a `traceparent`:
    // Ruby must list and perform such jobs as any other.
    jobs_conformance::otel::install();
    let db = Db::take(9).await;
    let backend = db.backend().await;
    let client = Client::new(backend.clone());

    // Two failing jobs, through a Rust worker: one to the retry set, one to the dead set.
    let worker = start_worker(backend.clone(), |b| {
        b.queues(["failing"]).registry(
            Registry::new()
                .with::<InteropFail>()
                .and_then(|r| r.with::<InteropDoomed>())
                .unwrap(),
        )
    });
    let fail_jid = InteropFail::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let doomed_jid = InteropDoomed::set()
        .client(&client)
        .perform_later(2)
        .await
        .unwrap();
    until_one_retry_and_one_dead(&backend).await;
    worker.stop().await;

    // Three queued jobs and one scheduled an hour from now.
    let queued: Vec<jobs::Enqueued> = Enqueue::<InteropEcho>::new()
        .client(&client)
        .enqueue_all((0..3).map(|i| InteropEcho(vec![json!(i), json!(format!("job-{i}"))])))
        .await
        .unwrap();
    let later_args = vec![json!("later"), json!({"x": [1, 2.5, null]})];
    let later_jid = Enqueue::<InteropEcho>::new()
        .client(&client)
        .wait(Duration::from_secs(3600))
        .enqueue(InteropEcho(later_args.clone()))
        .await
        .unwrap();
    let now = jobs::envelope::epoch_now();

    let seen: Value =
        serde_json::from_str(&ruby(&db, "inspect_sets.rb", &[], Duration::from_secs(30)).await)
            .unwrap();
    eprintln!("Ruby Sidekiq {}", seen["version"]);
    let queues = seen["queues"].as_array().unwrap();
    assert!(queues.contains(&json!("default")) && queues.contains(&json!("failing")));

    let q = &seen["queue"];
    assert_eq!(q["size"], 3);
    let listed = q["jobs"].as_array().unwrap();
    // Sidekiq lists a queue newest first (LPUSH to the tail, index 0 is the newest).
    for (i, jid) in queued.iter().enumerate() {
        let j = &listed[2 - i];
        assert_eq!(j["jid"], json!(jid));
        assert_eq!(j["class"], "InteropEcho");
        assert_eq!(j["queue"], "default");
        assert_eq!(j["args"], json!([i, format!("job-{i}")]));
        let enqueued_at = j["enqueued_at"].as_f64().unwrap();
        assert!(
            (enqueued_at - now).abs() < 60.0,
            "enqueued_at {enqueued_at}"
        );
    }
    assert!(q["latency"].as_f64().unwrap() < 60.0);

    let scheduled = seen["scheduled"].as_array().unwrap();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0]["jid"], json!(later_jid));
    assert_eq!(scheduled[0]["args"], json!(later_args));
    let at = scheduled[0]["at"].as_f64().unwrap();
    assert!((at - (now + 3600.0)).abs() < 60.0, "scheduled at {at}");

    // Each job Ruby lists carries the trace context it was stored with, retries included.
    let traced = |j: &Value| {
        let parent = j["traceparent"].as_str().unwrap_or_default();
        assert!(
            jobs_conformance::otel::traceparent_ids(parent)
                .is_some_and(|(t, s)| t.len() == 32 && s.len() == 16),
            "no traceparent in {j}"
        );
    };
    listed
        .iter()
        .chain(&seen["scheduled"].as_array().unwrap()[..])
        .for_each(traced);
    traced(&seen["retry"][0]);
    traced(&seen["dead"][0]);

    let retry = seen["retry"].as_array().unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0]["jid"], json!(fail_jid));
    assert_eq!(retry[0]["class"], "InteropFail");
    assert_eq!(retry[0]["queue"], "failing");
    assert_eq!(retry[0]["args"], json!([1]));
    assert_eq!(retry[0]["retry_count"], 0);
    assert!(retry[0]["error_message"]
        .as_str()
        .unwrap()
        .contains("interop failure to retry"));
    assert!(
        retry[0]["at"].as_f64().unwrap() > now,
        "retry is in the future"
    );

    let dead = seen["dead"].as_array().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["jid"], json!(doomed_jid));
    assert_eq!(dead[0]["class"], "InteropDoomed");
    assert!(dead[0]["error_message"]
        .as_str()
        .unwrap()
        .contains("interop failure to kill"));

    let stats = &seen["stats"];
    assert_eq!(stats["processed"], 2, "{stats}");
    assert_eq!(stats["failed"], 2, "{stats}");
    assert_eq!(stats["enqueued"], 3, "{stats}");
    assert_eq!(stats["scheduled_size"], 1, "{stats}");
    assert_eq!(stats["retry_size"], 1, "{stats}");
    assert_eq!(stats["dead_size"], 1, "{stats}");
    assert_eq!(stats["queues"]["default"], 3, "{stats}");

    // A Ruby Sidekiq process performs the queued jobs.
    let mut sidekiq = start_sidekiq(&db);
    let performed = db.wait_performed(3, Duration::from_secs(60)).await;
    let _ = sidekiq.kill().await;
    assert_eq!(performed.len(), 3, "{performed:?}");
    for (i, jid) in queued.iter().enumerate() {
        let rec = performed
            .iter()
            .find(|r| r["jid"] == json!(jid))
            .unwrap_or_else(|| panic!("job {jid} not performed by Ruby: {performed:?}"));
        assert_eq!(rec["args"], json!([i, format!("job-{i}")]));
    }
}

/// Batch members pushed from Rust stay plain Sidekiq jobs: Ruby lists them on their queue
/// with the batch id in `bid` (the field Sidekiq Pro writes), the batch's own keys show up
/// as no queue, and a Ruby Sidekiq process performs the members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_members_from_rust_are_listed_and_performed_by_ruby_sidekiq() {
    if !have_ruby_sidekiq("batch_members_from_rust") {
        return;
    }
    let db = Db::take(8).await;
    let backend = db.backend().await;
    let client = Client::new(backend.clone());
    let batch = jobs::batch::Batch::new()
        .description("interop")
        .on_success(InteropEcho(vec![json!("done")]))
        .create(&client)
        .await
        .unwrap();
    let jids = batch
        .push_all((0..2).map(|i| InteropEcho(vec![json!(i)])))
        .await
        .unwrap();

    let seen: Value =
        serde_json::from_str(&ruby(&db, "inspect_sets.rb", &[], Duration::from_secs(30)).await)
            .unwrap();
    assert_eq!(seen["queues"], json!(["default"]), "{seen}");
    let listed = seen["queue"]["jobs"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{seen}");
    for j in listed {
        assert!(jids.iter().any(|jid| j["jid"] == json!(jid)), "{j}");
        assert_eq!(j["class"], "InteropEcho");
        assert_eq!(j["bid"], json!(batch.bid()), "{j}");
    }

    let mut sidekiq = start_sidekiq(&db);
    let performed = db.wait_performed(2, Duration::from_secs(60)).await;
    let _ = sidekiq.kill().await;
    for (i, jid) in jids.iter().enumerate() {
        let rec = performed
            .iter()
            .find(|r| r["jid"] == json!(jid))
            .unwrap_or_else(|| panic!("member {jid} not performed by Ruby: {performed:?}"));
        assert_eq!(rec["args"], json!([i]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_worker_is_in_ruby_process_set_and_its_job_in_sidekiq_workers() {
    if !have_ruby_sidekiq("a_rust_worker_is_in_ruby_process_set") {
        return;
    }
    let db = Db::take(10).await;
    let backend = db.backend().await;
    let gate = Gate(Arc::new(tokio::sync::Semaphore::new(0)));
    let worker = start_worker(backend.clone(), |b| {
        b.registry(Registry::new().with::<InteropHold>().unwrap())
            .state(gate.clone())
    });
    let client = Client::new(backend.clone());
    let jid = InteropHold::set()
        .client(&client)
        .perform_later(7)
        .await
        .unwrap();

    let out = ruby(
        &db,
        "processes.rb",
        &[&worker.id, &jid],
        Duration::from_secs(30),
    )
    .await;
    let seen: Value = serde_json::from_str(&out).unwrap();
    let p = &seen["process"];
    assert_eq!(p["identity"], json!(worker.id));
    assert_eq!(p["pid"], json!(std::process::id()));
    assert_eq!(p["queues"], json!(["default"]));
    assert_eq!(p["concurrency"], 4);
    assert_eq!(p["busy"], 1, "{p}");
    assert_eq!(p["quiet"], false);
    // Real values, as Sidekiq's: resident kB (Linux) and the heartbeat's round trip.
    if cfg!(target_os = "linux") {
        assert!(p["rss"].as_u64().is_some_and(|kb| kb > 1000), "{p}");
    }
    assert!(p["rtt_us"].as_u64().is_some_and(|us| us > 0), "{p}");
    let beat = p["beat"].as_f64().unwrap();
    assert!(
        (beat - jobs::envelope::epoch_now()).abs() < 60.0,
        "beat {beat}"
    );
    let w = &seen["work"];
    assert_eq!(w["process"], json!(worker.id));
    assert_eq!(w["work"]["queue"], "default");
    assert_eq!(w["work"]["payload"]["class"], "InteropHold");
    assert_eq!(w["work"]["payload"]["args"], json!([7]));
    assert!(w["work"]["run_at"].as_f64().is_some(), "{w}");

    gate.0.add_permits(1);
    worker.stop().await;
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_keeps_its_command_line_contract() {
    if example_binary().is_none() {
        eprintln!(
            "SKIPPED sidekiq_interop::the_example_keeps_its_command_line_contract: \
             target/*/examples/sidekiq_interop is not built (cargo build --examples)"
        );
        return;
    }
    let db = Db::take(11).await;
    run_example(&["enqueue", "--redis", &db.url, "--count", "4"]).await;
    if have_ruby_sidekiq("the_example_keeps_its_command_line_contract") {
        let seen: Value =
            serde_json::from_str(&ruby(&db, "inspect_sets.rb", &[], Duration::from_secs(30)).await)
                .unwrap();
        assert_eq!(seen["queue"]["size"], 4);
        let mut args: Vec<Value> = seen["queue"]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["args"].clone())
            .collect();
        args.reverse();
        let want: Vec<Value> = (0..4).map(|i| json!([i, format!("job-{i}")])).collect();
        assert_eq!(args, want);
    }
    run_example(&["work", "--redis", &db.url, "--count", "4"]).await;
    let performed = db.performed().await;
    let mut args: Vec<Value> = performed.iter().map(|r| r["args"].clone()).collect();
    args.sort_by_key(|a| a[0].as_u64());
    let want: Vec<Value> = (0..4).map(|i| json!([i, format!("job-{i}")])).collect();
    assert_eq!(args, want, "{performed:?}");
    assert!(performed
        .iter()
        .all(|r| r["jid"].as_str().is_some_and(|j| j.len() == 24)));
    let backend = db.backend().await;
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.enqueued), (4, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_retries_rust_failures_and_quiets_and_stops_a_rust_worker() {
    if !have_ruby_sidekiq("ruby_retries_rust_failures_and_quiets_and_stops") {
        return;
    }
    let db = Db::take(12).await;
    let backend = db.backend().await;
    let client = Client::new(backend.clone());
    let worker = start_worker(backend.clone(), |b| {
        b.queues(["failing"]).registry(
            Registry::new()
                .with::<InteropFail>()
                .and_then(|r| r.with::<InteropDoomed>())
                .unwrap(),
        )
    });
    let settled = |processed: u64| {
        let backend = backend.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let s = backend.stats().await.unwrap();
                if s.processed == processed && s.retries == 1 && s.dead == 1 {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "not settled at {processed}: {s:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let fail_jid = InteropFail::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let doomed_jid = InteropDoomed::set()
        .client(&client)
        .perform_later(2)
        .await
        .unwrap();
    settled(2).await;

    // "Retry now" in Ruby (it decrements retry_count, to -1 after a first failure): the Rust
    // worker runs both jobs again, and they fail as themselves, not as unreadable JSON.
    let out = ruby(
        &db,
        "admin_actions.rb",
        &["retry_all"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"retried": 1, "revived": 1})
    );
    settled(4).await;
    let seen: Value =
        serde_json::from_str(&ruby(&db, "inspect_sets.rb", &[], Duration::from_secs(30)).await)
            .unwrap();
    let retry = &seen["retry"][0];
    assert_eq!(retry["jid"], json!(fail_jid));
    assert_eq!(retry["class"], "InteropFail");
    assert_eq!(retry["retry_count"], 0, "{retry}");
    assert!(retry["error_message"]
        .as_str()
        .unwrap()
        .contains("interop failure to retry"));
    let dead = &seen["dead"][0];
    assert_eq!(dead["jid"], json!(doomed_jid));
    assert!(dead["error_message"]
        .as_str()
        .unwrap()
        .contains("interop failure to kill"));

    // Quiet, then stop, from Ruby (as Sidekiq's web UI does).
    ruby(
        &db,
        "admin_actions.rb",
        &["quiet", &worker.id],
        Duration::from_secs(30),
    )
    .await;
    assert!(worker.handle.is_quiet(), "the Rust worker went quiet");
    ruby(
        &db,
        "admin_actions.rb",
        &["stop", &worker.id],
        Duration::from_secs(30),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(30), worker.task)
        .await
        .expect("the Rust worker stops on Ruby's TERM")
        .unwrap()
        .unwrap();
}
