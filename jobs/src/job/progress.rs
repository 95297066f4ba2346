//! A running job's progress reports: throttled, fenced writes through [`JobContext::progress`].
//!
//! 1. [`ProgressWriter`] holds the job's lease token: every write is fenced by it in the
//!    store, so a run whose lease was lost (rescued) writes nothing.
//! 2. Writes are throttled: at most one store write per interval (default
//!    [`DEFAULT_PROGRESS_INTERVAL`]), whatever the job calls. A report made inside the
//!    interval is kept pending; it is written by a timer when the interval ends, and in any
//!    case before the job's outcome is settled ([`ProgressWriter::flush`]), so the last value
//!    always reaches the store.
//! 3. The interval is measured on the worker's clock, so a test with a manual clock decides
//!    when it passes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::JobContext;
use crate::backend::{Backend, BackendError, LeaseToken, Progress, ProgressParams};
use crate::clock::Clock;

/// The shortest time between two progress writes of one job by default: 500 ms.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Why a progress report was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressError {
    /// The report is larger than a backend stores.
    #[error("progress report of job {jid} is {bytes} bytes of JSON, over the limit of {limit}")]
    TooLarge {
        /// The job.
        jid: String,
        /// Its size.
        bytes: usize,
        /// The limit ([`MAX_PROGRESS_BYTES`](crate::backend::MAX_PROGRESS_BYTES)).
        limit: usize,
    },
    /// The store refused or could not take the write.
    #[error("could not store the progress of job {jid}: {source}")]
    Backend {
        /// The job.
        jid: String,
        /// Why.
        #[source]
        source: BackendError,
    },
}

#[derive(Default)]
struct Throttle {
    last_write: Option<DateTime<Utc>>,
    pending: Option<Progress>,
    timer: bool,
    /// Set once the store said the lease is gone: nothing more is written.
    lost: bool,
}

/// Writes one run's progress, throttled and fenced by its lease.
///
/// The worker makes one for a run when its job first reports progress; a job calls
/// [`JobContext::progress`].
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use jobs::backend::{AdminBackend, Backend, JidParams, JobStatus, PushParams, ReserveParams};
/// use jobs::clock::{Clock, SystemClock};
/// use jobs::envelope::JobEnvelope;
/// use jobs::ProgressWriter;
/// let backend = Arc::new(jobs::memory::MemoryBackend::new());
/// let clock: Arc<dyn Clock> = Arc::new(SystemClock);
/// let job = JobEnvelope::new("Export", "default", vec![]);
/// let jid = job.jid.clone();
/// backend.job_push(PushParams::new(vec![job], clock.now())).await.unwrap();
/// let r = backend.job_reserve(ReserveParams::new(vec!["default".into()], "p1", clock.now())).await.unwrap();
/// let writer = ProgressWriter::new(backend.clone(), clock.clone(), r[0].token.clone(), &jid, Duration::from_millis(500));
/// writer.report(40, "rendering", None).await.unwrap();
/// match backend.job_status(JidParams::new(&jid, clock.now())).await.unwrap() {
///     JobStatus::Running { progress: Some(p) } => assert_eq!(p.percent, 40),
///     other => panic!("{other:?}"),
/// }
/// # });
/// ```
pub struct ProgressWriter {
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    /// The lease's token; a checkpoint of resumable steps may re-issue it ([`ProgressWriter::rekey`]).
    token: Mutex<LeaseToken>,
    jid: String,
    interval: Duration,
    state: Mutex<Throttle>,
}

impl std::fmt::Debug for ProgressWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressWriter")
            .field("jid", &self.jid)
            .field("interval", &self.interval)
            .finish()
    }
}

impl ProgressWriter {
    /// A writer for the run of `jid` under lease `token`, writing at most once per `interval`.
    pub fn new(
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        token: LeaseToken,
        jid: impl Into<String>,
        interval: Duration,
    ) -> Arc<Self> {
        Arc::new(ProgressWriter {
            backend,
            clock,
            token: Mutex::new(token),
            jid: jid.into(),
            interval,
            state: Mutex::default(),
        })
    }

    /// Writes under `token` from now on: the lease's token after a checkpoint re-issued it
    /// (`job/steps`), so the run's progress is still its own.
    pub(crate) fn rekey(&self, token: LeaseToken) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports `percent` (capped at 100), `message` and optional `data`: written now when
    /// the interval since the last write has passed, else kept pending for the timer or the
    /// final flush.
    pub async fn report(
        self: &Arc<Self>,
        percent: u8,
        message: &str,
        data: Option<serde_json::Value>,
    ) -> Result<(), ProgressError> {
        let now = self.clock.now();
        let mut progress = Progress::new(percent, message, now);
        progress.data = data;
        let bytes = progress.to_json().map(|j| j.len()).unwrap_or(usize::MAX);
        if bytes > crate::backend::MAX_PROGRESS_BYTES {
            return Err(ProgressError::TooLarge {
                jid: self.jid.clone(),
                bytes,
                limit: crate::backend::MAX_PROGRESS_BYTES,
            });
        }
        let due = {
            let mut st = self.lock();
            if st.lost {
                return Ok(());
            }
            let due = match st.last_write {
                None => true,
                Some(last) => elapsed(last, now) >= self.interval,
            };
            if due {
                st.pending = None;
                st.last_write = Some(now);
            } else {
                st.pending = Some(progress.clone());
                if !st.timer {
                    st.timer = true;
                    let wait = self
                        .interval
                        .saturating_sub(st.last_write.map_or(Duration::ZERO, |l| elapsed(l, now)));
                    let me = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        me.lock().timer = false;
                        if let Err(e) = me.flush().await {
                            tracing::warn!(jid = %me.jid, error = %e, "could not store the job's pending progress");
                        }
                    });
                }
            }
            due
        };
        if due {
            self.write(progress).await?;
        }
        Ok(())
    }

    /// Writes the pending report, if any (the worker calls it before settling the job).
    pub async fn flush(&self) -> Result<(), ProgressError> {
        let pending = {
            let mut st = self.lock();
            let p = st.pending.take();
            if p.is_some() {
                st.last_write = Some(self.clock.now());
            }
            p
        };
        match pending {
            Some(p) => self.write(p).await,
            None => Ok(()),
        }
    }

    /// Whether a report waits to be written.
    pub fn has_pending(&self) -> bool {
        self.lock().pending.is_some()
    }

    async fn write(&self, progress: Progress) -> Result<(), ProgressError> {
        let params = ProgressParams::new(
            self.token.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            &self.jid,
            progress,
        );
        match self.backend.job_progress(params).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Fenced off: another run holds the job now; this one writes no more.
                let mut st = self.lock();
                st.lost = true;
                st.pending = None;
                Ok(())
            }
            Err(source) => Err(ProgressError::Backend {
                jid: self.jid.clone(),
                source,
            }),
        }
    }
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or(Duration::ZERO)
}

impl JobContext {
    /// Reports how far the job is: `percent` (0 to 100) and a message, shown on the
    /// dashboard and read by [`Client::status`](crate::Client::status). Writes are
    /// throttled (at most one per [`DEFAULT_PROGRESS_INTERVAL`] unless the worker sets
    /// another with [`WorkerBuilder::progress_interval`](crate::WorkerBuilder::progress_interval)),
    /// and the last report is always written before the job settles.
    ///
    /// ```
    /// use jobs::prelude::*;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("export failed")]
    /// struct ExportError(#[from] jobs::ProgressError);
    /// #[jobs::job]
    /// async fn export(ctx: JobContext, rows: u32) -> Result<u32, ExportError> {
    ///     for done in (0..=rows).step_by(100) {
    ///         ctx.progress((done * 100 / rows.max(1)) as u8, "exporting rows").await?;
    ///     }
    ///     Ok(rows)
    /// }
    /// ```
    pub async fn progress(&self, percent: u8, message: &str) -> Result<(), ProgressError> {
        self.report_progress(percent, message, None).await
    }

    /// [`JobContext::progress`] with structured data (any JSON value) attached.
    pub async fn progress_with(
        &self,
        percent: u8,
        message: &str,
        data: serde_json::Value,
    ) -> Result<(), ProgressError> {
        self.report_progress(percent, message, Some(data)).await
    }

    async fn report_progress(
        &self,
        percent: u8,
        message: &str,
        data: Option<serde_json::Value>,
    ) -> Result<(), ProgressError> {
        // A job run outside a worker (inline, in a test) has nowhere to report: a no-op.
        match self.progress_writer() {
            Some(w) => w.report(percent, message, data).await,
            None => Ok(()),
        }
    }
}
