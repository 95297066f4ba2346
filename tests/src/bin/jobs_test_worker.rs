//! A worker process for tests that kill workers, usable with every backend's URL.
//!
//! ```text
//! jobs_test_worker --url URL [--concurrency N] [--lease-ttl-ms M] [--heartbeat-ms H]
//!                  [--poll-ms P] [--queue NAME] [--shutdown-timeout-ms S]
//! ```
//!
//! 1. Works queue `default` (or `--queue`) with the job `KillTestJob(i, hold_ms)`: it holds
//!    for `hold_ms`, then enqueues the marker job `Performed(i, pid)` on queue `performed`,
//!    which no test worker works, so a test counts runs through the admin side of any
//!    backend.
//! 2. Prints `ready <process id>` on stdout once the worker is built, then runs until
//!    SIGTERM/SIGINT (graceful) or SIGKILL (the point of the tests).

use std::time::Duration;

use jobs::prelude::*;

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

/// The command line.
struct Cli {
    url: String,
    queue: String,
    concurrency: usize,
    lease_ttl: Duration,
    heartbeat: Duration,
    poll: Duration,
    shutdown_timeout: Duration,
}

const USAGE: &str = "usage: jobs_test_worker --url URL [--concurrency N] [--lease-ttl-ms M] [--heartbeat-ms H] [--poll-ms P] [--queue NAME] [--shutdown-timeout-ms S]";

fn parse_cli() -> Result<Cli, String> {
    let mut cli = Cli {
        url: String::new(),
        queue: "default".to_owned(),
        concurrency: 4,
        lease_ttl: Duration::from_secs(60),
        heartbeat: Duration::from_secs(5),
        poll: Duration::from_secs(1),
        shutdown_timeout: Duration::from_secs(5),
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
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if cli.url.is_empty() {
        return Err(format!("--url is required\n{USAGE}"));
    }
    Ok(cli)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let backend = jobs_backends::connect(&cli.url).await?;
    let worker = Worker::builder(backend)
        .queues([cli.queue.as_str()])
        .concurrency(cli.concurrency)
        .lease_ttl(cli.lease_ttl)
        .heartbeat_interval(cli.heartbeat)
        .poll_interval(cli.poll)
        .shutdown_timeout(cli.shutdown_timeout)
        .build()?;
    println!("ready {}", worker.id());
    worker.run().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
