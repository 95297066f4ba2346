//! What a running job can ask for besides its arguments: its context and shared state.

use std::any::{Any, TypeId};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Failure, FailureKind};
use crate::envelope::{from_epoch, JobEnvelope};

/// Shared application state a job receives, such as a database pool or a mail client.
///
/// Give it to the worker once with `Worker::builder(..).state(value)`; a job takes it as a
/// `State<T>` parameter, which is not serialized. A worker lacking a `State<T>` that a
/// registered job needs refuses to start.
///
/// ```
/// use jobs::State;
/// #[derive(Clone)]
/// struct Mailer { from: &'static str }
/// let state = State(Mailer { from: "hi@example.com" });
/// assert_eq!(state.from, "hi@example.com");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for State<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Names a state type a job needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateKey {
    /// The type's id.
    pub type_id: TypeId,
    /// The type's name, for errors.
    pub type_name: &'static str,
}

impl StateKey {
    /// The key of `T`.
    pub fn of<T: 'static>() -> Self {
        StateKey {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }
}

/// A set of state values keyed by type, cheap to clone.
///
/// ```
/// let states = jobs::States::new().with(5u32).with("pool".to_string());
/// assert_eq!(states.get::<u32>(), Some(5));
/// assert!(states.contains(&jobs::StateKey::of::<String>()));
/// assert_eq!(states.get::<u64>(), None);
/// ```
#[derive(Clone, Default)]
pub struct States {
    /// Hashed with foldhash: a job asks for its state on every run, and SipHash over the
    /// `TypeId` cost more than the rest of the lookup.
    map: Arc<crate::fast_map::FastMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("States")
            .field("len", &self.map.len())
            .finish()
    }
}

impl States {
    /// No state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the value of type `T`.
    pub fn with<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        Arc::make_mut(&mut self.map).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// A clone of the value of type `T`.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    /// Whether a value of that type is present.
    pub fn contains(&self, key: &StateKey) -> bool {
        self.map.contains_key(&key.type_id)
    }
}

/// Facts about the running job, and the state it may ask for.
///
/// A job takes it as a parameter of type `JobContext` (not serialized).
///
/// ```
/// use jobs::prelude::*;
/// #[derive(Debug, thiserror::Error)]
/// #[error("never")]
/// struct Never;
/// #[jobs::job]
/// async fn report(ctx: JobContext, day: String) -> Result<(), Never> {
///     tracing::info!(jid = ctx.jid(), attempt = ctx.attempt(), "building report for {day}");
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct JobContext {
    job: Arc<JobEnvelope>,
    states: States,
    /// Where cancel, progress and step progress come from.
    lent: Lent,
    /// A token given with [`JobContext::with_cancel`], in place of the run's.
    cancel: Option<tokio_util::sync::CancellationToken>,
    /// A writer given with [`JobContext::with_progress`], in place of the run's.
    progress: Option<Arc<super::progress::ProgressWriter>>,
}

/// What a worker's run gives its job's context on demand: each object is made the first
/// time the job uses it, so a job that never does pays nothing for it
/// (`worker::links`).
pub(crate) trait RunLinks: Send + Sync + std::fmt::Debug {
    /// The run's progress writer (`None` when the run has no store to write to).
    fn progress(&self) -> Option<&Arc<super::progress::ProgressWriter>>;
    /// The run's step progress.
    fn steps(&self) -> &Arc<super::steps::Steps>;
    /// The run's cancellation token.
    fn cancel_token(&self) -> &tokio_util::sync::CancellationToken;
    /// Whether a cancel of the run was requested.
    fn is_cancelled(&self) -> bool;
}

/// A context's source of cancel, progress and steps.
#[derive(Debug, Clone)]
enum Lent {
    /// Made with the context, outside a worker: its own token, progress in memory only.
    Own {
        cancel: tokio_util::sync::CancellationToken,
        steps: Arc<super::steps::Steps>,
    },
    /// A worker's run, which makes them when first asked.
    Run(Arc<dyn RunLinks>),
}

impl JobContext {
    /// The context of running `job` with `states`.
    pub fn new(job: Arc<JobEnvelope>, states: States) -> Self {
        let steps = super::steps::Steps::detached(&job);
        JobContext {
            job,
            states,
            lent: Lent::Own {
                cancel: tokio_util::sync::CancellationToken::new(),
                steps,
            },
            cancel: None,
            progress: None,
        }
    }

    /// The context of a worker's run of `job`, whose cancel, progress and step progress
    /// come from `run`.
    pub(crate) fn of_run(job: Arc<JobEnvelope>, states: States, run: Arc<dyn RunLinks>) -> Self {
        JobContext {
            job,
            states,
            lent: Lent::Run(run),
            cancel: None,
            progress: None,
        }
    }

    /// The same context, cancelled when `token` is, in place of its own token (a worker's
    /// run makes its own when the job first asks for it).
    pub fn with_cancel(mut self, token: tokio_util::sync::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Resolves once the job is cancelled ([`Client::cancel`](crate::Client::cancel), the
    /// dashboard or `jobs cancel`, from any process). The job should stop and return; it ends
    /// cancelled whatever it returns, and is aborted if it is still running after its grace
    /// period (`#[job(cancel_grace = "30s")]`).
    ///
    /// ```
    /// use jobs::prelude::*;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("export failed")]
    /// struct ExportError;
    /// #[jobs::job(queue = "exports", cancel_grace = "10s")]
    /// async fn export(ctx: JobContext, chunks: u32) -> Result<Outcome, ExportError> {
    ///     for _ in 0..chunks {
    ///         tokio::select! {
    ///             _ = ctx.cancelled() => return Ok(Outcome::cancelled("asked to stop")),
    ///             _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
    ///         }
    ///     }
    ///     Ok(Outcome::Done)
    /// }
    /// ```
    pub async fn cancelled(&self) {
        self.cancel_token().cancelled().await
    }

    /// Whether the job was cancelled (see [`JobContext::cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        match (&self.cancel, &self.lent) {
            (Some(token), _) => token.is_cancelled(),
            (None, Lent::Own { cancel, .. }) => cancel.is_cancelled(),
            (None, Lent::Run(run)) => run.is_cancelled(),
        }
    }

    /// The job's cancellation token, to hand to code that takes one.
    pub fn cancel_token(&self) -> &tokio_util::sync::CancellationToken {
        match (&self.cancel, &self.lent) {
            (Some(token), _) => token,
            (None, Lent::Own { cancel, .. }) => cancel,
            (None, Lent::Run(run)) => run.cancel_token(),
        }
    }

    /// Gives the context a progress writer in place of the run's own (a worker's run makes
    /// its own when the job first reports progress).
    pub fn with_progress(mut self, writer: Arc<super::progress::ProgressWriter>) -> Self {
        self.progress = Some(writer);
        self
    }

    /// The run's progress writer, when it runs in a worker (made on first use).
    pub fn progress_writer(&self) -> Option<&Arc<super::progress::ProgressWriter>> {
        match (&self.progress, &self.lent) {
            (Some(writer), _) => Some(writer),
            (None, Lent::Own { .. }) => None,
            (None, Lent::Run(run)) => run.progress(),
        }
    }

    /// This run's step progress.
    pub(crate) fn steps(&self) -> &Arc<super::steps::Steps> {
        match &self.lent {
            Lent::Own { steps, .. } => steps,
            Lent::Run(run) => run.steps(),
        }
    }

    /// The job id.
    pub fn jid(&self) -> &str {
        &self.job.jid
    }

    /// The wire name.
    pub fn class(&self) -> &str {
        &self.job.class
    }

    /// The queue it was taken from.
    pub fn queue(&self) -> &str {
        &self.job.queue
    }

    /// 1 for the first run, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.job.attempt()
    }

    /// When the job was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        from_epoch(self.job.created_at)
    }

    /// When the job was last put on its queue.
    pub fn enqueued_at(&self) -> Option<DateTime<Utc>> {
        self.job.enqueued_at.map(from_epoch)
    }

    /// Active Job's data (`job_id`, `executions`, `locale`, `timezone`, `priority`, ...)
    /// when the job was pushed by Active Job's Sidekiq adapter; `None` for a plain job.
    /// For such a job [`JobContext::class`] is the wrapper class and
    /// `active_job().job_class` the Ruby job class.
    ///
    /// ```
    /// use jobs::prelude::*;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("never")]
    /// struct Never;
    /// #[jobs::job(name = "WelcomeJob", active_job)]
    /// async fn welcome(ctx: JobContext, user_id: i64) -> Result<(), Never> {
    ///     if let Some(aj) = ctx.active_job() {
    ///         tracing::info!(job_id = %aj.job_id, locale = ?aj.locale, "welcoming {user_id}");
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn active_job(&self) -> Option<crate::active_job::ActiveJobInfo> {
        crate::active_job::ActiveJobInfo::from_envelope(&self.job)
    }

    /// The whole stored job.
    pub fn envelope(&self) -> &JobEnvelope {
        &self.job
    }

    /// The states given to the worker.
    pub fn states(&self) -> &States {
        &self.states
    }

    /// The state of type `T`, or a failure naming the job and the missing type.
    pub fn state<T: Clone + 'static>(&self) -> Result<State<T>, Failure> {
        self.states.get::<T>().map(State).ok_or_else(|| {
            Failure::new(
                FailureKind::MissingState,
                "jobs::MissingState",
                format!(
                    "job {} needs State<{}>, which was not given to the worker or client",
                    self.job.class,
                    std::any::type_name::<T>()
                ),
            )
        })
    }
}
