//! The `soak` scenario: a retry storm, then steady load, sampled every `--every` seconds.
//!
//! 1. Storm: `--jobs` jobs that each fail twice (retried 100 ms later) before they succeed,
//!    all enqueued at once; runs until every one has succeeded.
//! 2. Steady: for `--duration` seconds the queue is kept at or above `--queued / 2` no-op
//!    jobs while the worker takes them.
//! 3. Every sample is one line `soak-sample {json}`: phase, seconds since start, jobs done in
//!    the interval per second, this process's RSS, open file descriptors and sockets. The
//!    report's `peak_rss_mb` is the highest RSS seen; `scripts/soak` runs it per backend
//!    and `bench/soak-notes.md` says how to read the lines (flat after warm-up).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use jobs::backend::AdminBackend;
use jobs::Client;
use serde::Serialize;

use crate::args::Options;
use crate::report::{kb_to_mb, round3, Report};
use crate::store::Store;
use crate::work::{queue_names, worker, BenchFlaky, BenchNoop, Probe};

/// One sample line.
#[derive(Serialize)]
struct Sample {
    phase: &'static str,
    t_s: u64,
    jobs_per_s: f64,
    done: u64,
    rss_mb: Option<f64>,
    fds: Option<usize>,
    sockets: Option<usize>,
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Open descriptors, and how many of them are sockets.
fn fds() -> Option<(usize, usize)> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let (mut all, mut sockets) = (0, 0);
    for e in entries.flatten() {
        all += 1;
        if std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
            sockets += 1;
        }
    }
    Some((all, sockets))
}

struct Sampler {
    start: Instant,
    last: Instant,
    last_done: u64,
    every: Duration,
    peak_kb: u64,
}

impl Sampler {
    fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    fn sample(&mut self, phase: &'static str, done: u64) -> Result<()> {
        let secs = self.last.elapsed().as_secs_f64().max(0.001);
        let rss = rss_kb();
        self.peak_kb = self.peak_kb.max(rss.unwrap_or(0));
        let (fds, sockets) = fds().map_or((None, None), |(a, s)| (Some(a), Some(s)));
        let s = Sample {
            phase,
            t_s: self.start.elapsed().as_secs(),
            jobs_per_s: round3(done.saturating_sub(self.last_done) as f64 / secs),
            done,
            rss_mb: rss.map(kb_to_mb),
            fds,
            sockets,
        };
        println!("soak-sample {}", serde_json::to_string(&s)?);
        self.last = Instant::now();
        self.last_done = done;
        Ok(())
    }
}

/// Runs the storm, then the steady phase.
pub async fn soak(o: &Options, store: &Store, backend: Arc<dyn AdminBackend>) -> Result<Report> {
    let deadline = Instant::now() + o.timeout;
    let client = Client::new(backend.clone());
    let probe = Probe::new();
    let w = worker(
        backend.clone(),
        &probe,
        &queue_names(1),
        o.concurrency,
        true,
        true,
    )?;
    let handle = w.handle();
    let running = tokio::spawn(w.run());
    let mut s = Sampler {
        start: Instant::now(),
        last: Instant::now(),
        last_done: 0,
        every: o.every,
        peak_kb: 0,
    };
    // Storm: every job fails twice first.
    let mut next = 0u64;
    while next < o.jobs {
        let end = (next + o.batch as u64).min(o.jobs);
        BenchFlaky::set()
            .client(&client)
            .perform_all_later((next..end).map(BenchFlaky::new).collect::<Vec<_>>())
            .await?;
        next = end;
        if s.due() {
            s.sample("storm", probe.done())?;
        }
    }
    while probe.done() < o.jobs {
        if Instant::now() > deadline {
            bail!(
                "time limit reached in the storm: {} of {}",
                probe.done(),
                o.jobs
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.due() {
            s.sample("storm", probe.done())?;
        }
    }
    s.sample("storm", probe.done())?;
    // Steady: keep the queue topped up for the duration.
    let steady_end = Instant::now() + o.duration;
    let half = (o.queued / 2).max(1);
    let mut enqueued = o.jobs;
    while Instant::now() < steady_end {
        if Instant::now() > deadline {
            bail!("time limit reached in the steady phase");
        }
        if enqueued.saturating_sub(probe.done()) < half {
            let upto = enqueued + half;
            BenchNoop::set()
                .client(&client)
                .perform_all_later((enqueued..upto).map(BenchNoop::new).collect::<Vec<_>>())
                .await?;
            enqueued = upto;
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if s.due() {
            s.sample("steady", probe.done())?;
        }
    }
    s.sample("steady", probe.done())?;
    handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(15), running).await;
    let total = s.start.elapsed().as_secs_f64();
    let mut r = crate::scenarios::report(o, store, probe.done());
    r.process_per_s = Some(round3(probe.done() as f64 / total));
    r.peak_rss_mb = Some(kb_to_mb(s.peak_kb));
    Ok(r)
}
