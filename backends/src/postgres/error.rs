//! The one place sqlx errors become [`BackendError`]s, so every call maps them alike.
//!
//! 1. Broken or refused connections, a closed pool and the server shutting down are
//!    `Connection`; waiting too long for a pooled connection or a cancelled statement is
//!    `Timeout`; rows or JSON that do not decode are `Decode`.
//! 2. Unique violations and serialization failures are `Conflict`; anything else the
//!    server refused is `Other`, keeping sqlx's error as the source.

use std::time::Duration;

use jobs::backend::BackendError;

/// Where errors happened: the redacted URL, and how long a pooled connection is awaited.
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext {
    pub(crate) target: String,
    pub(crate) acquire_timeout: Duration,
}

impl ErrorContext {
    /// Maps a sqlx error to the portable kind the worker acts on.
    pub(crate) fn map(&self, error: sqlx::Error) -> BackendError {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => BackendError::connection(&self.target, error),
            sqlx::Error::PoolTimedOut => BackendError::Timeout(self.acquire_timeout),
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
                BackendError::Decode(error.to_string())
            }
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                match sql_state_kind(&code) {
                    StateKind::Connection => BackendError::connection(&self.target, db),
                    StateKind::Timeout => BackendError::Timeout(Duration::ZERO),
                    StateKind::Conflict => BackendError::Conflict(db.to_string()),
                    StateKind::Other => {
                        BackendError::other(format!("postgres refused: {db}"), db.into_error())
                    }
                }
            }
            other => BackendError::other("postgres driver error", other),
        }
    }
}

enum StateKind {
    Connection,
    Timeout,
    Conflict,
    Other,
}

/// Sorts a SQLSTATE into the kinds the worker distinguishes.
fn sql_state_kind(code: &str) -> StateKind {
    match code {
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away.
        "57P01" | "57P02" | "57P03" => StateKind::Connection,
        // class 08: connection exceptions.
        c if c.starts_with("08") => StateKind::Connection,
        // query_canceled (statement_timeout), lock_not_available (lock_timeout).
        "57014" | "55P03" => StateKind::Timeout,
        // unique_violation, serialization_failure, deadlock_detected.
        "23505" | "40001" | "40P01" => StateKind::Conflict,
        _ => StateKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::backend::ErrorKind;

    fn ctx() -> ErrorContext {
        ErrorContext {
            target: "postgres://h/db".into(),
            acquire_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn io_pool_and_decode_errors_get_their_kinds() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(ctx().map(sqlx::Error::Io(io)).kind(), ErrorKind::Connection);
        assert_eq!(
            ctx().map(sqlx::Error::PoolClosed).kind(),
            ErrorKind::Connection
        );
        assert_eq!(
            ctx().map(sqlx::Error::PoolTimedOut).kind(),
            ErrorKind::Timeout
        );
        assert_eq!(
            ctx().map(sqlx::Error::Decode("bad".into())).kind(),
            ErrorKind::Decode
        );
        assert_eq!(ctx().map(sqlx::Error::RowNotFound).kind(), ErrorKind::Other);
    }

    #[test]
    fn sql_states_sort_into_kinds() {
        assert!(matches!(sql_state_kind("08006"), StateKind::Connection));
        assert!(matches!(sql_state_kind("57P01"), StateKind::Connection));
        assert!(matches!(sql_state_kind("57014"), StateKind::Timeout));
        assert!(matches!(sql_state_kind("23505"), StateKind::Conflict));
        assert!(matches!(sql_state_kind("42P01"), StateKind::Other));
    }
}
