//! Reading what jobs report and return: [`Client::status`], [`Client::result`] and
//! [`Client::wait_result`], with one distinct answer per case ([`ResultError`]).

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::Client;
use crate::backend::{BackendError, JidParams, JobStatus};

/// Why [`Client::result`] has no value to give.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultError {
    /// The job has not finished: it waits, is scheduled, retries or runs.
    #[error("job {jid} has not finished yet (it is {})", status.name())]
    NotFinished {
        /// The job.
        jid: String,
        /// Where it is.
        status: JobStatus,
    },
    /// The job failed for good: it is in the dead set.
    #[error("job {jid} failed: {}", error.as_deref().unwrap_or("no error recorded"))]
    Failed {
        /// The job.
        jid: String,
        /// Its last error (a result over the size cap says so here).
        error: Option<String>,
    },
    /// No result is kept and the job is not known: its result expired, it finished without
    /// one (returned `()`, was discarded), or no such job was pushed.
    #[error("job {jid} has no result: it expired, the job kept none, or no such job exists")]
    Missing {
        /// The job.
        jid: String,
    },
    /// The stored result does not deserialize into the type asked for.
    #[error("the result of job {jid} is not a {type_name}: {error}")]
    Mismatch {
        /// The job.
        jid: String,
        /// The type asked for.
        type_name: &'static str,
        /// The deserializer's error.
        error: String,
    },
    /// [`Client::wait_result`] ran out of time.
    #[error("job {jid} had no result after {waited:?} (it is {})", status.name())]
    Timeout {
        /// The job.
        jid: String,
        /// How long it was waited for.
        waited: Duration,
        /// Where it was last seen.
        status: JobStatus,
    },
    /// No client to read with: outside a worker, no default client was set.
    #[error("could not read the result of job {jid}: {source}")]
    NoClient {
        /// The job.
        jid: String,
        /// Why there is no client.
        #[source]
        source: Box<super::EnqueueError>,
    },
    /// The backend could not answer.
    #[error("could not read the result of job {jid}: {source}")]
    Backend {
        /// The job.
        jid: String,
        /// Why.
        #[source]
        source: BackendError,
    },
}

impl Client {
    /// Where job `jid` is, as far as the backend knows, with the last progress of a running
    /// job (see [`JobStatus`]).
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use jobs::backend::JobStatus;
    /// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
    /// assert_eq!(client.status("no-such-job").await.unwrap(), JobStatus::Unknown);
    /// # });
    /// ```
    pub async fn status(&self, jid: &str) -> Result<JobStatus, BackendError> {
        let now = self.clock().now();
        self.backend().job_status(JidParams::new(jid, now)).await
    }

    /// The result job `jid` returned (a job returning `Result<T, E>` with `T: Serialize`),
    /// while it is kept; otherwise a [`ResultError`] saying which case it is: not finished,
    /// failed, missing (expired or unknown), or not a `T`.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
    /// let answer = client.result::<u64>("no-such-job").await;
    /// assert!(matches!(answer, Err(jobs::ResultError::Missing { .. })));
    /// # });
    /// ```
    pub async fn result<T: DeserializeOwned>(&self, jid: &str) -> Result<T, ResultError> {
        let backend_error = |source| ResultError::Backend {
            jid: jid.to_owned(),
            source,
        };
        let decode = |stored: crate::backend::StoredResult| {
            serde_json::from_str(&stored.json).map_err(|e| ResultError::Mismatch {
                jid: jid.to_owned(),
                type_name: std::any::type_name::<T>(),
                error: e.to_string(),
            })
        };
        let now = self.clock().now();
        let stored = self
            .backend()
            .job_result(JidParams::new(jid, now))
            .await
            .map_err(backend_error)?;
        if let Some(stored) = stored {
            return decode(stored);
        }
        let status = self.status(jid).await.map_err(backend_error)?;
        if !status.is_pending() {
            // The job may have finished between the two reads: its result is there now.
            let again = self
                .backend()
                .job_result(JidParams::new(jid, now))
                .await
                .map_err(backend_error)?;
            if let Some(stored) = again {
                return decode(stored);
            }
        }
        Err(match status {
            s if s.is_pending() => ResultError::NotFinished {
                jid: jid.to_owned(),
                status: s,
            },
            JobStatus::Dead { error } => ResultError::Failed {
                jid: jid.to_owned(),
                error,
            },
            _ => ResultError::Missing {
                jid: jid.to_owned(),
            },
        })
    }

    /// [`Client::result`], waiting up to `timeout` while the job has not finished (polling,
    /// at most every 250 ms). Answers at once when the job failed, its result is missing or
    /// is not a `T`.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use std::time::Duration;
    /// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
    /// let answer = client.wait_result::<String>("no-such-job", Duration::from_millis(10)).await;
    /// assert!(matches!(answer, Err(jobs::ResultError::Missing { .. })));
    /// # });
    /// ```
    pub async fn wait_result<T: DeserializeOwned>(
        &self,
        jid: &str,
        timeout: Duration,
    ) -> Result<T, ResultError> {
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.result::<T>(jid).await {
                Err(ResultError::NotFinished { status, .. }) => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(ResultError::Timeout {
                            jid: jid.to_owned(),
                            waited: now - started,
                            status,
                        });
                    }
                    tokio::time::sleep(pause.min(deadline - now)).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                other => return other,
            }
        }
    }
}
