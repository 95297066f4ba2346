//! Server middleware around each perform, and the error and death handlers.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::envelope::JobEnvelope;
use crate::job::{Failure, JobContext, JobResult};

/// Wraps every perform: for context propagation, metrics, tenant ids.
///
/// ```
/// use jobs::worker::{Next, ServerMiddleware};
/// use jobs::{JobContext, JobResult};
/// struct Timing;
/// #[jobs::__private::async_trait]
/// impl ServerMiddleware for Timing {
///     async fn call(&self, ctx: JobContext, next: Next<'_>) -> JobResult {
///         let started = std::time::Instant::now();
///         let result = next.run(ctx.clone()).await;
///         tracing::info!(class = ctx.class(), ms = started.elapsed().as_millis() as u64, "performed");
///         result
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a worker middleware",
    label = "not a `ServerMiddleware`",
    note = "implement `jobs::worker::ServerMiddleware` for a struct with `#[async_trait]`: its `call` runs around each job and calls `next.run(ctx)` to go on"
)]
#[async_trait]
pub trait ServerMiddleware: Send + Sync + 'static {
    /// Runs around the job; call `next.run(ctx)` to go on.
    async fn call(&self, ctx: JobContext, next: Next<'_>) -> JobResult;
}

/// The rest of the middleware chain and the job itself.
pub struct Next<'a> {
    rest: &'a [Arc<dyn ServerMiddleware>],
    job: Box<dyn FnOnce(JobContext) -> BoxFuture<'static, JobResult> + Send + 'a>,
}

impl<'a> Next<'a> {
    pub(crate) fn new(
        rest: &'a [Arc<dyn ServerMiddleware>],
        job: Box<dyn FnOnce(JobContext) -> BoxFuture<'static, JobResult> + Send + 'a>,
    ) -> Self {
        Next { rest, job }
    }

    /// Runs the next middleware, or the job.
    pub async fn run(self, ctx: JobContext) -> JobResult {
        match self.rest.split_first() {
            Some((first, rest)) => {
                first
                    .call(
                        ctx,
                        Next {
                            rest,
                            job: self.job,
                        },
                    )
                    .await
            }
            None => (self.job)(ctx).await,
        }
    }
}

/// Called on every failure with the job (as updated) and the failure: for error trackers.
pub type ErrorHandler = Arc<dyn Fn(&JobEnvelope, &Failure) + Send + Sync>;

/// Called when a job dies (moves to the dead set).
pub type DeathHandler = Arc<dyn Fn(&JobEnvelope, &Failure) + Send + Sync>;

/// Calls each handler, so that a panicking handler is logged and does not take the worker down.
pub(crate) fn call_handlers(
    handlers: &[ErrorHandler],
    kind: &str,
    job: &JobEnvelope,
    failure: &Failure,
) {
    for h in handlers {
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| h(job, failure)));
        if out.is_err() {
            tracing::error!(jid = %job.jid, class = %job.class, "a {kind} handler panicked; ignored");
        }
    }
}
