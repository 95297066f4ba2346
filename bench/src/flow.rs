//! The `flow` scenario: flow control beside the plain path, in one run on one store.
//!
//! Each phase enqueues `--jobs` jobs in bulk batches of `--batch`, then times one worker
//! (`--concurrency`) performing them, and prints a `flow-row` JSON line:
//! 1. `plain`: `BenchNoop`, no flow options (the baseline);
//! 2. `unique`: `BenchUnique`, each job its own lock (taken at enqueue, released at success);
//! 3. `duplicate`: the same jobs enqueued again while their locks are held: every one is
//!    refused (timed as an enqueue rate; nothing to perform);
//! 4. `priority`: `BenchNoop` with priorities 0 to 9, a tenth of the jobs each, interleaved;
//! 5. `limited`: `BenchNoop(n % 1000)` limited to one at a time per argument: 1,000 keys;
//! 6. `hot`: the plain jobs with one `BenchHot` (20 ms, at most 10 at once in all) after
//!    every nine; timed until the plain jobs are done, which must not wait for the hot key.
//!    The hot jobs hold up to 10 of the worker's slots, so the others run in the rest;
//! 7. `hot+10`: `hot` with 10 more worker slots, the most the hot key can hold: what is
//!    left is what the limiter itself costs the other jobs.
//! 8. `batch`: the plain jobs as the members of one batch (added `--batch` at a time, then
//!    sealed) with a `success` callback: every settle also moves its member in the batch's
//!    bookkeeping, in the same atomic step. Timed until the members and the callback ran.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use jobs::backend::AdminBackend;
use jobs::Client;

use crate::args::Options;
use crate::cpu::{CpuMeter, CpuPerJob};
use crate::report::{round3, Report};
use crate::store::Store;
use crate::work::{queue_names, worker, BenchHot, BenchNoop, BenchUnique, Probe};

/// Which jobs a phase enqueues.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Plain,
    Unique,
    Duplicate,
    Priority,
    Limited,
    Hot,
    HotSpare,
    Batch,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Plain => "plain",
            Phase::Unique => "unique",
            Phase::Duplicate => "duplicate",
            Phase::Priority => "priority",
            Phase::Limited => "limited",
            Phase::Hot => "hot",
            Phase::HotSpare => "hot+10",
            Phase::Batch => "batch",
        }
    }
}

/// Enqueues the phase's jobs; returns the seconds taken and how many were stored.
async fn enqueue(client: &Client, o: &Options, phase: Phase) -> Result<(f64, u64)> {
    let t = Instant::now();
    let mut stored = 0u64;
    let mut start = 0u64;
    let members = match phase {
        Phase::Batch => Some(
            jobs::batch::Batch::new()
                .description("jobs-bench")
                .on_success(BenchNoop::new(u64::MAX))
                .create(client)
                .await
                .context("batch: creating the batch")?,
        ),
        _ => None,
    };
    while start < o.jobs {
        let end = (start + o.batch as u64).min(o.jobs);
        let got = match phase {
            Phase::Plain => {
                BenchNoop::set()
                    .client(client)
                    .perform_all_later((start..end).map(BenchNoop::new))
                    .await
            }
            Phase::Unique | Phase::Duplicate => {
                BenchUnique::set()
                    .client(client)
                    .perform_all_later((start..end).map(BenchUnique::new))
                    .await
            }
            Phase::Priority => {
                let priority = u8::try_from((start / o.batch as u64) % 10).unwrap_or(0);
                BenchNoop::set()
                    .client(client)
                    .priority(priority)
                    .perform_all_later((start..end).map(BenchNoop::new))
                    .await
            }
            Phase::Limited => {
                BenchNoop::set()
                    .client(client)
                    .concurrency(jobs::Concurrency::limit(1).key(&[0]))
                    .perform_all_later((start..end).map(|i| BenchNoop::new(i % 1000)))
                    .await
            }
            Phase::Batch => match &members {
                Some(batch) => {
                    let jids = batch
                        .push_all((start..end).map(BenchNoop::new))
                        .await
                        .with_context(|| format!("batch: adding members {start}..{end}"))?;
                    Ok(jids.into_iter().map(jobs::Enqueued::New).collect())
                }
                None => bail!("batch: no batch"),
            },
            Phase::Hot | Phase::HotSpare => {
                let plain = BenchNoop::set()
                    .client(client)
                    .perform_all_later((start..end).map(BenchNoop::new))
                    .await;
                let hot = (start..end).filter(|i| i % 9 == 0).map(BenchHot::new);
                match plain {
                    Ok(mut got) => {
                        match BenchHot::set().client(client).perform_all_later(hot).await {
                            Ok(more) => {
                                got.extend(more);
                                Ok(got)
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        }
        .with_context(|| format!("{}: enqueueing jobs {start}..{end}", phase.name()))?;
        stored += got.iter().filter(|e| e.is_stored()).count() as u64;
        start = end;
    }
    if let Some(batch) = &members {
        batch.seal().await.context("batch: sealing")?;
    }
    Ok((t.elapsed().as_secs_f64(), stored))
}

/// Runs one worker until `n` jobs are performed; returns the seconds taken and the CPU
/// per job.
async fn perform(
    o: &Options,
    meter: &CpuMeter,
    backend: &Arc<dyn AdminBackend>,
    n: u64,
) -> Result<(f64, CpuPerJob)> {
    perform_with(o, meter, backend, n, o.concurrency).await
}

/// [`perform`] with `slots` worker slots.
async fn perform_with(
    o: &Options,
    meter: &CpuMeter,
    backend: &Arc<dyn AdminBackend>,
    n: u64,
    slots: usize,
) -> Result<(f64, CpuPerJob)> {
    let deadline = Instant::now() + o.timeout;
    let probe = Probe::new();
    let w = worker(backend.clone(), &probe, &queue_names(1), slots, false, true)?;
    let handle = w.handle();
    let cpu = meter.mark().await;
    let t = Instant::now();
    let running = tokio::spawn(w.run());
    let finished = probe.wait_for(n, deadline).await;
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu.per_job(&meter.mark().await, n);
    handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(15), running).await;
    if !finished {
        bail!("time limit reached: {} of {n} jobs performed", probe.done());
    }
    Ok((secs, cpu))
}

/// Runs the phases; the report carries the plain phase's figures.
pub async fn flow(o: &Options, store: &Store, backend: Arc<dyn AdminBackend>) -> Result<Report> {
    let client = Client::new(backend.clone());
    let meter = CpuMeter::new(store).await;
    let mut plain = (0.0, 0.0);
    // Per phase, each round's ratios to that round's plain run.
    let ratios: std::cell::RefCell<Vec<(Phase, f64, Option<f64>)>> = Default::default();
    let round = std::cell::Cell::new(0u32);
    let row = |phase: Phase, enqueue: f64, process: Option<(f64, CpuPerJob)>, plain: (f64, f64)| {
        let cpu = process.map(|p| p.1).unwrap_or_default();
        let process = process.map(|p| p.0);
        ratios
            .borrow_mut()
            .push((phase, enqueue / plain.0, process.map(|p| p / plain.1)));
        println!(
            "flow-row {}",
            serde_json::json!({
                "phase": phase.name(),
                "backend": store.kind,
                "jobs": o.jobs,
                "round": round.get(),
                "enqueue_per_s": round3(enqueue),
                "process_per_s": process.map(round3),
                "enqueue_vs_plain": round3(enqueue / plain.0),
                "process_vs_plain": process.map(|p| round3(p / plain.1)),
                "worker_cpu_us_per_job": cpu.worker_us,
                "store_cpu_us_per_job": cpu.store_us,
            })
        );
    };
    let all = [
        Phase::Unique,
        Phase::Priority,
        Phase::Limited,
        Phase::Hot,
        Phase::HotSpare,
        Phase::Batch,
    ];
    for name in &o.phases {
        if !all.iter().any(|p| p.name() == name) {
            bail!(
                "--phases: unknown phase `{name}` (unique, priority, limited, hot, hot+10, batch)"
            );
        }
    }
    let chosen = all
        .into_iter()
        .filter(|p| o.phases.is_empty() || o.phases.iter().any(|n| n == p.name()));
    let chosen: Vec<Phase> = chosen.collect();
    let mut plan = Vec::new();
    for _ in 0..o.rounds {
        plan.push(Phase::Plain);
        plan.extend(chosen.iter().copied());
    }
    for phase in plan {
        if phase == Phase::Plain {
            round.set(round.get() + 1);
        }
        let (secs, stored) = enqueue(&client, o, phase).await?;
        if matches!(phase, Phase::Hot | Phase::HotSpare) {
            // Timed until the plain jobs are done; the hot ones drain behind them.
            let slots = match phase {
                Phase::HotSpare => o.concurrency + 10,
                _ => o.concurrency,
            };
            let (took, cpu) = perform_with(o, &meter, &backend, o.jobs, slots).await?;
            row(
                phase,
                o.jobs as f64 / secs,
                Some((o.jobs as f64 / took, cpu)),
                plain,
            );
            // The hot jobs still waiting are not part of any figure: drop them.
            let _ = stored;
            backend
                .clear_all()
                .await
                .context("clearing the hot jobs left")?;
            continue;
        }
        if stored != o.jobs {
            bail!("{}: {stored} of {} jobs stored", phase.name(), o.jobs);
        }
        let enqueue_rate = o.jobs as f64 / secs;
        if phase == Phase::Unique {
            // The same jobs again while their locks are held: every one is refused.
            let (dup_secs, dup_stored) = enqueue(&client, o, Phase::Duplicate).await?;
            if dup_stored != 0 {
                bail!("duplicate: {dup_stored} of {} duplicates stored", o.jobs);
            }
            let (took, cpu) = perform(o, &meter, &backend, o.jobs).await?;
            row(
                phase,
                enqueue_rate,
                Some((o.jobs as f64 / took, cpu)),
                plain,
            );
            row(Phase::Duplicate, o.jobs as f64 / dup_secs, None, plain);
            continue;
        }
        if phase == Phase::Batch {
            // The members and the success callback.
            let (took, cpu) = perform(o, &meter, &backend, o.jobs + 1).await?;
            row(
                phase,
                enqueue_rate,
                Some((o.jobs as f64 / took, cpu)),
                plain,
            );
            continue;
        }
        let (took, cpu) = perform(o, &meter, &backend, o.jobs).await?;
        let process = o.jobs as f64 / took;
        if phase == Phase::Plain {
            plain = (enqueue_rate, process);
        }
        row(phase, enqueue_rate, Some((process, cpu)), plain);
    }
    if o.rounds > 1 {
        medians(&ratios.borrow(), store.kind, o.rounds);
    }
    let mut r = crate::scenarios::report(o, store, o.jobs);
    r.enqueue_per_s = Some(round3(plain.0));
    r.process_per_s = Some(round3(plain.1));
    Ok(r)
}

/// Prints, per phase, the median of its rounds' ratios to plain (`flow-median` lines).
fn medians(ratios: &[(Phase, f64, Option<f64>)], backend: &str, rounds: u32) {
    fn median(mut v: Vec<f64>) -> Option<f64> {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
    let mut seen: Vec<Phase> = Vec::new();
    for (phase, _, _) in ratios {
        if *phase == Phase::Plain || seen.contains(phase) {
            continue;
        }
        seen.push(*phase);
        let of = |p: &Phase| p == phase;
        let enqueue = median(ratios.iter().filter(|r| of(&r.0)).map(|r| r.1).collect());
        let process = median(
            ratios
                .iter()
                .filter(|r| of(&r.0))
                .filter_map(|r| r.2)
                .collect(),
        );
        println!(
            "flow-median {}",
            serde_json::json!({
                "phase": phase.name(),
                "backend": backend,
                "rounds": rounds,
                "enqueue_vs_plain": enqueue.map(round3),
                "process_vs_plain": process.map(round3),
            })
        );
    }
}
