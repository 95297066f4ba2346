//! The worker's side of progress and results: a run's progress writer (made when the job
//! first reports, `links.rs`) flushed before the settle, and a job's return value checked
//! against the size cap and given its retention.
//!
//! 1. [`ResultSettings`]: the cap on a result's size (default
//!    [`DEFAULT_RESULT_MAX_BYTES`]), the default retention
//!    ([`DEFAULT_RESULT_TTL`]; a job's `result_ttl` overrides it) and the progress
//!    throttle interval, set on the [`WorkerBuilder`].
//! 2. `keep`: a result over the cap is refused: the run ends as a failure of class
//!    `jobs::ResultTooLarge` (to the dead set, the error naming the size and the cap), never
//!    silently dropped.

use std::time::Duration;

use super::{Runtime, WorkerBuilder};
use crate::backend::{ResultWrite, DEFAULT_RESULT_MAX_BYTES, DEFAULT_RESULT_TTL};
use crate::job::{Failure, FailureKind, JobOptions, ProgressWriter, DEFAULT_PROGRESS_INTERVAL};

/// How a worker keeps results and writes progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResultSettings {
    pub(crate) max_bytes: usize,
    pub(crate) ttl: Duration,
    pub(crate) progress_interval: Duration,
}

impl Default for ResultSettings {
    fn default() -> Self {
        ResultSettings {
            max_bytes: DEFAULT_RESULT_MAX_BYTES,
            ttl: DEFAULT_RESULT_TTL,
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
        }
    }
}

/// The result to store for a job that returned `json`, or the failure refusing it.
pub(crate) fn keep(
    rt: &Runtime,
    options: &JobOptions,
    json: String,
) -> Result<ResultWrite, Failure> {
    let settings = rt.results;
    if json.len() > settings.max_bytes {
        return Err(Failure::new(
            FailureKind::Killed,
            "jobs::ResultTooLarge",
            format!(
                "the job's result is {} bytes of JSON, over the limit of {} bytes (WorkerBuilder::result_max_bytes); the result was not stored",
                json.len(),
                settings.max_bytes
            ),
        ));
    }
    Ok(ResultWrite::new(
        json,
        options.result_ttl.unwrap_or(settings.ttl),
    ))
}

/// Writes a run's pending progress before its outcome is settled.
pub(crate) async fn flush(writer: &ProgressWriter) {
    if let Err(e) = writer.flush().await {
        tracing::warn!(error = %e, "could not store the job's last progress");
    }
}

impl WorkerBuilder {
    /// The largest result a job may return, in bytes of JSON (default 1 MiB). A larger
    /// result is refused: the job ends in the dead set with a `jobs::ResultTooLarge` error
    /// naming the size and the limit.
    ///
    /// ```
    /// let backend = std::sync::Arc::new(jobs::memory::MemoryBackend::new());
    /// let worker = jobs::Worker::builder(backend).result_max_bytes(64 * 1024);
    /// # let _ = worker;
    /// ```
    pub fn result_max_bytes(mut self, bytes: usize) -> Self {
        self.results.max_bytes = bytes;
        self
    }

    /// How long results are kept unless the job says otherwise with
    /// `#[job(result_ttl = "..")]` (default 24 h).
    ///
    /// ```
    /// let backend = std::sync::Arc::new(jobs::memory::MemoryBackend::new());
    /// let worker = jobs::Worker::builder(backend).result_ttl(std::time::Duration::from_secs(3600));
    /// # let _ = worker;
    /// ```
    pub fn result_ttl(mut self, ttl: Duration) -> Self {
        self.results.ttl = ttl;
        self
    }

    /// The shortest time between two progress writes of one job (default 500 ms); reports
    /// in between are held and the last one is written when the interval ends or before
    /// the job settles.
    ///
    /// ```
    /// let backend = std::sync::Arc::new(jobs::memory::MemoryBackend::new());
    /// let worker = jobs::Worker::builder(backend).progress_interval(std::time::Duration::from_secs(1));
    /// # let _ = worker;
    /// ```
    pub fn progress_interval(mut self, interval: Duration) -> Self {
        self.results.progress_interval = interval;
        self
    }
}
