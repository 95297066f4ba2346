//! A Ruby Sidekiq process and a Rust worker take jobs from the same queue at the same time:
//! each job runs exactly once, whichever side takes it (Ruby's `BRPOP` against our atomic
//! moves into in-flight lists). Database 13; see `sidekiq_support`.

mod servers;
mod sidekiq_support;

use std::time::{Duration, Instant};

use jobs::{Client, Enqueue, Registry};
use serde_json::json;
use sidekiq_support::*;

/// Jobs pushed, in rounds, while both sides wait on the queue.
const JOBS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_and_rust_workers_share_a_queue_and_run_each_job_once() {
    if !have_ruby_sidekiq("ruby_and_rust_workers_share_a_queue") {
        return;
    }
    let db = Db::take(13).await;
    let backend = db.backend().await;
    let mut sidekiq = start_sidekiq(&db);
    let worker = start_worker(backend.clone(), |b| {
        b.registry(Registry::new().with::<InteropEcho>().unwrap())
            .state(Recorder(db.raw.clone()))
    });
    // Wait until Ruby Sidekiq is up: it lists itself in `processes` beside the Rust worker.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let processes = jobs::backend::AdminBackend::process_list(&*backend)
            .await
            .unwrap();
        if processes.len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Ruby Sidekiq did not start: {processes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let client = Client::new(backend.clone());
    let mut jids = Vec::new();
    for round in 0..(JOBS / 6) {
        let batch = (0..6).map(|k| InteropEcho(vec![json!(round * 6 + k)]));
        let ids = Enqueue::<InteropEcho>::new()
            .client(&client)
            .enqueue_all(batch)
            .await
            .unwrap();
        jids.extend(ids);
        // Let both sides go back to waiting before the next round.
        let _ = db.wait_performed(jids.len(), Duration::from_secs(30)).await;
    }
    let performed = db.wait_performed(JOBS, Duration::from_secs(30)).await;
    let _ = sidekiq.kill().await;
    worker.stop().await;

    assert_eq!(performed.len(), JOBS, "no job ran twice: {performed:?}");
    for jid in &jids {
        let runs = performed
            .iter()
            .filter(|r| r["jid"] == json!(jid.jid()))
            .count();
        assert_eq!(runs, 1, "job {jid} ran {runs} times");
    }
    let by_ruby = performed.iter().filter(|r| r["by"] == "ruby").count();
    assert!(
        by_ruby > 0 && by_ruby < JOBS,
        "both sides took jobs: Ruby ran {by_ruby} of {JOBS}"
    );
    eprintln!(
        "shared queue: Ruby ran {by_ruby}, Rust ran {} of {JOBS}",
        JOBS - by_ruby
    );
}
