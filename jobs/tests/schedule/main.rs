//! Recurring jobs: timing and daylight-saving time, catch-up after downtime, state shared
//! through the backend, and the schedule file. Every test drives a `ManualClock`; none waits.

mod catch_up;
mod dst;
mod file;
mod state;

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::{AdminBackend, JobListParams, JobSet};
use jobs::chrono::{DateTime, Utc};
use jobs::clock::ManualClock;
use jobs::memory::MemoryBackend;
use jobs::schedule::{Schedule, Scheduler};
use jobs::Registry;

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

/// Builds the nightly report.
#[jobs::job(name = "NightlyReport", queue = "reports")]
async fn nightly_report(kind: String) -> Result<(), Never> {
    let _ = kind;
    Ok(())
}

/// Runs the invoices of a month.
#[jobs::job(name = "MonthlyInvoices")]
async fn monthly_invoices(region: String, dry_run: bool) -> Result<(), Never> {
    let _ = (region, dry_run);
    Ok(())
}

/// Pings.
#[jobs::job(name = "Ping")]
async fn ping() -> Result<(), Never> {
    Ok(())
}

pub fn registry() -> Registry {
    Registry::new()
        .with::<NightlyReport>()
        .and_then(|r| r.with::<MonthlyInvoices>())
        .and_then(|r| r.with::<Ping>())
        .unwrap()
}

pub fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn scheduler(
    backend: &MemoryBackend,
    clock: &Arc<ManualClock>,
    schedules: Vec<Schedule>,
) -> Scheduler {
    let mut b = Scheduler::builder(Arc::new(backend.clone()))
        .registry(registry())
        .clock(clock.clone());
    for s in schedules {
        b = b.schedule(s);
    }
    b.build().unwrap()
}

/// The ticks of every job enqueued by schedules in `queue`, in queue order.
pub async fn ticks(backend: &MemoryBackend, queue: &str) -> Vec<DateTime<Utc>> {
    let page = backend
        .job_list(JobListParams::new(JobSet::Queue(queue.into()), 100_000))
        .await
        .unwrap();
    page.jobs
        .iter()
        .map(|j| jobs::envelope::from_epoch(j.job.extra["schedule_tick"].as_f64().unwrap()))
        .collect()
}

/// Moves the clock in `step`s up to `until`, running a pass after each step.
pub async fn walk(s: &Scheduler, clock: &ManualClock, until: DateTime<Utc>, step: Duration) {
    s.tick().await.unwrap();
    while clock.now_utc() < until {
        clock.advance(step);
        s.tick().await.unwrap();
    }
}

trait Now {
    fn now_utc(&self) -> DateTime<Utc>;
}

impl Now for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        jobs::clock::Clock::now(self)
    }
}
