//! Workflows: a job that waits for others ([`After`]). The parents are the members of a
//! batch whose `success` callback is the waiting job, so it is enqueued exactly once, when
//! every parent succeeded, by the same atomic step that settles the last parent. When a
//! parent dies the dependant keeps waiting (an operator may retry the parent) or is
//! cancelled, as [`ParentDeath`] says; the batch's dashboard page shows why it waits.

use super::{Batch, BatchError, BatchEvent, BatchHandle, MakeJob};
use crate::client::Client;
use crate::envelope::JobEnvelope;

/// What becomes of a waiting job when one of its parents dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ParentDeath {
    /// Keep waiting: it runs if the dead parent is retried and succeeds.
    #[default]
    Wait,
    /// Cancel it: it never runs.
    Cancel,
}

/// A job to run after its parents all succeeded: `After::new(parents).then(&client, child)`.
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// use jobs::batch::{After, ParentDeath};
/// use jobs::envelope::JobEnvelope;
/// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
/// let a = JobEnvelope::new("FetchPrices", "default", vec![1.into()]);
/// let b = JobEnvelope::new("FetchRates", "default", vec![1.into()]);
/// let report = JobEnvelope::new("BuildReport", "default", vec![1.into()]);
/// let waiting = After::new(vec![a, b])
///     .on_parent_death(ParentDeath::Cancel)
///     .then(&client, report)
///     .await
///     .unwrap();
/// let status = waiting.status().await.unwrap().unwrap();
/// assert_eq!(status.counts.pending, 2);
/// assert_eq!(status.info.description, "BuildReport waits for 2 parents");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct After {
    parents: Vec<JobEnvelope>,
    on_death: ParentDeath,
}

impl After {
    /// A job waiting for `parents` (pushed by [`After::then`]).
    pub fn new(parents: Vec<JobEnvelope>) -> Self {
        After {
            parents,
            on_death: ParentDeath::Wait,
        }
    }

    /// What becomes of the waiting job when a parent dies (default: it keeps waiting).
    pub fn on_parent_death(mut self, on_death: ParentDeath) -> Self {
        self.on_death = on_death;
        self
    }

    /// Push the parents and store `child`, to be enqueued once all of them succeeded, in one
    /// atomic step; returns the batch that tracks them.
    pub async fn then(
        self,
        client: &Client,
        child: JobEnvelope,
    ) -> Result<BatchHandle, BatchError> {
        let description = format!("{} waits for {} parents", child.class, self.parents.len());
        let make: MakeJob = Box::new(move |_: &Client| Ok(child.clone()));
        let mut batch = Batch::new().description(description);
        batch.callbacks.push((BatchEvent::Success, make));
        batch.cancel_on_death = self.on_death == ParentDeath::Cancel;
        batch.store(client, self.parents, true).await
    }
}
