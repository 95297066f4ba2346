//! The worker's life: fetch loop, heartbeat, poller, and graceful shutdown.
//!
//! 1. Fetch: while not quiet, wait for a free slot, reserve up to the free slots from the
//!    queues in their order (blocking in the backend up to `fetch_wait`), and hand each job
//!    to a runner (`runners.rs`: long-lived tasks, one job at a time each), whose outcome
//!    the settler stores in batches (`settle.rs`). Jobs a reserve
//!    returns after the worker went quiet are requeued at once. A job rescued from a dead
//!    process runs alone: the loop waits for the other jobs to end and starts none beside it.
//!    A backend that cannot be reached is logged and retried with backoff. The first
//!    reserve waits (5 s at most) until the cancel subscription is made or has failed.
//! 2. Heartbeat (`background.rs`): register the process, its running jobs and extend its
//!    leases; obey quiet and stop signals left through the admin side.
//! 3. Poller (`background.rs`): promote due scheduled and retry jobs and rescue expired
//!    leases, at a jittered interval so many processes do not stampede.
//! 4. Scheduler: when given one, runs recurring-job passes until the worker stops.
//! 5. Metrics: when the backend keeps them, write the counted runs every `metrics_interval`;
//!    when given a `QueueSampler`, sample the store's gauges beside the loops.
//! 6. Shutdown (SIGINT, SIGTERM, or [`WorkerHandle::stop`]): stop reserving, give running
//!    jobs `shutdown_timeout` to finish, then requeue the rest unchanged; wait until every
//!    outcome is stored (past the timeout, a few attempts more while the store cannot be
//!    reached, then their leases are left to expire); write the last metrics; remove the
//!    process.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::background::{heartbeat_loop, poller_loop, spawn_signal_listener, Parts};
use super::backoff::reconnect_delay;
use super::health::{Event, Health, Source, StopOnDrop};
use super::processor::requeue;
use super::runners::Runners;
use super::settle::{SettleTx, Settler};
use super::{hostname, Worker, WorkerError};
use crate::backend::{Lease, ProcessInfo, ProcessRemoveParams, ReserveParams};

/// How long the worker waits, before its first reserve, for its cancel subscription.
const LISTEN_FIRST: std::time::Duration = std::time::Duration::from_secs(5);

/// Quiets or stops a running [`Worker`] from another task.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use jobs::prelude::*;
/// let backend = jobs::connect("memory://").await.unwrap();
/// let worker = Worker::builder(backend).handle_signals(false).build().unwrap();
/// let handle = worker.handle();
/// let running = tokio::spawn(worker.run());
/// handle.stop();
/// running.await.unwrap().unwrap();
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    pub(super) quiet: CancellationToken,
    pub(super) stop: CancellationToken,
}

impl WorkerHandle {
    pub(super) fn new() -> Self {
        WorkerHandle {
            quiet: CancellationToken::new(),
            stop: CancellationToken::new(),
        }
    }

    /// Stop reserving jobs; running ones finish. The process stays up.
    pub fn quiet(&self) {
        self.quiet.cancel();
    }

    /// Shut down gracefully: stop reserving, wait for running jobs up to the timeout, requeue
    /// the rest, and return from `run`.
    pub fn stop(&self) {
        self.quiet.cancel();
        self.stop.cancel();
    }

    /// Whether the worker stopped reserving.
    pub fn is_quiet(&self) -> bool {
        self.quiet.is_cancelled()
    }
}

impl Worker {
    /// Runs, without listening to signals itself, until `shutdown` completes (or the handle
    /// stops it), then shuts down gracefully. For a worker inside a web process: give it the
    /// same [`shutdown_signal`](crate::shutdown_signal) as the server's graceful shutdown, and
    /// one Ctrl-C stops both.
    ///
    /// ```no_run
    /// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    /// let backend = jobs::connect("memory://").await?;
    /// let worker = jobs::Worker::builder(backend).build()?;
    /// let running = tokio::spawn(worker.run_until(jobs::shutdown_signal()));
    /// // axum::serve(listener, app).with_graceful_shutdown(jobs::shutdown_signal()).await?;
    /// running.await??;
    /// # Ok(()) }
    /// ```
    pub async fn run_until(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), WorkerError> {
        self.handle_signals = false;
        let handle = self.handle.clone();
        let watch = tokio::spawn(async move {
            shutdown.await;
            handle.stop();
        });
        let result = self.run().await;
        watch.abort();
        result
    }

    /// Runs until stopped (by a signal or the handle); returns after a graceful shutdown.
    ///
    /// With signal handling on (the default: a worker process), SIGINT or SIGTERM stops it
    /// gracefully and SIGTSTP quiets it; a second SIGINT or SIGTERM, or one after the worker
    /// stopped, ends the process at once (status 130 or 143), so a worker can never leave
    /// its host process unable to stop. Inside a process that handles signals itself (a web
    /// server), use [`Worker::run_until`] instead.
    pub async fn run(self) -> Result<(), WorkerError> {
        let handle = self.handle.clone();
        // Dropping `run` (say, a `select!` in main picked the web server) stops the heartbeat,
        // poller and signal listener with it: a vanished worker stops beating, so its leases
        // expire and other workers rescue its jobs.
        let background = CancellationToken::new();
        let _stop_background = background.clone().drop_guard();
        // However the run ends (returned or dropped), the probes say it stopped.
        let _stopped = StopOnDrop(self.health.clone());
        // Bound first: an address that cannot be bound fails the run before it installs
        // signal handlers or registers the process.
        #[cfg(feature = "health-http")]
        let probes = match &self.health_addr {
            Some(addr) => Some(
                super::health::http::start(
                    &self.health,
                    self.metrics_text.clone(),
                    addr,
                    background.clone(),
                )
                .await?,
            ),
            None => None,
        };
        crate::telemetry::describe();
        let sampler = self.queue_sampler.clone().map(|s| {
            let stop = background.clone();
            tokio::spawn(async move { s.run(stop.cancelled_owned()).await })
        });
        tokio::spawn(report_draining(
            self.health.clone(),
            handle.quiet.clone(),
            background.clone(),
        ));
        if self.handle_signals {
            spawn_signal_listener(handle.clone(), background.clone())?;
        }
        let started_at = self.rt.clock.now();
        let info = ProcessInfo {
            id: self.id.clone(),
            hostname: hostname(),
            pid: std::process::id(),
            tag: self.tag.clone(),
            queues: self.queues.names(),
            concurrency: self.concurrency,
            started_at,
            labels: Vec::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        tracing::info!(id = %self.id, backend = self.backend.name(), queues = ?info.queues, concurrency = self.concurrency, "worker starting");
        let beat = tokio::spawn(heartbeat_loop(self.clone_parts(), info, background.clone()));
        let poll = tokio::spawn(poller_loop(self.clone_parts(), background.clone()));
        let lapses = tokio::spawn(super::held::watch_loop(self.rt.clone(), background.clone()));
        let (subscribed, listening) = tokio::sync::oneshot::channel();
        let cancels = tokio::spawn(super::cancel::listen_loop(
            self.backend.clone(),
            self.rt.clone(),
            background.clone(),
            subscribed,
        ));
        let metrics = self.backend.metrics().is_some().then(|| {
            tokio::spawn(crate::worker::recorder::flush_loop(
                self.rt.metrics.clone(),
                self.backend.clone(),
                self.rt.clock.clone(),
                self.timings.metrics_flush,
                background.clone(),
            ))
        });
        let scheduler = self.scheduler.clone().map(|s| {
            let stop = background.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = s.run() => {}
                    () = stop.cancelled() => {}
                }
            })
        });

        let hard_stop = CancellationToken::new();
        let settler = Settler::start(
            self.rt.clone(),
            self.backend.clone(),
            hard_stop.clone(),
            self.concurrency * super::settle::ROOM_PER_SLOT,
        );
        // The shutdown timeout counts from the stop request, not from the end of a reserve
        // that was waiting for jobs then (up to `fetch_wait`): a stopped worker is gone
        // within the timeout it was given.
        let stop_requested = {
            let stop = handle.stop.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                tokio::time::Instant::now()
            })
        };
        // Listening for cancels before the first reserve (bounded: with the store down the
        // heartbeat delivers them once it is back).
        let _ = tokio::time::timeout(LISTEN_FIRST, listening).await;
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut runners = Runners::new(
            self.rt.clone(),
            self.backend.clone(),
            settler.sender(),
            self.concurrency,
        );
        self.fetch_loop(&slots, &mut runners, &settler.sender())
            .await;

        // Quiet or stopping: no more reserves. Wait for a stop if only quiet.
        handle.stop.cancelled().await;
        let stopped_at = stop_requested
            .await
            .unwrap_or_else(|_| tokio::time::Instant::now());
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        // Every slot back: every job ran to its end and handed its outcome over.
        let drained = || async { drop(slots.acquire_many(all).await) };
        tracing::info!(running = self.concurrency - slots.available_permits(), timeout = ?self.timings.shutdown_timeout, "worker stopping; waiting for running jobs");
        let timed =
            tokio::time::timeout_at(stopped_at + self.timings.shutdown_timeout, drained()).await;
        if timed.is_err() {
            tracing::warn!(
                running = self.concurrency - slots.available_permits(),
                "shutdown timeout reached; requeueing unfinished jobs"
            );
            hard_stop.cancel();
            self.rt.stop_running();
            drained().await;
        }
        runners.close().await;
        // Every processor has handed its outcome over; wait until all are stored. A store
        // that cannot be reached keeps the settler retrying, so past the deadline the hard
        // stop bounds it too (a few attempts more, then the leases expire and those jobs run
        // again): a stopped worker is gone within its timeout even with its store down.
        let closing = settler.close();
        tokio::pin!(closing);
        let deadline = stopped_at + self.timings.shutdown_timeout;
        if tokio::time::timeout_at(deadline, &mut closing)
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown timeout reached with job outcomes unstored; trying a few times more"
            );
            hard_stop.cancel();
            closing.await;
        }
        background.cancel();
        #[cfg(feature = "health-http")]
        if let Some(probes) = probes {
            super::health::http::finish(probes).await;
        }
        let _ = beat.await;
        let _ = poll.await;
        let _ = cancels.await;
        let _ = lapses.await;
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        if let Some(sampler) = sampler {
            let _ = sampler.await;
        }
        self.rt
            .metrics
            .flush(self.backend.as_ref(), self.rt.clock.as_ref())
            .await;
        if let Err(e) = self
            .backend
            .process_remove(ProcessRemoveParams::new(self.id.clone()))
            .await
        {
            tracing::warn!(error = %e, "could not remove the process record; it expires on its own");
        }
        tracing::info!(id = %self.id, "worker stopped");
        Ok(())
    }

    fn clone_parts(&self) -> Parts {
        Parts {
            backend: self.backend.clone(),
            rt: self.rt.clone(),
            handle: self.handle.clone(),
            timings: self.timings,
            id: self.id.clone(),
            health: self.health.clone(),
        }
    }

    async fn fetch_loop(&self, slots: &Arc<Semaphore>, runners: &mut Runners, settler: &SettleTx) {
        let mut failures = 0u32;
        loop {
            let first = tokio::select! {
                biased;
                _ = self.handle.quiet.cancelled() => return,
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            };
            // Runners ready to end their jobs end them first, so one reserve fills every
            // slot they free instead of one reserve per slot.
            if slots.available_permits() == 0 {
                tokio::task::yield_now().await;
            }
            let mut permits = Vec::with_capacity(slots.available_permits() + 1);
            permits.push(first);
            while let Ok(p) = slots.clone().try_acquire_owned() {
                permits.push(p);
            }
            let params =
                ReserveParams::new(self.queues.draw(), self.id.clone(), self.rt.clock.now())
                    .limit(permits.len())
                    .lease_ttl(self.timings.lease_ttl)
                    .lease_clock(self.rt.clock.lease_clock())
                    .wait(self.timings.fetch_wait);
            let sent = tokio::time::Instant::now();
            let reserved = match self.backend.job_reserve(params).await {
                Ok(r) => {
                    self.rt.held.hold_all(r.iter().map(|job| &job.token), sent);
                    if failures > 0 {
                        tracing::info!("backend reachable again; fetching");
                    }
                    failures = 0;
                    self.health.record(Event::Answered(Source::Reserve));
                    r
                }
                Err(e) => {
                    self.health.record(Event::Failed {
                        source: Source::Reserve,
                        at: self.rt.clock.now(),
                        error: e.to_string(),
                    });
                    let delay = reconnect_delay(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, kind = ?e.kind(), retry_in_ms = delay.as_millis() as u64, "could not reserve jobs; backing off");
                    drop(permits);
                    tokio::select! {
                        _ = self.handle.quiet.cancelled() => return,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            if self.handle.is_quiet() {
                // Quieted while the reserve waited: give the jobs back unchanged, at the head
                // and in their order (the last first).
                for r in reserved.into_iter().rev() {
                    requeue(
                        &self.rt,
                        Lease::new(r, self.backend.clone(), self.rt.clock.clone()),
                    )
                    .await;
                }
                return;
            }
            // Slots the store had no job for go back now, so a job isolated below truly runs
            // alone. Of the jobs rescued from dead processes, one runs, alone and last (see
            // `isolate`); the others go back to their queue unrun and uncounted, so they are
            // not leased here while a job that may take the process down runs.
            permits.truncate(reserved.len());
            if reserved.iter().all(|r| r.rescues == 0) {
                // None rescued (nearly always): each job to a runner, in the store's order.
                runners.run_all(reserved.into_iter().zip(permits.drain(..).rev()));
                continue;
            }
            let (mut suspects, innocent): (Vec<_>, Vec<_>) =
                reserved.into_iter().partition(|r| r.rescues > 0);
            let others = if suspects.len() > 1 {
                suspects.split_off(1)
            } else {
                Vec::new()
            };
            for r in others.into_iter().rev() {
                permits.pop();
                requeue(
                    &self.rt,
                    Lease::new(r, self.backend.clone(), self.rt.clock.clone()),
                )
                .await;
            }
            for r in innocent.into_iter().chain(suspects) {
                let Some(mut permit) = permits.pop() else {
                    break;
                };
                if r.rescues > 0 {
                    match self.isolate(slots, permits.len(), settler).await {
                        Some(rest) => permit.merge(rest),
                        None => {
                            // Quieted while waiting: the job goes back unrun.
                            drop(permit);
                            requeue(
                                &self.rt,
                                Lease::new(r, self.backend.clone(), self.rt.clock.clone()),
                            )
                            .await;
                            continue;
                        }
                    }
                }
                runners.run(r, permit);
            }
        }
    }
}

impl Worker {
    /// Waits until this worker runs nothing else and every outcome handed to the settler is
    /// stored, then holds every slot: a job that was running each time a process died may be
    /// what killed them, so it runs alone, and if it takes this process down too, no job
    /// beside it is rescued (and counted) with it, and no acknowledgement is lost with it.
    /// The `held` slots the fetch loop still keeps are not waited for. `None` when the worker
    /// is quieted meanwhile.
    async fn isolate(
        &self,
        slots: &Arc<Semaphore>,
        held: usize,
        settler: &SettleTx,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let others = u32::try_from(self.concurrency.saturating_sub(1 + held)).ok()?;
        tokio::select! {
            biased;
            _ = self.handle.quiet.cancelled() => None,
            p = async {
                let p = slots.clone().acquire_many_owned(others).await.ok();
                settler.drained().await;
                p
            } => p,
        }
    }
}

/// Reports the worker draining as soon as it is quieted or stopped (not when the fetch loop
/// notices, which may be a whole `fetch_wait` later).
async fn report_draining(health: Health, quiet: CancellationToken, done: CancellationToken) {
    tokio::select! {
        () = quiet.cancelled() => health.record(Event::Draining),
        () = done.cancelled() => {}
    }
}
