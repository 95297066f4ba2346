//! rusty-sidekiq harness: the `noop` and `latency` workloads of `jobs-bench`, same JSON line.
//!
//! `rusty-sidekiq-bench noop --jobs N --concurrency C` enqueues N jobs one at a time
//! (rusty-sidekiq has no bulk push), then runs a `Processor` with C workers until all are done.
//! `rusty-sidekiq-bench latency --samples S` enqueues one job at a time to an idle processor.
//! Keys live under a unique namespace, deleted at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sidekiq::{Processor, ProcessorConfig, RedisConnectionManager, Worker};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone)]
struct Noop {
    done: Arc<AtomicU64>,
    started: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedSender<Instant>>>>,
}

#[async_trait]
impl Worker<i64> for Noop {
    async fn perform(&self, _n: i64) -> sidekiq::Result<()> {
        let now = Instant::now();
        if let Ok(s) = self.started.lock() {
            if let Some(tx) = s.as_ref() {
                let _ = tx.send(now);
            }
        }
        self.done.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_hwm_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn cleanup(url: &str, ns: &str) -> Res<()> {
    let client = sidekiq::redis_rs::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = sidekiq::redis_rs::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut conn)
        .await?;
    for chunk in keys.chunks(500) {
        let _: () = sidekiq::redis_rs::cmd("DEL").arg(chunk).query_async(&mut conn).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).cloned().unwrap_or_else(|| "noop".into());
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let ns = format!("bench_rsk_{}", std::process::id());
    let manager = RedisConnectionManager::new(url.as_str())?;
    let redis = bb8::Pool::builder()
        .max_size(60)
        .connection_customizer(sidekiq::with_custom_namespace(ns.clone()))
        .build(manager)
        .await?;
    let w = Noop {
        done: Arc::new(AtomicU64::new(0)),
        started: Arc::new(Mutex::new(None)),
    };
    let limit = Duration::from_secs(arg(&args, "--timeout", 300));
    let result = match scenario.as_str() {
        "noop" => {
            let n = arg(&args, "--jobs", 10_000);
            let c = arg(&args, "--concurrency", 50) as usize;
            let t = Instant::now();
            for i in 0..n {
                Noop::perform_async(&redis, i as i64).await?;
            }
            let enq = n as f64 / t.elapsed().as_secs_f64();
            reset_hwm();
            let mut p = Processor::new(redis.clone(), vec!["default".into()])
                .with_config(ProcessorConfig::default().num_workers(c));
            p.register(w.clone());
            let cancel = p.get_cancellation_token();
            let t = Instant::now();
            let run = tokio::spawn(p.run());
            while w.done.load(Ordering::Acquire) < n && t.elapsed() < limit {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            let secs = t.elapsed().as_secs_f64();
            let rss = vm_hwm_mb();
            cancel.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
            let done = w.done.load(Ordering::Acquire);
            println!("rusty-sidekiq noop: {done}/{n} jobs in {secs:.3}s, enqueue {enq:.0}/s (one at a time)");
            format!(
                "{{\"scenario\":\"noop\",\"backend\":\"redis\",\"jobs\":{n},\"concurrency\":{c},\"processes\":1,\"enqueue_per_s\":{enq:.1},\"process_per_s\":{:.1},\"p50_ms\":null,\"p99_ms\":null,\"peak_rss_mb\":{}}}",
                done as f64 / secs,
                rss.map_or("null".into(), |r| format!("{r:.1}"))
            )
        }
        _ => {
            let samples = arg(&args, "--samples", 1000);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            if let Ok(mut s) = w.started.lock() {
                *s = Some(tx);
            }
            let mut p = Processor::new(redis.clone(), vec!["default".into()])
                .with_config(ProcessorConfig::default().num_workers(10));
            p.register(w.clone());
            let cancel = p.get_cancellation_token();
            let run = tokio::spawn(p.run());
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut lat = Vec::new();
            let deadline = Instant::now() + limit;
            for i in 0..samples {
                let t = Instant::now();
                Noop::perform_async(&redis, i as i64).await?;
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, rx.recv()).await {
                    Ok(Some(s)) => lat.push(s.duration_since(t).as_secs_f64() * 1000.0),
                    _ => break,
                }
            }
            cancel.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
            lat.sort_by(|a, b| a.total_cmp(b));
            let (p50, p99) = (pct(&lat, 0.5), pct(&lat, 0.99));
            println!("rusty-sidekiq latency: {} samples, p50 {p50:.3} ms, p99 {p99:.3} ms", lat.len());
            format!(
                "{{\"scenario\":\"latency\",\"backend\":\"redis\",\"jobs\":{samples},\"concurrency\":10,\"processes\":1,\"enqueue_per_s\":null,\"process_per_s\":null,\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3},\"peak_rss_mb\":{}}}",
                vm_hwm_mb().map_or("null".into(), |r| format!("{r:.1}"))
            )
        }
    };
    cleanup(&url, &ns).await?;
    println!("{result}");
    Ok(())
}
