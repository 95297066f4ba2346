//! [`Limiter`]: a rate limit shared by every process, for calls inside a job that are not
//! whole jobs; a refusal ([`LimitError::Full`]) returned from the job becomes a snooze.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backend::{BackendError, RateAcquireParams, RateDecision};
use crate::client::Client;

/// A named rate limit: at most `limit` acquisitions per `per` per key, across every process
/// that shares the store (a sliding window, like [`Rate`](crate::Rate)).
///
/// Inside a job, `acquire(key).await?` either takes a start or returns
/// [`LimitError::Full`]; a job that returns that error (directly, or wrapped in its own error
/// with `#[from]`, or through `anyhow`) is snoozed until a start frees: not a failure, no
/// attempt counted, no retry entry.
///
/// ```
/// use std::time::Duration;
/// use jobs::{LimitError, Limiter};
///
/// static PARTNER_API: Limiter = Limiter::rate("partner-api", 100, Duration::from_secs(60));
///
/// #[derive(Debug, thiserror::Error)]
/// enum SyncError {
///     #[error(transparent)]
///     Limited(#[from] LimitError),
/// }
///
/// #[jobs::job]
/// async fn sync_orders(partner_id: u64) -> Result<(), SyncError> {
///     for _page in 0..3 {
///         PARTNER_API.acquire(partner_id).await?;
///         // call the partner's API for one page
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Limiter {
    name: Cow<'static, str>,
    limit: u32,
    per: Duration,
}

impl Limiter {
    /// At most `limit` acquisitions of each key per `per`; `name` keeps it apart from other
    /// limiters and from job limits.
    pub const fn rate(name: &'static str, limit: u32, per: Duration) -> Self {
        Limiter {
            name: Cow::Borrowed(name),
            limit,
            per,
        }
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes one start for `key` on the current client (the worker's, inside a job).
    pub async fn acquire(&self, key: impl std::fmt::Display) -> Result<(), LimitError> {
        let client = Client::current().await.map_err(|_| LimitError::NoClient)?;
        self.acquire_on(&client, key).await
    }

    /// Takes one start for `key` on `client`'s store.
    pub async fn acquire_on(
        &self,
        client: &Client,
        key: impl std::fmt::Display,
    ) -> Result<(), LimitError> {
        if self.limit == 0 || self.per.is_zero() {
            return Err(LimitError::Invalid {
                name: self.name.to_string(),
            });
        }
        let key = format!("limiter:{}:{key}", self.name);
        let clock = client.clock();
        let params = RateAcquireParams::new(key.clone(), self.limit, self.per, clock.now())
            .clock(clock.lease_clock());
        match client.backend().rate_acquire(params).await? {
            RateDecision::Granted => Ok(()),
            RateDecision::Refused { retry_at } => Err(LimitError::Full { key, retry_at }),
        }
    }
}

/// Why a [`Limiter`] did not grant a start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The window is full: returned from a job, it snoozes the job until `retry_at`.
    #[error("rate limit {key} is full until {retry_at}")]
    Full {
        /// The limit's key (`limiter:<name>:<key>`).
        key: String,
        /// When a start frees.
        retry_at: DateTime<Utc>,
    },
    /// The store could not be asked.
    #[error("rate limit store: {0}")]
    Store(#[from] BackendError),
    /// No client: outside a job, set one with `jobs::set_default_client` or use
    /// [`Limiter::acquire_on`].
    #[error("no client to reach the rate limit's store: call jobs::set_default_client(..) or use acquire_on")]
    NoClient,
    /// The limiter allows nothing (a limit of 0 or an empty window).
    #[error("limiter {name} has a limit of 0 or a window of 0")]
    Invalid {
        /// The limiter's name.
        name: String,
    },
}

/// When a run ended by a full limiter may run again: the `retry_at` of the first
/// [`LimitError::Full`] in `error`'s source chain.
pub(crate) fn snooze_until(error: &(dyn std::error::Error + 'static)) -> Option<DateTime<Utc>> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(LimitError::Full { retry_at, .. }) = e.downcast_ref::<LimitError>() {
            return Some(*retry_at);
        }
        next = e.source();
    }
    None
}
