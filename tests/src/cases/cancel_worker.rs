//! Cancelling running jobs through the real worker, the same on every backend: the job sees
//! `ctx.cancelled()` by the backend's channel, or by the heartbeat when the channel is
//! missing, and a job that ignores it is aborted after its grace period.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jobs::backend::{AdminBackend, Backend, Cancellation, JobSet};
use jobs::clock::ManualClock;
use jobs::prelude::*;
use jobs::{CancelError, Registry};

use crate::support::*;
use crate::CaseResult;

/// Jids of the cases' jobs that started, and of those that ran to their end.
static STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ENDED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn mark(list: &Mutex<Vec<String>>, jid: &str) {
    list.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(jid.to_owned());
}

fn marked(list: &Mutex<Vec<String>>, jid: &str) -> bool {
    list.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|j| j == jid)
}

/// The error the cases' jobs never return.
#[derive(Debug)]
pub struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

/// Works until cancelled, then says so.
#[jobs::job(name = "ConformanceCooperative", queue = "conformance-cancel")]
async fn conformance_cooperative(ctx: JobContext) -> Result<Outcome, Never> {
    mark(&STARTED, ctx.jid());
    tokio::select! {
        () = ctx.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(120)) => {}
    }
    assert!(ctx.is_cancelled());
    mark(&ENDED, ctx.jid());
    Ok(Outcome::cancelled("stopped as asked"))
}

/// Ignores its cancel; aborted after 300 ms.
#[jobs::job(
    name = "ConformanceStubborn",
    queue = "conformance-cancel",
    cancel_grace = "300ms"
)]
async fn conformance_stubborn(ctx: JobContext) -> Result<(), Never> {
    mark(&STARTED, ctx.jid());
    tokio::time::sleep(Duration::from_secs(120)).await;
    mark(&ENDED, ctx.jid());
    Ok(())
}

/// A backend without a cancel channel: only the heartbeat delivers.
struct NoChannel(Subject);

jobs::forward_backend! {
    NoChannel,
    inner(this) = this.0,
    around(this, op, call) = match op {
        "cancel_listen" => Err(jobs::backend::BackendError::Unsupported {
            backend: "no-channel",
            operation: "cancel_listen",
        }),
        _ => call.await,
    },
    name(this) = "no-channel",
    metrics(this) = this.0.metrics(),
    schedules(this) = this.0.schedules(),
}

/// Runs a worker on `b` with `heartbeat` until the returned handle stops it.
fn start(b: Arc<dyn Backend>, heartbeat: Duration) -> (jobs::worker::WorkerHandle, Client) {
    let mut registry = Registry::new();
    for reg in [
        jobs::registry::JobRegistration::of::<ConformanceCooperative>(),
        jobs::registry::JobRegistration::of::<ConformanceStubborn>(),
    ] {
        registry.insert(reg).unwrap_or_else(|e| panic!("{e}"));
    }
    let clock = Arc::new(ManualClock::new(t0()));
    let client = Client::builder(b.clone()).clock(clock.clone()).build();
    let worker = Worker::builder(b)
        .registry(registry)
        .queues(["conformance-cancel"])
        .clock(clock)
        .client(client.clone())
        .handle_signals(false)
        .heartbeat_interval(heartbeat)
        .fetch_wait(Duration::from_millis(50))
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap_or_else(|e| panic!("worker: {e}"));
    let handle = worker.handle();
    tokio::spawn(worker.run());
    (handle, client)
}

/// Waits (30 s at most) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (30 s at most) until job `jid` is in the cancelled set.
async fn until_cancelled(b: &dyn AdminBackend, jid: &str) -> CaseResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = b
            .job_list(jobs::backend::JobListParams::new(JobSet::Cancelled, 100))
            .await?;
        if listed.jobs.iter().any(|s| s.job.jid == jid) {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {jid} in the cancelled set"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Enqueues `job`, waits until it runs, and cancels it (answer `Requested`); gives its jid
/// and when the cancel was asked for (before the call: the worker may hear of it before the
/// call returns, and its grace counts from then).
async fn run_then_cancel<J: jobs::Job>(
    client: &Client,
    job: J,
) -> Result<(String, Instant), CancelError> {
    let jid = client
        .enqueue(job, &jobs::EnqueueOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_jid();
    until("the job to start", || marked(&STARTED, &jid)).await;
    let asked = Instant::now();
    assert_eq!(client.cancel(&jid).await?, Cancellation::Requested);
    Ok((jid, asked))
}

fn case_error(e: CancelError) -> crate::CaseError {
    match e {
        CancelError::Backend(e) => e.into(),
        other => panic!("{other}"),
    }
}

/// A running job sees `ctx.cancelled()` through the backend's channel (the heartbeat is a
/// minute away) and ends in the cancelled set, counted neither processed nor failed.
pub async fn a_running_job_sees_its_cancel_by_the_channel(b: Subject) -> CaseResult {
    let (handle, client) = start(b.clone(), Duration::from_secs(60));
    let (jid, _) = run_then_cancel(&client, ConformanceCooperative::new())
        .await
        .map_err(case_error)?;
    until_cancelled(b.as_ref(), &jid).await?;
    assert!(marked(&ENDED, &jid), "the job itself saw the cancel");
    let stats = b.stats().await?;
    assert_eq!((stats.processed, stats.failed, stats.retries), (0, 0, 0));
    handle.stop();
    Ok(())
}

/// Without a channel, the heartbeat delivers the cancel.
pub async fn the_heartbeat_delivers_a_cancel_without_the_channel(b: Subject) -> CaseResult {
    let wrapped: Arc<dyn Backend> = Arc::new(NoChannel(b.clone()));
    let (handle, client) = start(wrapped, Duration::from_millis(200));
    let (jid, _) = run_then_cancel(&client, ConformanceCooperative::new())
        .await
        .map_err(case_error)?;
    until_cancelled(b.as_ref(), &jid).await?;
    assert!(marked(&ENDED, &jid), "the job itself saw the cancel");
    handle.stop();
    Ok(())
}

/// A job that ignores its cancel is aborted after its `cancel_grace` (300 ms) and ends
/// cancelled, never reaching its end.
pub async fn a_job_ignoring_its_cancel_is_aborted_after_its_grace(b: Subject) -> CaseResult {
    let (handle, client) = start(b.clone(), Duration::from_secs(60));
    let (jid, asked) = run_then_cancel(&client, ConformanceStubborn::new())
        .await
        .map_err(case_error)?;
    until_cancelled(b.as_ref(), &jid).await?;
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "not before its grace: {:?}",
        asked.elapsed()
    );
    assert!(!marked(&ENDED, &jid), "aborted, not run to its end");
    let known: HashSet<String> = stored_jids(&list(&b, JobSet::Retry).await?)
        .into_iter()
        .chain(stored_jids(&list(&b, JobSet::Dead).await?))
        .collect();
    assert!(!known.contains(&jid), "neither retried nor dead");
    handle.stop();
    Ok(())
}
