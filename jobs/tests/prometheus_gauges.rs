//! The Prometheus gauges read from the store (`prometheus` and `health-http` features): the
//! queue sampler's gauges match the store, it samples at its jittered interval, and a
//! worker serves the scrape at `/metrics` on its probe listener and runs the sampler it was
//! given. Run with `cargo test -p jobs --features prometheus,health-http --test
//! prometheus_gauges`.

mod common;
mod prom;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Oops;
use jobs::prelude::*;
use jobs::telemetry::QueueSampler;
use prom::{assert_series, free_port, get, handle, shared_gauges, value};

#[jobs::job(queue = "p_wait")]
async fn prom_waiting() -> Result<(), Oops> {
    Ok(())
}

#[jobs::job(queue = "p_http")]
async fn prom_http() -> Result<(), Oops> {
    Ok(())
}

#[tokio::test]
async fn the_sampler_reports_queue_and_set_sizes_latency_and_processes() {
    let _gauges = shared_gauges().await;
    let scrape_handle = handle();
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    for _ in 0..2 {
        PromWaiting::set()
            .client(&client)
            .perform_later()
            .await
            .unwrap();
    }
    PromWaiting::set()
        .client(&client)
        .perform_in(Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(7));
    let sampler = QueueSampler::new(backend.clone()).clock(clock.clone());
    sampler.sample().await.unwrap();

    let scrape = scrape_handle.render();
    let waiting = [("queue", "p_wait"), ("state", "waiting")];
    assert_series(&scrape, "jobs_queue_size", &waiting, 2.0);
    let latency = [("queue", "p_wait")];
    assert_series(&scrape, "jobs_queue_latency_seconds", &latency, 7.0);
    let set = |state: &'static str| [("queue", ""), ("state", state)];
    assert_series(&scrape, "jobs_queue_size", &set("scheduled"), 1.0);
    assert_series(&scrape, "jobs_queue_size", &set("retry"), 0.0);
    assert_series(&scrape, "jobs_queue_size", &set("dead"), 0.0);
    assert_series(&scrape, "jobs_processes", &[], 0.0);
    assert_series(&scrape, "jobs_busy", &[], 0.0);
    assert!(scrape.contains("# HELP jobs_queue_size "), "{scrape}");
}

/// The memory backend, noting when each queue listing was asked for.
struct Counted {
    inner: jobs::memory::MemoryBackend,
    listings: Mutex<Vec<tokio::time::Instant>>,
}

jobs::forward_backend! {
    Counted,
    inner(this) = &this.inner,
    around(this, op, call) = {
        if op == "queue_list" {
            this.listings.lock().unwrap().push(tokio::time::Instant::now());
        }
        call.await
    },
    name(this) = "counted",
    metrics(this) = None,
    schedules(this) = None,
}

#[tokio::test(start_paused = true)]
async fn the_sampler_reads_the_store_once_per_jittered_interval() {
    let backend = Arc::new(Counted {
        inner: jobs::memory::MemoryBackend::new(),
        listings: Mutex::default(),
    });
    let every = Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    let sampler = QueueSampler::new(backend.clone()).every(every);
    let run = sampler.run(std::future::pending());
    let _ = tokio::time::timeout(Duration::from_secs(300), run).await;
    let listings = backend.listings.lock().unwrap().clone();
    // The first within one interval, then one every ¾ to 1¼ interval.
    let first = listings
        .first()
        .expect("no sample in 300 s")
        .duration_since(started);
    assert!(first < every, "first sample after {first:?}");
    for pair in listings.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= every.mul_f64(0.75) && gap <= every.mul_f64(1.25),
            "samples {gap:?} apart"
        );
    }
    assert!(
        (8..=14).contains(&listings.len()),
        "{} samples in 300 s",
        listings.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_serves_metrics_on_its_probe_listener_and_samples_its_queues() {
    let _gauges = shared_gauges().await;
    let scrape_handle = handle();
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let port = free_port();
    let worker = common::worker(&backend)
        .queues(["p_http"])
        .health_addr(format!("127.0.0.1:{port}"))
        .metrics_endpoint(move || scrape_handle.render())
        .queue_metrics(QueueSampler::new(backend.clone()).every(Duration::from_secs(1)))
        .registry(jobs::Registry::new().with::<PromHttp>().unwrap())
        .build()
        .unwrap();
    let running = common::spawn(worker);
    PromHttp::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    common::processed(&backend, 1).await;
    let series = [
        ("queue", "p_http"),
        ("job", "PromHttp"),
        ("outcome", "success"),
    ];
    let body = common::eventually("a scrape over HTTP", || async {
        get(port, "/metrics").await
    })
    .await;
    assert_eq!(body.0, 200, "{body:?}");
    assert_series(&body.1, "jobs_executions_total", &series, 1.0);
    // The probes are still there beside it.
    assert_eq!(get(port, "/livez").await.map(|a| a.0), Some(200));
    // The worker's sampler reports its queue (empty now) within about a second.
    let waiting = [("queue", "p_http"), ("state", "waiting")];
    common::eventually("the worker's sampler to report its queue", || async {
        let (_, body) = get(port, "/metrics").await?;
        (value(&body, "jobs_queue_size", &waiting) == Some(0.0)).then_some(())
    })
    .await;
    running.stop().await;
}
