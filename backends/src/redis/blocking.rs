//! Connections for blocking pops (`BLMOVE`), one per waiting reserve, kept for reuse.
//!
//! 1. They have no client response timeout: a blocking pop is bounded by its own timeout
//!    (`reserve.rs`), so an idle worker never loops on timeouts.
//! 2. At most [`MAX_IDLE_BLOCKING`] idle ones are kept; a connection that failed or timed
//!    out is never put back, and a failure drops every idle one (they are as stale).
//! 3. Each keeps its server-side client id (`CLIENT ID`, asked once when it opens), which it
//!    registers as a sleeper while it blocks, so a prioritized push can wake it (`unique.rs`).
//!    A server that does not answer `CLIENT ID` leaves it without one: it is then not woken
//!    and its wait lasts until its slice ends.

use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

/// Idle blocking connections kept for the next reserve.
const MAX_IDLE_BLOCKING: usize = 16;

/// Connections for blocking pops, one per waiting reserve, kept for reuse.
pub(super) struct BlockingPool {
    pub(super) client: redis::Client,
    pub(super) config: AsyncConnectionConfig,
    pub(super) idle: Mutex<Vec<Blocking>>,
}

/// A blocking connection and its client id, if the server told it.
pub(super) struct Blocking {
    pub(super) conn: MultiplexedConnection,
    pub(super) id: Option<i64>,
}

impl BlockingPool {
    /// An idle connection (`true`: it may have gone stale) or a new one (`false`).
    pub(super) async fn get(&self) -> redis::RedisResult<(Blocking, bool)> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(b) = idle {
            return Ok((b, true));
        }
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let id = match redis::cmd("CLIENT").arg("ID").query_async(&mut conn).await {
            Ok(id) => Some(id),
            Err(e)
                if matches!(
                    e.kind(),
                    redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
                ) =>
            {
                tracing::debug!(error = %e, "no CLIENT ID: this blocking reserve cannot be woken early");
                None
            }
            Err(e) => return Err(e),
        };
        Ok((Blocking { conn, id }, false))
    }

    /// Drops every idle connection.
    pub(super) fn clear(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Keeps a connection that finished its command cleanly.
    pub(super) fn put(&self, conn: Blocking) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_BLOCKING {
            idle.push(conn);
        }
    }
}
