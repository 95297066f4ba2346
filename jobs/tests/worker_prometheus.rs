//! The Prometheus metrics (`prometheus` and `health-http` features): known jobs on the
//! memory backend give exact counts per labelled series and no job id in the scrape; the
//! queue sampler's gauges match the store, and it samples at its jittered interval; a
//! worker serves the scrape at `/metrics` on its probe listener, and runs the sampler it
//! was given. One recorder per process,
//! so every test installs the same one and uses queues of its own. Run with
//! `cargo test -p jobs --features prometheus,health-http --test worker_prometheus`.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{Events, Oops};
use jobs::prelude::*;
use jobs::telemetry::prometheus::PrometheusHandle;
use jobs::telemetry::QueueSampler;

#[jobs::job(queue = "p_run")]
async fn prom_ok(n: u32, events: State<Events>) -> Result<(), Oops> {
    events.send(format!("ok {n}"));
    Ok(())
}

#[jobs::job(queue = "p_run", retry = 3)]
async fn prom_flaky(events: State<Events>) -> Result<(), Oops> {
    events.send("flaky");
    Err(Oops("flaky fails".into()))
}

#[jobs::job(queue = "p_run", retry = 0)]
async fn prom_doomed(events: State<Events>) -> Result<(), Oops> {
    events.send("doomed");
    Err(Oops("doomed dies".into()))
}

#[jobs::job(queue = "p_wait")]
async fn prom_waiting() -> Result<(), Oops> {
    Ok(())
}

#[jobs::job(queue = "p_http")]
async fn prom_http() -> Result<(), Oops> {
    Ok(())
}

#[jobs::job(queue = "p_other", retry = false)]
async fn prom_dropped() -> Result<(), Oops> {
    Err(Oops("dropped".into()))
}

#[jobs::job(queue = "p_other")]
async fn prom_discard() -> Result<Outcome, Oops> {
    Ok(Outcome::discard("not needed"))
}

#[jobs::job(queue = "p_other")]
async fn prom_snooze() -> Result<Outcome, Oops> {
    Ok(Outcome::snooze(Duration::from_secs(60)))
}

#[jobs::job(queue = "p_other", expires_in = "1s")]
async fn prom_expiring() -> Result<(), Oops> {
    Ok(())
}

#[jobs::job(queue = "p_rescue")]
async fn prom_rescued() -> Result<(), Oops> {
    Ok(())
}

/// The process's one Prometheus recorder.
fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            jobs::telemetry::prometheus::install()
                .unwrap_or_else(|e| panic!("could not install the recorder: {e}"))
        })
        .clone()
}

/// The value of the series `name` whose labels are exactly `labels`, in the text `scrape`.
fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    scrape.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, got) = match series.split_once('{') {
            Some((n, rest)) => {
                let mut got: Vec<String> = rest
                    .trim_end_matches('}')
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                got.sort();
                (n, got)
            }
            None => (series, Vec::new()),
        };
        (n == name && got == want).then(|| value.parse().ok())?
    })
}

/// Asserts that the series has the value `expected`.
fn assert_series(scrape: &str, name: &str, labels: &[(&str, &str)], expected: f64) {
    assert_eq!(
        value(scrape, name, labels),
        Some(expected),
        "{name}{labels:?} in the scrape:\n{scrape}"
    );
}

#[tokio::test]
async fn three_successes_a_retry_and_a_death_give_exact_counts_and_no_jid() {
    let scrape_handle = handle();
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let mut jids = Vec::new();
    for n in 0..3 {
        let e = PromOk::set().client(&client).perform_later(n).await;
        jids.push(e.unwrap().into_jid());
    }
    jids.push(
        (PromFlaky::set().client(&client).perform_later().await)
            .unwrap()
            .into_jid(),
    );
    jids.push(
        (PromDoomed::set().client(&client).perform_later().await)
            .unwrap()
            .into_jid(),
    );
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_run"])
            .clock(clock.clone())
            .registry(
                jobs::Registry::new()
                    .with::<PromOk>()
                    .and_then(|r| r.with::<PromFlaky>())
                    .and_then(|r| r.with::<PromDoomed>())
                    .unwrap(),
            )
            .state(events)
            .build()
            .unwrap(),
    );
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(common::next(&mut rx).await);
    }
    seen.sort();
    assert_eq!(seen, ["doomed", "flaky", "ok 0", "ok 1", "ok 2"]);
    // The outcomes are counted before they are stored, so five stored means five counted.
    common::processed(&backend, 5).await;
    running.stop().await;

    let scrape = scrape_handle.render();
    let ex = "jobs_executions_total";
    let run = |job: &'static str, outcome: &'static str| {
        [("queue", "p_run"), ("job", job), ("outcome", outcome)]
    };
    assert_series(&scrape, ex, &run("PromOk", "success"), 3.0);
    assert_series(&scrape, ex, &run("PromFlaky", "retry"), 1.0);
    assert_series(&scrape, ex, &run("PromDoomed", "dead"), 1.0);
    for (job, outcome) in [
        ("PromOk", "retry"),
        ("PromOk", "dead"),
        ("PromFlaky", "success"),
        ("PromFlaky", "dead"),
        ("PromDoomed", "success"),
        ("PromDoomed", "retry"),
    ] {
        assert_eq!(
            value(&scrape, ex, &run(job, outcome)),
            None,
            "{job} {outcome}"
        );
    }
    let of = |job: &'static str| [("queue", "p_run"), ("job", job)];
    assert_series(&scrape, "jobs_retries_total", &of("PromFlaky"), 1.0);
    assert_series(&scrape, "jobs_dead_total", &of("PromDoomed"), 1.0);
    assert_eq!(
        value(&scrape, "jobs_retries_total", &of("PromDoomed")),
        None
    );
    assert_eq!(value(&scrape, "jobs_dead_total", &of("PromFlaky")), None);
    assert_series(&scrape, "jobs_enqueued_total", &of("PromOk"), 3.0);
    assert_series(&scrape, "jobs_enqueued_total", &of("PromFlaky"), 1.0);
    assert_series(&scrape, "jobs_enqueued_total", &of("PromDoomed"), 1.0);
    let count = "jobs_execution_duration_seconds_count";
    assert_series(&scrape, count, &of("PromOk"), 3.0);
    assert_series(&scrape, count, &of("PromFlaky"), 1.0);
    assert_series(&scrape, count, &of("PromDoomed"), 1.0);
    // A true histogram (buckets), not a summary.
    let le = [("queue", "p_run"), ("job", "PromOk"), ("le", "+Inf")];
    assert_series(&scrape, "jobs_execution_duration_seconds_bucket", &le, 3.0);
    // Described, with help text.
    assert!(scrape.contains("# HELP jobs_executions_total "), "{scrape}");
    assert!(
        scrape.contains("# TYPE jobs_executions_total counter"),
        "{scrape}"
    );
    for jid in &jids {
        assert!(!scrape.contains(jid.as_str()), "jid {jid} in the scrape");
    }
}

#[tokio::test]
async fn failure_discard_snooze_and_expiry_have_their_outcome_labels() {
    let scrape_handle = handle();
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    PromExpiring::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    // Past its expiry before any worker sees it.
    clock.advance(Duration::from_secs(2));
    PromDropped::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    PromDiscard::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    PromSnooze::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_other"])
            .clock(clock.clone())
            .registry(
                jobs::Registry::new()
                    .with::<PromDropped>()
                    .and_then(|r| r.with::<PromDiscard>())
                    .and_then(|r| r.with::<PromSnooze>())
                    .and_then(|r| r.with::<PromExpiring>())
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let ex = "jobs_executions_total";
    let run = |job: &'static str, outcome: &'static str| {
        [("queue", "p_other"), ("job", job), ("outcome", outcome)]
    };
    let expected = [
        ("PromDropped", "failure"),
        ("PromDiscard", "discarded"),
        ("PromSnooze", "snoozed"),
        ("PromExpiring", "expired"),
    ];
    let scrape = common::eventually("four outcomes counted", || async {
        let scrape = scrape_handle.render();
        (expected.iter())
            .all(|(job, outcome)| value(&scrape, ex, &run(job, outcome)).is_some())
            .then_some(scrape)
    })
    .await;
    running.stop().await;
    for (job, outcome) in expected {
        assert_series(&scrape, ex, &run(job, outcome), 1.0);
    }
    // Failed and dropped: neither a retry nor a death.
    let of = |job: &'static str| [("queue", "p_other"), ("job", job)];
    assert_eq!(
        value(&scrape, "jobs_retries_total", &of("PromDropped")),
        None
    );
    assert_eq!(value(&scrape, "jobs_dead_total", &of("PromDropped")), None);
    // An expired job never ran, so it has no duration; the others do.
    let count = "jobs_execution_duration_seconds_count";
    assert_eq!(value(&scrape, count, &of("PromExpiring")), None);
    assert_series(&scrape, count, &of("PromDropped"), 1.0);
    assert_series(&scrape, count, &of("PromSnooze"), 1.0);
}

#[tokio::test]
async fn a_job_rescued_from_a_silent_process_is_counted_then_runs() {
    use jobs::backend::{Backend, ReserveParams};
    let scrape_handle = handle();
    let backend = common::backend();
    let client = Client::new(backend.clone());
    PromRescued::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    // A process leased it an hour ago and went silent.
    let past = jobs::chrono::Utc::now() - jobs::chrono::Duration::hours(1);
    let lease = ReserveParams::new(vec!["p_rescue".into()], "ghost", past)
        .lease_ttl(Duration::from_secs(1));
    assert_eq!(backend.job_reserve(lease).await.unwrap().len(), 1);
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_rescue"])
            .registry(jobs::Registry::new().with::<PromRescued>().unwrap())
            .build()
            .unwrap(),
    );
    common::processed(&backend, 1).await;
    running.stop().await;
    let scrape = scrape_handle.render();
    // The only rescue of this test binary: the counter has no labels to tell tests apart.
    assert_series(&scrape, "jobs_rescued_total", &[], 1.0);
    let series = [
        ("queue", "p_rescue"),
        ("job", "PromRescued"),
        ("outcome", "success"),
    ];
    assert_series(&scrape, "jobs_executions_total", &series, 1.0);
}

#[tokio::test]
async fn the_sampler_reports_queue_and_set_sizes_latency_and_processes() {
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

/// A port free on 127.0.0.1 when asked.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0");
    listener
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// `GET path` on 127.0.0.1:`port`: the status and body, or `None` when nothing listens.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let timeout = Some(Duration::from_secs(5));
        stream.set_read_timeout(timeout).ok()?;
        stream.set_write_timeout(timeout).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: scrape\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    })
    .await
    .unwrap_or_else(|e| panic!("the scrape task failed: {e}"))?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_serves_metrics_on_its_probe_listener_and_samples_its_queues() {
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
