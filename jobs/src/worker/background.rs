//! The worker's background tasks beside the fetch loop: the heartbeat (registers the
//! process, extends its leases, obeys quiet and stop signals), the poller (promotes due jobs,
//! rescues expired leases, ages priorities) and the signal listener.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::health::{Event, Health, Source};
use super::run::WorkerHandle;
use super::WorkerError;
use crate::backend::{
    AgeParams, HeartbeatParams, ProcessInfo, ProcessSignal, PromoteParams, RescueParams,
};

/// What the background loops need.
pub(super) struct Parts {
    pub(super) backend: Arc<dyn crate::backend::Backend>,
    pub(super) rt: Arc<super::Runtime>,
    pub(super) handle: WorkerHandle,
    pub(super) timings: super::Timings,
    pub(super) id: String,
    pub(super) health: Health,
}

pub(super) async fn heartbeat_loop(parts: Parts, info: ProcessInfo, done: CancellationToken) {
    loop {
        let leases = parts.rt.held_leases();
        let params = HeartbeatParams::new(info.clone(), parts.rt.clock.now())
            .running(parts.rt.running_jobs())
            .quiet(parts.handle.is_quiet())
            .lease_ttl(parts.timings.lease_ttl)
            .lease_clock(parts.rt.clock.lease_clock())
            .leases(leases.clone());
        let sent = tokio::time::Instant::now();
        let beat = parts.backend.process_heartbeat(params);
        let answer = parts
            .health
            .report_if_slow(beat, slow_beat(parts.timings.heartbeat), || {
                parts.rt.clock.now()
            })
            .await;
        match answer {
            Ok(reply) => {
                parts
                    .rt
                    .held
                    .confirm(&leases, sent, parts.timings.lease_ttl);
                parts.health.record(Event::Answered(Source::Heartbeat));
                for jid in &reply.cancels {
                    parts.rt.trip(jid);
                }
                for signal in reply.signals {
                    match signal {
                        ProcessSignal::Quiet => {
                            tracing::info!(id = %parts.id, "quiet signal received; no longer reserving jobs");
                            parts.handle.quiet();
                        }
                        ProcessSignal::Stop => {
                            tracing::info!(id = %parts.id, "stop signal received; shutting down");
                            parts.handle.stop();
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                parts.health.record(Event::Failed {
                    source: Source::Heartbeat,
                    at: parts.rt.clock.now(),
                    error: e.to_string(),
                });
            }
        }
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(parts.timings.heartbeat) => {}
        }
    }
}

/// How long a heartbeat may go unanswered before the probes call the store unreachable
/// (the beat itself goes on waiting): two intervals, and at least a second.
fn slow_beat(interval: Duration) -> Duration {
    interval.saturating_mul(2).max(Duration::from_secs(1))
}

pub(super) async fn poller_loop(parts: Parts, done: CancellationToken) {
    const BATCH: usize = 1000;
    let mut batches_cleaned = None;
    loop {
        let now = parts.rt.clock.now();
        crate::batch::cleanup_pass(&*parts.backend, now, &mut batches_cleaned).await;
        loop {
            match parts
                .backend
                .scheduled_promote(PromoteParams::new(now).limit(BATCH))
                .await
            {
                Ok(n) if n as usize >= BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not promote due jobs");
                    break;
                }
            }
        }
        match parts
            .backend
            .lease_rescue(
                RescueParams::new(now)
                    .lease_clock(parts.rt.clock.lease_clock())
                    .max_rescues(parts.rt.max_rescues)
                    .dead_limits(parts.rt.dead_limits),
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                crate::telemetry::rescued(n);
                tracing::warn!(
                    rescued = n,
                    "returned jobs of silent processes to their queues"
                );
            }
            Err(e) => tracing::warn!(error = %e, "could not rescue expired leases"),
        }
        if let Some(every) = parts.timings.aging {
            match parts.backend.priority_age(AgeParams::new(now, every)).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(aged = n, "waiting jobs climbed a priority"),
                Err(e) => tracing::warn!(error = %e, "could not age waiting jobs' priorities"),
            }
        }
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        let wait = parts
            .timings
            .poll
            .mul_f64(jitter)
            .max(Duration::from_millis(1));
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

pub(super) fn spawn_signal_listener(
    handle: WorkerHandle,
    done: CancellationToken,
) -> Result<(), WorkerError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut tstp = signal(SignalKind::from_raw(20))?;
        tokio::spawn(async move {
            // Once registered, these handlers replace the default action of SIGINT and
            // SIGTERM for the whole process, for good: this task must answer every one of
            // them, or the host process could no longer be stopped. The first stops the
            // worker gracefully; one arriving when the worker is already stopping or gone
            // ends the process at once.
            let mut stopping = false;
            loop {
                let (name, code) = tokio::select! {
                    _ = term.recv() => ("SIGTERM", 143),
                    _ = int.recv() => ("SIGINT", 130),
                    _ = tstp.recv() => {
                        tracing::info!("SIGTSTP: quiet");
                        handle.quiet();
                        continue;
                    }
                    () = handle.stop.cancelled(), if !stopping => { stopping = true; continue; }
                    () = done.cancelled(), if !stopping => { stopping = true; continue; }
                };
                if stopping || handle.stop.is_cancelled() || done.is_cancelled() {
                    tracing::warn!("{name} again: exiting now");
                    std::process::exit(code);
                }
                tracing::info!("{name}: shutting down (send it again to exit at once)");
                stopping = true;
                handle.stop();
            }
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            tokio::select! {
                r = tokio::signal::ctrl_c() => { if r.is_ok() { handle.stop(); } }
                _ = handle.stop.cancelled() => {}
                _ = done.cancelled() => {}
            }
        });
    }
    Ok(())
}
