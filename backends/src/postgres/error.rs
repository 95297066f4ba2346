//! Driver errors mapped once, at the edge, to the portable [`BackendError`].
//!
//! 1. [`map_sqlx`] is the one place a `sqlx::Error` becomes a [`BackendError`]: broken or
//!    refused connections, a closed pool and the server shutting down are `Connection`;
//!    waiting too long for a pooled connection or a cancelled statement is `Timeout`; rows
//!    or JSON that do not decode are `Decode`; unique violations and serialization
//!    failures are `Conflict`; anything else the server refused is `Other`, keeping sqlx's
//!    error as the source. A TLS handshake refused for a certificate (an unknown CA, a
//!    wrong host name, a missing client certificate) is `Other`, named as TLS with the URL
//!    parameter that fixes it: retrying would not.
//! 2. [`Sqlx::or_backend`] applies it to a result, as the SQLite backend's does.

use std::time::Duration;

use jobs::backend::BackendError;

/// Where errors happened: the redacted URL, and how long a pooled connection is awaited.
#[derive(Debug, Clone)]
pub(super) struct ErrorContext {
    /// The database, without its password, shown in connection errors.
    pub(super) target: String,
    /// How long a call waits for a pooled connection.
    pub(super) acquire_timeout: Duration,
}

/// Maps a driver error to the portable kind the worker acts on.
pub(super) fn map_sqlx(error: sqlx::Error, cx: &ErrorContext) -> BackendError {
    if matches!(error, sqlx::Error::Io(_) | sqlx::Error::Tls(_)) {
        if let Some(problem) = tls_problem(&error.to_string()) {
            return BackendError::other(format!("Postgres at {}: {problem}", cx.target), error);
        }
    }
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => BackendError::connection(&cx.target, error),
        sqlx::Error::PoolTimedOut => BackendError::Timeout(cx.acquire_timeout),
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
            BackendError::Decode(error.to_string())
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match sql_state_kind(&code) {
                StateKind::Connection => BackendError::connection(&cx.target, db),
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

/// What went wrong, in words, when `error` is a TLS handshake refused for a certificate;
/// `None` for anything else.
fn tls_problem(error: &str) -> Option<String> {
    let lower = error.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "the server's certificate is not signed by a trusted CA; give its CA with \
         `sslrootcert=/path/ca.pem`"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "the server's certificate is not valid for the host name in the URL; connect with a \
         name it lists, or use `sslmode=verify-ca`"
    } else if lower.contains("certificaterequired") || lower.contains("certificate required") {
        "the server asks for a client certificate; give `sslcert=` and `sslkey=`"
    } else if lower.contains("certificate") {
        "the certificates do not match"
    } else {
        return None;
    };
    Some(format!("TLS handshake failed: {error} ({hint})"))
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

    fn cx() -> ErrorContext {
        ErrorContext {
            target: "postgres://h/db".into(),
            acquire_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn io_pool_and_decode_errors_get_their_kinds() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            map_sqlx(sqlx::Error::Io(io), &cx()).kind(),
            ErrorKind::Connection
        );
        assert_eq!(
            map_sqlx(sqlx::Error::PoolClosed, &cx()).kind(),
            ErrorKind::Connection
        );
        assert_eq!(
            map_sqlx(sqlx::Error::PoolTimedOut, &cx()).kind(),
            ErrorKind::Timeout
        );
        assert_eq!(
            map_sqlx(sqlx::Error::Decode("bad".into()), &cx()).kind(),
            ErrorKind::Decode
        );
        assert_eq!(
            map_sqlx(sqlx::Error::RowNotFound, &cx()).kind(),
            ErrorKind::Other
        );
    }

    #[test]
    fn a_refused_certificate_is_named_tls_with_its_fix_and_not_retried() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        let err = map_sqlx(sqlx::Error::Io(io), &cx());
        assert_eq!(err.kind(), ErrorKind::Other);
        let text = err.to_string();
        assert!(text.contains("TLS handshake failed"), "{text}");
        assert!(text.contains("sslrootcert="), "{text}");
    }

    #[test]
    fn or_backend_maps_through_map_sqlx() {
        let mapped = Err::<(), _>(sqlx::Error::PoolTimedOut).or_backend(&cx());
        assert!(matches!(mapped, Err(BackendError::Timeout(d)) if d == Duration::from_secs(5)));
        assert_eq!(Ok::<_, sqlx::Error>(7).or_backend(&cx()).ok(), Some(7));
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
