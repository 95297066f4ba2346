//! Interop with Rails' Active Job (Debian's `ruby-activejob` 6.1 on `ruby-sidekiq` 6.4), both
//! ways, through `examples/sidekiq_interop`'s Active Job commands, each test in a Redis
//! database of its own (see `sidekiq_support`).
//!
//! 1. Ruby enqueues `InteropEchoJob` with arguments of every kind Active Job serializes; the
//!    example's `work-active-job` performs them and what Rust received is compared with what
//!    Ruby sent, per the mapping in `jobs::active_job`.
//! 2. The example's `enqueue-active-job` writes Active Job payloads that Ruby's own
//!    `JobWrapper` performs, with the arguments (symbol keys included) Ruby expects.
//! 3. Ruby's keyword arguments reach a Rust job's named parameters.

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

/// What the keyword job received, by Active Job `job_id`.
#[derive(Clone, Default)]
struct KwSeen(std::sync::Arc<std::sync::Mutex<BTreeMap<String, Value>>>);

/// The error the keyword job never returns.
#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

/// Ruby's `InteropKwJob#perform(id, locale:, plan: nil)`, in Rust: the keywords arrive as
/// the parameters they name.
#[jobs::job(name = "InteropKwJob", queue = "kw", active_job)]
async fn interop_kw(
    seen: jobs::State<KwSeen>,
    ctx: jobs::JobContext,
    id: i64,
    locale: String,
    plan: Option<String>,
) -> Result<(), Never> {
    let job_id = ctx.active_job().map(|a| a.job_id).unwrap_or_default();
    if let Ok(mut s) = seen.0 .0.lock() {
        s.insert(job_id, serde_json::json!([id, locale, plan]));
    }
    Ok(())
}

/// Rails' keyword arguments (`perform_later(1, locale: "en")`, marked `_aj_ruby2_keywords`)
/// reach a Rust job declared `(id, locale, plan: Option<String>)` as those parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_keyword_arguments_fill_the_rust_jobs_named_parameters() {
    if !have_ruby_active_job(
        "active_job_interop::ruby_keyword_arguments_fill_the_rust_jobs_named_parameters",
    ) {
        return;
    }
    let db = Db::take(13).await;
    let out = ruby(&db, "active_job_keywords.rb", &[], Duration::from_secs(60)).await;
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(out.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(expected.len(), 2, "{out}");
    let seen = KwSeen::default();
    let backend = db.backend().await;
    let worker = start_worker(backend.clone(), |b| {
        b.queues(["kw"])
            .registry(jobs::Registry::new().with::<InteropKw>().unwrap())
            .state(seen.clone())
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.0.lock().map(|s| s.len()).unwrap_or(0) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "not performed: {:?}",
            backend.stats().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    let got = seen.0.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(got, expected);
}
