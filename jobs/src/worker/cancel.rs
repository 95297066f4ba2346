//! Cancelling running jobs in this worker: a flag on each run, set by the backend's channel
//! or the heartbeat, and the abort after the grace period.
//!
//! 1. A cancel finds the runs of its jid in the running set ([`Runtime::trip`]) and sets
//!    their flag (`links.rs`); the token a job reads through
//!    [`JobContext::cancelled`](crate::JobContext::cancelled) is made only when the job asks
//!    for it or the cancel arrives, so a run that is never cancelled registers nothing.
//! 2. [`listen_loop`] follows [`Backend::cancel_listen`] (Redis pub/sub, Postgres `LISTEN`,
//!    an in-process wake) and subscribes again when its connection is lost; the heartbeat
//!    trips the runs of [`HeartbeatReply::cancels`](crate::backend::HeartbeatReply), so a
//!    request whose announcement was lost arrives within one beat.
//! 3. [`guard`] runs a job until it returns or, once cancelled, for at most its grace
//!    period; then the job's future is dropped (aborted at its next `.await`).
//!
//! [`Runtime::trip`]: super::Runtime::trip

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::links::Links;
use crate::backend::{Backend, BackendError};
use crate::job::{JobResult, Outcome, RunLinks};

/// The grace period of a cancelled job that declares none: 30 s.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(30);

/// Runs `job` until it returns, or, once `run` is cancelled, for at most `grace` more;
/// a job still running then is dropped and ends as cancelled.
pub(crate) async fn guard(
    job: impl Future<Output = JobResult>,
    run: &Links,
    grace: Duration,
    class: &str,
) -> JobResult {
    let mut job = std::pin::pin!(job);
    // Until it returns or is cancelled: the run's waker is registered only while the job
    // waits, and a cancel wakes it.
    let returned = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = job.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        run.register(cx.waker());
        if run.is_cancelled() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    if let Some(r) = returned {
        return r;
    }
    tokio::select! {
        r = job => r,
        () = tokio::time::sleep(grace) => {
            tracing::warn!(class, grace_ms = grace.as_millis() as u64, "cancelled job still running after its grace period; aborted");
            Ok(Outcome::cancelled(format!(
                "aborted {} after its cancel: it did not stop within its grace period",
                super::processor::humanize(grace)
            )))
        }
    }
}

/// Follows the backend's announcements of cancel requests until `done`, tripping the tokens
/// of the jobs running here; subscribes again (backing off) when the feed ends or fails.
/// Returns at once when the backend has no channel (the heartbeat still delivers).
///
/// `subscribed` is told once the first subscription is made or has failed: the worker waits
/// for it before it reserves, so a cancel announced for a job it runs is never published
/// before it listens (on a Redis Cluster, subscribing takes one connection per group).
pub(crate) async fn listen_loop(
    backend: Arc<dyn Backend>,
    rt: Arc<super::Runtime>,
    done: CancellationToken,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut subscribed = Some(subscribed);
    loop {
        let feed = tokio::select! {
            () = done.cancelled() => return,
            f = backend.cancel_listen() => f,
        };
        if let Some(tell) = subscribed.take() {
            let _ = tell.send(());
        }
        match feed {
            Ok(mut feed) => {
                backoff = Duration::from_millis(100);
                loop {
                    let next = tokio::select! {
                        () = done.cancelled() => return,
                        n = feed.next() => n,
                    };
                    match next {
                        Some(jid) => {
                            rt.trip(&jid);
                        }
                        None => break,
                    }
                }
                tracing::info!(
                    "cancel channel lost; listening again (the heartbeat delivers meanwhile)"
                );
            }
            Err(BackendError::Unsupported { .. }) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "could not listen for cancels; the heartbeat delivers them meanwhile");
            }
        }
        tokio::select! {
            () = done.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
