//! The per-call enqueue builder behind `MyJob::set()`, and the macro that gives it job arguments.

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Client, EnqueueError, EnqueueOptions, Enqueued, OnConflict};
use crate::envelope::RetrySetting;
use crate::job::{Job, JobResult};

/// Options for one enqueue of a job of type `J`; `MyJob::set()` returns a wrapper of it whose
/// `perform_*` methods take the job's own arguments.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use jobs::prelude::*;
/// #[derive(Debug, thiserror::Error)]
/// #[error("x")]
/// struct E;
/// #[jobs::job(queue = "mailers")]
/// async fn send_receipt(order_id: u64) -> Result<(), E> { Ok(()) }
///
/// let client = jobs::Client::new(std::sync::Arc::new(jobs::memory::MemoryBackend::new()));
/// let jid = SendReceipt::set()
///     .client(&client)
///     .queue("critical")
///     .wait(Duration::from_secs(5))
///     .retry(3)
///     .perform_later(7)
///     .await
///     .unwrap();
/// assert_eq!(jid.len(), 24);
/// # });
/// ```
#[must_use = "an Enqueue does nothing until one of its perform methods is awaited"]
pub struct Enqueue<J> {
    opts: EnqueueOptions,
    client: Option<Client>,
    _job: PhantomData<fn() -> J>,
}

impl<J> Default for Enqueue<J> {
    fn default() -> Self {
        Enqueue {
            opts: EnqueueOptions::default(),
            client: None,
            _job: PhantomData,
        }
    }
}

impl<J: Job> Enqueue<J> {
    /// No options set: the job's defaults, on the current client.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enqueue on another queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.opts.queue = Some(queue.into());
        self
    }

    /// Run after `delay`.
    pub fn wait(mut self, delay: Duration) -> Self {
        self.opts.wait = Some(delay);
        self
    }

    /// Run at `at`.
    pub fn wait_until(mut self, at: DateTime<Utc>) -> Self {
        self.opts.wait_until = Some(at);
        self
    }

    /// Retries: a count, or `false` to discard on failure.
    pub fn retry(mut self, retry: impl Into<RetrySetting>) -> Self {
        self.opts.retry = Some(retry.into());
        self
    }

    /// Whether to keep the job in the dead set when its retries run out.
    pub fn dead(mut self, dead: bool) -> Self {
        self.opts.dead = Some(dead);
        self
    }

    /// Makes this enqueue unique (or unique otherwise than the job declares).
    pub fn unique(mut self, unique: crate::job::Unique) -> Self {
        self.opts.unique = Some(unique);
        self
    }

    /// What to do when the job is a duplicate of a unique job (skip it unless set).
    pub fn on_conflict(mut self, on_conflict: OnConflict) -> Self {
        self.opts.on_conflict = on_conflict;
        self
    }

    /// Runs before jobs of a lower priority in its queue: 0 (first) to 9 (last).
    pub fn priority(mut self, priority: u8) -> Self {
        self.opts.priority = Some(priority.min(crate::envelope::flow::MAX_PRIORITY));
        self
    }

    /// Dropped as expired if not started `within` after it is due.
    pub fn expires_in(mut self, within: Duration) -> Self {
        self.opts.expires_in = Some(within);
        self
    }

    /// Limits how many run at once otherwise than the job declares.
    pub fn concurrency(mut self, concurrency: crate::job::Concurrency) -> Self {
        self.opts.concurrency = Some(concurrency);
        self
    }

    /// Limits how many start per window otherwise than the job declares.
    pub fn rate(mut self, rate: crate::job::Rate) -> Self {
        self.opts.rate = Some(rate);
        self
    }

    /// Enqueue on this client instead of the current one.
    pub fn client(mut self, client: &Client) -> Self {
        self.client = Some(client.clone());
        self
    }

    /// The options set so far.
    pub fn options(&self) -> &EnqueueOptions {
        &self.opts
    }

    async fn resolve(&self) -> Result<Client, EnqueueError> {
        match &self.client {
            Some(c) => Ok(c.clone()),
            None => Client::current().await,
        }
    }

    /// Enqueues `job`; returns its id once the backend has accepted it.
    pub async fn enqueue(self, job: J) -> Result<Enqueued, EnqueueError> {
        self.resolve().await?.enqueue(job, &self.opts).await
    }

    /// Enqueues many jobs in one backend round trip.
    pub async fn enqueue_all(
        self,
        jobs: impl IntoIterator<Item = J>,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        self.resolve().await?.enqueue_all(jobs, &self.opts).await
    }

    /// Runs `job` here and now (no backend, no retries), with the states of the given or
    /// current client (none when there is no client).
    pub async fn perform_now(self, job: J) -> JobResult {
        match self.resolve().await {
            Ok(client) => client.perform_now(job).await,
            Err(_) => {
                let backend = std::sync::Arc::new(crate::memory::MemoryBackend::new());
                Client::new(backend).perform_now(job).await
            }
        }
    }
}

/// Generates a job's `set()` builder and its `perform_*` functions; used by `#[job]`.
///
/// Input: `(visibility SetType, JobType, (arg: Type, ...))`.
#[doc(hidden)]
#[macro_export]
macro_rules! __define_set {
    ($vis:vis $set:ident, $job:ident, ($($arg:ident : $ty:ty),* $(,)?)) => {
        #[doc = concat!("Options for one enqueue of [`", stringify!($job), "`], from `", stringify!($job), "::set()`.")]
        #[must_use = "nothing is enqueued until a perform method is awaited"]
        $vis struct $set {
            inner: ::jobs::Enqueue<$job>,
        }

        #[allow(dead_code, clippy::too_many_arguments)]
        impl $set {
            /// Enqueue on another queue.
            pub fn queue(self, queue: impl ::core::convert::Into<::std::string::String>) -> Self {
                Self { inner: self.inner.queue(queue) }
            }
            /// Run after `delay`.
            pub fn wait(self, delay: ::std::time::Duration) -> Self {
                Self { inner: self.inner.wait(delay) }
            }
            /// Run at `at`.
            pub fn wait_until(self, at: ::jobs::chrono::DateTime<::jobs::chrono::Utc>) -> Self {
                Self { inner: self.inner.wait_until(at) }
            }
            /// Retries: a count, or `false` to discard on failure.
            pub fn retry(self, retry: impl ::core::convert::Into<::jobs::envelope::RetrySetting>) -> Self {
                Self { inner: self.inner.retry(retry) }
            }
            /// Whether to keep the job dead when its retries run out.
            pub fn dead(self, dead: bool) -> Self {
                Self { inner: self.inner.dead(dead) }
            }
            /// Makes this enqueue unique (or unique otherwise than the job declares).
            pub fn unique(self, unique: ::jobs::Unique) -> Self {
                Self { inner: self.inner.unique(unique) }
            }
            /// What to do when the job is a duplicate of a unique job (skip it unless set).
            pub fn on_conflict(self, on_conflict: ::jobs::OnConflict) -> Self {
                Self { inner: self.inner.on_conflict(on_conflict) }
            }
            /// Runs before jobs of a lower priority in its queue: 0 (first) to 9 (last).
            pub fn priority(self, priority: u8) -> Self {
                Self { inner: self.inner.priority(priority) }
            }
            /// Dropped as expired if not started `within` after it is due.
            pub fn expires_in(self, within: ::std::time::Duration) -> Self {
                Self { inner: self.inner.expires_in(within) }
            }
            /// Limits how many run at once otherwise than the job declares.
            pub fn concurrency(self, concurrency: ::jobs::Concurrency) -> Self {
                Self { inner: self.inner.concurrency(concurrency) }
            }
            /// Limits how many start per window otherwise than the job declares.
            pub fn rate(self, rate: ::jobs::Rate) -> Self {
                Self { inner: self.inner.rate(rate) }
            }
            /// Enqueue on this client instead of the current one.
            pub fn client(self, client: &::jobs::Client) -> Self {
                Self { inner: self.inner.client(client) }
            }
            /// Enqueues the job; returns its id once the backend has accepted it.
            pub async fn perform_later(self, $($arg: $ty),*) -> ::core::result::Result<::jobs::Enqueued, ::jobs::EnqueueError> {
                self.inner.enqueue($job::new($($arg),*)).await
            }
            /// Enqueues the job to run after `delay`.
            pub async fn perform_in(self, delay: ::std::time::Duration, $($arg: $ty),*) -> ::core::result::Result<::jobs::Enqueued, ::jobs::EnqueueError> {
                self.inner.wait(delay).enqueue($job::new($($arg),*)).await
            }
            /// Enqueues the job to run at `at`.
            pub async fn perform_at(self, at: ::jobs::chrono::DateTime<::jobs::chrono::Utc>, $($arg: $ty),*) -> ::core::result::Result<::jobs::Enqueued, ::jobs::EnqueueError> {
                self.inner.wait_until(at).enqueue($job::new($($arg),*)).await
            }
            /// Enqueues many jobs in one backend round trip.
            pub async fn perform_all_later(self, jobs: impl ::core::iter::IntoIterator<Item = $job>) -> ::core::result::Result<::std::vec::Vec<::jobs::Enqueued>, ::jobs::EnqueueError> {
                self.inner.enqueue_all(jobs).await
            }
            /// Runs the job here and now with the client's states: no backend, no retries.
            pub async fn perform_now(self, $($arg: $ty),*) -> ::jobs::JobResult {
                self.inner.perform_now($job::new($($arg),*)).await
            }
        }

        #[allow(dead_code, clippy::too_many_arguments)]
        impl $job {
            /// Per-call options: `set().queue("critical").wait(..).perform_later(..)`.
            pub fn set() -> $set {
                $set { inner: ::jobs::Enqueue::new() }
            }
            /// Enqueues the job on the current client; returns its id once stored.
            pub async fn perform_later($($arg: $ty),*) -> ::core::result::Result<::jobs::Enqueued, ::jobs::EnqueueError> {
                Self::set().perform_later($($arg),*).await
            }
            /// Enqueues the job to run after `delay`.
            pub async fn perform_in(delay: ::std::time::Duration, $($arg: $ty),*) -> ::core::result::Result<::jobs::Enqueued, ::jobs::EnqueueError> {
                Self::set().perform_in(delay, $($arg),*).await
            }
            /// Enqueues the job to run at `at`.
            pub async fn perform_at(at: ::jobs::chrono::DateTime<::jobs::chrono::Utc>, $($arg: $ty),*) -> ::core::result::Result<::jobs::Enqueued, ::jobs::EnqueueError> {
                Self::set().perform_at(at, $($arg),*).await
            }
            /// Enqueues many jobs in one backend round trip.
            pub async fn perform_all_later(jobs: impl ::core::iter::IntoIterator<Item = Self>) -> ::core::result::Result<::std::vec::Vec<::jobs::Enqueued>, ::jobs::EnqueueError> {
                Self::set().perform_all_later(jobs).await
            }
            /// Runs the job here and now (Active Job's `perform_now`) with the current client's states.
            pub async fn perform_now($($arg: $ty),*) -> ::jobs::JobResult {
                Self::set().perform_now($($arg),*).await
            }
        }
    };
}
