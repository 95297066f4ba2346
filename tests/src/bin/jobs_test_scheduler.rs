//! A scheduler process for the exactly-once tests, usable with every backend's URL.
//!
//! ```text
//! jobs_test_scheduler --url URL [--run-ms D] [--every-ms E]
//! ```
//!
//! 1. Declares two schedules: `interval` (every `E` ms, default 1000, job `SchedTick` on
//!    queue `ticks`) and `cron` (the 6-field `* * * * * *`, every second, job `CronTick` on
//!    queue `cron_ticks`). No worker works those queues, so a test counts the jobs.
//! 2. Prints `ready` once the scheduler is built, runs it for `D` ms (default 6000), then
//!    prints `done` and exits. Several started at once compete for every tick.

use std::time::Duration;

use jobs::schedule::{Schedule, Scheduler};

/// A marker enqueued by the `interval` schedule. Never performed.
#[jobs::job(name = "SchedTick", queue = "ticks")]
async fn sched_tick(label: String) -> Result<(), std::io::Error> {
    let _ = label;
    Ok(())
}

/// A marker enqueued by the `cron` schedule. Never performed.
#[jobs::job(name = "CronTick", queue = "cron_ticks")]
async fn cron_tick() -> Result<(), std::io::Error> {
    Ok(())
}

const USAGE: &str = "Usage: jobs_test_scheduler --url URL [--run-ms D] [--every-ms E]";

struct Cli {
    url: String,
    run: Duration,
    every: Duration,
}

fn parse_cli() -> Result<Cli, String> {
    let mut cli = Cli {
        url: String::new(),
        run: Duration::from_secs(6),
        every: Duration::from_secs(1),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let millis = || {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--url" => cli.url = value.clone(),
            "--run-ms" => cli.run = millis()?,
            "--every-ms" => cli.every = millis()?,
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
    let scheduler = Scheduler::builder(backend)
        .poll_interval(Duration::from_millis(200))
        .schedule(
            Schedule::new("interval")
                .every(cli.every)
                .job("SchedTick", vec!["x".into()]),
        )
        .schedule(
            Schedule::new("cron")
                .cron("* * * * * *")
                .job("CronTick", vec![]),
        )
        .build()?;
    println!("ready");
    tokio::select! {
        () = scheduler.run() => {}
        () = tokio::time::sleep(cli.run) => {}
    }
    println!("done");
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
            eprintln!("jobs_test_scheduler: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
