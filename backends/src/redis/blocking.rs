//! Connections for blocking pops (`BLMOVE`), one per waiting reserve, kept for reuse.
//!
//! 1. They have no client response timeout: a blocking pop is bounded by its own timeout
//!    (`reserve.rs`), so an idle worker never loops on timeouts.
//! 2. At most [`MAX_IDLE_BLOCKING`] idle ones are kept; a connection that failed or timed
//!    out is never put back, and a failure drops every idle one (they are as stale).

use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

/// Idle blocking connections kept for the next reserve.
const MAX_IDLE_BLOCKING: usize = 16;

/// Connections for blocking pops, one per waiting reserve, kept for reuse.
pub(super) struct BlockingPool {
    pub(super) client: redis::Client,
    pub(super) config: AsyncConnectionConfig,
    pub(super) idle: Mutex<Vec<MultiplexedConnection>>,
}

impl BlockingPool {
    /// An idle connection (`true`: it may have gone stale) or a new one (`false`).
    pub(super) async fn get(&self) -> redis::RedisResult<(MultiplexedConnection, bool)> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(c) => Ok((c, true)),
            None => self
                .client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
                .map(|c| (c, false)),
        }
    }

    /// Drops every idle connection.
    pub(super) fn clear(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Keeps a connection that finished its command cleanly.
    pub(super) fn put(&self, conn: MultiplexedConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_BLOCKING {
            idle.push(conn);
        }
    }
}
