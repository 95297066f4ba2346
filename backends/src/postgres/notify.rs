//! Waking idle reservers: LISTEN on a dedicated connection, polling as the fallback.
//!
//! 1. [`spawn_listener`] runs one task per backend that LISTENs on the schema's channel
//!    (`jobs.<schema>`) over its own connection and wakes every waiting reserver on each
//!    notification. Pushes, promotions, requeues and rescues NOTIFY that channel.
//! 2. When the connection drops, the task reconnects and wakes everyone, since
//!    notifications sent meanwhile are lost; failures to reconnect back off up to 5 s.
//! 3. [`Wake::wait`] waits for a wake-up or the next poll (the poll interval with ±20%
//!    jitter), whichever is first, so a lost notification delays a job by one poll at most.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The wake-up shared by the listener task and the reservers of one backend.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    notify: Notify,
}

impl Wake {
    /// Wakes every reserver waiting now.
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
    }

    /// A future that completes at the next [`Wake::wake_all`]; enabled at once, so a wake
    /// between this call and the await is not missed.
    pub(crate) fn listen(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.notify.notified());
        notified.as_mut().enable();
        notified
    }

    /// Waits for `notified`, the next poll, or `deadline`, whichever comes first.
    pub(crate) async fn wait(
        notified: std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>>,
        poll: Duration,
        deadline: Instant,
    ) {
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        let next_poll = Instant::now() + poll.mul_f64(jitter);
        let _ = tokio::time::timeout_at(next_poll.min(deadline), notified).await;
    }
}

/// Starts the listener task for `channel`; it runs until the handle is aborted.
pub(crate) fn spawn_listener(
    options: PgConnectOptions,
    channel: String,
    wake: Arc<Wake>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // A pool of one connection, never recycled, only used to reconnect the listener.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let mut listener = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            let result = match listener.as_mut() {
                None => match PgListener::connect_with(&pool).await {
                    Ok(mut l) => match l.listen(&channel).await {
                        Ok(()) => {
                            tracing::debug!(%channel, "listening for job notifications");
                            listener = Some(l);
                            // Anything pushed before LISTEN took effect was not announced.
                            wake.wake_all();
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
                Some(l) => match l.try_recv().await {
                    Ok(Some(_)) => {
                        wake.wake_all();
                        Ok(())
                    }
                    Ok(None) => {
                        tracing::info!(%channel, "notification connection lost; reconnected");
                        wake.wake_all();
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(()) => backoff = Duration::from_millis(50),
                Err(error) => {
                    // Start over with a fresh connection: the old one may be broken in a
                    // way sqlx does not notice (the server's FATAL on shutdown).
                    listener = None;
                    tracing::warn!(%channel, %error, retry_in = ?backoff, "notification listener failed; reservers poll until it is back");
                    wake.wake_all();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    })
}
