//! Cancelling running jobs in this worker: one token per running job, tripped by the
//! backend's channel or the heartbeat, and the abort after the grace period.
//!
//! 1. [`Cancels`] maps the jid of each running job to its [`CancellationToken`], which the
//!    job reads through [`JobContext::cancelled`](crate::JobContext::cancelled).
//! 2. [`listen_loop`] follows [`Backend::cancel_listen`] (Redis pub/sub, Postgres `LISTEN`,
//!    an in-process wake) and subscribes again when its connection is lost; the heartbeat
//!    trips the tokens of [`HeartbeatReply::cancels`](crate::backend::HeartbeatReply), so a
//!    request whose announcement was lost arrives within one beat.
//! 3. [`guard`] runs a job until it returns or, once cancelled, for at most its grace
//!    period; then the job's future is dropped (aborted at its next `.await`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, BackendError};
use crate::job::{JobResult, Outcome};

/// The grace period of a cancelled job that declares none: 30 s.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(30);

/// The cancellation tokens of the jobs this worker runs, by jid.
#[derive(Debug, Default)]
pub(crate) struct Cancels {
    tokens: Mutex<HashMap<String, CancellationToken>>,
}

impl Cancels {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token of job `jid`, which starts running.
    pub(crate) fn register(&self, jid: &str) -> CancellationToken {
        self.map().entry(jid.to_owned()).or_default().clone()
    }

    /// Job `jid` ended; whether it was cancelled.
    pub(crate) fn unregister(&self, jid: &str) -> bool {
        self.map().remove(jid).is_some_and(|t| t.is_cancelled())
    }

    /// Cancels job `jid` if it runs here; whether it does.
    pub(crate) fn trip(&self, jid: &str) -> bool {
        let token = self.map().get(jid).cloned();
        match token {
            Some(t) => {
                if !t.is_cancelled() {
                    tracing::info!(%jid, "cancel requested; the job is signalled");
                    t.cancel();
                }
                true
            }
            None => false,
        }
    }
}

/// Runs `job` until it returns, or, once `token` is cancelled, for at most `grace` more;
/// a job still running then is dropped and ends as cancelled.
pub(crate) async fn guard(
    job: impl std::future::Future<Output = JobResult>,
    token: &CancellationToken,
    grace: Duration,
    class: &str,
) -> JobResult {
    let aborted = async {
        token.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = job => r,
        () = aborted => {
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
pub(crate) async fn listen_loop(
    backend: Arc<dyn Backend>,
    rt: Arc<super::Runtime>,
    done: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let feed = tokio::select! {
            () = done.cancelled() => return,
            f = backend.cancel_listen() => f,
        };
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
                            rt.cancels.trip(&jid);
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
