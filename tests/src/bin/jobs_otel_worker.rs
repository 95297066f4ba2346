//! A worker process that writes the spans it ended to a file: the cross-process half of
//! the trace-context test (tests/otel_processes.rs).
//!
//! ```text
//! jobs_otel_worker --url URL --spans FILE [--poll-ms P] [--hold-ms H]
//!                  [--lease-ttl-ms L] [--heartbeat-ms B]
//! ```
//!
//! 1. Installs the in-memory OpenTelemetry pipeline (`jobs_conformance::otel`) and works
//!    queue `otel` with `OtelProcessFlaky(fail_first)`: it fails its first attempt when
//!    `fail_first`, and is retried 100 ms later; and `OtelProcessHold()`, which prints
//!    `started <jid>` and holds for `--hold-ms` (0 by default) before it succeeds: the job
//!    a test SIGKILLs this process under.
//! 2. Prints `ready <process id>` once the worker runs, and runs until SIGTERM/SIGINT.
//! 3. Then writes every span it ended to FILE, one JSON object a line
//!    ([`SpanRecord::to_json`](jobs_conformance::otel::SpanRecord::to_json)), and exits 0.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use jobs::prelude::*;
use jobs::retry::Backoff;

/// The error of a first attempt.
#[derive(Debug)]
struct FirstAttempt;

impl std::error::Error for FirstAttempt {}

impl std::fmt::Display for FirstAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the first attempt fails")
    }
}

/// Fails its first attempt when `fail_first`; retried 100 ms later.
#[jobs::job(name = "OtelProcessFlaky", queue = "otel",
    backoff = Backoff::Constant(Duration::from_millis(100)))]
async fn otel_process_flaky(ctx: JobContext, fail_first: bool) -> Result<(), FirstAttempt> {
    if fail_first && ctx.attempt() == 1 {
        return Err(FirstAttempt);
    }
    Ok(())
}

/// How long `OtelProcessHold` holds in this process (`--hold-ms`).
static HOLD: OnceLock<Duration> = OnceLock::new();

/// Says it started, then holds for `--hold-ms` and succeeds.
#[jobs::job(name = "OtelProcessHold", queue = "otel")]
async fn otel_process_hold(ctx: JobContext) -> Result<(), FirstAttempt> {
    println!("started {}", ctx.jid());
    tokio::time::sleep(HOLD.get().copied().unwrap_or_default()).await;
    Ok(())
}

const USAGE: &str = "Usage: jobs_otel_worker --url URL --spans FILE [--poll-ms P] [--hold-ms H] [--lease-ttl-ms L] [--heartbeat-ms B]";

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut url, mut spans) = (None, None);
    let mut poll = Duration::from_millis(50);
    let mut hold = Duration::ZERO;
    let mut lease_ttl = Duration::from_secs(60);
    let mut heartbeat = Duration::from_secs(5);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let millis = || {
            value
                .parse()
                .map(Duration::from_millis)
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--url" => url = Some(value),
            "--spans" => spans = Some(value),
            "--poll-ms" => poll = millis()?,
            "--hold-ms" => hold = millis()?,
            "--lease-ttl-ms" => lease_ttl = millis()?,
            "--heartbeat-ms" => heartbeat = millis()?,
            other => return Err(format!("unknown option `{other}`\n{USAGE}").into()),
        }
    }
    HOLD.get_or_init(|| hold);
    let url = url.ok_or(format!("--url is required\n{USAGE}"))?;
    let spans = spans.ok_or(format!("--spans is required\n{USAGE}"))?;
    let pipeline = jobs_conformance::otel::install();
    let backend = jobs_backends::connect(&url).await?;
    // The conformance crate's jobs are registered too (inventory); the steps cases' jobs
    // need their journal to build a worker, though this worker never runs them.
    let worker = Worker::builder(backend)
        .state(jobs_conformance::cases::steps_worker::Journal::default())
        .queues(["otel"])
        .poll_interval(poll)
        .fetch_wait(poll)
        .lease_ttl(lease_ttl)
        .heartbeat_interval(heartbeat)
        .build()?;
    let id = worker.id().to_owned();
    let run = worker.run();
    tokio::pin!(run);
    // `ready` once `run` was polled: its signal handlers are in place.
    tokio::select! {
        biased;
        ended = &mut run => return ended.map_err(Into::into),
        () = std::future::ready(()) => {}
    }
    println!("ready {id}");
    run.await?;
    let mut out = std::fs::File::create(&spans).map_err(|e| format!("{spans}: {e}"))?;
    for span in pipeline.spans() {
        writeln!(out, "{}", span.to_json()).map_err(|e| format!("{spans}: {e}"))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobs_otel_worker: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
