//! The parameter and result types of the hot-path [`Backend`](super::Backend) methods.
//!
//! Each method takes one params struct, so adding an option never breaks a backend. Every
//! params struct is `#[non_exhaustive]`: callers build it with its `new` constructor and the
//! builder methods for optional fields, so a field added later breaks no caller. Every
//! time-dependent call carries `now`, so tests drive backends with an injected clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::flow::{PushConflict, PushReport};
pub use crate::clock::LeaseClock;
use crate::envelope::JobEnvelope;

/// Identifies one worker process, unique across hosts (`hostname:pid:random`).
pub type ProcessId = String;

/// A backend's opaque handle on one reserved job; only the backend that issued it reads it.
///
/// Shared text: the worker keeps a job's token in its held leases, its run and its outcome,
/// and cloning one costs a reference count, not a copy.
///
/// ```
/// use jobs::backend::LeaseToken;
/// let token = LeaseToken::new(format!("{}.{}", 17, 3));
/// assert_eq!(token.as_str(), "17.3");
/// assert_eq!(token.clone(), LeaseToken("17.3".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub Arc<str>);

impl LeaseToken {
    /// A token of this text.
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        LeaseToken(text.into())
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Push jobs: those with `at` set go to the scheduled set, the others to their queues.
///
/// A job with a unique lock ([`JobEnvelope::unique`]) is stored only if no other job holds a
/// lock of the same key that has not lapsed; jobs of one push are taken in order, so the
/// second of two duplicates in one push is a duplicate of the first. What happens to a
/// duplicate is `on_conflict`'s to say; the [`PushReport`] tells which jobs were not stored.
///
/// ```
/// use jobs::backend::{PushConflict, PushParams};
/// use jobs::envelope::JobEnvelope;
/// let params = PushParams::new(vec![JobEnvelope::new("Ping", "default", vec![])], jobs::chrono::Utc::now())
///     .on_conflict(PushConflict::Replace);
/// assert_eq!((params.jobs.len(), params.on_conflict), (1, PushConflict::Replace));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushParams {
    /// The jobs, in order. Many jobs are pushed in one round trip.
    pub jobs: Vec<JobEnvelope>,
    /// The current time.
    pub now: DateTime<Utc>,
    /// What to do with a job whose unique lock another job holds (skip it unless set).
    pub on_conflict: PushConflict,
}

impl PushParams {
    /// Push `jobs` at `now`, skipping duplicates of unique jobs.
    pub fn new(jobs: Vec<JobEnvelope>, now: DateTime<Utc>) -> Self {
        PushParams {
            jobs,
            now,
            on_conflict: PushConflict::Skip,
        }
    }

    /// What to do with a job whose unique lock another job holds.
    pub fn on_conflict(mut self, on_conflict: PushConflict) -> Self {
        self.on_conflict = on_conflict;
        self
    }
}

/// Reserve up to `limit` jobs from `queues`, tried in the order given.
///
/// ```
/// use std::time::Duration;
/// use jobs::backend::ReserveParams;
/// let params = ReserveParams::new(vec!["default".into()], "host:1:abc", jobs::chrono::Utc::now())
///     .limit(10)
///     .wait(Duration::from_secs(2));
/// assert_eq!((params.limit, params.lease_ttl), (10, Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReserveParams {
    /// Queues in priority order; paused queues are skipped by the backend.
    pub queues: Vec<String>,
    /// The most jobs to return.
    pub limit: usize,
    /// The reserving process, which owns the leases.
    pub process: ProcessId,
    /// How long the leases last without a heartbeat from `process`.
    pub lease_ttl: Duration,
    /// How long to wait for a job when none is available; zero returns at once.
    pub wait: Duration,
    /// The current time.
    pub now: DateTime<Utc>,
    /// Whose clock sets the leases' expiry (the call's `now` unless set).
    pub lease_clock: LeaseClock,
}

impl ReserveParams {
    /// Reserve one job from `queues` for `process`, not waiting.
    pub fn new(queues: Vec<String>, process: impl Into<ProcessId>, now: DateTime<Utc>) -> Self {
        ReserveParams {
            queues,
            limit: 1,
            process: process.into(),
            lease_ttl: Duration::from_secs(60),
            wait: Duration::ZERO,
            now,
            lease_clock: LeaseClock::Caller,
        }
    }

    /// Reserve up to `limit` jobs (at least one).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Leases last `ttl` without a heartbeat (60 s unless set).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Wait up to `wait` for a job when none is available (not at all unless set).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Whose clock sets the leases' expiry (see [`LeaseClock`]).
    pub fn lease_clock(mut self, clock: LeaseClock) -> Self {
        self.lease_clock = clock;
        self
    }
}

/// A job a backend handed out, with the token that settles it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reserved {
    /// The job as stored. Shared: the worker's run, its context and the outcome it settles
    /// hold this one envelope, and a backend that keeps its leased jobs (memory) keeps it
    /// too, so a job is not copied on its way from the reserve to the settle.
    pub job: Arc<JobEnvelope>,
    /// The backend's handle on the lease.
    pub token: LeaseToken,
    /// How many times the job was rescued from a process that died while running it. A job
    /// with rescues may be what killed those processes, so the worker runs it alone.
    pub rescues: u32,
}

impl Reserved {
    /// Job `job` leased under `token`, never rescued.
    pub fn new(job: impl Into<Arc<JobEnvelope>>, token: LeaseToken) -> Self {
        Reserved {
            job: job.into(),
            token,
            rescues: 0,
        }
    }

    /// The job was rescued `rescues` times before this lease.
    pub fn rescues(mut self, rescues: u32) -> Self {
        self.rescues = rescues;
        self
    }
}

/// How a reserved job ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FinishOutcome {
    /// Performed: remove it.
    Completed,
    /// Failed, to be retried at `at` (into the retry set).
    Retry {
        /// When to retry.
        at: DateTime<Utc>,
    },
    /// Asked to run again at `at` without counting an attempt (into the scheduled set).
    Snooze {
        /// When to run again.
        at: DateTime<Utc>,
    },
    /// Into the dead set.
    Dead,
    /// Removed without keeping it anywhere.
    Discard,
    /// Not run: it was due to start by its expiry ([`JobEnvelope::expires_at`]) and did not.
    /// Removed, counted as expired (not processed, not failed).
    Expired,
    /// Cancelled while it ran: into the cancelled set at `now` (trimmed to the dead set's
    /// limits), its cancel request cleared; counted neither processed nor failed.
    Cancelled,
}

/// One job's outcome, as the worker decides it and the backend stores it: the one shape an
/// outcome has from the processor to [`Backend::job_finish`](super::Backend::job_finish).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Finish {
    /// The lease being settled.
    pub token: LeaseToken,
    /// The job as it should be stored next (with error fields and retry count updated).
    /// Shared, so a settle that must be sent again (the store was unreachable) costs no copy
    /// of the envelope; a backend that stores it takes a copy only where it changes it.
    pub job: Arc<JobEnvelope>,
    /// Where it goes.
    pub outcome: FinishOutcome,
    /// Whether the run failed, for the `failed` counters.
    pub failed: bool,
    /// The job's return value, stored with a completed settle in the same atomic step (see
    /// [`ResultWrite`](super::ResultWrite)); a lost settle stores none.
    pub result: Option<super::ResultWrite>,
}

impl Finish {
    /// Settle lease `token` by storing `job` where `outcome` says; `failed` counts the run as
    /// failed.
    pub fn new(
        token: LeaseToken,
        job: impl Into<Arc<JobEnvelope>>,
        outcome: FinishOutcome,
        failed: bool,
    ) -> Self {
        Finish {
            token,
            job: job.into(),
            outcome,
            failed,
            result: None,
        }
    }

    /// Stores `result` with the settle (meaningful with [`FinishOutcome::Completed`]).
    pub fn with_result(mut self, result: super::ResultWrite) -> Self {
        self.result = Some(result);
        self
    }
}

/// Limits on the dead set: the oldest jobs beyond them are trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLimits {
    /// At most this many dead jobs (Sidekiq: 10,000).
    pub max_jobs: u64,
    /// Dead jobs older than this are trimmed (Sidekiq: 6 months).
    pub max_age: Duration,
}

impl Default for DeadLimits {
    fn default() -> Self {
        DeadLimits {
            max_jobs: 10_000,
            max_age: Duration::from_secs(180 * 24 * 3600),
        }
    }
}

/// Logs that `trimmed` of the oldest dead jobs were removed to keep the dead set within its
/// [`DeadLimits`]: the one wording of that warning, logged once, by the backend that trimmed
/// (in `job_finish` or `job_kill`), never again by its caller. Does nothing for zero.
pub fn warn_dead_trimmed(backend: &'static str, trimmed: u64) {
    if trimmed > 0 {
        tracing::warn!(
            backend,
            trimmed,
            "dead set over its limits; oldest dead jobs trimmed"
        );
    }
}

/// Settle reserved jobs. Each counts toward `processed` (all but snoozes) and `failed`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FinishParams {
    /// The jobs to settle.
    pub items: Vec<Finish>,
    /// Limits applied when a job goes to the dead set.
    pub dead_limits: DeadLimits,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl FinishParams {
    /// Settle `items` at `now`, with the default [`DeadLimits`].
    pub fn new(items: Vec<Finish>, now: DateTime<Utc>) -> Self {
        FinishParams {
            items,
            dead_limits: DeadLimits::default(),
            now,
        }
    }

    /// Apply `limits` when jobs go to the dead set.
    pub fn dead_limits(mut self, limits: DeadLimits) -> Self {
        self.dead_limits = limits;
        self
    }
}

/// What a finish did besides the moves asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishReport {
    /// Indexes into `items` whose lease was already lost; those were not applied.
    pub lost: Vec<usize>,
    /// How many of the oldest dead jobs were trimmed to keep within [`DeadLimits`].
    pub dead_trimmed: u64,
}

/// Give reserved jobs back to the head of their queues, unchanged.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequeueParams {
    /// The leases to give back.
    pub tokens: Vec<LeaseToken>,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl RequeueParams {
    /// Give back the jobs of `tokens` at `now`.
    pub fn new(tokens: Vec<LeaseToken>, now: DateTime<Utc>) -> Self {
        RequeueParams { tokens, now }
    }
}

/// Move due scheduled and retry jobs to their queues.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PromoteParams {
    /// The current time: jobs due at or before it move.
    pub now: DateTime<Utc>,
    /// The most jobs to move in one call.
    pub limit: usize,
}

impl PromoteParams {
    /// Promote up to 1,000 jobs due at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        PromoteParams { now, limit: 1000 }
    }

    /// Move at most `limit` jobs in this call.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// How many times a job may be rescued from a dead process before it is taken for the cause
/// and moved to the dead set: 3, as Sidekiq Pro's reliable fetch.
pub const DEFAULT_MAX_RESCUES: u32 = 3;

/// Give back the jobs held by processes whose leases expired.
///
/// Each rescue of a job is counted. A job whose count reaches `max_rescues` was running every
/// time a process died (an abort, an out-of-memory kill, a crash in a C library): it goes to
/// the dead set instead of its queue, with an error saying so (see
/// [`bury_rescued`](crate::envelope::bury_rescued)), under the `dead_limits`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RescueParams {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The rescue count at which a job goes to the dead set (at least 1).
    pub max_rescues: u32,
    /// Limits applied when rescued jobs go to the dead set.
    pub dead_limits: DeadLimits,
    /// Whose clock judges which leases expired (the call's `now` unless set).
    pub lease_clock: LeaseClock,
}

impl RescueParams {
    /// Rescue the leases expired at `now`, burying a job at its
    /// [`DEFAULT_MAX_RESCUES`]th rescue.
    pub fn new(now: DateTime<Utc>) -> Self {
        RescueParams {
            now,
            max_rescues: DEFAULT_MAX_RESCUES,
            dead_limits: DeadLimits::default(),
            lease_clock: LeaseClock::Caller,
        }
    }

    /// Whose clock judges which leases expired (see [`LeaseClock`]).
    pub fn lease_clock(mut self, clock: LeaseClock) -> Self {
        self.lease_clock = clock;
        self
    }

    /// Bury a job at its `max`th rescue (0 counts as 1).
    pub fn max_rescues(mut self, max: u32) -> Self {
        self.max_rescues = max.max(1);
        self
    }

    /// Apply `limits` when rescued jobs go to the dead set.
    pub fn dead_limits(mut self, limits: DeadLimits) -> Self {
        self.dead_limits = limits;
        self
    }
}
