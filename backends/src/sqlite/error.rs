//! Driver errors mapped once, at the edge, to the portable [`BackendError`].
//!
//! 1. [`map_sqlx`] is the one place a `sqlx::Error` becomes a [`BackendError`]: a busy or
//!    locked database is [`BackendError::Timeout`] (the busy timeout ran out), a file that
//!    cannot be opened, read or written is [`BackendError::Connection`], a constraint
//!    violation is [`BackendError::Conflict`], undecodable columns are
//!    [`BackendError::Decode`]. The worker backs off on the first two instead of failing jobs.
//! 2. [`Sqlx::or_backend`] applies it to a result; [`decode`] and [`encode`] name the stored
//!    data that JSON could not read or write.

use std::time::Duration;

use jobs::backend::BackendError;

/// What the mapping needs to know about the database: where it is and its timeouts.
#[derive(Debug, Clone)]
pub(super) struct ErrorContext {
    /// The database file, shown in connection errors.
    pub(super) target: String,
    /// How long SQLite waits for the write lock before giving up.
    pub(super) busy_timeout: Duration,
    /// How long a read waits for a pooled reader connection.
    pub(super) acquire_timeout: Duration,
}

// SQLite primary result codes: the low byte of the extended code the driver reports.
const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_PROTOCOL: i32 = 15;
const SQLITE_CONSTRAINT: i32 = 19;
const SQLITE_NOTADB: i32 = 26;

/// Maps a driver error to a [`BackendError`] of the right kind.
pub(super) fn map_sqlx(error: sqlx::Error, cx: &ErrorContext) -> BackendError {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            match code & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED => BackendError::Timeout(cx.busy_timeout),
                SQLITE_PERM | SQLITE_READONLY | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN
                | SQLITE_PROTOCOL => BackendError::connection(&cx.target, db.message()),
                SQLITE_CONSTRAINT => BackendError::Conflict(db.message().to_owned()),
                SQLITE_CORRUPT | SQLITE_NOTADB => BackendError::other(
                    format!("the SQLite file {} is damaged", cx.target),
                    sqlx::Error::Database(db),
                ),
                _ => BackendError::other("SQLite refused the statement", sqlx::Error::Database(db)),
            }
        }
        sqlx::Error::PoolTimedOut => BackendError::Timeout(cx.acquire_timeout),
        e @ (sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)) => BackendError::connection(&cx.target, e),
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }) => BackendError::Decode(e.to_string()),
        e => BackendError::other("SQLite driver error", e),
    }
}

/// Applies [`map_sqlx`] to a driver result.
pub(super) trait Sqlx<T> {
    /// The result with its error mapped for the database `cx` describes.
    fn or_backend(self, cx: &ErrorContext) -> Result<T, BackendError>;
}

impl<T> Sqlx<T> for Result<T, sqlx::Error> {
    fn or_backend(self, cx: &ErrorContext) -> Result<T, BackendError> {
        self.map_err(|e| map_sqlx(e, cx))
    }
}

/// Stored JSON (`what`) that could not be read back.
pub(super) fn decode(what: &str, error: serde_json::Error) -> BackendError {
    BackendError::Decode(format!("{what}: {error}"))
}

/// A value that could not be written as JSON.
pub(super) fn encode(what: &str, error: serde_json::Error) -> BackendError {
    BackendError::other(format!("could not encode {what} as JSON"), error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::backend::ErrorKind;

    fn cx() -> ErrorContext {
        ErrorContext {
            target: "/tmp/x.db".into(),
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn pool_and_io_failures_are_transient() {
        let e = map_sqlx(sqlx::Error::PoolTimedOut, &cx());
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = map_sqlx(sqlx::Error::PoolClosed, &cx());
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert!(e.to_string().contains("/tmp/x.db"), "{e}");
        let e = map_sqlx(sqlx::Error::Io(std::io::Error::other("gone")), &cx());
        assert!(e.is_transient());
    }

    #[test]
    fn undecodable_columns_are_decode_errors() {
        let e = map_sqlx(sqlx::Error::ColumnNotFound("payload".into()), &cx());
        assert_eq!(e.kind(), ErrorKind::Decode);
    }
}
