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
    // Worker processes print each start; the enqueuer times it against its own clock.
    let v = run("latency --samples 50 --processes 2", url);
    check(&v, "latency", "redis", false, true);
    assert_eq!(v["processes"], 2, "{v}");
    assert_eq!(v["worker_hosts"], "processes", "{v}");
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

/// Whether this machine lets the test make network namespaces (root with `ip`): then a
/// `--netns` run must have used them; elsewhere it falls back and must say so.
fn namespaces_permitted() -> bool {
    let name = format!("jobs-bench-probe-{}", std::process::id());
    let made = Command::new("ip")
        .args(["netns", "add", &name])
        .output()
        .is_ok_and(|o| o.status.success());
    if made {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
    }
    made
}

/// `--netns`: each worker process runs in a network namespace of its own (the binary checks
/// each child's `/proc/self/ns/net` is distinct and not its own), reaches the store through
/// the proxy's listener inside its namespace, and the report says `netns`; one process too.
/// The namespaces are gone afterwards.
#[test]
fn workers_in_network_namespaces_reach_redis_and_postgres_through_the_proxy() {
    let before = bench_namespaces();
    let expected = if namespaces_permitted() {
        "netns"
    } else {
        "processes"
    };
    for (url, kind) in [(redis_url(), "redis"), (postgres_url(), "postgres")] {
        for p in ["1", "2"] {
            let v = run(
                &format!("noop --jobs 2000 --concurrency 50 --processes {p} --netns --delay-ms 1"),
                &url,
            );
            check(&v, "noop", kind, true, false);
            assert_eq!(v["worker_hosts"], expected, "{v}");
            let rt = v["round_trips_per_job"].as_f64().unwrap_or(-1.0);
            assert!(rt > 0.0 && rt < 1.0, "{v}");
        }
        let v = run(
            "latency --samples 20 --processes 2 --netns --delay-ms 1",
            &url,
        );
        check(&v, "latency", kind, false, true);
        assert_eq!(v["worker_hosts"], expected, "{v}");
        let p50 = v["p50_ms"].as_f64().unwrap_or(0.0);
        assert!(
            p50 >= 1.0,
            "a job's enqueue and start cross the 1 ms proxy: {v}"
        );
    }
    // Another test of this binary may be running a benchmark with namespaces right now:
    // only a new namespace whose benchmark process is gone was left behind.
    let left: Vec<String> = bench_namespaces()
        .difference(&before)
        .filter(|n| {
            // `jobs-bench-<pid>-<i>`; the probes' `jobs-bench-probe-<pid>` come and go.
            n.split('-')
                .nth(2)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .cloned()
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

/// The benchmark's namespaces (`jobs-bench-<pid>-<i>`) that exist now.
fn bench_namespaces() -> std::collections::BTreeSet<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| n.starts_with("jobs-bench-"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A three-master cluster of the test's own (its nodes are reconfigured by the run), from
/// scripts/services.sh's `cluster_private_start`, stopped on drop.
struct PrivateCluster {
    dir: String,
    ports: Vec<u16>,
}

impl PrivateCluster {
    fn services(call: &str, dir: &str) -> std::process::Output {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        Command::new("bash")
            .args([
                "-c",
                &format!("source \"$0/scripts/services.sh\" >/dev/null && {call} \"$1\""),
                root,
                dir,
            ])
            .env("JOBS_SERVICES_DIR", dir)
            .output()
            .expect("running scripts/services.sh")
    }

    fn start() -> PrivateCluster {
        let dir = format!(
            "{}/bench-cluster-{}",
            env!("CARGO_TARGET_TMPDIR"),
            std::process::id()
        );
        let out = Self::services("cluster_private_start", &dir);
        assert!(
            out.status.success(),
            "starting a private cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ports = std::fs::read_to_string(format!("{dir}/ports"))
            .expect("the cluster's ports")
            .split_whitespace()
            .map(|p| p.parse().expect("a port"))
            .collect();
        PrivateCluster { dir, ports }
    }

    fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The ports one node's `CLUSTER SLOTS` lists.
    fn announced(&self) -> std::collections::BTreeSet<u16> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.ports[0])).unwrap();
        let mut conn = client.get_connection().unwrap();
        let slots: Vec<Vec<redis::Value>> =
            redis::cmd("CLUSTER").arg("SLOTS").query(&mut conn).unwrap();
        slots
            .iter()
            .flat_map(|range| range.iter().skip(2))
            .filter_map(|node| match node {
                redis::Value::Array(f) => match f.get(1) {
                    Some(redis::Value::Int(p)) => Some(*p as u16),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        Self::services("cluster_private_stop", &self.dir);
    }
}

/// A cluster behind the proxy: its nodes announce the proxy's ports for the run, so the
/// workers (in namespaces of their own, which could not reach the nodes any other way) go
/// through the delay; afterwards the nodes announce their own ports again.
#[test]
fn a_cluster_behind_the_proxy_is_reached_through_it_and_restored() {
    let cluster = PrivateCluster::start();
    let own: std::collections::BTreeSet<u16> = cluster.ports.iter().copied().collect();
    assert_eq!(cluster.announced(), own);
    let v = run(
        "noop --jobs 2000 --concurrency 50 --queues 4 --processes 2 --netns --delay-ms 1",
        &cluster.url(),
    );
    check(&v, "noop", "redis", true, false);
    let expected = if namespaces_permitted() {
        "netns"
    } else {
        "processes"
    };
    assert_eq!(v["worker_hosts"], expected, "{v}");
    let rt = v["round_trips_per_job"].as_f64().unwrap_or(-1.0);
    assert!(rt > 0.0 && rt < 1.0, "{v}");
    assert_eq!(
        cluster.announced(),
        own,
        "the nodes announce their own ports again"
    );
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
