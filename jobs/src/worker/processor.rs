//! Runs one reserved job: perform → decide → settle, exactly once.
//!
//! 1. `execute`: look the job up, decode its arguments, run it inside its `tracing` span
//!    through the server middleware, with its timeout, catching panics. An unknown job or
//!    arguments that do not fit become failures that follow the retry path; none is dropped.
//! 2. `plan`: turn the result into the [`Finish`] the backend applies (complete, retry,
//!    snooze, dead, discard), record the error in the job, log, and call the error and death
//!    handlers. That one value travels unchanged to `Backend::job_finish`.
//! 3. `process`: count the run (job name, failed or not, duration) for the metrics, emit
//!    its Prometheus-style metrics (`crate::telemetry`: outcome, duration of the job's
//!    code) and hand the outcome to the settler (`settle.rs`), which stores it in a batch
//!    with others.
//!    On hard shutdown (the grace period is over) the job is requeued unchanged, through a
//!    [`Lease`], which is handed back while the store cannot be reached.
//! 4. A run's cancel token, progress writer and steps link are made only when its job uses
//!    them (`links.rs`); a cancel, the hard stop and a lapsed lease (`held.rs`'s watch) set a
//!    flag on the run and wake its task, so a plain job registers no timer, token or waker
//!    for them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::future::Either;
use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::backoff::reconnect_delay;
use super::hooks::{call_handlers, Next};
use super::links::{Ended, Links};
use super::lookup::{lookup, with_kinds};
use super::settle::SettleTx;
use super::tally::Tally;
use super::Runtime;
use crate::backend::{Backend, Finish, FinishOutcome, Lease, LeaseToken, Reserved};
use crate::envelope::JobEnvelope;
use crate::job::panic::panic_message;
use crate::job::steps;
use crate::job::{Failure, FailureKind, JobContext, JobOptions, JobResult, Outcome, RunLinks};
use crate::retry::plan_failure;

/// The options of a job this worker cannot perform (unknown, or its arguments unreadable).
static NO_OPTIONS: JobOptions = JobOptions::new();

/// Performs the job of `run`; returns how it ended and the options that apply to it (kept
/// in the registry, so a run neither builds nor moves them).
pub(crate) async fn execute(rt: &Runtime, run: Arc<Links>) -> (JobResult, &JobOptions) {
    let job = run.job().clone();
    #[cfg(not(feature = "otel"))]
    let span = match span_wanted() {
        true => {
            tracing::info_span!("job", jid = %job.jid, class = %job.class, queue = %job.queue, attempt = job.attempt())
        }
        false => tracing::Span::none(),
    };
    // Feature `otel`: the same span, continuing the trace the job carries.
    #[cfg(feature = "otel")]
    let span = crate::telemetry::otel::process(&job, rt.client.backend().name());
    #[cfg(feature = "otel")]
    let run_span = span.clone();
    let ended = async {
        let (reg, options, args, kinds) = match lookup(rt, &job) {
            Ok(found) => found,
            Err(failure) => return (Err(failure), &NO_OPTIONS),
        };
        let perform = reg.perform;
        let grace = options.cancel_grace.unwrap_or(rt.cancel_grace);
        // Cancel, progress and steps are made from `run` when the job first uses them.
        let ctx = JobContext::of_run(job.clone(), rt.states.clone(), run.clone());
        let call = move |ctx: JobContext| -> futures::future::BoxFuture<'static, JobResult> {
            match perform(&args, ctx) {
                Ok(fut) => fut,
                Err(e) => {
                    let message = with_kinds(e, &kinds);
                    Box::pin(async move {
                        Err(Failure::new(
                            FailureKind::BadArgs,
                            "jobs::ArgsError",
                            message,
                        ))
                    })
                }
            }
        };
        // Without middleware the job is called directly: no chain to box and walk.
        let chain = match rt.middleware.is_empty() {
            true => Either::Left(call(ctx)),
            false => Either::Right(Next::new(&rt.middleware, Box::new(call)).run(ctx)),
        };
        // Each layer is pinned where it is made and the next one holds only a reference to
        // it: a layer that took the one inside by value kept a second copy of it, so the
        // run's future grew to several kilobytes, copied whenever it was moved.
        let mut scoped = std::pin::pin!(rt.client.scope(chain));
        // A job without a timeout is polled as it is: no layer of its own around it.
        let timed = match options.timeout {
            Some(limit) => {
                let (scoped, class) = (scoped.as_mut(), &job.class);
                Either::Left(async move {
                    match tokio::time::timeout(limit, scoped).await {
                        Ok(r) => r,
                        Err(_) => Err(Failure::new(
                            FailureKind::Timeout,
                            "jobs::Timeout",
                            format!("job {class} timed out after {}", humanize(limit)),
                        )),
                    }
                })
            }
            None => Either::Right(scoped.as_mut()),
        };
        let mut timed = std::pin::pin!(timed);
        let guarded = super::cancel::guard(timed.as_mut(), &run, grace, &job.class);
        let mut guarded = std::pin::pin!(guarded);
        // Caught here rather than through a function of its own: one layer less per poll.
        let caught = AssertUnwindSafe(guarded.as_mut()).catch_unwind().await;
        let result = match caught.map_err(|p| panic_message(&*p)) {
            Ok(r) => r,
            Err(message) => Err(Failure::new(
                FailureKind::Panic,
                "panic",
                format!("job {} panicked: {message}", job.class),
            )),
        };
        // Cancelled while it ran: it ends cancelled whatever it returned.
        let result = match result {
            Ok(Outcome::Cancelled { reason }) => Ok(Outcome::Cancelled { reason }),
            _ if run.is_cancelled() => Ok(Outcome::cancelled("cancelled while running")),
            other => other,
        };
        (result, options)
    };
    let ended = std::pin::pin!(ended);
    // A span no subscriber wants records nothing: it is not entered and left on every poll.
    let ended = match span.is_disabled() {
        true => ended.await,
        false => ended.instrument(span).await,
    };
    #[cfg(feature = "otel")]
    match &ended.0 {
        // A full rate limit's snooze is not a failure.
        Err(failure) if failure.snooze_until.is_none() => {
            crate::telemetry::otel::failed(&run_span, &failure.message)
        }
        Ok(Outcome::Kill { reason }) => crate::telemetry::otel::failed(&run_span, reason),
        _ => {}
    }
    ended
}

/// Whether a run's `info` span can be seen by anyone: a subscriber takes `info` spans, or
/// none is set and `log` (which `tracing` hands spans to then, when a dependency turned its
/// `log` feature on) takes `info` records. Otherwise the span is not made at all: a
/// disabled span still had its four fields formatted for `log` and checked, on every job.
#[cfg(not(feature = "otel"))]
fn span_wanted() -> bool {
    tracing::level_enabled!(tracing::Level::INFO)
        || (!tracing::dispatcher::has_been_set() && log::max_level() >= log::LevelFilter::Info)
}

/// `30s`, `1m30s`, `250ms`.
pub(crate) fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// Decides where the job of lease `token` goes, records the failure in it, logs, and calls
/// the handlers.
pub(crate) fn plan(
    rt: &Runtime,
    token: LeaseToken,
    mut job: Arc<JobEnvelope>,
    result: JobResult,
    options: &JobOptions,
    took: Duration,
) -> Finish {
    // Read only where the outcome needs a time (a snooze, a failure): a job done needs none.
    let now = || rt.clock.now();
    // Every line about a run carries the job, its queue, the attempt and how long it ran.
    // To a tenth of a millisecond, rounded half up, in integers (no float rounding call).
    let duration_ms = (took.as_micros().saturating_add(50) / 100) as f64 / 10.0;
    let attempt = job.attempt();
    let failure = match result {
        Ok(Outcome::Done) => {
            tracing::info!(jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, "job done");
            return Finish::new(token, job, FinishOutcome::Completed, false);
        }
        Ok(Outcome::Discard { reason }) => {
            tracing::info!(jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, %reason, "job discarded");
            return Finish::new(token, job, FinishOutcome::Discard, false);
        }
        Ok(Outcome::Snooze(delay)) => {
            let at = crate::retry::later(now(), delay);
            tracing::info!(jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, delay = %humanize(delay), "job snoozed");
            return Finish::new(token, job, FinishOutcome::Snooze { at }, false);
        }
        Ok(Outcome::Kill { reason }) => Failure::new(FailureKind::Killed, "jobs::Killed", reason),
        Ok(Outcome::Cancelled { reason }) => {
            tracing::info!(jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, %reason, "job cancelled");
            return Finish::new(token, job, FinishOutcome::Cancelled, false);
        }
        Ok(Outcome::Returned { json }) => match super::results::keep(rt, options, json) {
            Ok(result) => {
                tracing::info!(jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, result_bytes = result.json.len(), "job done");
                return Finish::new(token, job, FinishOutcome::Completed, false)
                    .with_result(result);
            }
            Err(failure) => failure,
        },
        Err(Failure {
            snooze_until: Some(at),
            message,
            ..
        }) => {
            // A full `Limiter`: not a failure; run again when a start frees.
            tracing::info!(jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, until = %at.to_rfc3339(), reason = %message, "job snoozed by a rate limit");
            return Finish::new(token, job, FinishOutcome::Snooze { at }, false);
        }
        Err(failure) => failure,
    };
    let p = plan_failure(Arc::make_mut(&mut job), &failure, options, now());
    call_handlers(&rt.error_handlers, "error", &job, &failure);
    match &p.outcome {
        FinishOutcome::Retry { at } => tracing::warn!(
            jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms, next_retry_at = %at.to_rfc3339(),
            error_class = %failure.class, error = %failure.message, "job failed; will retry"
        ),
        FinishOutcome::Dead => {
            tracing::error!(
                jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms,
                error_class = %failure.class, error = %failure.message,
                "job died; moved to the dead set"
            );
            call_handlers(&rt.death_handlers, "death", &job, &failure);
        }
        // Killed with `dead = false`: it dies all the same, only its body is not kept.
        _ if failure.kind == FailureKind::Killed => {
            tracing::error!(
                jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms,
                error_class = %failure.class, error = %failure.message,
                "job killed; discarded (dead = false)"
            );
            call_handlers(&rt.death_handlers, "death", &job, &failure);
        }
        _ => tracing::warn!(
            jid = %job.jid, class = %job.class, queue = %job.queue, attempt, duration_ms,
            error_class = %failure.class, error = %failure.message, "job failed; discarded"
        ),
    }
    Finish::new(token, job, p.outcome, true)
}

/// Runs a reserved job to the end, counts it in the runner's `tally`, hands its outcome to
/// the settler and frees the slot; on hard stop the job is requeued unchanged.
pub(crate) async fn process(
    rt: &Arc<Runtime>,
    backend: &Arc<dyn Backend>,
    reserved: Reserved,
    settler: &SettleTx,
    permit: OwnedSemaphorePermit,
    tally: &mut Tally,
) {
    let Reserved {
        job,
        token,
        rescues,
        ..
    } = reserved;
    // One clock read for the expiry check and the run's start (read again only after a
    // rate limit was asked, which can wait on the store).
    let mut started_at = rt.clock.now();
    if job.expired(started_at) {
        // Due to start by its expiry and did not: dropped unrun, counted as expired.
        tracing::info!(jid = %job.jid, class = %job.class, "job expired before it started; dropped");
        let finish = Finish::new(token, job, FinishOutcome::Expired, false);
        rt.series.executed(&finish, None);
        settler.send(finish).await;
        drop(permit);
        return;
    }
    if rescues > 0 && cancel_requested(backend, &job.jid).await {
        // Rescued from a process that died running it, after its cancel was requested:
        // cancelled instead of run again.
        tracing::info!(jid = %job.jid, class = %job.class, "rescued job was cancelled; not run again");
        let finish = Finish::new(token, job, FinishOutcome::Cancelled, false);
        rt.series.executed(&finish, None);
        settler.send(finish).await;
        drop(permit);
        return;
    }
    // Only a job with a rate asks the store (most have none: no wait is built for them).
    if job.rate().is_some() {
        if let Some(at) = super::limits::rate_wait(rt, backend, &job).await {
            // Over its rate: back to the scheduled set until a start frees, no attempt
            // counted.
            let finish = Finish::new(token, job, FinishOutcome::Snooze { at }, false);
            rt.series.executed(&finish, None);
            settler.send(finish).await;
            drop(permit);
            return;
        }
        started_at = rt.clock.now();
    }
    let run = Links::new(rt, Some((backend.clone(), token)), job, started_at);
    let key = rt.running_insert(&run);
    // The runtime's clock, as the lease table's (the first lease check below shares it).
    let started = tokio::time::Instant::now();
    // The job's future lives in this block only, so a job stopped or abandoned is dropped
    // (and its destructors run) before its lease is settled or handed back.
    let ran = {
        // Pinned in place: a runner task runs one job after another, so the job's future is no
        // longer moved into a task of its own and a box would only cost an allocation.
        let mut executing = std::pin::pin!(execute(rt, run.clone()));
        // The lease check comes first, so a process woken long after its lease lapsed (it was
        // stopped, or cut off from its store) drops the job before running any more of it. A
        // cancel, the hard stop and the lease watch wake the task through the run's waker.
        // The first check reads the time the run's start was timed at, not the clock again.
        let mut first = Some(started);
        std::future::poll_fn(|cx| {
            let now = first.take().unwrap_or_else(tokio::time::Instant::now);
            let lapsed = || {
                run.has_lapsed()
                    || run
                        .first_token()
                        .is_some_and(|token| rt.held.lapsed_at(token, rt.lease_ttl, now))
            };
            if lapsed() {
                return Poll::Ready(Ran::Lapsed);
            }
            if let Poll::Ready(ended) = executing.as_mut().poll(cx) {
                return Poll::Ready(Ran::Ended(ended));
            }
            run.register(cx.waker());
            if run.has_lapsed() {
                return Poll::Ready(Ran::Lapsed);
            }
            if run.is_stopped() {
                return Poll::Ready(Ran::Stopped);
            }
            Poll::Pending
        })
        .await
    };
    let outcome = match ran {
        Ran::Ended(ended) => Some(ended),
        Ran::Stopped => None,
        Ran::Lapsed => {
            rt.running_remove(key);
            let job = run.job();
            tracing::error!(jid = %job.jid, class = %job.class, lease_ttl_ms = rt.lease_ttl.as_millis() as u64, "the job's lease may have lapsed (this process stalled or lost its store for longer than the lease); the job is abandoned, as the store may have given it to another worker");
            if let Some(token) = run.current_token() {
                rt.release(&token);
            }
            rt.series.ended(&job.queue, &job.class, "abandoned");
            drop(permit);
            return;
        }
    };
    // The last report is stored before the outcome, whatever the throttle held back.
    if let Some(writer) = run.writer_made() {
        super::results::flush(writer).await;
    }
    rt.running_remove(key);
    // A run that ended was checked for a cancel when it ended; one stopped hard is now.
    let cancelled = outcome.is_none() && run.is_cancelled();
    // The run is over: the job's other holders are gone unless a middleware kept them.
    // A run that saved step progress goes on with that envelope, under the lease's token
    // now (a checkpoint may re-issue it).
    let Ended {
        job,
        saved,
        token,
        interrupted,
    } = run.end();
    // Still shared with the reserve's holders (a backend that keeps its leased jobs): copied
    // only where the outcome changes it (a failure's fields, step progress cleared).
    let mut job = saved.unwrap_or(job);
    // Stopped hard after its cancel was requested: settled as cancelled, not requeued.
    let outcome = match outcome {
        None if cancelled => Some((
            Ok(Outcome::cancelled("cancelled; stopped with the worker")),
            &NO_OPTIONS,
        )),
        other => other,
    };
    if let Some((Err(_), _)) = &outcome {
        if interrupted && !cancelled {
            // Stopped at a checkpoint by the shutdown: its progress is stored; back to the
            // queue, no attempt counted.
            tracing::info!(jid = %job.jid, class = %job.class, "job stopped at a checkpoint for the shutdown; requeued with its progress, no attempt counted");
            rt.series.ended(&job.queue, &job.class, "requeued");
            requeue(
                rt,
                Lease::new(Reserved::new(job, token), backend.clone(), rt.clock.clone()),
            )
            .await;
            drop(permit);
            return;
        }
    }
    if let Some((Ok(Outcome::Done), _)) = &outcome {
        steps::clear(&mut job);
    }
    let Some((result, options)) = outcome else {
        rt.series.ended(&job.queue, &job.class, "requeued");
        requeue(
            rt,
            Lease::new(Reserved::new(job, token), backend.clone(), rt.clock.clone()),
        )
        .await;
        drop(permit);
        return;
    };
    let took = started.elapsed();
    let finish = plan(rt, token, job, result, options, took);
    match finish.outcome {
        FinishOutcome::Completed => {
            tally.completed(&rt.series, &finish.job.queue, &finish.job.class, took)
        }
        _ => rt.series.executed(&finish, Some(took)),
    }
    // Counted like the backend's `processed`: every end but a snooze.
    if !matches!(finish.outcome, FinishOutcome::Snooze { .. }) {
        tally.record(&finish.job.class, started_at, finish.failed, took);
    }
    settler.send(finish).await;
    drop(permit);
}

/// Whether job `jid` has a cancel requested (asked of a rescued job before it runs again;
/// a store that cannot say lets it run, and the heartbeat still delivers the cancel).
async fn cancel_requested(backend: &Arc<dyn Backend>, jid: &str) -> bool {
    let params = crate::backend::CancelPendingParams::new(vec![jid.to_owned()]);
    match backend.cancel_pending(params).await {
        Ok(pending) => !pending.is_empty(),
        Err(crate::backend::BackendError::Unsupported { .. }) => false,
        Err(e) => {
            tracing::warn!(%jid, error = %e, "could not ask whether the rescued job was cancelled; running it");
            false
        }
    }
}

/// How a run's poll ended.
enum Ran<'r> {
    /// The job returned (or was aborted after its cancel).
    Ended((JobResult, &'r JobOptions)),
    /// The shutdown timeout passed.
    Stopped,
    /// The lease may have lapsed.
    Lapsed,
}

/// Gives a job back to the head of its queue unchanged, trying a few times while the store
/// cannot be reached; past that the job returns when its lease expires (it is no longer
/// among the leases `rt` holds, so the heartbeat lets it lapse).
pub(crate) async fn requeue(rt: &Runtime, lease: Lease) {
    let token = lease.token().clone();
    requeue_lease(lease).await;
    rt.release(&token);
}

async fn requeue_lease(mut lease: Lease) {
    for attempt in 0..5 {
        let jid = lease.job().jid.clone();
        match lease.requeue().await {
            Ok(()) => {
                tracing::info!(%jid, "shutdown: job returned to its queue");
                return;
            }
            Err(e) => {
                let error = e.error.to_string();
                match e.into_lease() {
                    Some(l) => {
                        tracing::warn!(%jid, %error, "could not requeue the job; retrying");
                        lease = l;
                        tokio::time::sleep(reconnect_delay(attempt)).await;
                    }
                    None => {
                        tracing::warn!(%jid, %error, "could not requeue the job");
                        return;
                    }
                }
            }
        }
    }
    tracing::error!(jid = %lease.job().jid, "could not requeue the job; it returns after its lease expires");
}
