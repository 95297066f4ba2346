//! Backend errors, each with a portable [`ErrorKind`] the worker uses to decide what to do.

/// A boxed error from a backend's driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What sort of failure a [`BackendError`] is, the same for every backend.
///
/// The worker backs off and tries again on [`ErrorKind::Connection`] and
/// [`ErrorKind::Timeout`] instead of failing jobs; [`ErrorKind::Conflict`] means the
/// operation lost a race (for example, a lease that was already rescued).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server could not be reached, or the connection broke.
    Connection,
    /// The server did not answer in time.
    Timeout,
    /// Stored data could not be decoded.
    Decode,
    /// Another process changed the same data first.
    Conflict,
    /// The backend does not support the operation.
    Unsupported,
    /// Anything else the server refused.
    Other,
}

/// An error from a backend operation.
///
/// ```
/// use jobs::backend::{BackendError, ErrorKind};
/// let e = BackendError::connection("redis://127.0.0.1:1", "connection refused");
/// assert_eq!(e.kind(), ErrorKind::Connection);
/// assert!(e.is_transient());
/// assert!(e.to_string().contains("connection refused"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the backend at {target}: {message}")]
    Connection {
        /// Where the backend was trying to connect (a URL without password).
        target: String,
        /// What the driver said.
        message: String,
    },
    /// The server did not answer in time.
    #[error("the backend did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A stored job or record could not be decoded.
    #[error("could not decode stored data: {0}")]
    Decode(String),
    /// The lease of this job was lost: another process already rescued or finished it.
    #[error("the lease on job {jid} was lost: {reason}")]
    LeaseLost {
        /// The job's id.
        jid: String,
        /// Why the backend refused.
        reason: String,
    },
    /// Another process changed the same data first.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend does not support this operation.
    #[error("the {backend} backend does not support {operation}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
    /// Anything else the driver reported.
    #[error("backend error: {message}")]
    Other {
        /// What went wrong.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<BoxError>,
    },
}

impl BackendError {
    /// The portable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BackendError::Connection { .. } => ErrorKind::Connection,
            BackendError::Timeout(_) => ErrorKind::Timeout,
            BackendError::Decode(_) => ErrorKind::Decode,
            BackendError::LeaseLost { .. } | BackendError::Conflict(_) => ErrorKind::Conflict,
            BackendError::Unsupported { .. } => ErrorKind::Unsupported,
            BackendError::Other { .. } => ErrorKind::Other,
        }
    }

    /// True when trying again later may succeed (connection trouble or a timeout).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Connection | ErrorKind::Timeout)
    }

    /// A connection error.
    pub fn connection(target: impl Into<String>, message: impl std::fmt::Display) -> Self {
        BackendError::Connection {
            target: target.into(),
            message: message.to_string(),
        }
    }

    /// Any other error, keeping the driver's error as the source.
    pub fn other(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        BackendError::Other {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Any other error, from a message alone.
    pub fn msg(message: impl Into<String>) -> Self {
        BackendError::Other {
            message: message.into(),
            source: None,
        }
    }
}
