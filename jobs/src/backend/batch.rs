//! The batch side of the backend contract: [`BatchStore`], where batches are created,
//! grown, sealed, read and expired. Member settles update batches inside the backend's own
//! fenced finish step (see `docs/backend-contract.md`, "Batches").

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::BackendError;
use crate::batch::{BatchEvent, BatchInfo, Counts, Fired};
use crate::envelope::JobEnvelope;

/// A batch as the status API and the dashboard read it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchStatus {
    /// What the batch is.
    pub info: BatchInfo,
    /// Its member counts (a child batch counts as one member).
    pub counts: Counts,
    /// Whether it is sealed: members come only from its running members now.
    pub sealed: bool,
    /// Which callbacks fired, and when.
    pub fired: Fired,
    /// The jids of members in retry or dead (at most 1,000).
    pub failed_jids: Vec<String>,
    /// The ids of its child batches.
    pub children: Vec<String>,
}

impl BatchStatus {
    /// A batch `info` with `counts`, nothing else known yet.
    pub fn new(info: BatchInfo, counts: Counts) -> Self {
        BatchStatus {
            info,
            counts,
            sealed: false,
            fired: Fired::default(),
            failed_jids: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Every member, pending or not.
    pub fn total(&self) -> u64 {
        self.counts.total()
    }

    /// Whether every member succeeded (the `success` callback fired).
    pub fn is_finished(&self) -> bool {
        self.fired.success.is_some()
    }

    /// Whether `event`'s callback fired.
    pub fn has_fired(&self, event: BatchEvent) -> bool {
        self.fired.get(event).is_some()
    }
}

/// Create a batch, with its first members, in one atomic step.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchCreateParams {
    /// The batch.
    pub info: BatchInfo,
    /// Its first members (each gets the batch id in its `bid` field).
    pub jobs: Vec<JobEnvelope>,
    /// Whether no member will be added from outside: callbacks may fire at once.
    pub sealed: bool,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl BatchCreateParams {
    /// Create batch `info` at `now`, open (members may be added) and empty.
    pub fn new(info: BatchInfo, now: DateTime<Utc>) -> Self {
        BatchCreateParams {
            info,
            jobs: Vec::new(),
            sealed: false,
            now,
        }
    }

    /// With these first members.
    pub fn jobs(mut self, jobs: Vec<JobEnvelope>) -> Self {
        self.jobs = jobs;
        self
    }

    /// Sealed at once.
    pub fn sealed(mut self, sealed: bool) -> Self {
        self.sealed = sealed;
        self
    }
}

/// Add members to a batch in one atomic step.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchAddParams {
    /// The batch.
    pub bid: String,
    /// The members (each gets the batch id in its `bid` field).
    pub jobs: Vec<JobEnvelope>,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl BatchAddParams {
    /// Add `jobs` to batch `bid` at `now`.
    pub fn new(bid: impl Into<String>, jobs: Vec<JobEnvelope>, now: DateTime<Utc>) -> Self {
        BatchAddParams {
            bid: bid.into(),
            jobs,
            now,
        }
    }
}

/// Where batches are kept. A backend offers it through
/// [`Backend::batches`](super::Backend::batches).
///
/// ```
/// use jobs::backend::Backend;
/// assert!(jobs::memory::MemoryBackend::new().batches().is_some());
/// ```
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Create a batch with its first members (pushed to their queues with its id), and,
    /// when it has a parent, make it a pending member of the parent, all in one step.
    /// Fails with [`BackendError::Conflict`] naming the parent when it does not exist.
    async fn batch_create(&self, params: BatchCreateParams) -> Result<(), BackendError>;

    /// Push members into a batch that exists and has not completed.
    async fn batch_add(&self, params: BatchAddParams) -> Result<(), BackendError>;

    /// Seal batch `bid`: its callbacks may fire from now on (at once if it is done).
    async fn batch_seal(&self, bid: &str, now: DateTime<Utc>) -> Result<(), BackendError>;

    /// Batch `bid`, if it exists.
    async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BackendError>;

    /// Batches, newest first.
    async fn batch_list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BatchStatus>, BackendError>;

    /// Remove the bookkeeping of batches expired at `now`; returns how many.
    async fn batch_cleanup(&self, now: DateTime<Utc>) -> Result<u64, BackendError>;
}
