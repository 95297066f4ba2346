//! The `metrics` cases skip, with a reason, on a backend whose `metrics()` is `None`.

use std::sync::Arc;

use jobs::backend::Traced;
use jobs::memory::MemoryBackend;

use crate::cases::metrics;
use crate::schedule_skip_tests::subject;
use crate::{CaseError, CaseResult};

fn assert_skipped(result: CaseResult) {
    match result {
        Err(CaseError::Skip(reason)) => assert!(
            reason.contains("no-store backend keeps no job metrics"),
            "{reason}"
        ),
        Err(CaseError::Backend(e)) => panic!("failed instead of skipping: {e}"),
        Ok(()) => panic!("passed without a metrics store"),
    }
}

#[tokio::test]
async fn every_metrics_case_skips_without_a_store() {
    assert_skipped(metrics::samples_add_up_per_class_and_hour(subject()).await);
    assert_skipped(metrics::query_covers_the_hours_in_range(subject()).await);
    assert_skipped(metrics::unusual_job_names_round_trip(subject()).await);
    assert_skipped(metrics::clear_all_removes_metrics(subject()).await);
}

/// Wrapped in `Traced` (as `jobs::connect` does), a backend without a store still has none.
#[tokio::test]
async fn traced_keeps_the_absence_of_a_store() {
    assert!(Traced::wrap(subject()).metrics().is_none());
    assert!(Traced::wrap(Arc::new(MemoryBackend::new()))
        .metrics()
        .is_some());
}
