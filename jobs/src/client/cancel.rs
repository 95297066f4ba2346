//! Cancelling jobs from the client: [`Client::cancel`] and [`Client::cancel_all`].

use super::Client;
use crate::backend::{BackendError, CancelParams, Cancellation};

/// Why a cancel did not go through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// A jid given was empty.
    #[error("cannot cancel a job with an empty jid (position {position} of the jids given)")]
    EmptyJid {
        /// Its 0-based position among the jids given.
        position: usize,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl Client {
    /// Cancels the job `jid`, in whatever process it runs.
    ///
    /// A waiting, scheduled or retrying job is moved to the cancelled set at once
    /// ([`Cancellation::Cancelled`]); it never runs. A running job is signalled through
    /// [`JobContext::cancelled`](crate::JobContext::cancelled) within one heartbeat at most
    /// ([`Cancellation::Requested`]): it ends cancelled, and is aborted after its grace
    /// period if it is still running. A job its worker's death leaves behind after a cancel
    /// was requested is cancelled instead of run again.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use jobs::backend::Cancellation;
    /// use jobs::envelope::JobEnvelope;
    /// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
    /// let pushed = client.push(vec![JobEnvelope::new("Export", "default", vec![])]).await.unwrap();
    /// let jid = pushed[0].jid().to_owned();
    /// assert_eq!(client.cancel(&jid).await.unwrap(), Cancellation::Cancelled);
    /// assert_eq!(client.cancel(&jid).await.unwrap(), Cancellation::AlreadyFinished);
    /// assert_eq!(client.cancel("no-such-jid").await.unwrap(), Cancellation::NotFound);
    /// # });
    /// ```
    pub async fn cancel(&self, jid: &str) -> Result<Cancellation, CancelError> {
        let answers = self.cancel_all(vec![jid.to_owned()]).await?;
        Ok(answers.into_iter().next().unwrap_or(Cancellation::NotFound))
    }

    /// Cancels several jobs (see [`Client::cancel`]); one answer per jid, in order.
    pub async fn cancel_all(&self, jids: Vec<String>) -> Result<Vec<Cancellation>, CancelError> {
        if let Some(position) = jids.iter().position(|j| j.is_empty()) {
            return Err(CancelError::EmptyJid { position });
        }
        let params = CancelParams::new(jids, self.clock().now());
        Ok(self.backend().job_cancel(params).await?)
    }
}
