//! Batches: jobs tracked together, with callbacks that fire exactly once.
//!
//! 1. [`Batch`] describes a batch and its callbacks; [`Batch::create`] stores it (open) and
//!    returns a [`BatchHandle`], through which members are pushed in bulk
//!    ([`BatchHandle::push_all`]) before [`BatchHandle::seal`]; [`Batch::run`] does all three
//!    in one atomic step.
//! 2. A running member adds members with [`JobContext::batch`](crate::JobContext::batch):
//!    the batch cannot complete while that member runs, since it is itself pending.
//! 3. Members are tracked by jid in the backend, moved in the same atomic step as their
//!    fenced settle; callbacks are claimed and enqueued in that step too (`record.rs`).
//! 4. A batch may be created inside another ([`BatchHandle::child`]): the parent succeeds
//!    when all its children do.

mod record;
mod walk;
mod workflow;

pub use record::*;
pub use walk::{walk, BatchTx, Loaded};
pub use workflow::{After, ParentDeath, PARENTS_FIELD};

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{BackendError, BatchAddParams, BatchCreateParams, BatchStatus};
use crate::client::{Client, EnqueueError, EnqueueOptions};
use crate::envelope::{to_epoch, JobEnvelope};
use crate::job::Job;

/// Why a batch operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A member or callback could not be made into a job.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
    /// The backend refused or failed.
    #[error("batch {bid}: {source}")]
    Backend {
        /// The batch.
        bid: String,
        /// Why.
        source: BackendError,
    },
    /// The backend keeps no batches.
    #[error("the {backend} backend does not support batches")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
    },
    /// A member has a unique lock: a skipped duplicate would leave the batch pending for
    /// ever, so batches take no unique jobs.
    #[error("job {job} ({jid}) is unique: a batch member cannot be a unique job")]
    UniqueMember {
        /// The job's name.
        job: String,
        /// Its jid.
        jid: String,
    },
    /// [`JobContext::batch`](crate::JobContext::batch) was called in a job outside any batch.
    #[error("job {jid} is not a member of a batch")]
    NotInBatch {
        /// The job.
        jid: String,
    },
}

type MakeJob = Box<dyn Fn(&Client) -> Result<JobEnvelope, EnqueueError> + Send + Sync>;

/// A batch to create: its description, callbacks and retention.
///
/// ```
/// # #[derive(Debug, thiserror::Error)] #[error("x")] struct E;
/// #[jobs::job(name = "DocImportRow")]
/// async fn import_row(row: u64) -> Result<(), E> { Ok(()) }
/// #[jobs::job(name = "DocImportDone")]
/// async fn import_done(ctx: jobs::JobContext) -> Result<(), E> {
///     let cb = ctx.batch_callback().expect("a callback");
///     assert_eq!(cb.event, jobs::batch::BatchEvent::Success);
///     Ok(())
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
/// let batch = jobs::batch::Batch::new()
///     .description("import 2026-12")
///     .on_success(ImportDone::new())
///     .run(&client, (0..3).map(ImportRow::new))
///     .await
///     .unwrap();
/// let status = batch.status().await.unwrap().unwrap();
/// assert_eq!((status.total(), status.counts.pending), (3, 3));
/// # });
/// ```
pub struct Batch {
    description: String,
    callbacks: Vec<(BatchEvent, MakeJob)>,
    retention: Duration,
    parent: Option<String>,
    cancel_on_death: bool,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("description", &self.description)
            .field(
                "callbacks",
                &self.callbacks.iter().map(|c| c.0).collect::<Vec<_>>(),
            )
            .field("retention", &self.retention)
            .finish()
    }
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// A batch with no description and no callbacks, kept 30 days.
    pub fn new() -> Self {
        Batch {
            description: String::new(),
            callbacks: Vec::new(),
            retention: DEFAULT_RETENTION,
            parent: None,
            cancel_on_death: false,
        }
    }

    /// What the batch is for, shown on the dashboard.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// How long its bookkeeping is kept after creation (default 30 days).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Enqueue `job` once, when every member succeeded.
    pub fn on_success<J: Job + Sync>(self, job: J) -> Self {
        self.on(BatchEvent::Success, job)
    }

    /// Enqueue `job` once, when every member ran at least once.
    pub fn on_complete<J: Job + Sync>(self, job: J) -> Self {
        self.on(BatchEvent::Complete, job)
    }

    /// Enqueue `job` once, when the first member dies.
    pub fn on_death<J: Job + Sync>(self, job: J) -> Self {
        self.on(BatchEvent::Death, job)
    }

    fn on<J: Job + Sync>(mut self, event: BatchEvent, job: J) -> Self {
        let make: MakeJob =
            Box::new(move |client: &Client| client.envelope(&job, &EnqueueOptions::default()));
        self.callbacks.push((event, make));
        self
    }

    fn info(&self, client: &Client) -> Result<BatchInfo, EnqueueError> {
        let now = to_epoch(client.clock().now());
        let callbacks = self
            .callbacks
            .iter()
            .map(|(event, make)| {
                Ok(Callback {
                    event: *event,
                    job: make(client)?,
                })
            })
            .collect::<Result<Vec<_>, EnqueueError>>()?;
        Ok(BatchInfo {
            bid: JobEnvelope::new("", "", Vec::new()).jid,
            description: self.description.clone(),
            parent: self.parent.clone(),
            callbacks,
            created_at: now,
            expires_at: now + self.retention.as_secs_f64(),
            cancel_on_death: self.cancel_on_death,
        })
    }

    /// Store the batch, open and empty: push members with [`BatchHandle::push_all`], then
    /// [`BatchHandle::seal`] it. An open batch fires no `complete` or `success`.
    pub async fn create(self, client: &Client) -> Result<BatchHandle, BatchError> {
        self.store(client, Vec::new(), false).await
    }

    /// Store the batch with `jobs` as its members, sealed, in one atomic step.
    pub async fn run<J: Job>(
        self,
        client: &Client,
        jobs: impl IntoIterator<Item = J>,
    ) -> Result<BatchHandle, BatchError> {
        let envs = envelopes(client, jobs)?;
        self.store(client, envs, true).await
    }

    async fn store(
        self,
        client: &Client,
        mut jobs: Vec<JobEnvelope>,
        sealed: bool,
    ) -> Result<BatchHandle, BatchError> {
        let info = self.info(client)?;
        let bid = info.bid.clone();
        let store = client.backend().clone();
        let Some(batches) = store.batches() else {
            return Err(BatchError::Unsupported {
                backend: store.name(),
            });
        };
        mark(&mut jobs, &bid)?;
        client.check(&mut jobs)?;
        let params = BatchCreateParams::new(info, client.clock().now())
            .jobs(jobs)
            .sealed(sealed);
        batches
            .batch_create(params)
            .await
            .map_err(|source| BatchError::Backend {
                bid: bid.clone(),
                source,
            })?;
        Ok(BatchHandle {
            bid,
            client: client.clone(),
        })
    }
}

/// Sets `bid` on each job; refuses unique jobs.
fn mark(jobs: &mut [JobEnvelope], bid: &str) -> Result<(), BatchError> {
    for job in jobs {
        if job.unique().is_some() {
            return Err(BatchError::UniqueMember {
                job: job.class.clone(),
                jid: job.jid.clone(),
            });
        }
        job.extra.insert(BATCH_FIELD.into(), bid.into());
    }
    Ok(())
}

fn envelopes<J: Job>(
    client: &Client,
    jobs: impl IntoIterator<Item = J>,
) -> Result<Vec<JobEnvelope>, EnqueueError> {
    let opts = EnqueueOptions::default();
    jobs.into_iter()
        .map(|j| client.envelope(&j, &opts))
        .collect()
}

/// A stored batch: push members into it, seal it, read its status.
#[derive(Debug, Clone)]
pub struct BatchHandle {
    bid: String,
    client: Client,
}

impl BatchHandle {
    /// Batch `bid`, reached through `client`.
    pub fn new(bid: impl Into<String>, client: Client) -> Self {
        BatchHandle {
            bid: bid.into(),
            client,
        }
    }

    /// The batch id.
    pub fn bid(&self) -> &str {
        &self.bid
    }

    fn store(&self) -> Result<&dyn crate::backend::BatchStore, BatchError> {
        let backend: &Arc<dyn crate::backend::Backend> = self.client.backend();
        backend.batches().ok_or(BatchError::Unsupported {
            backend: backend.name(),
        })
    }

    fn err(&self) -> impl Fn(BackendError) -> BatchError + '_ {
        |source| BatchError::Backend {
            bid: self.bid.clone(),
            source,
        }
    }

    /// Push one member.
    pub async fn add<J: Job>(&self, job: J) -> Result<String, BatchError> {
        let mut jids = self.push_all(std::iter::once(job)).await?;
        Ok(jids.pop().unwrap_or_default())
    }

    /// Push members in one atomic step; returns their jids.
    pub async fn push_all<J: Job>(
        &self,
        jobs: impl IntoIterator<Item = J>,
    ) -> Result<Vec<String>, BatchError> {
        let envs = envelopes(&self.client, jobs)?;
        self.push(envs).await
    }

    /// Push ready envelopes as members in one atomic step; returns their jids.
    pub async fn push(&self, mut jobs: Vec<JobEnvelope>) -> Result<Vec<String>, BatchError> {
        mark(&mut jobs, &self.bid)?;
        self.client.check(&mut jobs)?;
        let jids = jobs.iter().map(|j| j.jid.clone()).collect();
        let params = BatchAddParams::new(self.bid.clone(), jobs, self.client.clock().now());
        self.store()?.batch_add(params).await.map_err(self.err())?;
        Ok(jids)
    }

    /// Seal the batch: no more members from outside; callbacks may fire from now on.
    pub async fn seal(&self) -> Result<(), BatchError> {
        let now = self.client.clock().now();
        self.store()?
            .batch_seal(&self.bid, now)
            .await
            .map_err(self.err())
    }

    /// Create `batch` as a child of this one, open: the parent succeeds when the child does.
    pub async fn child(&self, mut batch: Batch) -> Result<BatchHandle, BatchError> {
        batch.parent = Some(self.bid.clone());
        batch.store(&self.client, Vec::new(), false).await
    }

    /// The batch's status, if it still exists.
    pub async fn status(&self) -> Result<Option<BatchStatus>, BatchError> {
        self.store()?
            .batch_status(&self.bid)
            .await
            .map_err(self.err())
    }
}

impl Client {
    /// The status of batch `bid`: counts, callbacks fired, failed members.
    pub async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BatchError> {
        BatchHandle::new(bid, self.clone()).status().await
    }

    /// Batch `bid`, to push members into or seal.
    pub fn batch(&self, bid: impl Into<String>) -> BatchHandle {
        BatchHandle::new(bid, self.clone())
    }
}

/// What a callback job knows about the batch it was enqueued for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchCallback {
    /// The batch.
    pub bid: String,
    /// Why the callback runs.
    pub event: BatchEvent,
}

impl crate::JobContext {
    /// The batch this job is a member of, if any.
    pub fn batch_id(&self) -> Option<&str> {
        self.envelope().extra.get(BATCH_FIELD)?.as_str()
    }

    /// The batch this job is a member of, to add members to: while this job runs, the
    /// batch cannot complete.
    pub async fn batch(&self) -> Result<BatchHandle, BatchError> {
        let bid = self.batch_id().ok_or_else(|| BatchError::NotInBatch {
            jid: self.jid().to_owned(),
        })?;
        Ok(BatchHandle::new(bid, Client::current().await?))
    }

    /// When this job is a batch callback: its batch and event.
    pub fn batch_callback(&self) -> Option<BatchCallback> {
        let v = self.envelope().extra.get(CALLBACK_FIELD)?;
        Some(BatchCallback {
            bid: v.get("bid")?.as_str()?.to_owned(),
            event: BatchEvent::parse(v.get("event")?.as_str()?)?,
        })
    }
}

/// How often a worker removes expired batches' bookkeeping.
pub const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// The worker's cleanup pass: removes the batches expired at `now`, at most once per
/// [`CLEANUP_EVERY`] (`last` is when it last ran, kept by the caller).
pub(crate) async fn cleanup_pass(
    backend: &dyn crate::backend::Backend,
    now: chrono::DateTime<chrono::Utc>,
    last: &mut Option<tokio::time::Instant>,
) {
    let Some(store) = backend.batches() else {
        return;
    };
    if last.is_some_and(|t| t.elapsed() < CLEANUP_EVERY) {
        return;
    }
    *last = Some(tokio::time::Instant::now());
    match store.batch_cleanup(now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed the bookkeeping of expired batches"),
        Err(e) => tracing::warn!(error = %e, "could not remove expired batches"),
    }
}
