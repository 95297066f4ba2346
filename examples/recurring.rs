//! Recurring jobs: a nightly report and a monthly invoice run declared in
//! `examples/schedule.toml`, plus one declared in code, enqueued by a scheduler and
//! performed by a worker.
//!
//! `cargo run --example recurring` (in-memory backend; set `JOBS_URL` for another). To show
//! a night and a month in a few seconds the scheduler reads a manual clock moved by hand;
//! a real app leaves `.clock(..)` out and runs `scheduler.run()` beside the worker.

#[path = "recurring_jobs.rs"]
mod recurring_jobs;

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::JobSet;
use jobs::backend::QueueListParams;
use jobs::clock::ManualClock;
use jobs::prelude::*;
use jobs::schedule::{check_file, Schedule, ScheduleFile, Scheduler};
use recurring_jobs::NightlyReport;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    jobs_examples::init_logging();
    let backend = jobs_backends::connect(&jobs_examples::backend_url("memory://")).await?;

    // 1. The file, checked against the registered jobs, with its next fire times.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schedule.toml");
    let file = ScheduleFile::load(path)?;
    let start: jobs::chrono::DateTime<jobs::chrono::Utc> = "2026-03-31T23:00:00Z".parse()?;
    let report = check_file(&file, Some(&jobs::Registry::from_inventory()?), start, 2).map_err(
        |errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            lines.join("\n")
        },
    )?;
    println!("schedule.toml, next fire times after {start}:\n{report}");

    // 2. A scheduler with the file's schedules and one declared in code.
    let clock = Arc::new(ManualClock::new(start));
    let scheduler = Scheduler::builder(backend.clone())
        .clock(clock.clone())
        .file(file)
        .schedule(
            Schedule::new("weekday_report")
                .weekly_on(&[jobs::chrono::Weekday::Mon], 7, 0)
                .time_zone("Europe/Berlin")
                .perform(&NightlyReport::new("weekly".into())),
        )
        .build()?;

    // 3. The worker that performs what the scheduler enqueues.
    let worker = Worker::builder(backend.clone())
        .queues(["billing", "reports", "default"])
        .handle_signals(false)
        .build()?;
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());

    // 4. Move through the night of 1 April 2026 (Berlin), one pass every 10 minutes.
    scheduler.tick().await?;
    for _ in 0..(12 * 6) {
        clock.advance(Duration::from_secs(600));
        for (name, tick, _) in scheduler.tick().await?.enqueued {
            println!("{name}: tick {tick} enqueued");
        }
    }
    for status in scheduler.status().await? {
        let r = status.record;
        println!(
            "{}: {} | last run {} | next run {} | {}",
            r.name,
            r.description,
            r.last_run
                .map_or_else(|| "never".to_owned(), |t| t.to_string()),
            r.next_run
                .map_or_else(|| "none".to_owned(), |t| t.to_string()),
            if r.enabled { "enabled" } else { "disabled" }
        );
    }

    // 5. Wait for the worker to empty the queues, then stop it.
    for _ in 0..100 {
        let queued: u64 = backend
            .queue_list(QueueListParams::new(jobs::chrono::Utc::now()))
            .await?
            .iter()
            .map(|q| q.size)
            .sum();
        if queued == 0 && backend.stats().await?.processed >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.stop();
    running.await??;
    let dead = backend
        .job_list(jobs::backend::JobListParams::new(JobSet::Dead, 10))
        .await?;
    println!("done: {} dead job(s)", dead.total);
    Ok(())
}
