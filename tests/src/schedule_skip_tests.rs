//! The `schedule` cases skip, with a reason, on a backend whose `schedules()` is `None`.

use std::sync::Arc;

use jobs::backend::*;
use jobs::memory::MemoryBackend;

use crate::cases::schedule;
use crate::{CaseError, CaseResult};

/// A complete backend without a schedule store or a metrics store: the in-memory one,
/// minus `schedules()` and `metrics()`.
pub(crate) struct NoStore(pub(crate) MemoryBackend);

jobs::forward_backend! {
    NoStore,
    inner(this) = &this.0,
    around(this, op, call) = call.await,
    name(this) = "no-store",
    metrics(this) = None,
    schedules(this) = None,
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
