//! The acknowledgement contract: a reserved job is settled exactly once, by consuming its lease.

use std::sync::Arc;

use super::{
    Backend, BackendError, DeadLimits, Finish, FinishOutcome, FinishParams, FinishReport,
    LeaseToken, RequeueParams, Reserved,
};
use crate::clock::Clock;
use crate::envelope::JobEnvelope;

/// A job reserved from a backend, which must be completed, finished or requeued exactly once.
///
/// Each settling method consumes the lease, so a job cannot be acknowledged twice. When a
/// settle fails for a reason that may pass (the server is unreachable), the error hands the
/// lease back so the caller can try again; when the lease was lost (rescued and given to
/// another process), it does not. A lease dropped unsettled is logged; its job comes back
/// once the lease expires.
///
/// ```
/// # tokio_test_shim();
/// # fn tokio_test_shim() {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// use std::sync::Arc;
/// use jobs::backend::{Backend, PushParams, ReserveParams, Lease};
/// use jobs::clock::{Clock, SystemClock};
/// use jobs::envelope::JobEnvelope;
/// let backend: Arc<dyn Backend> = Arc::new(jobs::memory::MemoryBackend::new());
/// let clock: Arc<dyn Clock> = Arc::new(SystemClock);
/// backend.job_push(PushParams::new(vec![JobEnvelope::new("Ping", "default", vec![])], clock.now())).await.unwrap();
/// let reserved = backend.job_reserve(ReserveParams::new(vec!["default".into()], "p1", clock.now())).await.unwrap();
/// for r in reserved {
///     let lease = Lease::new(r, backend.clone(), clock.clone());
///     assert_eq!(lease.job().class, "Ping");
///     lease.complete().await.unwrap();
/// }
/// # });
/// # }
/// ```
#[must_use = "a lease must be completed, finished or requeued"]
pub struct Lease {
    // Boxed: a lease moves through several futures and tasks, and a job envelope is large.
    inner: Option<Box<Inner>>,
}

struct Inner {
    reserved: Reserved,
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    dead_limits: DeadLimits,
}

/// A settle that did not go through.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SettleError {
    /// Why.
    pub error: BackendError,
    lease: Option<Lease>,
}

impl SettleError {
    /// The lease, handed back when trying again may succeed.
    pub fn into_lease(self) -> Option<Lease> {
        self.lease
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(i) => f
                .debug_struct("Lease")
                .field("jid", &i.reserved.job.jid)
                .finish(),
            None => f.write_str("Lease(settled)"),
        }
    }
}

impl Lease {
    /// Wraps a job reserved from `backend`.
    pub fn new(reserved: Reserved, backend: Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Self {
        Lease {
            inner: Some(Box::new(Inner {
                reserved,
                backend,
                clock,
                dead_limits: DeadLimits::default(),
            })),
        }
    }

    /// Sets the dead-set limits applied if this job dies.
    pub fn with_dead_limits(mut self, limits: DeadLimits) -> Self {
        if let Some(i) = self.inner.as_mut() {
            i.dead_limits = limits;
        }
        self
    }

    fn inner(&self) -> &Inner {
        match &self.inner {
            Some(i) => i,
            // Unreachable: every method that takes `inner` consumes `self`.
            None => unreachable!("lease used after it was settled"),
        }
    }

    /// The job as it was reserved.
    pub fn job(&self) -> &JobEnvelope {
        &self.inner().reserved.job
    }

    /// The backend's token for this lease.
    pub fn token(&self) -> &LeaseToken {
        &self.inner().reserved.token
    }

    /// The job performed: remove it.
    pub async fn complete(self) -> Result<(), SettleError> {
        let job = self.inner().reserved.job.clone();
        self.finish(job, FinishOutcome::Completed, false)
            .await
            .map(|_| ())
    }

    /// Settle the job: store `job` (its updated envelope) where `outcome` says.
    pub async fn finish(
        mut self,
        job: impl Into<Arc<JobEnvelope>>,
        outcome: FinishOutcome,
        failed: bool,
    ) -> Result<FinishReport, SettleError> {
        let Some(inner) = self.inner.take() else {
            return Ok(FinishReport::default());
        };
        let job: Arc<JobEnvelope> = job.into();
        let item = Finish::new(inner.reserved.token.clone(), job.clone(), outcome, failed);
        let params =
            FinishParams::new(vec![item], inner.clock.now()).dead_limits(inner.dead_limits);
        match inner.backend.job_finish(params).await {
            Ok(report) if report.lost.contains(&0) => Err(SettleError {
                error: BackendError::LeaseLost {
                    jid: job.jid.clone(),
                    reason: "the job was rescued after this process's lease expired".into(),
                },
                lease: None,
            }),
            Ok(report) => Ok(report),
            Err(error) => {
                let retry = error.is_transient();
                self.inner = Some(inner);
                let lease = if retry { Some(self) } else { self.forget() };
                Err(SettleError { error, lease })
            }
        }
    }

    /// Give the job back to the head of its queue, unchanged.
    pub async fn requeue(mut self) -> Result<(), SettleError> {
        let Some(inner) = self.inner.take() else {
            return Ok(());
        };
        let params = RequeueParams::new(vec![inner.reserved.token.clone()], inner.clock.now());
        match inner.backend.job_requeue(params).await {
            Ok(()) => Ok(()),
            Err(error) => {
                let retry = error.is_transient();
                self.inner = Some(inner);
                let lease = if retry { Some(self) } else { self.forget() };
                Err(SettleError { error, lease })
            }
        }
    }

    /// Drops the lease without the unsettled warning (its job comes back when it expires).
    fn forget(mut self) -> Option<Lease> {
        self.inner = None;
        None
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(i) = &self.inner {
            tracing::warn!(
                jid = %i.reserved.job.jid,
                class = %i.reserved.job.class,
                "lease dropped without being settled; the job returns to its queue when the lease expires"
            );
        }
    }
}
