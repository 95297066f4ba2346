//! The one writer connection of a backend, without a pool's per-use cost.
//!
//! 1. A pool returns each connection through a spawned task that pings it, one more hop
//!    to the connection's thread per call; here the connection sits behind a fair async
//!    mutex and a call takes it, uses it and puts it back.
//! 2. [`Conn`] is the connection while held. One dropped without [`Conn::settle`] (an
//!    error, a cancelled call, a transaction not committed) marks it unsettled: the next
//!    holder first rolls back whatever may be open and, if the connection no longer
//!    answers, opens a new one.
//! 3. [`Writer::close`] swaps in a throwaway in-memory connection and closes the real one.

use std::ops::{Deref, DerefMut};

use jobs::backend::BackendError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Mutex, MutexGuard};

use super::error::{ErrorContext, Sqlx};

/// The writer connection and how to open it again.
#[derive(Debug)]
pub(super) struct Writer {
    state: Mutex<State>,
    options: SqliteConnectOptions,
}

#[derive(Debug)]
struct State {
    conn: SqliteConnection,
    /// The last holder did not settle: a transaction may be open, or the connection broken.
    unsettled: bool,
    closed: bool,
}

/// The writer connection, held.
pub(super) struct Conn<'a> {
    state: MutexGuard<'a, State>,
    settled: bool,
}

impl Writer {
    /// Opens the writer connection.
    pub(super) async fn open(
        options: SqliteConnectOptions,
        cx: &ErrorContext,
    ) -> Result<Self, BackendError> {
        let conn = options.connect().await.or_backend(cx)?;
        Ok(Writer {
            state: Mutex::new(State {
                conn,
                unsettled: false,
                closed: false,
            }),
            options,
        })
    }

    /// Takes the connection, waiting for the holder before; cleans up after one that did
    /// not settle.
    pub(super) async fn acquire(&self, cx: &ErrorContext) -> Result<Conn<'_>, BackendError> {
        let mut state = self.state.lock().await;
        if state.closed {
            return Err(BackendError::connection(
                &cx.target,
                "the backend was closed",
            ));
        }
        if state.unsettled {
            match sqlx::query("ROLLBACK").execute(&mut state.conn).await {
                // Rolled back, or there was nothing to roll back: the connection answers.
                Ok(_) | Err(sqlx::Error::Database(_)) => {}
                Err(e) => {
                    tracing::warn!(file = %cx.target, error = %e, "SQLite writer connection lost; reopening");
                    state.conn = self.options.connect().await.or_backend(cx)?;
                }
            }
            state.unsettled = false;
        }
        Ok(Conn {
            state,
            settled: false,
        })
    }

    /// Closes the connection; later writes fail with a connection error.
    pub(super) async fn close(&self) {
        let mut state = self.state.lock().await;
        if state.closed {
            return;
        }
        let placeholder = SqliteConnectOptions::new().in_memory(true).connect().await;
        if let Ok(placeholder) = placeholder {
            let conn = std::mem::replace(&mut state.conn, placeholder);
            let _ = conn.close().await;
        }
        state.closed = true;
    }
}

impl Conn<'_> {
    /// The holder is done and left no transaction open.
    pub(super) fn settle(mut self) {
        self.settled = true;
    }
}

impl Deref for Conn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.state.conn
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.state.conn
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.state.unsettled = true;
        }
    }
}
