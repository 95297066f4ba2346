//! Driver errors mapped once, at the edge, to the portable [`BackendError`].
//!
//! 1. [`map_sqlx`] is the one place a `sqlx::Error` becomes a [`BackendError`]: a busy or
//!    locked database is [`BackendError::Timeout`] (the busy timeout ran out), a file that
//!    cannot be opened, read or written is [`BackendError::Connection`], a constraint
//!    violation is [`BackendError::Conflict`], undecodable columns are
//!    [`BackendError::Decode`]. The worker backs off on the first two instead of failing jobs.
//!    A file that is no SQLite database at all (`sqlite:///etc/passwd`) and a database that
//!    is damaged get messages of their own.
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
                SQLITE_NOTADB => BackendError::other(
                    format!(
                        "{} is not a SQLite database: give the sqlite:// URL a database file, \
                         or a path that does not exist yet to create one",
                        cx.target
                    ),
                    sqlx::Error::Database(db),
                ),
                SQLITE_CORRUPT => BackendError::other(
                    format!(
                        "the SQLite database {} is damaged (SQLite reports it corrupt); \
                         restore it from a backup",
                        cx.target
                    ),
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

    /// A file of `contents` at a fresh temporary path.
    fn file_with(contents: &[u8]) -> std::path::PathBuf {
        let path = super::super::open::temporary_path();
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[tokio::test]
    async fn a_file_that_is_no_database_is_named_as_such() {
        let path = file_with(b"root:x:0:0:root:/root:/bin/bash\n".repeat(200).as_slice());
        let url = format!("sqlite://{}", path.display());
        let Err(err) = jobs::connect(&url).await else {
            panic!("{url} opened as a database")
        };
        let text = err.to_string();
        let _ = std::fs::remove_file(&path);
        assert!(
            text.contains(&format!("{} is not a SQLite database", path.display())),
            "{text}"
        );
        assert!(
            !text.contains("damaged") && !text.contains("corrupt"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_damaged_database_is_called_damaged() {
        use sqlx::{ConnectOptions, Connection};
        let path = super::super::open::temporary_path();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = options.connect().await.unwrap();
        sqlx::query("CREATE TABLE t (x TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        for _ in 0..50 {
            sqlx::query("INSERT INTO t VALUES (?)")
                .bind("x".repeat(500))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
        // Keep page 1 (the header and the schema), overwrite the table's pages with garbage.
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096.min(bytes.len());
        for b in &mut bytes[page..] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let mut conn = options.connect().await.unwrap();
        let Err(err) = sqlx::query("SELECT count(*), max(x) FROM t")
            .fetch_one(&mut conn)
            .await
        else {
            panic!("the damaged table was read")
        };
        let _ = conn.close().await;
        let _ = std::fs::remove_file(&path);
        let mapped = map_sqlx(err, &cx());
        let text = mapped.to_string();
        assert!(
            text.contains("the SQLite database /tmp/x.db is damaged"),
            "{text}"
        );
        assert!(!text.contains("not a SQLite database"), "{text}");
    }

    #[test]
    fn undecodable_columns_are_decode_errors() {
        let e = map_sqlx(sqlx::Error::ColumnNotFound("payload".into()), &cx());
        assert_eq!(e.kind(), ErrorKind::Decode);
    }
}
