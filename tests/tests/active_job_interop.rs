//! Interop with Rails' Active Job (Debian's `ruby-activejob` 6.1 on `ruby-sidekiq` 6.4), both
//! ways, through `examples/sidekiq_interop`'s Active Job commands, each test in a Redis
//! database of its own (see `sidekiq_support`).
//!
//! 1. Ruby enqueues `InteropEchoJob` with arguments of every kind Active Job serializes; the
//!    example's `work-active-job` performs them and what Rust received is compared with what
//!    Ruby sent, per the mapping in `jobs::active_job`.
//! 2. The example's `enqueue-active-job` writes Active Job payloads that Ruby's own
//!    `JobWrapper` performs, with the arguments (symbol keys included) Ruby expects.

mod servers;
mod sidekiq_support;

use std::collections::BTreeMap;
use std::time::Duration;

use jobs::backend::AdminBackend;
use serde_json::Value;
use sidekiq_support::*;

/// Where the example's `work-active-job` records each performed job.
const PERFORMED_AJ: &str = "interop:performed_aj";

/// Whether the example is built and Ruby has Active Job; prints why not.
fn ready(test: &str) -> bool {
    if example_binary().is_none() {
        eprintln!(
            "SKIPPED active_job_interop::{test}: target/*/examples/sidekiq_interop is not built \
             (cargo build -p jobs-examples --example sidekiq_interop)"
        );
        return false;
    }
    have_ruby_active_job(&format!("active_job_interop::{test}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_active_jobs_of_every_argument_kind_are_performed_by_the_rust_example() {
    if !ready("ruby_active_jobs_of_every_argument_kind_are_performed_by_the_rust_example") {
        return;
    }
    let db = Db::take(14).await;
    let out = ruby(&db, "active_job_push.rb", &[], Duration::from_secs(60)).await;
    let line = out.lines().last().unwrap_or_default();
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(expected.len() > 20, "{expected:?}");
    let count = expected.len().to_string();
    run_example(&["work-active-job", "--redis", &db.url, "--count", &count]).await;

    let mut conn = db.raw.clone();
    let records: Vec<String> = redis::cmd("LRANGE")
        .arg(PERFORMED_AJ)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let got: BTreeMap<String, Value> = records
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r).unwrap();
            (
                v["job_id"].as_str().unwrap_or_default().to_owned(),
                v["arguments"].clone(),
            )
        })
        .collect();
    let mut problems = Vec::new();
    for (job_id, want) in &expected {
        match got.get(job_id) {
            None => problems.push(format!("{job_id} {want} was not performed")),
            Some(have) if have != want => {
                problems.push(format!("{job_id}: Ruby sent {want}, Rust received {have}"))
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(got.len(), expected.len(), "{got:?}");
    let stats = db.backend().await.stats().await.unwrap();
    assert_eq!(
        (stats.failed, stats.retries, stats.enqueued),
        (0, 0, 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_jobs_the_rust_example_enqueues_are_performed_by_ruby_active_job() {
    if !ready("active_jobs_the_rust_example_enqueues_are_performed_by_ruby_active_job") {
        return;
    }
    let db = Db::take(15).await;
    run_example(&["enqueue-active-job", "--redis", &db.url, "--count", "4"]).await;
    let out = ruby(
        &db,
        "active_job_perform.rb",
        &["4"],
        Duration::from_secs(60),
    )
    .await;
    assert!(out.lines().any(|l| l == "ok 4"), "{out}");
}
