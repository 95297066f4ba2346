//! Enqueueing: the [`Client`], the default client, and the per-call [`Enqueue`] builder.
//!
//! 1. A [`Client`] wraps a backend with a clock, client middleware, a payload size limit and
//!    (for `perform_now` and inline mode) the states jobs need.
//! 2. `perform_later` uses the current client: the one a test or worker scoped to this task
//!    ([`Client::scope`]), else the process default ([`set_default_client`]), else one made
//!    from `JOBS_URL` on first use.
//! 3. Enqueue refuses, with an error naming the job and argument, what JSON would not give
//!    back unchanged and payloads over the size limit; nothing is mangled or truncated.

mod builder;
mod cancel;
mod default;
mod enqueued;
mod results;

pub use builder::Enqueue;
pub use cancel::CancelError;
pub use default::{set_default_client, JOBS_URL};
pub use enqueued::{Enqueued, OnConflict};
pub use results::ResultError;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::{Backend, BackendError, PushConflict, PushParams};
use crate::clock::{Clock, SystemClock};
use crate::envelope::{to_epoch, JobEnvelope, RetrySetting};
use crate::job::{ArgsError, Failure, Job, JobContext, JobResult, States};
use crate::ConnectError;

/// A job's id: 24 lowercase hex characters.
pub type JobId = String;

/// The default payload limit: 512 KiB of JSON per job.
pub const DEFAULT_MAX_PAYLOAD: usize = 512 * 1024;

/// Why a job was not enqueued. Nothing was stored when this is returned, except for a bulk
/// enqueue refused as [`EnqueueError::Duplicate`], which says what was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// An argument cannot be stored as JSON unchanged.
    #[error(transparent)]
    Args(#[from] ArgsError),
    /// The job's JSON is over the client's size limit.
    #[error("job {job} is {size} bytes of JSON, over the limit of {limit} bytes; pass ids rather than whole records")]
    TooLarge {
        /// The wire name.
        job: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An argument nests deeper than a worker can decode (see
    /// [`MAX_ARG_DEPTH`](crate::envelope::check::MAX_ARG_DEPTH)).
    #[error("job {job}: argument #{position} is nested deeper than {limit} arrays or objects, more than a worker can decode; store it flatter or pass an id")]
    TooDeep {
        /// The wire name.
        job: String,
        /// 1-based position of the argument.
        position: usize,
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// The backend did not accept the job.
    #[error("could not enqueue {job}: {source}")]
    Backend {
        /// The wire name (the first, for a bulk enqueue).
        job: String,
        /// What the backend said.
        #[source]
        source: BackendError,
    },
    /// A unique job's lock is held by another job and the enqueue asked for an error
    /// ([`OnConflict::Error`]).
    #[error("job {job} is a duplicate of job {holder}, which holds its unique lock")]
    Duplicate {
        /// The wire name.
        job: String,
        /// The job that holds the lock (the first, for a bulk enqueue).
        holder: JobId,
        /// For a bulk enqueue, what happened to each job: the others were stored.
        enqueued: Vec<Enqueued>,
    },
    /// A per-call option has a value the job cannot run with.
    #[error("job {job}: bad option `{option}`: {reason}")]
    BadOption {
        /// The wire name.
        job: String,
        /// The option, as named in `set()` (`concurrency.limit`, `rate.per`).
        option: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No client was set and `JOBS_URL` is not set.
    #[error("no backend to enqueue on: call jobs::set_default_client(..) at start, set JOBS_URL, or pass a client with set().client(..)")]
    NoClient,
    /// `JOBS_URL` does not name a usable backend.
    #[error("JOBS_URL: {0}")]
    Connect(#[from] ConnectError),
    /// A client middleware refused the job.
    #[error("client middleware refused job {job}: {reason}")]
    Refused {
        /// The wire name.
        job: String,
        /// Why.
        reason: String,
    },
    /// In inline mode, the job ran at once and failed.
    #[error("job {job} failed inline: {failure}")]
    Inline {
        /// The wire name.
        job: String,
        /// The failure (boxed: it is large, and every enqueue returns this error type).
        failure: Box<Failure>,
    },
}

/// Runs before a job is pushed: add context (trace ids, tenant ids) or refuse it.
///
/// ```
/// use jobs::envelope::JobEnvelope;
/// struct Tenant(&'static str);
/// impl jobs::ClientMiddleware for Tenant {
///     fn before_push(&self, job: &mut JobEnvelope) -> Result<(), String> {
///         job.extra.insert("tenant".into(), self.0.into());
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a client middleware",
    label = "not a `ClientMiddleware`",
    note = "implement `jobs::ClientMiddleware` for a struct: its `before_push` may change or refuse each job before it is stored"
)]
pub trait ClientMiddleware: Send + Sync + 'static {
    /// Change the job, or return `Err(reason)` to refuse it.
    fn before_push(&self, job: &mut JobEnvelope) -> Result<(), String>;
}

struct Inner {
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    middleware: Vec<Arc<dyn ClientMiddleware>>,
    max_payload: usize,
    states: States,
    inline: bool,
}

/// Enqueues jobs on a backend.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// let client = jobs::Client::new(Arc::new(jobs::memory::MemoryBackend::new()));
/// jobs::set_default_client(client.clone());
/// # });
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("backend", &self.inner.backend.name())
            .field("inline", &self.inner.inline)
            .finish()
    }
}

/// Builds a [`Client`].
#[must_use]
pub struct ClientBuilder {
    inner: Inner,
}

impl ClientBuilder {
    /// Reads time from `clock` (tests inject a manual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.inner.clock = clock;
        self
    }

    /// Adds a client middleware; they run in the order added.
    pub fn middleware(mut self, m: impl ClientMiddleware) -> Self {
        self.inner.middleware.push(Arc::new(m));
        self
    }

    /// Refuses jobs whose JSON is larger than `bytes` (default 512 KiB).
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.inner.max_payload = bytes;
        self
    }

    /// Gives a state to jobs run by `perform_now` or in inline mode.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.inner.states = self.inner.states.with(value);
        self
    }

    /// Inline mode: enqueue performs the job at once instead of storing it.
    pub fn inline(mut self, inline: bool) -> Self {
        self.inner.inline = inline;
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        Client {
            inner: Arc::new(self.inner),
        }
    }
}

impl Client {
    /// A client with the defaults.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::builder(backend).build()
    }

    /// A client to configure.
    pub fn builder(backend: Arc<dyn Backend>) -> ClientBuilder {
        ClientBuilder {
            inner: Inner {
                backend,
                clock: Arc::new(SystemClock),
                middleware: Vec::new(),
                max_payload: DEFAULT_MAX_PAYLOAD,
                states: States::new(),
                inline: false,
            },
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The states given for `perform_now` and inline mode.
    pub fn states(&self) -> &States {
        &self.inner.states
    }

    /// Whether enqueue performs at once.
    pub fn is_inline(&self) -> bool {
        self.inner.inline
    }

    /// A copy of this client that also holds `states` (used by the worker).
    pub fn with_states(&self, states: States) -> Client {
        Client {
            inner: Arc::new(Inner {
                backend: self.inner.backend.clone(),
                clock: self.inner.clock.clone(),
                middleware: self.inner.middleware.clone(),
                max_payload: self.inner.max_payload,
                states,
                inline: self.inner.inline,
            }),
        }
    }

    /// Runs `fut` with this client as the current one for `perform_later` in this task.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        default::CURRENT.scope(self.clone(), fut).await
    }

    /// The envelope for `job` with these options, not yet pushed.
    pub fn envelope<J: Job>(
        &self,
        job: &J,
        opts: &EnqueueOptions,
    ) -> Result<JobEnvelope, EnqueueError> {
        let defaults = J::options();
        let now = self.inner.clock.now();
        let queue = opts
            .queue
            .clone()
            .unwrap_or_else(|| defaults.queue.to_owned());
        // Made at the client's clock (a test's may be set), read once.
        let since_epoch = (now - chrono::DateTime::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default();
        let mut env = JobEnvelope::made_at(J::NAME, queue, job.to_args()?, since_epoch);
        env.retry = opts.retry.unwrap_or(defaults.retry);
        env.dead = match opts.dead {
            Some(d) => Some(d),
            None if !defaults.dead => Some(false),
            None => None,
        };
        let due = opts.run_at(now).filter(|at| *at > now);
        if let Some(at) = due {
            env.at = Some(to_epoch(at));
        }
        let due = due.unwrap_or(now);
        env.set_priority(opts.priority.unwrap_or(defaults.priority));
        if let Some(unique) = opts.unique.or(defaults.unique) {
            env.set_unique(Some(unique.lock(J::NAME, &env.queue, &env.args, due)));
        }
        if let Some(within) = opts.expires_in.or(defaults.expires_in) {
            env.set_expires_at(Some(to_epoch(crate::retry::later(due, within))));
        }
        let bad = |option, reason| EnqueueError::BadOption {
            job: J::NAME.to_owned(),
            option,
            reason,
        };
        if let Some(limit) = opts.concurrency.or(defaults.concurrency) {
            if limit.limit == 0 {
                return Err(bad("concurrency.limit", "must be at least 1"));
            }
            env.set_concurrency(Some(limit.for_job(J::NAME, &env.args)));
        }
        if let Some(rate) = opts.rate.or(defaults.rate) {
            if rate.limit == 0 {
                return Err(bad("rate.limit", "must be at least 1"));
            }
            if rate.per < std::time::Duration::from_millis(1) {
                return Err(bad("rate.per", "must be at least 1ms"));
            }
            env.set_rate(Some(rate.for_job(J::NAME, &env.args)));
        }
        Ok(env)
    }

    /// Pushes ready envelopes in one round trip, after middleware and the size check;
    /// duplicates of unique jobs are skipped.
    pub async fn push(&self, jobs: Vec<JobEnvelope>) -> Result<Vec<Enqueued>, EnqueueError> {
        self.push_with(jobs, OnConflict::Skip).await
    }

    /// [`Client::push`], with what to do about duplicates of unique jobs.
    pub async fn push_with(
        &self,
        mut jobs: Vec<JobEnvelope>,
        on_conflict: OnConflict,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        self.check(&mut jobs)?;
        let Some(first) = jobs.first() else {
            return Ok(Vec::new());
        };
        let class = first.class.clone();
        self.push_checked(jobs, on_conflict, class).await
    }

    /// Runs the middleware over `jobs` and refuses any too deep or too large.
    pub(crate) fn check(&self, jobs: &mut [JobEnvelope]) -> Result<(), EnqueueError> {
        for job in jobs.iter_mut() {
            for m in &self.inner.middleware {
                m.before_push(job).map_err(|reason| EnqueueError::Refused {
                    job: job.class.clone(),
                    reason,
                })?;
            }
            let limit = crate::envelope::check::MAX_ARG_DEPTH;
            if let Some(i) = (job.args.iter())
                .position(|a| !crate::envelope::check::value_depth_within(a, limit))
            {
                return Err(EnqueueError::TooDeep {
                    job: job.class.clone(),
                    position: i + 1,
                    limit,
                });
            }
            let size = encoded_len(job);
            if size > self.inner.max_payload {
                return Err(EnqueueError::TooLarge {
                    job: job.class.clone(),
                    size,
                    limit: self.inner.max_payload,
                });
            }
        }
        Ok(())
    }

    async fn push_checked(
        &self,
        #[cfg_attr(not(feature = "otel"), allow(unused_mut))] mut jobs: Vec<JobEnvelope>,
        on_conflict: OnConflict,
        class: String,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        // Feature `otel`: the push runs in a `publish` span whose context each job carries.
        #[cfg(feature = "otel")]
        let publish = crate::telemetry::otel::publish(&mut jobs, self.inner.backend.name());
        // Each job's queue and name, for `jobs_enqueued_total` once the store took them.
        let labels = crate::telemetry::label_runs(&jobs);
        let mut out: Vec<Enqueued> = jobs.iter().map(|j| Enqueued::New(j.jid.clone())).collect();
        let conflict = match on_conflict {
            OnConflict::Replace => PushConflict::Replace,
            _ => PushConflict::Skip,
        };
        let params = PushParams::new(jobs, self.inner.clock.now()).on_conflict(conflict);
        let push = self.inner.backend.job_push(params);
        #[cfg(feature = "otel")]
        let push = tracing::Instrument::instrument(push, publish);
        let report = push.await.map_err(|source| EnqueueError::Backend {
            job: class.clone(),
            source,
        })?;
        for (i, replaced) in report.replaced {
            if let Some(e) = out.get_mut(i) {
                let jid = std::mem::replace(e, Enqueued::New(String::new())).into_jid();
                *e = Enqueued::Replaced { jid, replaced };
            }
        }
        let first_holder = report.duplicates.first().map(|(_, h)| h.clone());
        for (i, holder) in report.duplicates {
            if let Some(e) = out.get_mut(i) {
                *e = Enqueued::Duplicate(holder);
            }
        }
        crate::telemetry::enqueued(&labels, &out);
        match (on_conflict, first_holder) {
            (OnConflict::Error, Some(holder)) => Err(EnqueueError::Duplicate {
                job: class,
                holder,
                enqueued: if out.len() > 1 { out } else { Vec::new() },
            }),
            _ => Ok(out),
        }
    }

    /// Enqueues one job.
    pub async fn enqueue<J: Job>(
        &self,
        job: J,
        opts: &EnqueueOptions,
    ) -> Result<Enqueued, EnqueueError> {
        let env = self.envelope(&job, opts)?;
        if self.inner.inline {
            let jid = env.jid.clone();
            self.run_inline(job, env).await?;
            return Ok(Enqueued::New(jid));
        }
        let mut ids = self.push_with(vec![env], opts.on_conflict).await?;
        ids.pop().ok_or(EnqueueError::NoClient)
    }

    /// Enqueues many jobs in one backend round trip; all are stored, or none.
    pub async fn enqueue_all<J: Job>(
        &self,
        jobs: impl IntoIterator<Item = J>,
        opts: &EnqueueOptions,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        let jobs: Vec<J> = jobs.into_iter().collect();
        let envs = jobs
            .iter()
            .map(|j| self.envelope(j, opts))
            .collect::<Result<Vec<_>, _>>()?;
        if self.inner.inline {
            let mut ids = Vec::with_capacity(envs.len());
            for (job, env) in jobs.into_iter().zip(envs) {
                ids.push(Enqueued::New(env.jid.clone()));
                self.run_inline(job, env).await?;
            }
            return Ok(ids);
        }
        self.push_with(envs, opts.on_conflict).await
    }

    async fn run_inline<J: Job>(&self, job: J, env: JobEnvelope) -> Result<(), EnqueueError> {
        let class = env.class.clone();
        // Round-trip the arguments, as a worker would, so inline mode catches what storage would.
        let job = J::from_args(&job.to_args()?).map_err(EnqueueError::Args)?;
        let ctx = JobContext::new(Arc::new(env), self.inner.states.clone());
        match self.scope(job.perform(ctx)).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(EnqueueError::Inline {
                job: class,
                failure: Box::new(failure),
            }),
        }
    }

    /// Runs a job here and now, as Active Job's `perform_now` does: no backend, no retries.
    pub async fn perform_now<J: Job>(&self, job: J) -> JobResult {
        let env = JobEnvelope::new(J::NAME, J::options().queue, Vec::new());
        let ctx = JobContext::new(Arc::new(env), self.inner.states.clone());
        self.scope(job.perform(ctx)).await
    }
}

/// Per-call options: queue, delay, retries, uniqueness, priority, expiry, limits.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EnqueueOptions {
    /// Another queue than the job's default.
    pub queue: Option<String>,
    /// Run after this delay.
    pub wait: Option<std::time::Duration>,
    /// Run at this time.
    pub wait_until: Option<DateTime<Utc>>,
    /// Another retry setting.
    pub retry: Option<RetrySetting>,
    /// Whether to keep the job dead when its retries run out.
    pub dead: Option<bool>,
    /// Another uniqueness than the job's.
    pub unique: Option<crate::job::Unique>,
    /// What to do when the job is a duplicate of a unique job.
    pub on_conflict: OnConflict,
    /// Another priority than the job's.
    pub priority: Option<u8>,
    /// Another expiry than the job's.
    pub expires_in: Option<std::time::Duration>,
    /// Another concurrency limit than the job's.
    pub concurrency: Option<crate::job::Concurrency>,
    /// Another rate limit than the job's.
    pub rate: Option<crate::job::Rate>,
}

impl EnqueueOptions {
    /// When the job should run, if later than now.
    pub fn run_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (self.wait_until, self.wait) {
            (Some(at), _) => Some(at),
            (None, Some(d)) => Some(crate::retry::later(now, d)),
            (None, None) => None,
        }
    }
}

impl From<u32> for RetrySetting {
    fn from(n: u32) -> Self {
        RetrySetting::Count(n)
    }
}

impl From<bool> for RetrySetting {
    fn from(b: bool) -> Self {
        RetrySetting::Enabled(b)
    }
}

/// The length of `job` encoded as JSON, counted without building the string.
fn encoded_len(job: &JobEnvelope) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, job) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}
