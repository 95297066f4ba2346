//! Per-job-name metrics: run counts, failures and duration histograms per UTC hour.
//!
//! The types and the [`MetricsStore`] seam live in [`crate::backend::metrics`], beside the
//! other storage traits; this module re-exports them under the name users look for. The
//! worker's in-memory counting is `worker/recorder.rs`.

pub use crate::backend::metrics::*;
