//! Every scenario of the benchmark binary runs on every backend kind and ends with the one
//! JSON line `bench/compare` reads, with every field the issue names. Small N: this checks
//! that the binary works, never how fast it is.

use std::process::Command;

use serde_json::Value;

const FIELDS: [&str; 12] = [
    "scenario",
    "backend",
    "jobs",
    "concurrency",
    "processes",
    "enqueue_per_s",
    "process_per_s",
    "p50_ms",
    "p99_ms",
    "peak_rss_mb",
    "worker_cpu_us_per_job",
    "store_cpu_us_per_job",
];

/// The shared Redis server: `JOBS_TEST_REDIS_URL` (set by `scripts/test`), or the local one.
fn redis_url() -> String {
    std::env::var("JOBS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The shared Postgres database: `JOBS_TEST_DATABASE_URL` (set by `scripts/test`), or the
/// local one.
fn postgres_url() -> String {
    std::env::var("JOBS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// Runs `jobs-bench <args> --backend <url>` and returns its last line, parsed.
fn run(args: &str, url: &str) -> Value {
    let args: Vec<&str> = args.split_whitespace().chain(["--backend", url]).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_jobs-bench"))
        .args(&args)
        .args(["--timeout", "60"])
        .output()
        .expect("running jobs-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "jobs-bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("no output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

/// Checks the summary line: every field present, the scenario and backend named, and the
/// figures that apply to the scenario positive (the others null).
fn check(v: &Value, scenario: &str, backend: &str, rates: bool, latency: bool) {
    for f in FIELDS {
        assert!(v.get(f).is_some(), "field {f} missing: {v}");
    }
    assert_eq!(v["scenario"], scenario, "{v}");
    assert_eq!(v["backend"], backend, "{v}");
    let positive = |f: &str| v[f].as_f64().is_some_and(|x| x > 0.0);
    assert!(positive("peak_rss_mb"), "{v}");
    assert_eq!(positive("process_per_s"), rates, "process_per_s: {v}");
    assert_eq!(
        positive("p50_ms") && positive("p99_ms"),
        latency,
        "latency: {v}"
    );
    if !latency {
        assert!(v["p50_ms"].is_null() && v["p99_ms"].is_null(), "{v}");
    }
}

/// Whether the CPU figure `field` is a plausible time per job: above 0 (a run of 1,000
/// jobs or more takes more than one 10 ms clock tick) and below a second.
fn cpu(v: &Value, field: &str) -> bool {
    v[field].as_f64().is_some_and(|x| x > 0.0 && x < 1e6)
}

#[test]
fn every_scenario_runs_on_memory() {
    let url = "memory://";
    let v = run("noop --jobs 2000 --concurrency 20", url);
    check(&v, "noop", "memory", true, false);
    assert_eq!(v["jobs"], 2000);
    assert!(v["enqueue_per_s"].as_f64().is_some_and(|x| x > 0.0), "{v}");
    // The store runs inside the worker: its time is the worker's.
    assert!(cpu(&v, "worker_cpu_us_per_job"), "{v}");
    assert!(v["store_cpu_us_per_job"].is_null(), "{v}");
    let v = run("noop --jobs 300 --single", url);
    check(&v, "noop", "memory", true, false);
    let v = run("latency --samples 100", url);
    check(&v, "latency", "memory", false, true);
    let v = run("depth --queued 1000 --measure 3000", url);
    check(&v, "depth", "memory", true, false);
    let v = run("io --jobs 1000 --concurrency 200", url);
    check(&v, "io", "memory", true, false);
}

#[test]
fn noop_and_latency_run_on_redis_with_two_processes() {
    let url = &redis_url();
    let v = run("noop --jobs 2000 --processes 2", url);
    check(&v, "noop", "redis", true, false);
    assert_eq!(v["processes"], 2);
    // The worker processes' time, counted once they were reaped, and Redis's own.
    assert!(cpu(&v, "worker_cpu_us_per_job"), "{v}");
    assert!(cpu(&v, "store_cpu_us_per_job"), "{v}");
    let v = run("latency --samples 50", url);
    check(&v, "latency", "redis", false, true);
}

#[test]
fn noop_and_latency_run_on_postgres() {
    let url = &postgres_url();
    let v = run("noop --jobs 1000", url);
    check(&v, "noop", "postgres", true, false);
    assert!(cpu(&v, "worker_cpu_us_per_job"), "{v}");
    // Read from /proc only where this user may read the server's data directory.
    let store = &v["store_cpu_us_per_job"];
    assert!(store.is_null() || cpu(&v, "store_cpu_us_per_job"), "{v}");
    // The server's own counters, per job, and wait shares between 0 and 1. (Backends flush
    // their statistics at most once a second, so a run this short reads low counts; this
    // checks the figures are there, bench/compare's runs last seconds.)
    for counter in [
        "pg_wal_bytes_per_job",
        "pg_commits_per_job",
        "pg_fsyncs_per_job",
    ] {
        let x = v[counter].as_f64().unwrap_or(-1.0);
        assert!((0.0..100_000.0).contains(&x), "{counter}: {v}");
    }
    for share in ["pg_lock_wait_share", "pg_io_wait_share"] {
        let x = v[share].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&x), "{share}: {v}");
    }
    let v = run("latency --samples 50", url);
    check(&v, "latency", "postgres", false, true);
}

/// Through the delaying proxy, a run reports the delay and its round trips per job: at
/// least one per job for latency (each job is enqueued, reserved and settled on its own),
/// well under one for a bulk noop run (reserves and settles are batched).
#[test]
fn the_delaying_proxy_counts_round_trips() {
    let url = &redis_url();
    let v = run(
        "noop --jobs 2000 --concurrency 100 --delay-ms 1 --queues 3",
        url,
    );
    check(&v, "noop", "redis", true, false);
    assert_eq!(v["delay_ms"], 1.0, "{v}");
    let rt = v["round_trips_per_job"].as_f64().unwrap_or(-1.0);
    assert!(rt > 0.0 && rt < 0.5, "{v}");
    let v = run("latency --samples 20 --delay-ms 1", url);
    let rt = v["round_trips_per_job"].as_f64().unwrap_or(-1.0);
    assert!(rt >= 1.0, "{v}");
    let p50 = v["p50_ms"].as_f64().unwrap_or(0.0);
    assert!(
        p50 >= 1.0,
        "a job's enqueue and start cross the 1 ms proxy: {v}"
    );
    assert!(run("noop --jobs 10", url)["delay_ms"].is_null());
}

/// Sharded and cluster stores run too, with their own prefix, cleared afterwards.
#[test]
fn noop_runs_on_shards_and_on_the_cluster() {
    let strip = |u: &str| {
        u.trim_start_matches("redis://")
            .trim_end_matches("/0")
            .to_owned()
    };
    let base = strip(&redis_url());
    let shards = format!("redis+shards://{base}/4,{base}/5");
    let v = run("noop --jobs 1000 --queues 4 --processes 2", &shards);
    check(&v, "noop", "redis", true, false);
    assert!(cpu(&v, "store_cpu_us_per_job"), "{v}");
    let cluster = std::env::var("JOBS_TEST_REDIS_CLUSTER_URL").expect(
        "JOBS_TEST_REDIS_CLUSTER_URL: run scripts/test, or eval \"$(bash scripts/services.sh up)\"",
    );
    let v = run("noop --jobs 1000 --queues 4", &cluster);
    check(&v, "noop", "redis", true, false);
    assert!(cpu(&v, "store_cpu_us_per_job"), "{v}");
}

#[test]
fn noop_and_depth_run_on_sqlite_with_two_processes() {
    let url = "sqlite://bench";
    let v = run("noop --jobs 1000 --processes 2", url);
    check(&v, "noop", "sqlite", true, false);
    assert_eq!(v["processes"], 2);
    let v = run("depth --queued 500 --measure 1000", url);
    check(&v, "depth", "sqlite", true, false);
}

#[test]
fn ceilings_print_their_figure() {
    for (args, url, says) in [
        (
            "ceiling-io --jobs 500 --concurrency 100",
            "memory://".to_owned(),
            "awaiting 5 ms",
        ),
        ("ceiling-push --jobs 200", redis_url(), "LPUSH"),
    ] {
        let v = run(args, &url);
        let name = v["ceiling"].as_str().unwrap_or_default();
        assert!(name.contains(says), "{v}");
        assert!(v["ops_per_s"].as_f64().is_some_and(|x| x > 0.0), "{v}");
    }
}
