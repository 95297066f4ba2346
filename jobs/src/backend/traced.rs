//! One `tracing` span around every backend call, so backends never instrument themselves.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
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

#[async_trait]
impl Backend for Traced {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn job_push(&self, p: PushParams) -> Result<(), BackendError> {
        span(self.name(), "job_push", self.inner.job_push(p)).await
    }
    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        span(self.name(), "job_reserve", self.inner.job_reserve(p)).await
    }
    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        span(self.name(), "job_finish", self.inner.job_finish(p)).await
    }
    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        span(self.name(), "job_requeue", self.inner.job_requeue(p)).await
    }
    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        span(
            self.name(),
            "process_heartbeat",
            self.inner.process_heartbeat(p),
        )
        .await
    }
    async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
        span(self.name(), "process_remove", self.inner.process_remove(id)).await
    }
    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        span(
            self.name(),
            "scheduled_promote",
            self.inner.scheduled_promote(p),
        )
        .await
    }
    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        span(self.name(), "lease_rescue", self.inner.lease_rescue(p)).await
    }
    fn metrics(&self) -> Option<&dyn crate::metrics::MetricsStore> {
        self.inner
            .metrics()
            .map(|_| self as &dyn crate::metrics::MetricsStore)
    }
}

#[async_trait]
impl AdminBackend for Traced {
    async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError> {
        span(self.name(), "queue_list", self.inner.queue_list(now)).await
    }
    async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError> {
        span(
            self.name(),
            "queue_pause",
            self.inner.queue_pause(queue, paused),
        )
        .await
    }
    async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError> {
        span(self.name(), "queue_clear", self.inner.queue_clear(queue)).await
    }
    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        span(self.name(), "job_list", self.inner.job_list(p)).await
    }
    async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError> {
        span(self.name(), "job_get", self.inner.job_get(set, jid)).await
    }
    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        span(self.name(), "job_delete", self.inner.job_delete(p)).await
    }
    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        span(
            self.name(),
            "job_enqueue_now",
            self.inner.job_enqueue_now(p),
        )
        .await
    }
    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        span(self.name(), "job_kill", self.inner.job_kill(p)).await
    }
    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        span(self.name(), "process_list", self.inner.process_list()).await
    }
    async fn process_signal(
        &self,
        id: &ProcessId,
        signal: ProcessSignal,
    ) -> Result<(), BackendError> {
        span(
            self.name(),
            "process_signal",
            self.inner.process_signal(id, signal),
        )
        .await
    }
    async fn stats(&self) -> Result<Stats, BackendError> {
        span(self.name(), "stats", self.inner.stats()).await
    }
    async fn stats_history(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayStats>, BackendError> {
        span(
            self.name(),
            "stats_history",
            self.inner.stats_history(today, days),
        )
        .await
    }
    async fn clear_all(&self) -> Result<(), BackendError> {
        span(self.name(), "clear_all", self.inner.clear_all()).await
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        span(self.name(), "facts", self.inner.facts()).await
    }

    fn schedules(&self) -> Option<&dyn crate::schedule::ScheduleStore> {
        self.inner
            .schedules()
            .map(|_| self as &dyn crate::schedule::ScheduleStore)
    }
}

/// The schedule store of the wrapped backend, one span per call. Only reached through
/// [`AdminBackend::schedules`], which is `None` when the wrapped backend has no store.
#[async_trait]
impl crate::schedule::ScheduleStore for Traced {
    async fn schedule_list(&self) -> Result<Vec<crate::schedule::ScheduleRecord>, BackendError> {
        span(self.name(), "schedule_list", self.store()?.schedule_list()).await
    }

    async fn schedule_get(
        &self,
        name: &str,
    ) -> Result<Option<crate::schedule::ScheduleRecord>, BackendError> {
        span(
            self.name(),
            "schedule_get",
            self.store()?.schedule_get(name),
        )
        .await
    }

    async fn schedule_declare(
        &self,
        params: crate::schedule::DeclareParams,
    ) -> Result<crate::schedule::ScheduleRecord, BackendError> {
        span(
            self.name(),
            "schedule_declare",
            self.store()?.schedule_declare(params),
        )
        .await
    }

    async fn schedule_advance(
        &self,
        name: &str,
        next_run: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        let store = self.store()?;
        span(
            self.name(),
            "schedule_advance",
            store.schedule_advance(name, next_run),
        )
        .await
    }

    async fn schedule_set_enabled(&self, name: &str, enabled: bool) -> Result<bool, BackendError> {
        let store = self.store()?;
        span(
            self.name(),
            "schedule_set_enabled",
            store.schedule_set_enabled(name, enabled),
        )
        .await
    }

    async fn schedule_remove(&self, name: &str) -> Result<bool, BackendError> {
        span(
            self.name(),
            "schedule_remove",
            self.store()?.schedule_remove(name),
        )
        .await
    }

    async fn schedule_claim(
        &self,
        params: crate::schedule::ClaimParams,
    ) -> Result<bool, BackendError> {
        span(
            self.name(),
            "schedule_claim",
            self.store()?.schedule_claim(params),
        )
        .await
    }

    async fn schedule_run_now(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, BackendError> {
        span(
            self.name(),
            "schedule_run_now",
            self.store()?.schedule_run_now(name, now),
        )
        .await
    }
}

impl Traced {
    fn store(&self) -> Result<&dyn crate::schedule::ScheduleStore, BackendError> {
        self.inner.schedules().ok_or(BackendError::Unsupported {
            backend: self.inner.name(),
            operation: "recurring jobs",
        })
    }
}

/// The metrics store of the wrapped backend, one span per call. Only reached through
/// [`Backend::metrics`], which is `None` when the wrapped backend has no store.
#[async_trait]
impl crate::metrics::MetricsStore for Traced {
    async fn metrics_record(&self, p: crate::metrics::RecordParams) -> Result<(), BackendError> {
        span(
            self.name(),
            "metrics_record",
            self.metrics_store()?.metrics_record(p),
        )
        .await
    }

    async fn metrics_query(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::metrics::JobMetrics>, BackendError> {
        let store = self.metrics_store()?;
        span(self.name(), "metrics_query", store.metrics_query(from, to)).await
    }
}

impl Traced {
    fn metrics_store(&self) -> Result<&dyn crate::metrics::MetricsStore, BackendError> {
        self.inner.metrics().ok_or(BackendError::Unsupported {
            backend: self.inner.name(),
            operation: "metrics",
        })
    }
}
