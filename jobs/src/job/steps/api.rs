//! What a resumable job calls: [`JobContext::step`], [`JobContext::iterate`] and
//! [`Iteration`]'s checkpoints.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{StepError, Steps};
use crate::job::JobContext;

impl JobContext {
    /// Runs step `name` unless an earlier run of this job completed it; its completion is
    /// stored with the job (fenced by the lease) before this returns.
    ///
    /// Code outside steps runs on every run. A step interrupted (the process killed, the
    /// worker stopped) or failed runs again from its start on the next run; so make a
    /// step's effects idempotent, or split it with [`JobContext::iterate`]. When the worker
    /// is shutting down, a step not yet started is not started: this returns
    /// [`StepError::Interrupted`], which the job propagates with `?`, and the job goes back
    /// to its queue without counting an attempt.
    ///
    /// ```
    /// use jobs::prelude::*;
    /// #[derive(Debug, thiserror::Error)]
    /// enum ReportError {
    ///     #[error(transparent)]
    ///     Step(#[from] jobs::StepError),
    /// }
    /// #[jobs::job]
    /// async fn monthly_report(ctx: JobContext, month: String) -> Result<(), ReportError> {
    ///     ctx.step("collect", || async { /* gather {month}'s figures */ Ok::<_, ReportError>(()) }).await?;
    ///     ctx.step("mail", || async { /* send it */ Ok::<_, ReportError>(()) }).await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn step<F, Fut, E>(&self, name: &str, run: F) -> Result<(), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: From<StepError>,
    {
        let steps = self.steps();
        if steps.is_done(name) {
            tracing::debug!(jid = %self.jid(), step = name, "step done in an earlier run; skipped");
            return Ok(());
        }
        steps.stop_requested(name)?;
        run().await?;
        steps
            .save(name, |p| {
                p.cursors.remove(name);
                p.done.push(name.to_owned());
            })
            .await?;
        Ok(())
    }

    /// Starts or resumes the iteration step `name`: its cursor is the one last saved by a
    /// checkpoint, or `start` on the first run. See [`Iteration`].
    ///
    /// Fails with [`StepError::BadCursor`] when the saved cursor does not decode as `C`
    /// (the job's code changed the cursor's type while runs were in flight).
    pub fn iterate<C: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        start: C,
    ) -> Result<Iteration<C>, StepError> {
        let steps = self.steps().clone();
        let done = steps.is_done(name);
        let cursor = match steps.cursor(name) {
            Some(saved) => {
                serde_json::from_value(saved).map_err(|source| StepError::BadCursor {
                    step: name.to_owned(),
                    expected: std::any::type_name::<C>(),
                    source,
                })?
            }
            None => start,
        };
        Ok(Iteration {
            steps,
            name: name.to_owned(),
            cursor,
            done,
        })
    }
}

/// A step that goes through a collection in chunks, saving its cursor after each chunk.
///
/// Each [`checkpoint`](Iteration::checkpoint) stores the cursor with the job (fenced by the
/// lease) before it returns, so a run that is killed resumes from the last checkpoint, and
/// a worker asked to stop ends the run there: `checkpoint` saves the cursor, then returns
/// [`StepError::Interrupted`], the job propagates it with `?`, and the worker requeues the
/// job without counting an attempt. Work done after the last checkpoint is done again on
/// resume: keep chunk effects idempotent, or commit them with the cursor (see the
/// `resumable_import` example).
///
/// ```
/// use jobs::prelude::*;
/// #[jobs::job]
/// async fn backfill(ctx: JobContext, total: u64) -> Result<(), jobs::StepError> {
///     let mut rows = ctx.iterate("rows", 0u64)?;
///     while !rows.is_done() && *rows.cursor() < total {
///         let from = *rows.cursor();
///         let to = (from + 1_000).min(total);
///         // ... process rows from..to ...
///         rows.checkpoint(to).await?;
///     }
///     rows.complete().await
/// }
/// ```
#[derive(Debug)]
pub struct Iteration<C> {
    steps: Arc<Steps>,
    name: String,
    cursor: C,
    done: bool,
}

impl<C: Serialize> Iteration<C> {
    /// Whether an earlier run of the job completed this step (then skip it).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Where to go on from: the last checkpoint's cursor, or the start.
    pub fn cursor(&self) -> &C {
        &self.cursor
    }

    /// Saves `next` as the cursor, with the job, under its lease. Then, when the worker is
    /// shutting down, returns [`StepError::Interrupted`] (the cursor is saved: the job
    /// resumes from it).
    pub async fn checkpoint(&mut self, next: C) -> Result<(), StepError> {
        let value = serde_json::to_value(&next).map_err(|source| StepError::Encode {
            step: self.name.clone(),
            source,
        })?;
        let name = self.name.clone();
        self.steps
            .save(&self.name, move |p| {
                p.cursors.insert(name, value);
            })
            .await?;
        self.cursor = next;
        self.steps.stop_requested(&self.name)
    }

    /// Records the step as completed: later runs skip it.
    pub async fn complete(mut self) -> Result<(), StepError> {
        if self.done {
            return Ok(());
        }
        let name = self.name.clone();
        self.steps
            .save(&self.name, move |p| {
                p.cursors.remove(&name);
                p.done.push(name);
            })
            .await?;
        self.done = true;
        Ok(())
    }
}
