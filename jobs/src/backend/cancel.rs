//! Cancelling jobs: what [`Backend::job_cancel`](super::Backend::job_cancel) takes and answers,
//! and how a worker learns that a job it runs was cancelled.
//!
//! 1. [`CancelParams`] names jobs by jid; each gets a [`Cancellation`]: a waiting, scheduled
//!    or retrying job is moved to the cancelled set at once ([`JobSet::Cancelled`](super::JobSet),
//!    kept like the dead set, never retried, not counted as failed); a running one gets a
//!    cancel request stored under its jid, which its worker reads from the backend's channel
//!    ([`CancelFeed`]) or, as the fallback, from its next heartbeat
//!    ([`HeartbeatReply::cancels`](super::HeartbeatReply)).
//! 2. [`CancelPendingParams`] asks which of some jids have a cancel request: the worker asks
//!    it of a job rescued from a dead process before running it again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::DeadLimits;

/// How long a cancel request for a running job is kept when nothing settles the job (as
/// Sidekiq keeps its cancellation flag): three days.
pub const CANCEL_REQUEST_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// Cancel jobs by jid.
///
/// ```
/// use jobs::backend::CancelParams;
/// let p = CancelParams::new(vec!["0123456789abcdef01234567".into()], jobs::chrono::Utc::now());
/// assert_eq!(p.jids.len(), 1);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CancelParams {
    /// The jobs, by jid.
    pub jids: Vec<String>,
    /// The current time: the cancelled jobs' time in the cancelled set.
    pub now: DateTime<Utc>,
    /// The retention and cap of the cancelled set (the dead set's, by default).
    pub limits: DeadLimits,
}

impl CancelParams {
    /// Cancel the jobs `jids` at `now`.
    pub fn new(jids: Vec<String>, now: DateTime<Utc>) -> Self {
        CancelParams {
            jids,
            now,
            limits: DeadLimits::default(),
        }
    }

    /// Keep the cancelled set within `limits`.
    pub fn limits(mut self, limits: DeadLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// What a cancel did to one job.
///
/// ```
/// use jobs::backend::Cancellation;
/// assert_eq!(Cancellation::Requested.as_str(), "requested");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cancellation {
    /// It was waiting (in a queue, scheduled, or in the retry set): it is now in the
    /// cancelled set and will not run.
    Cancelled,
    /// It is running: the cancel is requested, and its worker signals the job, which ends
    /// cancelled (or is aborted after its grace period).
    Requested,
    /// No job has this jid: it never existed, or it completed and was not kept.
    NotFound,
    /// It already ended: it is in the dead or the cancelled set (or kept as completed).
    AlreadyFinished,
}

impl Cancellation {
    /// `cancelled`, `requested`, `not_found` or `already_finished`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Cancellation::Cancelled => "cancelled",
            Cancellation::Requested => "requested",
            Cancellation::NotFound => "not_found",
            Cancellation::AlreadyFinished => "already_finished",
        }
    }
}

impl std::fmt::Display for Cancellation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of these jobs have a cancel requested.
///
/// ```
/// use jobs::backend::CancelPendingParams;
/// assert_eq!(CancelPendingParams::new(vec!["a".into()]).jids, ["a"]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CancelPendingParams {
    /// The jobs, by jid.
    pub jids: Vec<String>,
}

impl CancelPendingParams {
    /// Ask about `jids`.
    pub fn new(jids: Vec<String>) -> Self {
        CancelPendingParams { jids }
    }
}

/// The jids of running jobs whose cancel was just requested, as the backend's channel
/// announces them (Redis pub/sub, Postgres `LISTEN`, an in-process wake for SQLite and
/// memory). It ends when its connection is lost; announcements sent meanwhile are lost, and
/// the heartbeat delivers them instead.
pub type CancelFeed = futures::stream::BoxStream<'static, String>;

/// A [`CancelFeed`] of the jids sent on a broadcast channel: what backends that announce
/// cancels within the process use. It skips what it lagged behind on (the heartbeat delivers
/// those) and ends when the sender is gone.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use futures::StreamExt;
/// let (tx, rx) = tokio::sync::broadcast::channel(8);
/// let mut feed = jobs::backend::broadcast_feed(rx);
/// tx.send("jid-1".to_owned()).unwrap();
/// assert_eq!(feed.next().await.as_deref(), Some("jid-1"));
/// # });
/// ```
pub fn broadcast_feed(rx: tokio::sync::broadcast::Receiver<String>) -> CancelFeed {
    use tokio::sync::broadcast::error::RecvError;
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(jid) => return Some((jid, rx)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    }))
}
