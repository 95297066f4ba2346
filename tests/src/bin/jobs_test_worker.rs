//! A worker process for tests that kill workers, usable with every backend's URL.
//!
//! ```text
//! jobs_test_worker --url URL [--concurrency N] [--lease-ttl-ms M] [--heartbeat-ms H]
//!                  [--poll-ms P] [--queue NAME] [--shutdown-timeout-ms S] [--linger-ms L]
//!                  [--history FILE] [--clock-offset-ms O] [--health-addr ADDR]
//! ```
//!
//! 1. Works queue `default` (or `--queue`) with the job `KillTestJob(i, hold_ms)`: it holds
//!    for `hold_ms`, then enqueues the marker job `Performed(i, pid)` on queue `performed`,
//!    which no test worker works, so a test counts runs through the admin side of any
//!    backend.
//! 2. Prints `ready <process id>` on stdout once the worker runs (its signal handlers are in
//!    place, no job started yet), then runs until
//!    SIGTERM/SIGINT (graceful) or SIGKILL (the point of the tests).
//! 3. For the fault suite (`jobs_conformance::faults`): `--history FILE` appends every run's
//!    start and end and every settle to FILE (see `faults::recorder`), and a `boot` and
//!    `exit` line for the process; `--clock-offset-ms O` moves the worker's clock by O ms
//!    (negative: back), the clock skew of one process. It also knows `HistoryJob(i,
//!    hold_ms)`, which only holds, and `AbortJob`, which aborts the process running it.
//! 4. For the cancellation tests: `CancelTestJob(i)` waits for its cancel, and
//!    `StubbornTestJob(i)` ignores it; both record `CancelMark(i, pid, what)` markers.
//! 5. `--health-addr ADDR` serves the worker's `/livez` and `/readyz` on ADDR (for the probe
//!    tests).
//! 6. `ProgressTestJob(i, gate)` reports progress, holds while the file `gate` exists and
//!    returns `"<i>:<pid>"` as its result (the progress and results kill tests).

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::Backend;
use jobs::clock::Clock;
use jobs::prelude::*;
use jobs_conformance::faults::history::{now_ms, Event, HistoryLog};
use jobs_conformance::faults::recorder::{RecordRuns, RecordSettles};

/// Holds for `hold_ms`, then records that job `i` ran in this process.
#[jobs::job(name = "KillTestJob", retry = 3)]
async fn kill_test_job(i: u64, hold_ms: u64) -> Result<(), EnqueueError> {
    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
    Performed::perform_later(i, std::process::id()).await?;
    Ok(())
}

/// A marker: job `i` ran in process `pid`. Never performed (no worker works `performed`).
#[jobs::job(name = "Performed", queue = "performed")]
async fn performed(i: u64, pid: u32) -> Result<(), EnqueueError> {
    let _ = (i, pid);
    Ok(())
}

/// Holds for `hold_ms`, then succeeds: the job of the fault suite, recorded by middleware.
#[jobs::job(name = "HistoryJob", retry = 25)]
async fn history_job(i: u64, hold_ms: u64) -> Result<(), std::io::Error> {
    let _ = i;
    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
    Ok(())
}

/// Aborts the process running it: a job that kills its process (an abort, an OOM kill, a
/// crash in a C library).
#[jobs::job(name = "AbortJob", retry = 25)]
async fn abort_job() -> Result<(), std::io::Error> {
    std::process::abort()
}

/// Reports 50 % progress, holds while the file `gate` exists, then returns `"<i>:<pid>"`
/// as its result, so a test sees which process's result was kept (`kill_progress_*`).
#[jobs::job(name = "ProgressTestJob", retry = 3)]
async fn progress_test_job(
    ctx: JobContext,
    i: u64,
    gate: String,
) -> Result<String, std::io::Error> {
    ctx.progress(50, "half way")
        .await
        .map_err(std::io::Error::other)?;
    while std::path::Path::new(&gate).exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(format!("{i}:{}", std::process::id()))
}

/// Waits for its cancel (two minutes at most), recording `CancelMark(i, pid, "started")`
/// and then `"saw-cancel"` on queue `performed`: the cancellation tests' job.
#[jobs::job(name = "CancelTestJob")]
async fn cancel_test_job(ctx: JobContext, i: u64) -> Result<Outcome, EnqueueError> {
    CancelMark::perform_later(i, std::process::id(), "started".to_owned()).await?;
    tokio::select! {
        () = ctx.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(120)) => {}
    }
    CancelMark::perform_later(i, std::process::id(), "saw-cancel".to_owned()).await?;
    Ok(Outcome::cancelled("stopped as asked"))
}

/// Ignores its cancel (aborted after its 500 ms grace), recording `"started"` and, were it
/// ever to get there, `"finished"`.
#[jobs::job(name = "StubbornTestJob", cancel_grace = "500ms")]
async fn stubborn_test_job(i: u64) -> Result<(), EnqueueError> {
    CancelMark::perform_later(i, std::process::id(), "started".to_owned()).await?;
    tokio::time::sleep(Duration::from_secs(120)).await;
    CancelMark::perform_later(i, std::process::id(), "finished".to_owned()).await?;
    Ok(())
}

/// A marker of the cancellation tests: job `i` reached `what` in process `pid`. Never
/// performed.
#[jobs::job(name = "CancelMark", queue = "performed")]
async fn cancel_mark(i: u64, pid: u32, what: String) -> Result<(), EnqueueError> {
    let _ = (i, pid, what);
    Ok(())
}

/// The system clock moved by a fixed offset: one process's clock skew.
struct OffsetClock(chrono::Duration);

impl Clock for OffsetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.0
    }
}

/// The command line.
struct Cli {
    url: String,
    queue: String,
    concurrency: usize,
    lease_ttl: Duration,
    heartbeat: Duration,
    poll: Duration,
    shutdown_timeout: Duration,
    history: Option<String>,
    clock_offset_ms: i64,
    /// How long the process goes on after its worker stopped.
    linger: Duration,
    /// Where to serve the health probes, if anywhere.
    health_addr: Option<String>,
}

const USAGE: &str = "Usage: jobs_test_worker --url URL [--concurrency N] [--lease-ttl-ms M] [--heartbeat-ms H] [--poll-ms P] [--queue NAME] [--shutdown-timeout-ms S] [--history FILE] [--clock-offset-ms O] [--linger-ms L] [--health-addr ADDR]";

fn parse_cli() -> Result<Cli, String> {
    let mut cli = Cli {
        url: String::new(),
        queue: "default".to_owned(),
        concurrency: 4,
        lease_ttl: Duration::from_secs(60),
        heartbeat: Duration::from_secs(5),
        poll: Duration::from_secs(1),
        shutdown_timeout: Duration::from_secs(5),
        history: None,
        clock_offset_ms: 0,
        linger: Duration::ZERO,
        health_addr: None,
    };
    let millis = |flag: &str, v: &str| {
        v.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| format!("{flag} {v}: {e}"))
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--url" => cli.url = value,
            "--queue" => cli.queue = value,
            "--concurrency" => {
                cli.concurrency = value
                    .parse()
                    .map_err(|e| format!("--concurrency {value}: {e}"))?
            }
            "--lease-ttl-ms" => cli.lease_ttl = millis(&flag, &value)?,
            "--heartbeat-ms" => cli.heartbeat = millis(&flag, &value)?,
            "--poll-ms" => cli.poll = millis(&flag, &value)?,
            "--shutdown-timeout-ms" => cli.shutdown_timeout = millis(&flag, &value)?,
            "--history" => cli.history = Some(value),
            "--linger-ms" => cli.linger = millis(&flag, &value)?,
            "--health-addr" => cli.health_addr = Some(value),
            "--clock-offset-ms" => {
                cli.clock_offset_ms = value
                    .parse()
                    .map_err(|e| format!("--clock-offset-ms {value}: {e}"))?
            }
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if cli.url.is_empty() {
        return Err(format!("--url is required\n{USAGE}"));
    }
    Ok(cli)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let admin = jobs_backends::connect(&cli.url).await?;
    let history = match &cli.history {
        Some(path) => Some(Arc::new(HistoryLog::open(path)?)),
        None => None,
    };
    let backend: Arc<dyn Backend> = match &history {
        Some(log) => Arc::new(RecordSettles::new(admin, log.clone())),
        None => admin,
    };
    let clock: Arc<dyn Clock> = Arc::new(OffsetClock(chrono::Duration::milliseconds(
        cli.clock_offset_ms,
    )));
    // The conformance crate's jobs are registered too (inventory); the steps cases' jobs
    // need their journal to build a worker, though no test worker ever runs them.
    let mut builder = Worker::builder(backend)
        .clock(clock)
        .state(jobs_conformance::cases::steps_worker::Journal::default());
    if let Some(log) = &history {
        builder = builder.middleware(RecordRuns::new(log.clone()));
    }
    if let Some(addr) = &cli.health_addr {
        builder = builder.health_addr(addr.clone());
    }
    let pid = std::process::id();
    let worker = builder
        .queues([cli.queue.as_str()])
        .concurrency(cli.concurrency)
        .lease_ttl(cli.lease_ttl)
        .heartbeat_interval(cli.heartbeat)
        .poll_interval(cli.poll)
        .shutdown_timeout(cli.shutdown_timeout)
        .build()?;
    if let Some(log) = &history {
        log.record(&Event::Boot {
            pid,
            at_ms: now_ms(),
        })?;
    }
    // `ready` after `run` was polled once: its first poll installs the signal handlers
    // (before anything it awaits on the store, unless it binds a probe address first), so
    // a test that signals at once finds them, and no job can have started yet (one that
    // kills the process must not end it before `ready`). Printed before `run`, a SIGTERM
    // right after `ready` could meet the default action and kill the process.
    let id = worker.id().to_owned();
    let run = worker.run();
    tokio::pin!(run);
    tokio::select! {
        biased;
        ended = &mut run => return ended.map_err(Into::into),
        () = std::future::ready(()) => {}
    }
    println!("ready {id}");
    run.await?;
    if let Some(log) = &history {
        log.record(&Event::Exit {
            pid,
            at_ms: now_ms(),
        })?;
    }
    if !cli.linger.is_zero() {
        // A host that goes on after its worker stopped (a web server still serving).
        println!("stopped");
        tokio::time::sleep(cli.linger).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobs_test_worker: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
