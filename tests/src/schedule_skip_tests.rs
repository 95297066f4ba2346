//! The `schedule` cases skip, with a reason, on a backend whose `schedules()` is `None`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use jobs::backend::*;
use jobs::memory::MemoryBackend;

use crate::cases::schedule;
use crate::{CaseError, CaseResult};

/// A complete backend without a schedule store or a metrics store: the in-memory one,
/// minus `schedules()` and `metrics()`.
pub(crate) struct NoStore(pub(crate) MemoryBackend);

#[async_trait]
impl Backend for NoStore {
    fn name(&self) -> &'static str {
        "no-store"
    }
    async fn job_push(&self, p: PushParams) -> Result<(), BackendError> {
        self.0.job_push(p).await
    }
    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        self.0.job_reserve(p).await
    }
    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        self.0.job_finish(p).await
    }
    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        self.0.job_requeue(p).await
    }
    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        self.0.process_heartbeat(p).await
    }
    async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
        self.0.process_remove(id).await
    }
    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        self.0.scheduled_promote(p).await
    }
    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        self.0.lease_rescue(p).await
    }
}

#[async_trait]
impl AdminBackend for NoStore {
    async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError> {
        self.0.queue_list(now).await
    }
    async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError> {
        self.0.queue_pause(queue, paused).await
    }
    async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError> {
        self.0.queue_clear(queue).await
    }
    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        self.0.job_list(p).await
    }
    async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError> {
        self.0.job_get(set, jid).await
    }
    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        self.0.job_delete(p).await
    }
    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        self.0.job_enqueue_now(p).await
    }
    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        self.0.job_kill(p).await
    }
    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        self.0.process_list().await
    }
    async fn process_signal(&self, id: &ProcessId, s: ProcessSignal) -> Result<(), BackendError> {
        self.0.process_signal(id, s).await
    }
    async fn stats(&self) -> Result<Stats, BackendError> {
        self.0.stats().await
    }
    async fn stats_history(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayStats>, BackendError> {
        self.0.stats_history(today, days).await
    }
    async fn clear_all(&self) -> Result<(), BackendError> {
        self.0.clear_all().await
    }
}

pub(crate) fn subject() -> Arc<dyn AdminBackend> {
    Arc::new(NoStore(MemoryBackend::new()))
}

fn assert_skipped(result: CaseResult) {
    match result {
        Err(CaseError::Skip(reason)) => assert!(
            reason.contains("no-store backend keeps no schedule state"),
            "{reason}"
        ),
        Err(CaseError::Backend(e)) => panic!("failed instead of skipping: {e}"),
        Ok(()) => panic!("passed without a schedule store"),
    }
}

#[tokio::test]
async fn every_schedule_case_skips_without_a_store() {
    assert_skipped(schedule::claim_once_across_concurrent_claimers(subject()).await);
    assert_skipped(schedule::state_round_trip(subject()).await);
    assert_skipped(schedule::enabled_flag_persists(subject()).await);
    assert_skipped(schedule::run_now_enqueues_once(subject()).await);
}

/// Wrapped in `Traced` (as `jobs::connect` does), a backend without a store still has none.
#[tokio::test]
async fn traced_keeps_the_absence_of_a_store() {
    assert!(Traced::wrap(subject()).schedules().is_none());
    assert!(Traced::wrap(Arc::new(MemoryBackend::new()))
        .schedules()
        .is_some());
}
