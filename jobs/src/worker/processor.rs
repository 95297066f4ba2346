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

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::backoff::reconnect_delay;
use super::hooks::{call_handlers, Next};
use super::settle::SettleTx;
use super::Runtime;
use crate::active_job;
use crate::backend::{Backend, Finish, FinishOutcome, Lease, LeaseToken, Reserved};
use crate::envelope::JobEnvelope;
use crate::job::panic::catch_panic;
use crate::job::steps::{self, Link, Steps};
use crate::job::{
    ArgsError, Failure, FailureKind, JobContext, JobOptions, JobResult, Outcome, ProgressWriter,
};
use crate::registry::JobRegistration;
use crate::retry::plan_failure;
use serde_json::Value;

/// Performs `job`; returns how it ended and the options that apply to it.
pub(crate) async fn execute(
    rt: &Runtime,
    job: Arc<JobEnvelope>,
    steps: Arc<Steps>,
) -> (JobResult, JobOptions) {
    execute_with(rt, job, steps, None).await
}

/// [`execute`], giving the job's context the run's progress writer.
pub(crate) async fn execute_with(
    rt: &Runtime,
    job: Arc<JobEnvelope>,
    steps: Arc<Steps>,
    progress: Option<Arc<ProgressWriter>>,
) -> (JobResult, JobOptions) {
    #[cfg(not(feature = "otel"))]
    let span = tracing::info_span!("job", jid = %job.jid, class = %job.class, queue = %job.queue, attempt = job.attempt());
    // Feature `otel`: the same span, continuing the trace the job carries.
    #[cfg(feature = "otel")]
    let span = crate::telemetry::otel::process(&job, rt.client.backend().name());
    #[cfg(feature = "otel")]
    let run_span = span.clone();
    let ended = async {
        let (reg, args, kinds) = match lookup(rt, &job) {
            Ok(found) => found,
            Err(failure) => return (Err(failure), JobOptions::new()),
        };
        let options = (reg.options)();
        let perform = reg.perform;
        let cancel = rt.cancels.register(&job.jid);
        let grace = options.cancel_grace.unwrap_or(rt.cancel_grace);
        let mut ctx = JobContext::with_steps(job.clone(), rt.states.clone(), steps)
            .with_cancel(cancel.clone());
        if let Some(writer) = progress {
            ctx = ctx.with_progress(writer);
        }
        let call = move |ctx: JobContext| -> futures::future::BoxFuture<'static, JobResult> {
            match perform(args, ctx) {
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
        let chain = Next::new(&rt.middleware, Box::new(call)).run(ctx);
        let scoped = rt.client.scope(chain);
        let timed = async {
            match options.timeout {
                Some(limit) => match tokio::time::timeout(limit, scoped).await {
                    Ok(r) => r,
                    Err(_) => Err(Failure::new(
                        FailureKind::Timeout,
                        "jobs::Timeout",
                        format!("job {} timed out after {}", job.class, humanize(limit)),
                    )),
                },
                None => scoped.await,
            }
        };
        let guarded = super::cancel::guard(timed, &cancel, grace, &job.class);
        let result = match catch_panic(guarded).await {
            Ok(r) => r,
            Err(message) => Err(Failure::new(
                FailureKind::Panic,
                "panic",
                format!("job {} panicked: {message}", job.class),
            )),
        };
        rt.cancels.unregister(&job.jid);
        // Cancelled while it ran: it ends cancelled whatever it returned.
        let result = match result {
            Ok(Outcome::Cancelled { reason }) => Ok(Outcome::Cancelled { reason }),
            _ if cancel.is_cancelled() => Ok(Outcome::cancelled("cancelled while running")),
            other => other,
        };
        (result, options)
    }
    .instrument(span)
    .await;
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

/// The registration that performs `job`, its arguments, and (for an Active Job) the
/// `_aj_serialized` kinds of each argument, for errors.
type Found<'a> = (&'a JobRegistration, Vec<Value>, Vec<Vec<String>>);

/// Finds the job's registration and arguments: by `class` for a Sidekiq job; by the
/// wrapped class, among jobs declared `active_job`, for Active Job's wrapper, with the
/// arguments decoded from Active Job's serialization.
fn lookup<'a>(rt: &'a Runtime, job: &JobEnvelope) -> Result<Found<'a>, Failure> {
    let unknown = |name: &str, hint: &str| {
        let mut known: Vec<&str> = rt.registry.iter().map(|r| r.name).collect();
        known.sort_unstable();
        Failure::new(
            FailureKind::UnknownJob,
            "jobs::UnknownJob",
            format!(
                "no job named `{name}` is registered in this worker{hint} (registered: {})",
                known.join(", ")
            ),
        )
    };
    let Some(unwrapped) = active_job::unwrap(job) else {
        let reg = rt
            .registry
            .get(&job.class)
            .ok_or_else(|| unknown(&job.class, ""))?;
        return Ok((reg, job.args.clone(), Vec::new()));
    };
    let bad_args = |message: String| Failure::new(FailureKind::BadArgs, "jobs::ArgsError", message);
    let u = unwrapped.map_err(bad_args)?;
    let reg =
        match rt.registry.get(&u.job_class) {
            Some(reg) if (reg.options)().active_job => reg,
            Some(_) => return Err(unknown(
                &u.job_class,
                " for Active Job payloads: it is registered, but not declared `#[job(active_job)]`",
            )),
            None => return Err(unknown(&u.job_class, " (an Active Job class)")),
        };
    let kinds = u
        .arguments
        .iter()
        .map(active_job::serialized_kinds)
        .collect();
    let args = active_job::decode_arguments(&u.arguments)
        .map_err(|e| bad_args(format!("job {}: {e}", u.job_class)))?;
    let args = active_job::spread_keywords(&u.arguments, args, (reg.options)().params);
    Ok((reg, args, kinds))
}

/// The argument error's message, naming the `_aj_serialized` kinds of the argument that did
/// not fit (when it was an Active Job argument holding any).
fn with_kinds(e: ArgsError, kinds: &[Vec<String>]) -> String {
    let position = match &e {
        ArgsError::Decode { position, .. } => *position,
        _ => return e.to_string(),
    };
    match kinds.get(position.wrapping_sub(1)) {
        Some(k) if !k.is_empty() => format!(
            "{e} (the Active Job argument was `_aj_serialized` {}; see jobs::active_job for the Rust types each kind decodes into)",
            k.join(", ")
        ),
        _ => e.to_string(),
    }
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
    mut job: JobEnvelope,
    result: JobResult,
    options: &JobOptions,
    took: Duration,
) -> Finish {
    let now = rt.clock.now();
    // Every line about a run carries the job, its queue, the attempt and how long it ran.
    let duration_ms = (took.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
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
            let at = crate::retry::later(now, delay);
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
    let p = plan_failure(&mut job, &failure, options, now);
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

/// Runs a reserved job to the end, hands its outcome to the settler and frees the slot; on
/// hard stop the job is requeued unchanged.
pub(crate) async fn process(
    rt: Arc<Runtime>,
    backend: Arc<dyn Backend>,
    reserved: Reserved,
    hard_stop: CancellationToken,
    settler: SettleTx,
    permit: OwnedSemaphorePermit,
) {
    let Reserved {
        job,
        token,
        rescues,
        ..
    } = reserved;
    if job.expired(rt.clock.now()) {
        // Due to start by its expiry and did not: dropped unrun, counted as expired.
        tracing::info!(jid = %job.jid, class = %job.class, "job expired before it started; dropped");
        let finish = Finish::new(token, job, FinishOutcome::Expired, false);
        crate::telemetry::executed(&finish);
        settler.send(finish).await;
        drop(permit);
        return;
    }
    if rescues > 0 && cancel_requested(&backend, &job.jid).await {
        // Rescued from a process that died running it, after its cancel was requested:
        // cancelled instead of run again.
        tracing::info!(jid = %job.jid, class = %job.class, "rescued job was cancelled; not run again");
        let finish = Finish::new(token, job, FinishOutcome::Cancelled, false);
        crate::telemetry::executed(&finish);
        settler.send(finish).await;
        drop(permit);
        return;
    }
    if let Some(at) = super::limits::rate_wait(&rt, &backend, &job).await {
        // Over its rate: back to the scheduled set until a start frees, no attempt counted.
        let finish = Finish::new(token, job, FinishOutcome::Snooze { at }, false);
        crate::telemetry::executed(&finish);
        settler.send(finish).await;
        drop(permit);
        return;
    }
    let job = Arc::new(job);
    let writer = super::results::writer(&rt, &backend, &token, &job.jid);
    let steps = link_steps(&rt, &backend, &job, &token, &writer);
    let started_at = rt.clock.now();
    let key = rt.running_insert(job.clone(), started_at);
    let started = std::time::Instant::now();
    // Boxed, so the task's own future stays small and spawning it copies little.
    // The lease check comes first, so a process woken long after its lease lapsed (it was
    // stopped, or cut off from its store) drops the job before running any more of it.
    let outcome = tokio::select! {
        biased;
        _ = rt.held.lapsed(&token, rt.lease_ttl) => {
            rt.running_remove(key);
            rt.cancels.unregister(&job.jid);
            tracing::error!(jid = %job.jid, class = %job.class, lease_ttl_ms = rt.lease_ttl.as_millis() as u64, "the job's lease may have lapsed (this process stalled or lost its store for longer than the lease); the job is abandoned, as the store may have given it to another worker");
            rt.release(&steps.current().1);
            crate::telemetry::ended(job.queue.clone(), job.class.clone(), "abandoned");
            drop(permit);
            return;
        }
        ended = Box::pin(execute_with(&rt, job.clone(), steps.clone(), Some(writer.clone()))) => Some(ended),
        _ = hard_stop.cancelled() => None,
    };
    // The last report is stored before the outcome, whatever the throttle held back.
    super::results::flush(&writer).await;
    rt.running_remove(key);
    // A run that ended unregistered its token itself; one stopped hard did not.
    let cancelled = outcome.is_none() && rt.cancels.unregister(&job.jid);
    // The run is over: the job's other holders are gone unless a middleware kept them.
    // A run that saved step progress goes on with that envelope, under the lease's token
    // now (a checkpoint may re-issue it).
    let (saved, token, interrupted) = steps.finish();
    let mut job = match saved {
        Some(saved) => saved,
        None => Arc::try_unwrap(job).unwrap_or_else(|shared| (*shared).clone()),
    };
    // Stopped hard after its cancel was requested: settled as cancelled, not requeued.
    let outcome = match outcome {
        None if cancelled => Some((
            Ok(Outcome::cancelled("cancelled; stopped with the worker")),
            JobOptions::new(),
        )),
        other => other,
    };
    if let Some((Err(_), _)) = &outcome {
        if interrupted && !cancelled {
            // Stopped at a checkpoint by the shutdown: its progress is stored; back to the
            // queue, no attempt counted.
            tracing::info!(jid = %job.jid, class = %job.class, "job stopped at a checkpoint for the shutdown; requeued with its progress, no attempt counted");
            crate::telemetry::ended(job.queue.clone(), job.class.clone(), "requeued");
            requeue(
                &rt,
                Lease::new(Reserved::new(job, token), backend, rt.clock.clone()),
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
        crate::telemetry::ended(job.queue.clone(), job.class.clone(), "requeued");
        requeue(
            &rt,
            Lease::new(Reserved::new(job, token), backend, rt.clock.clone()),
        )
        .await;
        drop(permit);
        return;
    };
    let took = started.elapsed();
    crate::telemetry::ran(&job.queue, &job.class, took);
    let finish = plan(&rt, token, job, result, &options, took);
    crate::telemetry::executed(&finish);
    // Counted like the backend's `processed`: every end but a snooze.
    if !matches!(finish.outcome, FinishOutcome::Snooze { .. }) {
        rt.metrics.record(
            &finish.job.class,
            started_at,
            finish.failed,
            started.elapsed(),
        );
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

/// This run's step progress, saved with the job under lease `token` (`job/steps`).
fn link_steps(
    rt: &Arc<Runtime>,
    backend: &Arc<dyn Backend>,
    job: &Arc<JobEnvelope>,
    token: &LeaseToken,
    writer: &Arc<ProgressWriter>,
) -> Arc<Steps> {
    let held = rt.clone();
    let progress = writer.clone();
    let link = Link {
        backend: backend.clone(),
        clock: rt.clock.clone(),
        stopping: rt.stopping.clone(),
        rekey: Box::new(move |old, new| {
            held.held.rekey(old, new);
            progress.rekey(new.clone());
        }),
    };
    Steps::linked(job, token.clone(), link)
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
