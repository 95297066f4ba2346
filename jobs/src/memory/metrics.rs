//! The in-memory backend's [`MetricsStore`]: counts per (hour, class) under the one lock.
//!
//! 1. Recording adds each sample to its `(hour, class)` entry and drops hours that ended
//!    more than `keep` ago.
//! 2. A query sums the entries of the hours in range per class.

use async_trait::async_trait;

use super::MemoryBackend;
use crate::backend::metrics::{hour_of, summarize, JobMetrics, MetricsSample};
use crate::backend::{BackendError, MetricsQueryParams, MetricsStore, RecordParams};

#[async_trait]
impl MetricsStore for MemoryBackend {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        let mut st = self.lock();
        for s in p.samples {
            st.metrics
                .entry((hour_of(s.hour), s.class))
                .or_default()
                .merge(&s.counts);
        }
        let keep = chrono::Duration::from_std(p.keep).unwrap_or(chrono::Duration::MAX);
        if let Some(oldest) = p.now.checked_sub_signed(keep) {
            let oldest = hour_of(oldest);
            st.metrics.retain(|(hour, _), _| *hour >= oldest);
        }
        Ok(())
    }

    async fn metrics_query(
        &self,
        params: MetricsQueryParams,
    ) -> Result<Vec<JobMetrics>, BackendError> {
        let (from, to) = (params.from, params.to);
        let from = hour_of(from);
        let st = self.lock();
        let samples: Vec<MetricsSample> = st
            .metrics
            .iter()
            .filter(|((hour, _), _)| *hour >= from && *hour <= to)
            .map(|((hour, class), counts)| MetricsSample {
                class: class.clone(),
                hour: *hour,
                counts: *counts,
            })
            .collect();
        drop(st);
        Ok(summarize(samples))
    }
}
