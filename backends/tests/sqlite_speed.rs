//! Rough speed of the SQLite backend in one process (issue 9's target: 20k jobs/s durable,
//! p99 enqueue-to-start latency within 5 ms; issue 16's: jobs with concurrency limits at
//! half the plain rate or better, a hot key not slowing the rest). Ignored by default: run with
//! `cargo test --release -p jobs-backends --test sqlite_speed -- --ignored --nocapture`.

mod sqlite_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;
use sqlite_support::*;

const JOBS: usize = 20_000;

/// Pushes `JOBS` in bulk, then `workers` tasks reserve batches of `batch` and finish each
/// job on its own (`per_job`) or the whole batch in one call; prints the rates.
async fn run(workers: usize, batch: usize, per_job: bool) {
    let db = TempDb::new("speed");
    let b = db.open().await;
    let jobs: Vec<_> = (0..JOBS as i64).map(|n| job("speed", n)).collect();
    let started = Instant::now();
    for chunk in jobs.chunks(1000) {
        push(&b, chunk.to_vec()).await.unwrap();
    }
    let pushed = started.elapsed();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (b, done) = (b.clone(), done.clone());
            tokio::spawn(async move {
                let process = format!("speed-{w}");
                while done.load(Ordering::Relaxed) < JOBS {
                    let got = reserve(&b, "speed", batch, &process, Duration::ZERO)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        break;
                    }
                    if per_job {
                        for r in &got {
                            complete(&b, std::slice::from_ref(r)).await.unwrap();
                        }
                    } else {
                        complete(&b, &got).await.unwrap();
                    }
                    done.fetch_add(got.len(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    assert_eq!(b.stats().await.unwrap().processed, JOBS as u64);
    println!(
        "workers {workers}, batch {batch}, finish {}: push {:.0}/s, process {:.0}/s",
        if per_job { "per job" } else { "per batch" },
        JOBS as f64 / pushed.as_secs_f64(),
        JOBS as f64 / took.as_secs_f64(),
    );
}

/// Like the worker: one fetch loop reserving as many jobs as there are free slots out of
/// `concurrency`, each job finished by a task of its own; `JOBS` are processed from a
/// queue holding `JOBS + extra`.
async fn worker_like(concurrency: usize) {
    worker_like_deep(concurrency, 0).await
}

async fn worker_like_deep(concurrency: usize, extra: usize) {
    let db = TempDb::new("worker-like");
    let b = db.open().await;
    let jobs: Vec<_> = (0..(JOBS + extra) as i64)
        .map(|n| job("speed", n))
        .collect();
    for chunk in jobs.chunks(1000) {
        push(&b, chunk.to_vec()).await.unwrap();
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut taken = 0;
    let mut reserves = 0;
    while taken < JOBS {
        let first = slots.clone().acquire_owned().await.unwrap();
        let mut permits = vec![first];
        while let Ok(p) = slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let got = reserve(&b, "speed", permits.len(), "w", Duration::from_secs(1))
            .await
            .unwrap();
        reserves += 1;
        taken += got.len();
        for r in got {
            let permit = permits.pop().unwrap();
            let b = b.clone();
            tasks.spawn(async move {
                complete(&b, &[r]).await.unwrap();
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let took = started.elapsed();
    assert_eq!(b.stats().await.unwrap().processed, taken as u64);
    println!(
        "worker-like, concurrency {concurrency}, {extra} more queued: process {:.0}/s, {:.1} jobs per reserve",
        taken as f64 / took.as_secs_f64(),
        taken as f64 / reserves as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn worker_shaped() {
    worker_like(10).await;
    worker_like(50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn depth() {
    worker_like_deep(50, 0).await;
    worker_like_deep(50, 500_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput() {
    run(8, 10, true).await;
    run(8, 50, false).await;
    run(50, 1, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn latency() {
    let db = TempDb::new("latency");
    let b = db.open().await;
    let mut samples = Vec::new();
    for n in 0..1000 {
        let waiter = b.clone();
        let mut reserving = Box::pin(async move {
            let got = reserve(&waiter, "lat", 1, "w", Duration::from_secs(10))
                .await
                .unwrap();
            (Instant::now(), got)
        });
        assert!(futures::poll!(reserving.as_mut()).is_pending());
        let reserving = tokio::spawn(reserving);
        let pushed_at = Instant::now();
        push(&b, vec![job("lat", n)]).await.unwrap();
        let (got_at, got) = reserving.await.unwrap();
        complete(&b, &got).await.unwrap();
        samples.push(got_at - pushed_at);
    }
    samples.sort();
    println!(
        "latency p50 {:?}, p99 {:?}",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn single_calls() {
    let db = TempDb::new("single");
    let b = db.open().await;
    let n = 1000;
    let t = Instant::now();
    for i in 0..n {
        push(&b, vec![job("one", i)]).await.unwrap();
    }
    println!("push one: {:?} each", t.elapsed() / n as u32);
    let t = Instant::now();
    let mut all = Vec::new();
    for _ in 0..n {
        all.extend(reserve(&b, "one", 1, "w", Duration::ZERO).await.unwrap());
    }
    println!("reserve one: {:?} each", t.elapsed() / n as u32);
    let t = Instant::now();
    for r in &all {
        complete(&b, std::slice::from_ref(r)).await.unwrap();
    }
    println!("finish one: {:?} each", t.elapsed() / n as u32);
    let t = Instant::now();
    for _ in 0..n {
        b.stats().await.unwrap();
    }
    println!("stats (reader): {:?} each", t.elapsed() / n as u32);
}

/// Job `n` limited to `limit` at once per `key`.
fn limited(n: i64, key: &str, limit: u32) -> JobEnvelope {
    let mut j = job(Q, n);
    j.set_concurrency(Some(ConcurrencyLimit::new(key, limit)));
    j
}

const Q: &str = "limited";

/// Processes `jobs` with eight reservers taking ten at a time; returns jobs per second
/// overall and the seconds until every job `watch` picks was done.
async fn process(jobs: Vec<JobEnvelope>, watch: fn(&JobEnvelope) -> bool) -> (f64, f64) {
    let db = TempDb::new("limits-speed");
    let b = db.open().await;
    let total = jobs.len();
    let watched = jobs.iter().filter(|j| watch(j)).count();
    for chunk in jobs.chunks(1000) {
        push(&b, chunk.to_vec()).await.unwrap();
    }
    let done = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let watched_at = Arc::new(Mutex::new(None));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let (b, done, seen, at) = (b.clone(), done.clone(), seen.clone(), watched_at.clone());
            tokio::spawn(async move {
                while done.load(Ordering::SeqCst) < total {
                    let got = reserve(&b, Q, 10, &format!("speed-{w}"), Duration::from_millis(5))
                        .await
                        .unwrap();
                    complete(&b, &got).await.unwrap();
                    let mine = got.iter().filter(|r| watch(&r.job)).count();
                    if seen.fetch_add(mine, Ordering::SeqCst) + mine == watched && mine > 0 {
                        *at.lock().unwrap() = Some(started.elapsed());
                    }
                    done.fetch_add(got.len(), Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    let watched_in = watched_at.lock().unwrap().map_or(took, |d| d.as_secs_f64());
    (total as f64 / took, watched_in)
}

/// The brief's targets, roughly, in one process: 20,000 jobs each limited to one at a
/// time on one of 1,000 keys run at half the rate of plain jobs or better; 15,000 plain
/// jobs among 5,000 of one key limited to ten finish about as soon as among 5,000 plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn limited_throughput() {
    let plain = |n: i64| job(Q, n);
    let all = |_: &JobEnvelope| true;
    let unlimited = (0..20_000).map(plain).collect();
    let (plain_rate, _) = process(unlimited, all).await;
    let keyed = (0..20_000)
        .map(|n| limited(n, &format!("key:{}", n % 1000), 1))
        .collect();
    let (keyed_rate, _) = process(keyed, all).await;
    println!(
        "plain {plain_rate:.0}/s; 1,000 keys limited to 1: {keyed_rate:.0}/s ({:.0}%)",
        100.0 * keyed_rate / plain_rate
    );
    // The 15,000 jobs watched are those whose number is not a multiple of four.
    let watched = |j: &JobEnvelope| j.args[0].as_i64().is_some_and(|n| n % 4 != 0);
    let alone = (0..20_000).filter(|n| n % 4 != 0).map(plain).collect();
    let (_, alone_in) = process(alone, watched).await;
    let among_plain = (0..20_000).map(plain).collect();
    let (_, among_plain_in) = process(among_plain, watched).await;
    let among_hot = (0..20_000)
        .map(|n| {
            if n % 4 == 0 {
                limited(n, "hot", 10)
            } else {
                plain(n)
            }
        })
        .collect();
    let (_, among_hot_in) = process(among_hot, watched).await;
    println!(
        "15,000 plain jobs done in {alone_in:.2}s alone, {among_plain_in:.2}s among 5,000 \
         more, {among_hot_in:.2}s among 5,000 of one key limited to 10"
    );
}
