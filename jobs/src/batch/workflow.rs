//! Workflows: a job that waits for others ([`After`]). The parents are the members of a
//! batch whose `success` callback is the waiting job, so it is enqueued exactly once, when
//! every parent succeeded, by the same atomic step that settles the last parent. When a
//! parent dies the dependant keeps waiting (an operator may retry the parent) or is
//! cancelled, as [`ParentDeath`] says; the batch's dashboard page shows why it waits. The
//! waiting job carries its parents' jids ([`PARENTS_FIELD`]) and reads their results with
//! [`JobContext::parent_results`](crate::JobContext::parent_results).

use serde::de::DeserializeOwned;

use super::{Batch, BatchError, BatchEvent, BatchHandle, MakeJob};
use crate::client::{Client, ResultError};
use crate::envelope::JobEnvelope;

/// The envelope key of a waiting job's parents: their jids, in the order given to
/// [`After::new`]. Ruby Sidekiq ignores it.
pub const PARENTS_FIELD: &str = "jobs_rs_parents";

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
    /// atomic step; returns the batch that tracks them. The child carries its parents' jids,
    /// so it can read their results ([`JobContext::parent_results`](crate::JobContext::parent_results)).
    pub async fn then(
        self,
        client: &Client,
        mut child: JobEnvelope,
    ) -> Result<BatchHandle, BatchError> {
        let jids: Vec<serde_json::Value> =
            self.parents.iter().map(|p| p.jid.clone().into()).collect();
        child.extra.insert(PARENTS_FIELD.into(), jids.into());
        let description = format!("{} waits for {} parents", child.class, self.parents.len());
        let make: MakeJob = Box::new(move |_: &Client| Ok(child.clone()));
        let mut batch = Batch::new().description(description);
        batch.callbacks.push((BatchEvent::Success, make));
        batch.cancel_on_death = self.on_death == ParentDeath::Cancel;
        batch.store(client, self.parents, true).await
    }
}

impl crate::JobContext {
    /// The jids of the parents this job waited for ([`After`]), in the order given to
    /// [`After::new`]; empty for a job that waited for none.
    pub fn parents(&self) -> Vec<&str> {
        self.envelope()
            .extra
            .get(PARENTS_FIELD)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|j| j.as_str()).collect())
            .unwrap_or_default()
    }

    /// The result of parent `jid`, read as a `T` (see [`Client::result`]): the parent must
    /// keep its result until this job reads it (`#[job(result_ttl = "..")]`), or the answer
    /// is [`ResultError::Missing`].
    pub async fn parent_result<T: DeserializeOwned>(&self, jid: &str) -> Result<T, ResultError> {
        let client = Client::current()
            .await
            .map_err(|source| ResultError::NoClient {
                jid: jid.to_owned(),
                source: Box::new(source),
            })?;
        client.result(jid).await
    }

    /// The results of all this job's parents, in the order given to [`After::new`], each
    /// read as a `T`; the first parent without one (expired, kept none, or not a `T`) is the
    /// error. For parents of different result types, read each with
    /// [`JobContext::parent_result`](crate::JobContext::parent_result) over
    /// [`JobContext::parents`](crate::JobContext::parents).
    ///
    /// ```
    /// # #[derive(Debug, thiserror::Error)] #[error("x")] struct E;
    /// # impl From<jobs::ResultError> for E { fn from(_: jobs::ResultError) -> Self { E } }
    /// #[jobs::job(name = "DocFetchPrice", result_ttl = "24h")]
    /// async fn fetch_price(day: u32) -> Result<f64, E> { Ok(1.5 * day as f64) }
    ///
    /// #[jobs::job(name = "DocSumPrices", result_ttl = "24h")]
    /// async fn sum_prices(ctx: jobs::JobContext) -> Result<f64, E> {
    ///     let prices: Vec<f64> = ctx.parent_results().await?;
    ///     Ok(prices.iter().sum())
    /// }
    /// ```
    pub async fn parent_results<T: DeserializeOwned>(&self) -> Result<Vec<T>, ResultError> {
        let mut out = Vec::new();
        for jid in self.parents() {
            out.push(self.parent_result(jid).await?);
        }
        Ok(out)
    }
}
