//! Resumable steps (continuations): a running job's progress, kept with the job.
//!
//! 1. [`StepError`]: why a step or checkpoint did not go on (interrupted by shutdown, lease
//!    lost, store unreachable, a cursor that does not decode).
//! 2. `Steps` (crate-private): one run's progress — the steps done and each unfinished
//!    step's cursor, kept in the envelope's `jobs_rs_steps` field — and its link to the
//!    store: every change is written through `Backend::job_checkpoint`, fenced by the lease,
//!    before the job goes on. The worker reads the final envelope and lease token back, so
//!    a retry, snooze or requeue stores the progress too.
//! 3. The job-facing API is in `api.rs`: [`JobContext::step`](crate::JobContext::step) and
//!    [`JobContext::iterate`](crate::JobContext::iterate) with [`Iteration`].

mod api;

pub use api::Iteration;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, BackendError, CheckpointParams, LeaseToken};
use crate::clock::Clock;
use crate::envelope::JobEnvelope;

/// The envelope field holding a job's step progress. Sidekiq ignores fields it does not
/// know, so a Redis job stays readable by Ruby.
pub const STEPS_FIELD: &str = "jobs_rs_steps";

/// Why a step or a checkpoint did not go on.
///
/// A job propagates it with `?`: give the job's error type a `From<StepError>` (or return
/// `StepError`, `jobs::Failure` or `anyhow::Error`). The worker recognises an interruption
/// whatever error type carries it: the job goes back to its queue with its progress, and no
/// attempt is counted.
///
/// ```
/// let e = jobs::StepError::Interrupted { step: "rows".into() };
/// assert!(e.is_interrupted());
/// assert_eq!(e.to_string(), "step `rows` interrupted: the worker is shutting down; progress is saved and the job resumes there");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The worker is shutting down: the progress is saved and the job is requeued, to resume
    /// at this step.
    #[error("step `{step}` interrupted: the worker is shutting down; progress is saved and the job resumes there")]
    Interrupted {
        /// The step that was about to run or go on.
        step: String,
    },
    /// The stored progress of a step does not decode as the cursor type asked for.
    #[error("the saved cursor of step `{step}` does not decode as {expected}: {source}")]
    BadCursor {
        /// The step.
        step: String,
        /// The cursor type asked for.
        expected: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A cursor could not be written as JSON.
    #[error("the cursor of step `{step}` cannot be written as JSON: {source}")]
    Encode {
        /// The step.
        step: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The progress could not be stored (the lease was lost, or the store refused or could
    /// not be reached).
    #[error("could not save the progress of step `{step}`: {source}")]
    Store {
        /// The step.
        step: String,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
}

impl StepError {
    /// True for [`StepError::Interrupted`].
    pub fn is_interrupted(&self) -> bool {
        matches!(self, StepError::Interrupted { .. })
    }
}

/// The stored progress: steps completed, in order, and the cursor of each started one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Progress {
    #[serde(default)]
    pub(crate) done: Vec<String>,
    #[serde(default)]
    pub(crate) cursors: BTreeMap<String, Value>,
}

impl Progress {
    /// The progress stored in `job`; none when absent or unreadable (the job starts over).
    fn of(job: &JobEnvelope) -> Self {
        match job.extra.get(STEPS_FIELD) {
            None => Progress::default(),
            Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|e| {
                tracing::warn!(jid = %job.jid, error = %e, "the job's saved step progress does not decode; its steps run from the start");
                Progress::default()
            }),
        }
    }
}

/// Told when the store names a lease by a new token: `(old, new)`.
pub(crate) type Rekey = Box<dyn Fn(&LeaseToken, &LeaseToken) + Send + Sync>;

/// Where a run's progress is written: the store, under the run's lease.
pub(crate) struct Link {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Cancelled when the worker is asked to stop.
    pub(crate) stopping: CancellationToken,
    /// Told when the store hands out a new token for the lease (old, new).
    pub(crate) rekey: Rekey,
}

struct Inner {
    /// The job as reserved.
    base: Arc<JobEnvelope>,
    /// The job with this run's progress, from its first save (so a run that saves none
    /// copies nothing).
    job: Option<JobEnvelope>,
    progress: Progress,
    token: LeaseToken,
}

/// One run's progress and how it is saved (shared by the job's context and the worker).
pub(crate) struct Steps {
    inner: Mutex<Inner>,
    /// One write at a time, in order.
    writing: tokio::sync::Mutex<()>,
    link: Option<Link>,
    interrupted: AtomicBool,
}

impl std::fmt::Debug for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.lock();
        f.debug_struct("Steps")
            .field("progress", &i.progress)
            .field("linked", &self.link.is_some())
            .finish()
    }
}

impl Steps {
    /// Progress kept in memory only (a context built outside a worker, or `TestJobs`).
    pub(crate) fn detached(job: &Arc<JobEnvelope>) -> Arc<Self> {
        Self::build(job, LeaseToken::new(""), None)
    }

    /// Progress of the run holding lease `token`, written to the store through `link`.
    pub(crate) fn linked(job: &Arc<JobEnvelope>, token: LeaseToken, link: Link) -> Arc<Self> {
        Self::build(job, token, Some(link))
    }

    fn build(job: &Arc<JobEnvelope>, token: LeaseToken, link: Option<Link>) -> Arc<Self> {
        Arc::new(Steps {
            inner: Mutex::new(Inner {
                progress: Progress::of(job),
                base: job.clone(),
                job: None,
                token,
            }),
            writing: tokio::sync::Mutex::new(()),
            link,
            interrupted: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether step `name` was completed by an earlier run (or this one).
    pub(crate) fn is_done(&self, name: &str) -> bool {
        self.lock().progress.done.iter().any(|d| d == name)
    }

    /// The saved cursor of step `name`.
    pub(crate) fn cursor(&self, name: &str) -> Option<Value> {
        self.lock().progress.cursors.get(name).cloned()
    }

    /// Whether the worker asked the job to stop; records that the job was told so.
    pub(crate) fn stop_requested(&self, step: &str) -> Result<(), StepError> {
        let stopping = self
            .link
            .as_ref()
            .is_some_and(|l| l.stopping.is_cancelled());
        if stopping {
            self.interrupted.store(true, Ordering::SeqCst);
            return Err(StepError::Interrupted {
                step: step.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether a step or checkpoint told the job to stop during this run.
    pub(crate) fn was_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Applies `change` to the progress and stores it with the job, under the lease.
    pub(crate) async fn save(
        &self,
        step: &str,
        change: impl FnOnce(&mut Progress),
    ) -> Result<(), StepError> {
        let _one = self.writing.lock().await;
        let (job, token) = {
            let mut i = self.lock();
            change(&mut i.progress);
            let value = serde_json::to_value(&i.progress).map_err(|source| StepError::Encode {
                step: step.to_owned(),
                source,
            })?;
            let base = i.base.clone();
            let job = i.job.get_or_insert_with(|| (*base).clone());
            job.extra.insert(STEPS_FIELD.to_owned(), value);
            let job = job.clone();
            (job, i.token.clone())
        };
        let Some(link) = &self.link else {
            return Ok(());
        };
        let mut attempt = 0;
        let new = loop {
            let params = CheckpointParams::new(token.clone(), job.clone(), link.clock.now());
            match link.backend.job_checkpoint(params).await {
                Ok(new) => break new,
                Err(e) if e.is_transient() && attempt < 4 => {
                    // 100 ms doubling: the store is likely back within the few tries.
                    let delay = std::time::Duration::from_millis(100 << attempt);
                    tracing::warn!(jid = %job.jid, step, error = %e, retry_in_ms = delay.as_millis() as u64, "could not save the job's progress; retrying");
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
                Err(source) => {
                    return Err(StepError::Store {
                        step: step.to_owned(),
                        source,
                    })
                }
            }
        };
        if new != token {
            (link.rekey)(&token, &new);
            self.lock().token = new;
        }
        Ok(())
    }

    /// The envelope to store next (with the progress, when this run changed it) and the
    /// token that holds the lease now.
    pub(crate) fn current(&self) -> (Option<JobEnvelope>, LeaseToken) {
        let i = self.lock();
        (i.job.clone(), i.token.clone())
    }

    /// The run's end: [`Steps::current`] and whether it was interrupted at a checkpoint,
    /// letting go of the job's envelope when no one else holds these steps, so the worker
    /// takes its own envelope back without copying it.
    pub(crate) fn finish(self: Arc<Self>) -> (Option<JobEnvelope>, LeaseToken, bool) {
        let interrupted = self.was_interrupted();
        match Arc::try_unwrap(self) {
            Ok(steps) => {
                let i = steps.inner.into_inner().unwrap_or_else(|e| e.into_inner());
                (i.job, i.token, interrupted)
            }
            Err(shared) => {
                let (job, token) = shared.current();
                (job, token, interrupted)
            }
        }
    }
}

/// Removes the step progress from an envelope (a job that completed).
pub(crate) fn clear(job: &mut std::sync::Arc<JobEnvelope>) {
    // Most jobs have no steps: no copy of a shared envelope for them.
    if job.extra.contains_key(STEPS_FIELD) {
        std::sync::Arc::make_mut(job).extra.remove(STEPS_FIELD);
    }
}
