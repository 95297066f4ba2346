//! The parameter and result types of the hot-path [`Backend`](super::Backend) methods.
//!
//! Each method takes one params struct, so adding an option never breaks a backend. Every
//! time-dependent call carries `now`, so tests drive backends with an injected clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::envelope::JobEnvelope;

/// Identifies one worker process, unique across hosts (`hostname:pid:random`).
pub type ProcessId = String;

/// A backend's opaque handle on one reserved job; only the backend that issued it reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub String);

/// Push jobs: those with `at` set go to the scheduled set, the others to their queues.
#[derive(Debug, Clone)]
pub struct PushParams {
    /// The jobs, in order. Many jobs are pushed in one round trip.
    pub jobs: Vec<JobEnvelope>,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl PushParams {
    /// Push `jobs` at `now`.
    pub fn new(jobs: Vec<JobEnvelope>, now: DateTime<Utc>) -> Self {
        PushParams { jobs, now }
    }
}

/// Reserve up to `limit` jobs from `queues`, tried in the order given.
#[derive(Debug, Clone)]
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
        }
    }
}

/// A job a backend handed out, with the token that settles it.
#[derive(Debug, Clone)]
pub struct Reserved {
    /// The job as stored.
    pub job: JobEnvelope,
    /// The backend's handle on the lease.
    pub token: LeaseToken,
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
}

/// One job to settle.
#[derive(Debug, Clone)]
pub struct Finish {
    /// The lease being settled.
    pub token: LeaseToken,
    /// The job as it should be stored next (with error fields and retry count updated).
    pub job: JobEnvelope,
    /// Where it goes.
    pub outcome: FinishOutcome,
    /// Whether the run failed, for the `failed` counters.
    pub failed: bool,
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

/// Settle reserved jobs. Each counts toward `processed` (all but snoozes) and `failed`.
#[derive(Debug, Clone)]
pub struct FinishParams {
    /// The jobs to settle.
    pub items: Vec<Finish>,
    /// Limits applied when a job goes to the dead set.
    pub dead_limits: DeadLimits,
    /// The current time.
    pub now: DateTime<Utc>,
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
pub struct RequeueParams {
    /// The leases to give back.
    pub tokens: Vec<LeaseToken>,
    /// The current time.
    pub now: DateTime<Utc>,
}

/// What a process tells the backend about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcessInfo {
    /// Its id.
    pub id: ProcessId,
    /// The host it runs on.
    pub hostname: String,
    /// Its OS process id.
    pub pid: u32,
    /// An optional tag (an app name).
    pub tag: Option<String>,
    /// The queues it works.
    pub queues: Vec<String>,
    /// How many jobs it runs at once.
    pub concurrency: usize,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Free-form labels.
    pub labels: Vec<String>,
    /// The version of `jobs` it runs.
    pub version: String,
}

/// A job a process is running now.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningJob {
    /// The job.
    pub job: JobEnvelope,
    /// When this run started.
    pub started_at: DateTime<Utc>,
}

/// A heartbeat: the process is alive, extend its leases.
#[derive(Debug, Clone)]
pub struct HeartbeatParams {
    /// Who beats.
    pub info: ProcessInfo,
    /// What it runs now.
    pub running: Vec<RunningJob>,
    /// Whether it stopped reserving.
    pub quiet: bool,
    /// How long its leases stay valid after this beat.
    pub lease_ttl: Duration,
    /// The current time.
    pub now: DateTime<Utc>,
}

/// A request for a process, left by the admin side and read at its next heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ProcessSignal {
    /// Stop reserving jobs, keep running the current ones.
    Quiet,
    /// Shut down gracefully.
    Stop,
}

/// The backend's answer to a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// Signals left for the process since its last beat.
    pub signals: Vec<ProcessSignal>,
}

/// Move due scheduled and retry jobs to their queues.
#[derive(Debug, Clone)]
pub struct PromoteParams {
    /// The current time: jobs due at or before it move.
    pub now: DateTime<Utc>,
    /// The most jobs to move in one call.
    pub limit: usize,
}

/// Give back the jobs held by processes whose leases expired.
#[derive(Debug, Clone)]
pub struct RescueParams {
    /// The current time.
    pub now: DateTime<Utc>,
}
