//! Measurements, not checks (ignored; run by hand): how much concurrency limits cost on Redis.
//! Plain jobs against jobs limited over 1,000 keys, through bare reserve and settle calls and
//! through a worker, and plain jobs beside one hot key limited to 10. Run with
//! `cargo test --release -p jobs-backends --test redis_limits_speed -- --ignored --nocapture`.

mod redis_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use jobs::backend::*;
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use redis_support::*;

fn plain(n: i64) -> JobEnvelope {
    JobEnvelope::new("Echo", "q", vec![n.into()])
}

fn limited(n: i64, key: &str, limit: u32) -> JobEnvelope {
    let mut j = plain(n);
    j.set_concurrency(Some(ConcurrencyLimit::new(key, limit)));
    j
}

/// Another backend on the fixture's prefix, on connections of its own.
async fn other(f: &Fixture) -> RedisBackend {
    RedisBackend::connect(RedisOptions::new(url()).with_prefix(f.prefix.clone()))
        .await
        .unwrap()
}

/// Runs `jobs` through four processes (reserve 50, settle them in one call) and returns the
/// jobs per second, and how long the jobs `watched` picks took to run.
async fn throughput(
    name: &str,
    jobs: Vec<JobEnvelope>,
    watched: impl Fn(&JobEnvelope) -> bool,
) -> (f64, Duration) {
    let f = Fixture::new(name).await;
    let total = jobs.len();
    let watch: HashSet<String> = jobs
        .iter()
        .filter(|j| watched(j))
        .map(|j| j.jid.clone())
        .collect();
    for chunk in jobs.chunks(1000) {
        f.push(chunk.to_vec(), Utc::now()).await;
    }
    let done = Arc::new(AtomicUsize::new(0));
    let watched_left = Arc::new(AtomicUsize::new(watch.len()));
    let watched_at = Arc::new(Mutex::new(None::<Instant>));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let b = other(&f).await;
        let (done, left, at) = (done.clone(), watched_left.clone(), watched_at.clone());
        let watch = watch.clone();
        tasks.push(tokio::spawn(async move {
            let process = format!("p{i}");
            while done.load(Ordering::SeqCst) < total {
                let p = ReserveParams::new(vec!["q".into()], process.as_str(), Utc::now())
                    .limit(50)
                    .lease_ttl(Duration::from_secs(30));
                let got = b.job_reserve(p).await.unwrap();
                if got.is_empty() {
                    tokio::task::yield_now().await;
                    continue;
                }
                let n = got.len();
                let mine = got.iter().filter(|r| watch.contains(&r.job.jid)).count();
                let items = got
                    .into_iter()
                    .map(|r| Finish::new(r.token, r.job, FinishOutcome::Completed, false))
                    .collect();
                let report = b
                    .job_finish(FinishParams::new(items, Utc::now()))
                    .await
                    .unwrap();
                assert!(report.lost.is_empty());
                done.fetch_add(n, Ordering::SeqCst);
                if mine > 0 && left.fetch_sub(mine, Ordering::SeqCst) == mine {
                    *at.lock().unwrap() = Some(Instant::now());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let watched_took = watched_at
        .lock()
        .unwrap()
        .map(|t| t - start)
        .unwrap_or(elapsed);
    f.cleanup().await;
    (total as f64 / elapsed.as_secs_f64(), watched_took)
}

/// Not a check: prints the throughput of plain jobs, of jobs limited over 1,000 keys, and of
/// plain jobs sharing their queue with one hot key limited to 10, each the best of three runs
/// (the runs alternate, so a busy machine slows both sides alike). Run with
/// `cargo test --release -p jobs-backends --test redis_limits_speed -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement; run by hand"]
async fn measure_throughput() {
    const N: i64 = 20_000;
    let (mut plain_rate, mut keyed_rate) = (0f64, 0f64);
    let (mut alone, mut beside) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let (rate, _) = throughput("bench-plain", (0..N).map(plain).collect(), |_| false).await;
        plain_rate = plain_rate.max(rate);
        let keyed = (0..N)
            .map(|n| limited(n, &format!("key:{}", n % 1000), 1))
            .collect();
        let (rate, _) = throughput("bench-keys", keyed, |_| false).await;
        keyed_rate = keyed_rate.max(rate);
        let half: Vec<JobEnvelope> = (0..N / 2).map(plain).collect();
        let (_, took) = throughput("bench-half", half.clone(), |_| true).await;
        alone = alone.min(took);
        let mixed = half
            .into_iter()
            .zip((0..N / 2).map(|n| limited(n, "hot", 10)))
            .flat_map(|(a, b)| [a, b])
            .collect();
        let (_, took) = throughput("bench-hot", mixed, |j| j.concurrency().is_none()).await;
        beside = beside.min(took);
    }
    println!(
        "plain {plain_rate:.0}/s; limited over 1,000 keys {keyed_rate:.0}/s ({:.0}%); \
         {} plain jobs alone {alone:?}, beside {} jobs of one key limited to 10 {beside:?}",
        100.0 * keyed_rate / plain_rate,
        N / 2,
        N / 2
    );
}

/// Counts the jobs performed.
#[derive(Clone, Default)]
struct Count(Arc<AtomicUsize>);

#[jobs::job(name = "LimitsBenchNoop")]
async fn limits_bench_noop(
    count: jobs::prelude::State<Count>,
    n: i64,
) -> Result<(), std::convert::Infallible> {
    let _ = n;
    count.0 .0.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Jobs per second a worker (concurrency 50) performs `jobs`.
async fn worker_rate(name: &str, jobs: Vec<JobEnvelope>) -> f64 {
    let f = Fixture::new(name).await;
    let total = jobs.len();
    for chunk in jobs.chunks(1000) {
        f.push(chunk.to_vec(), Utc::now()).await;
    }
    let count = Count::default();
    let worker = jobs::Worker::builder(Arc::new(f.backend.clone()))
        .registry(jobs::Registry::new().with::<LimitsBenchNoop>().unwrap())
        .state(count.clone())
        .queues(["q"])
        .concurrency(50)
        .shutdown_timeout(Duration::from_secs(5))
        .handle_signals(false)
        .build()
        .unwrap();
    let handle = worker.handle();
    let start = Instant::now();
    let running = tokio::spawn(worker.run());
    while count.0.load(Ordering::SeqCst) < total {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the worker stalled"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    handle.stop();
    let _ = running.await;
    f.cleanup().await;
    rate
}

/// Not a check: prints what a worker performs of plain jobs and of jobs limited over 1,000
/// keys, best of three alternating runs. Run by hand, as [`measure_throughput`].
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement; run by hand"]
async fn measure_worker_throughput() {
    const N: i64 = 20_000;
    let job = |n: i64| JobEnvelope::new("LimitsBenchNoop", "q", vec![n.into()]);
    let (mut plain_rate, mut keyed_rate) = (0f64, 0f64);
    for _ in 0..3 {
        let rate = worker_rate("wbench-plain", (0..N).map(job).collect()).await;
        plain_rate = plain_rate.max(rate);
        let keyed = (0..N)
            .map(|n| {
                let mut j = job(n);
                let key = format!("key:{}", n % 1000);
                j.set_concurrency(Some(ConcurrencyLimit::new(key, 1)));
                j
            })
            .collect();
        let rate = worker_rate("wbench-keys", keyed).await;
        keyed_rate = keyed_rate.max(rate);
    }
    println!(
        "worker: plain {plain_rate:.0}/s; limited over 1,000 keys {keyed_rate:.0}/s ({:.0}%)",
        100.0 * keyed_rate / plain_rate
    );
}
