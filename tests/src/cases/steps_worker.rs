//! Resumable steps through the real worker: a failure inside a step retries from that step
//! (counting an attempt), a shutdown stops a job at its next checkpoint and requeues it
//! with its progress (counting none), and a completed job leaves no progress behind.
//!
//! Each case runs a [`jobs::Worker`] with a [`ManualClock`] starting at [`t0`]; retry
//! delays pass by advancing the clock, never by waiting.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::backend::JobSet;
use jobs::clock::ManualClock;
use jobs::prelude::*;
use jobs::{Registry, StepError, STEPS_FIELD};
use serde_json::json;

use super::worker::{client_on, only, wait_for, Running};
use crate::support::*;
use crate::CaseResult;

const QUEUE: &str = "conformance-steps";

/// What the cases' jobs did, in order, and what they are told.
#[derive(Clone, Default)]
pub struct Journal {
    lines: Arc<Mutex<Vec<String>>>,
    /// An iterating job completes at its next chunk once this is set.
    finish: Arc<AtomicBool>,
    /// The cursor the iterating job has reached.
    reached: Arc<AtomicU64>,
}

impl Journal {
    fn note(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The error of the cases' jobs.
#[derive(Debug)]
pub enum StepJobError {
    /// A step could not go on.
    Step(StepError),
    /// The step's own failure.
    Failed(String),
}

impl std::fmt::Display for StepJobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepJobError::Step(e) => e.fmt(f),
            StepJobError::Failed(what) => write!(f, "step failed: {what}"),
        }
    }
}

impl std::error::Error for StepJobError {}

impl From<StepError> for StepJobError {
    fn from(e: StepError) -> Self {
        StepJobError::Step(e)
    }
}

/// Step `one`, then step `two`, which fails on the first attempt.
#[jobs::job(name = "ConformanceTwoSteps", queue = "conformance-steps")]
async fn conformance_two_steps(
    ctx: JobContext,
    journal: State<Journal>,
) -> Result<(), StepJobError> {
    let attempt = ctx.attempt();
    ctx.step("one", || async {
        journal.note(format!("one@{attempt}"));
        Ok::<_, StepJobError>(())
    })
    .await?;
    ctx.step("two", || async {
        journal.note(format!("two@{attempt}"));
        if attempt == 1 {
            return Err(StepJobError::Failed("two".into()));
        }
        Ok(())
    })
    .await?;
    journal.note(format!("end@{attempt}"));
    Ok(())
}

/// Counts up one chunk at a time, a checkpoint after each, until told to finish.
#[jobs::job(name = "ConformanceCounter", queue = "conformance-steps")]
async fn conformance_counter(ctx: JobContext, journal: State<Journal>) -> Result<(), StepJobError> {
    let mut count = ctx.iterate("count", 0u64)?;
    journal.note(format!("start@{}", count.cursor()));
    while !journal.finish.load(Ordering::SeqCst) {
        let next = count.cursor() + 1;
        count.checkpoint(next).await?;
        journal.reached.store(next, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    count.complete().await?;
    Ok(())
}

/// Checkpoints once, then reports progress and waits until told to finish; notes whether
/// the report was taken.
#[jobs::job(
    name = "ConformanceProgressAfterCheckpoint",
    queue = "conformance-steps"
)]
async fn conformance_progress_after_checkpoint(
    ctx: JobContext,
    journal: State<Journal>,
) -> Result<(), StepJobError> {
    let mut rows = ctx.iterate("rows", 0u64)?;
    rows.checkpoint(1).await?;
    match ctx.progress(50, "after the checkpoint").await {
        Ok(()) => journal.note("progress ok".into()),
        Err(e) => journal.note(format!("progress refused: {e}")),
    }
    while !journal.finish.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    rows.complete().await?;
    Ok(())
}

fn registry() -> Registry {
    let mut r = Registry::new();
    for reg in [
        jobs::registry::JobRegistration::of::<ConformanceTwoSteps>(),
        jobs::registry::JobRegistration::of::<ConformanceCounter>(),
        jobs::registry::JobRegistration::of::<ConformanceProgressAfterCheckpoint>(),
    ] {
        r.insert(reg).unwrap_or_else(|e| panic!("{e}"));
    }
    r
}

/// A worker of this file's jobs with `journal` as its state, waiting up to 120 s for its
/// jobs when stopped.
fn start(b: &Subject, journal: &Journal, clock: Arc<ManualClock>) -> Running {
    let client = client_on(b, &clock);
    let journal = journal.clone();
    Running::launch(b, (client, clock), registry(), &[QUEUE], |w| {
        w.state(journal).shutdown_timeout(Duration::from_secs(120))
    })
}

/// A failure inside a step retries, counting an attempt, from that step: the step done
/// before it is recorded with the retry and skipped on the next run.
pub async fn a_failure_inside_a_step_retries_from_that_step(b: Subject) -> CaseResult {
    let journal = Journal::default();
    let w = start(&b, &journal, Arc::new(ManualClock::new(t0())));
    let opts = jobs::EnqueueOptions::default();
    w.client
        .enqueue(ConformanceTwoSteps::new(), &opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(&b, "the failure in step two", |s| s.retries == 1).await?;
    let retry = only(&b, JobSet::Retry).await?;
    assert_eq!(
        retry.job.retry_count,
        Some(0),
        "the failure counted an attempt"
    );
    assert_eq!(
        retry.job.extra.get(STEPS_FIELD),
        Some(&json!({"done": ["one"], "cursors": {}})),
        "step one's completion is stored with the retry"
    );
    w.clock.advance(Duration::from_secs(25));
    wait_for(&b, "the retry to succeed", |s| {
        s.processed == 2 && s.retries == 0
    })
    .await?;
    w.stop().await;
    assert_eq!(
        journal.lines(),
        ["one@1", "two@1", "two@2", "end@2"],
        "the retry skipped step one and ran step two again"
    );
    Ok(())
}

/// A graceful shutdown stops a job at its next checkpoint instead of waiting for it: the
/// job is requeued with its cursor, no attempt counted, nothing failed; the next worker
/// resumes it from that cursor. A completed job leaves no progress anywhere.
pub async fn shutdown_stops_at_a_checkpoint_and_the_job_resumes(b: Subject) -> CaseResult {
    let journal = Journal::default();
    let clock = Arc::new(ManualClock::new(t0()));
    let w = start(&b, &journal, clock.clone());
    let opts = jobs::EnqueueOptions::default();
    let jid = w
        .client
        .enqueue(ConformanceCounter::new(), &opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_jid();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal.reached.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "the job never reached cursor 5");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = w.stop().await;
    assert!(
        took < Duration::from_secs(60),
        "the worker waited {took:?} for a job that checkpoints every few ms (shutdown timeout 120 s)"
    );
    let stats = b.stats().await?;
    assert_eq!(
        (stats.enqueued, stats.retries, stats.failed, stats.dead),
        (1, 0, 0, 0),
        "requeued, not failed: {stats:?}"
    );
    let waiting = only(&b, JobSet::Queue(QUEUE.to_owned())).await?;
    assert_eq!(waiting.job.jid, jid);
    assert_eq!(waiting.job.retry_count, None, "no attempt counted");
    let saved = waiting.job.extra[STEPS_FIELD]["cursors"]["count"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        saved >= 5,
        "the cursor was saved with the requeue, got {saved}"
    );

    journal.finish.store(true, Ordering::SeqCst);
    let w = start(&b, &journal, clock);
    wait_for(&b, "the resumed job to complete", |s| {
        s.processed == 1 && s.enqueued == 0
    })
    .await?;
    w.stop().await;
    let starts: Vec<_> = journal
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("start@"))
        .collect();
    assert_eq!(
        starts,
        ["start@0".to_owned(), format!("start@{saved}")],
        "resumed from the saved cursor"
    );
    assert!(
        whereabouts(&b, &jid, QUEUE).await?.is_empty(),
        "a completed job leaves nothing behind, its steps included"
    );
    Ok(())
}

/// Progress reported after a checkpoint is the run's own: a checkpoint may re-issue the
/// lease's token (Redis does), and the run's progress writer follows it, so the report is
/// stored and `client.status` shows it while the job runs.
pub async fn progress_after_a_checkpoint_is_stored(b: Subject) -> CaseResult {
    let journal = Journal::default();
    let w = start(&b, &journal, Arc::new(ManualClock::new(t0())));
    let opts = jobs::EnqueueOptions::default();
    let jid = w
        .client
        .enqueue(ConformanceProgressAfterCheckpoint::new(), &opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_jid();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal.lines().is_empty() {
        assert!(Instant::now() < deadline, "the job never reported progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(journal.lines(), ["progress ok"], "the report was taken");
    let shown = loop {
        match w.client.status(&jid).await? {
            jobs::backend::JobStatus::Running {
                progress: Some(p), ..
            } => break p,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "the progress after the checkpoint never showed: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    assert_eq!(
        (shown.percent, shown.message.as_str()),
        (50, "after the checkpoint")
    );
    journal.finish.store(true, Ordering::SeqCst);
    wait_for(&b, "the job to complete", |s| s.processed == 1).await?;
    w.stop().await;
    Ok(())
}
