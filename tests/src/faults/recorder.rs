//! What a test worker process records into a run's history: each run's start and end (a
//! server middleware), and each settle it sends and what the store answered (a wrapper
//! around its backend).

use std::sync::Arc;

use async_trait::async_trait;
use jobs::backend::{
    Backend, BackendError, FinishOutcome, FinishParams, FinishReport, HeartbeatParams,
    HeartbeatReply, MetricsStore, ProcessRemoveParams, PromoteParams, PushParams, RequeueParams,
    RescueParams, ReserveParams, Reserved,
};
use jobs::worker::{Next, ServerMiddleware};
use jobs::{JobContext, JobResult};

use super::history::{now_ms, Event, HistoryLog, Settle};

/// Records a history event; a history that cannot be written makes the run unverifiable,
/// so the process stops at once rather than carry on unrecorded.
fn record(log: &HistoryLog, event: Event) {
    if let Err(e) = log.record(&event) {
        eprintln!(
            "cannot append to the history {}: {e}; stopping",
            log.path().display()
        );
        std::process::exit(3);
    }
}

/// A server middleware recording `start` and `end` of every run in this process.
///
/// ```no_run
/// use std::sync::Arc;
/// use jobs_conformance::faults::{history::HistoryLog, recorder::RecordRuns};
/// let log = Arc::new(HistoryLog::open("/tmp/run.history").unwrap());
/// let backend = jobs::memory::MemoryBackend::new();
/// let worker = jobs::Worker::builder(Arc::new(backend)).middleware(RecordRuns::new(log));
/// # let _ = worker;
/// ```
pub struct RecordRuns {
    log: Arc<HistoryLog>,
    pid: u32,
}

impl RecordRuns {
    /// Records into `log`, as this process.
    pub fn new(log: Arc<HistoryLog>) -> Self {
        RecordRuns {
            log,
            pid: std::process::id(),
        }
    }
}

#[async_trait]
impl ServerMiddleware for RecordRuns {
    async fn call(&self, ctx: JobContext, next: Next<'_>) -> JobResult {
        let (jid, attempt) = (ctx.jid().to_owned(), ctx.attempt());
        record(
            &self.log,
            Event::Start {
                jid: jid.clone(),
                attempt,
                pid: self.pid,
                at_ms: now_ms(),
            },
        );
        let result = next.run(ctx).await;
        record(
            &self.log,
            Event::End {
                jid,
                attempt,
                pid: self.pid,
                at_ms: now_ms(),
                ok: result.is_ok(),
            },
        );
        result
    }
}

/// A backend that forwards every call to `inner` and records each settle: `finishing`
/// before the call, then `settled` or `refused` per job once the store answered.
///
/// ```no_run
/// # async fn f() {
/// use std::sync::Arc;
/// use jobs_conformance::faults::{history::HistoryLog, recorder::RecordSettles};
/// let log = Arc::new(HistoryLog::open("/tmp/run.history").unwrap());
/// let inner = jobs_backends::connect("sqlite:///tmp/jobs.db").await.unwrap();
/// let backend = Arc::new(RecordSettles::new(inner, log));
/// let worker = jobs::Worker::builder(backend);
/// # let _ = worker;
/// # }
/// ```
pub struct RecordSettles<B: Backend + ?Sized> {
    inner: Arc<B>,
    log: Arc<HistoryLog>,
    pid: u32,
}

impl<B: Backend + ?Sized> RecordSettles<B> {
    /// Wraps `inner`, recording into `log` as this process.
    pub fn new(inner: Arc<B>, log: Arc<HistoryLog>) -> Self {
        RecordSettles {
            inner,
            log,
            pid: std::process::id(),
        }
    }
}

/// What a finish outcome is called in the history.
pub fn settle_of(outcome: &FinishOutcome) -> Settle {
    match outcome {
        FinishOutcome::Completed => Settle::Completed,
        FinishOutcome::Retry { .. } => Settle::Retry,
        FinishOutcome::Snooze { .. } => Settle::Snooze,
        FinishOutcome::Dead => Settle::Dead,
        _ => Settle::Discard,
    }
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for RecordSettles<B> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn job_push(&self, p: PushParams) -> Result<jobs::backend::PushReport, BackendError> {
        self.inner.job_push(p).await
    }

    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        self.inner.job_reserve(p).await
    }

    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        let items: Vec<(String, Settle)> = p
            .items
            .iter()
            .map(|f| (f.job.jid.clone(), settle_of(&f.outcome)))
            .collect();
        for (jid, settle) in &items {
            record(
                &self.log,
                Event::Finishing {
                    jid: jid.clone(),
                    pid: self.pid,
                    at_ms: now_ms(),
                    settle: *settle,
                },
            );
        }
        let report = self.inner.job_finish(p).await?;
        let at_ms = now_ms();
        for (i, (jid, settle)) in items.into_iter().enumerate() {
            let (jid, pid, settle) = (jid, self.pid, settle);
            let event = if report.lost.contains(&i) {
                Event::Refused {
                    jid,
                    pid,
                    at_ms,
                    settle,
                }
            } else {
                Event::Settled {
                    jid,
                    pid,
                    at_ms,
                    settle,
                }
            };
            record(&self.log, event);
        }
        Ok(report)
    }

    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        self.inner.job_requeue(p).await
    }

    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        self.inner.process_heartbeat(p).await
    }

    async fn process_remove(&self, p: ProcessRemoveParams) -> Result<(), BackendError> {
        self.inner.process_remove(p).await
    }

    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        self.inner.scheduled_promote(p).await
    }

    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        self.inner.lease_rescue(p).await
    }

    async fn priority_age(&self, p: jobs::backend::AgeParams) -> Result<u64, BackendError> {
        self.inner.priority_age(p).await
    }

    async fn rate_acquire(
        &self,
        p: jobs::backend::RateAcquireParams,
    ) -> Result<jobs::backend::RateDecision, BackendError> {
        self.inner.rate_acquire(p).await
    }

    async fn job_checkpoint(
        &self,
        p: jobs::backend::CheckpointParams,
    ) -> Result<jobs::backend::LeaseToken, BackendError> {
        self.inner.job_checkpoint(p).await
    }

    fn metrics(&self) -> Option<&dyn MetricsStore> {
        self.inner.metrics()
    }
}
