//! One `tracing` span around every backend call, so backends never instrument themselves.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument;

use super::*;

/// Wraps a backend so each call runs in a `jobs.backend` debug span naming the operation,
/// and each error is logged once, here.
///
/// ```
/// use std::sync::Arc;
/// use jobs::backend::{AdminBackend, Traced};
/// let traced = Traced::wrap(Arc::new(jobs::memory::MemoryBackend::new()));
/// assert_eq!(traced.name(), "memory");
/// ```
pub struct Traced {
    inner: Arc<dyn AdminBackend>,
}

impl Traced {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn AdminBackend>) -> Arc<dyn AdminBackend> {
        Arc::new(Traced { inner })
    }
}

async fn span<T>(
    backend: &'static str,
    op: &'static str,
    fut: impl std::future::Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    let span = tracing::debug_span!("jobs.backend", backend, op);
    let out = fut.instrument(span).await;
    if let Err(e) = &out {
        tracing::debug!(backend, op, kind = ?e.kind(), error = %e, "backend call failed");
    }
    out
}

crate::forward_backend! {
    Traced,
    inner(this) = this.inner,
    around(this, op, call) = span(this.inner.name(), op, call).await,
    name(this) = this.inner.name(),
    metrics(this) = this.inner.metrics().map(|_| this as &dyn MetricsStore),
    schedules(this) = this.inner.schedules().map(|_| this as &dyn ScheduleStore),
}

/// The schedule store of the wrapped backend, one span per call. Only reached through
/// [`AdminBackend::schedules`], which is `None` when the wrapped backend has no store.
#[async_trait]
impl ScheduleStore for Traced {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        span(self.name(), "schedule_list", self.store()?.schedule_list()).await
    }
    async fn schedule_get(
        &self,
        p: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        span(self.name(), "schedule_get", self.store()?.schedule_get(p)).await
    }
    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        let store = self.store()?;
        span(self.name(), "schedule_declare", store.schedule_declare(p)).await
    }
    async fn schedule_advance(&self, p: AdvanceParams) -> Result<(), BackendError> {
        let store = self.store()?;
        span(self.name(), "schedule_advance", store.schedule_advance(p)).await
    }
    async fn schedule_set_enabled(&self, p: EnableParams) -> Result<bool, BackendError> {
        let store = self.store()?;
        span(
            self.name(),
            "schedule_set_enabled",
            store.schedule_set_enabled(p),
        )
        .await
    }
    async fn schedule_remove(&self, p: ScheduleRemoveParams) -> Result<bool, BackendError> {
        let store = self.store()?;
        span(self.name(), "schedule_remove", store.schedule_remove(p)).await
    }
    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        let store = self.store()?;
        span(self.name(), "schedule_claim", store.schedule_claim(p)).await
    }
    async fn schedule_run_now(&self, p: RunNowParams) -> Result<Option<String>, BackendError> {
        let store = self.store()?;
        span(self.name(), "schedule_run_now", store.schedule_run_now(p)).await
    }
}

/// The metrics store of the wrapped backend, one span per call. Only reached through
/// [`Backend::metrics`], which is `None` when the wrapped backend has no store.
#[async_trait]
impl MetricsStore for Traced {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        let store = self.metrics_store()?;
        span(self.name(), "metrics_record", store.metrics_record(p)).await
    }
    async fn metrics_query(
        &self,
        p: MetricsQueryParams,
    ) -> Result<Vec<metrics::JobMetrics>, BackendError> {
        let store = self.metrics_store()?;
        span(self.name(), "metrics_query", store.metrics_query(p)).await
    }
}

impl Traced {
    fn store(&self) -> Result<&dyn ScheduleStore, BackendError> {
        self.inner.schedules().ok_or(BackendError::Unsupported {
            backend: self.inner.name(),
            operation: "recurring jobs",
        })
    }

    fn metrics_store(&self) -> Result<&dyn MetricsStore, BackendError> {
        self.inner.metrics().ok_or(BackendError::Unsupported {
            backend: self.inner.name(),
            operation: "metrics",
        })
    }
}
