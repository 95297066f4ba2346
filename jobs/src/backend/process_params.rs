//! The parameter and result types of the process-liveness [`Backend`](super::Backend)
//! methods: what a worker process says about itself in a heartbeat (`process_heartbeat`),
//! what the backend answers (signals, cancel requests), and removing a process record. The
//! hot-path types are in `params.rs`, under the same rules: one `#[non_exhaustive]` params
//! struct per method, built with `new` and builder methods, with `now` given.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{LeaseClock, LeaseToken, ProcessId};
use crate::envelope::JobEnvelope;

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
#[non_exhaustive]
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
    /// Whose clock sets the extended leases' expiry (the call's `now` unless set).
    pub lease_clock: LeaseClock,
    /// The leases to extend: `None` (unless set) extends every lease of the process;
    /// `Some` only those listed, see [`HeartbeatParams::leases`].
    pub leases: Option<Vec<LeaseToken>>,
}

impl HeartbeatParams {
    /// A beat of process `info` at `now`, running nothing, not quiet, with 60 s leases.
    pub fn new(info: ProcessInfo, now: DateTime<Utc>) -> Self {
        HeartbeatParams {
            info,
            running: Vec::new(),
            quiet: false,
            lease_ttl: Duration::from_secs(60),
            now,
            lease_clock: LeaseClock::Caller,
            leases: None,
        }
    }

    /// Extend only these leases, the ones the process still holds (workers list every job
    /// from its reserve until its outcome is stored or it is given back).
    ///
    /// A lease of the process not listed is left to lapse: a job whose reserve the store
    /// applied but whose reply never reached the process (the connection dropped, the
    /// server crashed after the write) then goes back to its queue instead of staying
    /// leased for as long as the process lives. SQL and memory backends let such a lease
    /// expire a lease ttl after it was last extended (a rescue then counts it); Redis, whose
    /// lease is the process's, gives back a job found unlisted in two beats in a row.
    ///
    /// ```
    /// use jobs::backend::{HeartbeatParams, LeaseToken, ProcessInfo};
    /// let now = jobs::chrono::Utc::now();
    /// let info = ProcessInfo {
    ///     id: "host:1:abc".into(),
    ///     hostname: "host".into(),
    ///     pid: 1,
    ///     tag: None,
    ///     queues: vec!["default".into()],
    ///     concurrency: 10,
    ///     started_at: now,
    ///     labels: Vec::new(),
    ///     version: "0.1.0".into(),
    /// };
    /// let params = HeartbeatParams::new(info, now).leases(vec![LeaseToken("17:abc".into())]);
    /// assert_eq!(params.leases.map(|l| l.len()), Some(1));
    /// ```
    pub fn leases(mut self, held: Vec<LeaseToken>) -> Self {
        self.leases = Some(held);
        self
    }

    /// Whose clock sets the extended leases' expiry (see [`LeaseClock`]).
    pub fn lease_clock(mut self, clock: LeaseClock) -> Self {
        self.lease_clock = clock;
        self
    }

    /// The jobs the process runs now.
    pub fn running(mut self, running: Vec<RunningJob>) -> Self {
        self.running = running;
        self
    }

    /// Whether the process stopped reserving.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// How long the process's leases stay valid after this beat.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }
}

/// Remove the record of a process that shut down cleanly.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessRemoveParams {
    /// The process.
    pub id: ProcessId,
}

impl ProcessRemoveParams {
    /// Remove process `id`.
    pub fn new(id: impl Into<ProcessId>) -> Self {
        ProcessRemoveParams { id: id.into() }
    }
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
    /// The jids among the beat's running jobs whose cancel is requested.
    pub cancels: Vec<String>,
}
