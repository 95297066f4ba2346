//! The four scenarios; each returns the [`Report`] that `main` prints last.
//!
//! 1. `noop`: enqueue N jobs (bulk, or `--single` one at a time), then time the worker(s)
//!    from start until all N are performed.
//! 2. `latency`: a worker (or `--processes` worker processes) waits; one job at a time is
//!    enqueued, each once the last started, and the time from just before the enqueue call
//!    to the job starting is recorded.
//! 3. `depth`: Q jobs already queued; time M jobs while the queue is topped up to stay at
//!    or above Q/2.
//! 4. `io`: N jobs awaiting 5 ms each at high concurrency, 1% failing once and retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use jobs::backend::AdminBackend;
use jobs::Client;

use crate::args::Options;
use crate::child::{net_namespace, unix_ns, Children, Finished};
use crate::cpu::{CpuMeter, CpuPerJob};
use crate::hosts::Hosts;
use crate::report::{kb_to_mb, peak_rss_kb, percentile, reset_peak_rss, round3, Report};
use crate::store::Store;
use crate::work::{queue_names, worker, BenchIo, BenchNoop, Probe};

/// What the enqueue phase pushes.
#[derive(Clone, Copy)]
enum Kind {
    Noop,
    Io,
}

/// Pushes jobs `from..to` in bulk batches of `batch`, or one at a time when `single`.
async fn enqueue(
    client: &Client,
    kind: Kind,
    queues: &[String],
    range: std::ops::Range<u64>,
    batch: usize,
    single: bool,
    deadline: Instant,
) -> Result<()> {
    if single {
        for i in range {
            if Instant::now() > deadline {
                bail!("time limit reached while enqueueing");
            }
            let q = pick(queues, i);
            match kind {
                Kind::Noop => {
                    BenchNoop::set()
                        .queue(q)
                        .client(client)
                        .perform_later(i)
                        .await
                }
                Kind::Io => {
                    BenchIo::set()
                        .queue(q)
                        .client(client)
                        .perform_later(i)
                        .await
                }
            }
            .with_context(|| format!("enqueueing job {i}"))?;
        }
        return Ok(());
    }
    let mut start = range.start;
    while start < range.end {
        if Instant::now() > deadline {
            bail!("time limit reached while enqueueing");
        }
        let end = (start + batch as u64).min(range.end);
        let q = pick(queues, start / batch as u64);
        match kind {
            Kind::Noop => {
                BenchNoop::set()
                    .queue(q)
                    .client(client)
                    .perform_all_later((start..end).map(BenchNoop::new))
                    .await
            }
            Kind::Io => {
                BenchIo::set()
                    .queue(q)
                    .client(client)
                    .perform_all_later((start..end).map(BenchIo::new))
                    .await
            }
        }
        .with_context(|| format!("bulk-enqueueing jobs {start}..{end}"))?;
        start = end;
    }
    Ok(())
}

/// The queue for the `i`th job or batch: round-robin over `queues`.
fn pick(queues: &[String], i: u64) -> String {
    let n = queues.len().max(1) as u64;
    queues
        .get(usize::try_from(i % n).unwrap_or(0))
        .cloned()
        .unwrap_or_else(|| "default".to_owned())
}

/// Runs the worker(s) until `n` jobs succeeded; returns the seconds taken, peak RSS (MiB)
/// and the CPU per job.
async fn perform_all(
    o: &Options,
    store: &Store,
    backend: &Arc<dyn AdminBackend>,
    kind: Kind,
    n: u64,
    deadline: Instant,
    hosts: Option<&Hosts>,
) -> Result<(f64, Option<f64>, CpuPerJob)> {
    let io = matches!(kind, Kind::Io);
    let meter = CpuMeter::new(store).await;
    if o.processes == 1 && hosts.is_none() {
        let probe = Probe::new();
        reset_peak_rss();
        let queues = queue_names(o.queues);
        let w = worker(backend.clone(), &probe, &queues, o.concurrency, io, true)?;
        let handle = w.handle();
        let cpu = meter.mark().await;
        let t = Instant::now();
        let running = tokio::spawn(w.run());
        let finished = probe.wait_for(n, deadline).await;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu.per_job(&meter.mark().await, n);
        let rss = peak_rss_kb().map(kb_to_mb);
        handle.stop();
        let _ = tokio::time::timeout(Duration::from_secs(15), running).await;
        if !finished {
            bail!("time limit reached: {} of {n} jobs performed", probe.done());
        }
        return Ok((secs, rss, cpu));
    }
    shared_by_processes(store)?;
    let role = if io { "io" } else { "noop" };
    let cpu = meter.mark().await;
    let t = Instant::now();
    let children = Children::spawn(
        o.processes,
        &store.url,
        o.concurrency,
        o.queues,
        role,
        hosts,
    )?;
    // Bounded by the deadline. Every 10 ms: each poll is a query on the store the children
    // are measured against (on Postgres, a sum over the counter shards), so polling every
    // 2 ms, as before, took server time from them; 10 ms is under 1% of a timed window.
    let secs = loop {
        let s = backend.stats().await.context("reading stats")?;
        if s.processed.saturating_sub(s.failed) >= n {
            break t.elapsed().as_secs_f64();
        }
        if Instant::now() > deadline {
            let _ = children.finish().await;
            bail!("time limit reached: {} of {n} jobs performed", s.processed);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // After the children were reaped, so their time is this process's children's time
    // (it includes their graceful stop).
    let Finished { peaks, namespaces } = children.finish().await?;
    if hosts.is_some() {
        check_hosts(&namespaces, o.processes)?;
    }
    let cpu = cpu.per_job(&meter.mark().await, n);
    let mib: Vec<String> = peaks.iter().map(|k| kb_to_mb(*k).to_string()).collect();
    println!("  worker peaks (MiB): {}", mib.join(", "));
    Ok((secs, peaks.into_iter().max().map(kb_to_mb), cpu))
}

/// Worker processes need a store they can share: `memory://` lives inside one process.
fn shared_by_processes(store: &Store) -> Result<()> {
    if store.kind == "memory" {
        bail!("memory:// lives inside one process; --processes needs redis, postgres or sqlite");
    }
    Ok(())
}

/// What the report says the workers ran on: network namespaces, or processes on this
/// machine's stack.
fn hosts_kind(hosts: Option<&Hosts>) -> &'static str {
    if hosts.is_some() {
        "netns"
    } else {
        "processes"
    }
}

/// With `--netns`, every worker must have run in a namespace of its own, none of them this
/// process's: otherwise the report would claim hosts it did not have.
fn check_hosts(namespaces: &[String], processes: usize) -> Result<()> {
    let mine = net_namespace().context("reading this process's network namespace")?;
    let distinct: std::collections::HashSet<&String> = namespaces.iter().collect();
    if namespaces.len() != processes || distinct.len() != processes || distinct.contains(&mine) {
        bail!(
            "--netns: the workers reported namespaces {namespaces:?} (this process: {mine}); \
             expected {processes} distinct ones, none of them this process's"
        );
    }
    println!(
        "  worker hosts: {processes} network namespaces, {}",
        namespaces.join(", ")
    );
    Ok(())
}

pub(crate) fn report(o: &Options, store: &Store, jobs: u64) -> Report {
    Report {
        scenario: o.scenario.name(),
        backend: store.kind,
        jobs,
        concurrency: o.concurrency,
        processes: o.processes,
        enqueue_per_s: None,
        process_per_s: None,
        p50_ms: None,
        p99_ms: None,
        peak_rss_mb: None,
        worker_cpu_us_per_job: None,
        store_cpu_us_per_job: None,
        delay_ms: None,
        round_trips_per_job: None,
        worker_hosts: None,
        pg_wal_bytes_per_job: None,
        pg_fsyncs_per_job: None,
        pg_commits_per_job: None,
        pg_lock_wait_share: None,
        pg_io_wait_share: None,
    }
}

/// `noop` and `io`: enqueue everything, then time the worker(s).
/// With `hosts`, each worker process runs in a network namespace of its own.
pub async fn throughput(
    o: &Options,
    store: &Store,
    backend: Arc<dyn AdminBackend>,
    hosts: Option<&Hosts>,
) -> Result<Report> {
    let deadline = Instant::now() + o.timeout;
    let kind = if o.scenario.name() == "io" {
        Kind::Io
    } else {
        Kind::Noop
    };
    let client = Client::new(backend.clone());
    let t = Instant::now();
    let queues = queue_names(o.queues);
    enqueue(
        &client,
        kind,
        &queues,
        0..o.jobs,
        o.batch,
        o.single,
        deadline,
    )
    .await?;
    let enq_secs = t.elapsed().as_secs_f64();
    let enqueue_per_s = o.jobs as f64 / enq_secs;
    let how = if o.single { "one at a time" } else { "in bulk" };
    println!(
        "{}: enqueued {} jobs {how} in {enq_secs:.3} s ({enqueue_per_s:.0}/s)",
        o.scenario.name(),
        o.jobs
    );
    let (secs, rss, cpu) = perform_all(o, store, &backend, kind, o.jobs, deadline, hosts).await?;
    let rate = o.jobs as f64 / secs;
    println!(
        "{}: performed {} jobs in {secs:.3} s ({rate:.0}/s) with {} process(es) x concurrency {}; peak worker RSS {} MiB",
        o.scenario.name(),
        o.jobs,
        o.processes,
        o.concurrency,
        rss.map_or("?".to_owned(), |r| r.to_string())
    );
    println!("{}: {}", o.scenario.name(), cpu.describe());
    if matches!(kind, Kind::Io) {
        let ceiling = o.processes as f64 * o.concurrency as f64 / 0.005;
        println!(
            "io: ceiling concurrency / 5 ms = {ceiling:.0}/s; reached {:.0}%",
            rate / ceiling * 100.0
        );
    }
    let mut r = report(o, store, o.jobs);
    r.enqueue_per_s = Some(round3(enqueue_per_s));
    r.process_per_s = Some(round3(rate));
    r.peak_rss_mb = rss;
    r.worker_cpu_us_per_job = cpu.worker_us;
    r.store_cpu_us_per_job = cpu.store_us;
    if o.processes > 1 || hosts.is_some() {
        r.worker_hosts = Some(hosts_kind(hosts));
    }
    if let Some(pg) = cpu.pg {
        r.pg_wal_bytes_per_job = Some(pg.wal_bytes);
        r.pg_fsyncs_per_job = Some(pg.fsyncs);
        r.pg_commits_per_job = Some(pg.commits);
        r.pg_lock_wait_share = Some(pg.waits[1]);
        r.pg_io_wait_share = Some(pg.waits[3]);
    }
    Ok(r)
}

/// `latency`: enqueue-to-start of one job at a time, each enqueued once the last started, on
/// a worker in this process or on `--processes` worker processes (hosts with `--netns`).
pub async fn latency(
    o: &Options,
    store: &Store,
    backend: Arc<dyn AdminBackend>,
    hosts: Option<&Hosts>,
) -> Result<Report> {
    let deadline = Instant::now() + o.timeout;
    let client = Client::new(backend.clone());
    if o.processes > 1 || hosts.is_some() {
        shared_by_processes(store)?;
        let mut children =
            Children::spawn(o.processes, &store.url, o.concurrency, 1, "latency", hosts)?;
        let mut starts = Starts::Children(children.stream_starts());
        // Let every child connect and sit idle in its fetch before the first sample.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sampled = sample(o, store, &client, &mut starts, deadline).await;
        let Finished { peaks, namespaces } = children.finish().await?;
        if hosts.is_some() {
            check_hosts(&namespaces, o.processes)?;
        }
        return sampled.map(|mut r| {
            r.peak_rss_mb = peaks.into_iter().max().map(kb_to_mb);
            r.worker_hosts = Some(hosts_kind(hosts));
            r
        });
    }
    let probe = Probe::new();
    let mut starts = Starts::Here(probe.watch_starts());
    reset_peak_rss();
    let w = worker(
        backend.clone(),
        &probe,
        &queue_names(1),
        o.concurrency,
        false,
        true,
    )?;
    let handle = w.handle();
    let running = tokio::spawn(w.run());
    // Let the worker register and sit idle in its fetch before the first sample.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sampled = sample(o, store, &client, &mut starts, deadline).await;
    let rss = peak_rss_kb().map(kb_to_mb);
    handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(15), running).await;
    sampled.map(|mut r| {
        r.peak_rss_mb = rss;
        r
    })
}

/// Where the latency scenario learns that a job started: its own worker, or the worker
/// processes' output.
enum Starts {
    Here(tokio::sync::mpsc::UnboundedReceiver<Instant>),
    Children(tokio::sync::mpsc::UnboundedReceiver<u128>),
}

impl Starts {
    /// The next start, in ns since the Unix epoch; `None` once no worker is left.
    async fn next(&mut self) -> Option<u128> {
        match self {
            Starts::Here(rx) => rx.recv().await.map(unix_ns),
            Starts::Children(rx) => rx.recv().await,
        }
    }
}

/// Enqueues `--samples` jobs one at a time, each after the last one started; the report
/// with the enqueue-to-start percentiles.
async fn sample(
    o: &Options,
    store: &Store,
    client: &Client,
    starts: &mut Starts,
    deadline: Instant,
) -> Result<Report> {
    let mut ms = Vec::with_capacity(o.samples as usize);
    let mut enq = Vec::with_capacity(o.samples as usize);
    for i in 0..o.samples {
        let t = Instant::now();
        let t_ns = unix_ns(t);
        BenchNoop::set()
            .client(client)
            .perform_later(i)
            .await
            .with_context(|| format!("enqueueing sample {i}"))?;
        enq.push(t.elapsed().as_secs_f64() * 1000.0);
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left.min(Duration::from_secs(10)), starts.next()).await {
            Ok(Some(start_ns)) => ms.push(start_ns.saturating_sub(t_ns) as f64 / 1e6),
            _ => bail!("sample {i} did not start within 10 s (or the time limit)"),
        }
    }
    ms.sort_by(f64::total_cmp);
    enq.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
    let fmt = |v: Option<f64>| v.map_or("?".to_owned(), |x| format!("{x:.3}"));
    println!(
        "latency: {} samples, enqueue-to-start p50 {} ms, p99 {} ms, max {} ms; the enqueue call alone p50 {} ms",
        ms.len(),
        fmt(p50),
        fmt(p99),
        fmt(ms.last().copied()),
        fmt(percentile(&enq, 0.5)),
    );
    let mut r = report(o, store, o.samples);
    r.p50_ms = p50.map(round3);
    r.p99_ms = p99.map(round3);
    Ok(r)
}

/// `depth`: time `--measure` jobs with `--queued` already waiting (topped up to stay >= Q/2).
pub async fn depth(o: &Options, store: &Store, backend: Arc<dyn AdminBackend>) -> Result<Report> {
    let deadline = Instant::now() + o.timeout;
    let client = Client::new(backend.clone());
    let (q, m) = (o.queued, o.measure);
    let half = (q / 2).max(1);
    let t = Instant::now();
    enqueue(
        &client,
        Kind::Noop,
        &queue_names(1),
        0..q,
        o.batch,
        false,
        deadline,
    )
    .await?;
    let enq_secs = t.elapsed().as_secs_f64();
    println!(
        "depth: queued {q} jobs in {enq_secs:.3} s ({:.0}/s)",
        q as f64 / enq_secs
    );
    let probe = Probe::new();
    reset_peak_rss();
    let w = worker(
        backend.clone(),
        &probe,
        &queue_names(1),
        o.concurrency,
        false,
        true,
    )?;
    let handle = w.handle();
    let t = Instant::now();
    let running = tokio::spawn(w.run());
    let mut enqueued = q;
    let mut ok = true;
    // Bounded: each round either pushes `half` more jobs (up to M + Q/2 in all) or ends.
    while enqueued < m + half {
        if !probe.wait_for(enqueued - half, deadline).await {
            ok = false;
            break;
        }
        let upto = enqueued + half;
        enqueue(
            &client,
            Kind::Noop,
            &queue_names(1),
            enqueued..upto,
            o.batch,
            false,
            deadline,
        )
        .await?;
        enqueued = upto;
    }
    let ok = ok && probe.wait_for(m, deadline).await;
    let secs = t.elapsed().as_secs_f64();
    let rss = peak_rss_kb().map(kb_to_mb);
    handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(15), running).await;
    if !ok {
        bail!("time limit reached: {} of {m} jobs performed", probe.done());
    }
    let rate = m as f64 / secs;
    println!(
        "depth: performed {m} jobs with >= {half} of {q} queued in {secs:.3} s ({rate:.0}/s), {enqueued} enqueued in all"
    );
    let mut r = report(o, store, m);
    r.process_per_s = Some(round3(rate));
    r.peak_rss_mb = rss;
    Ok(r)
}
