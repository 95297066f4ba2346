//! The one place where Redis driver errors become [`BackendError`]s.
//!
//! Unreachable, refused, dropped or still-loading servers are `Connection`; a command or a
//! connection attempt that took too long is `Timeout`; replies of the wrong shape and
//! payloads that are not job JSON are `Decode`; anything else the server refused (a wrong
//! password included: waiting will not fix it) is `Other`.

use std::time::Duration;

use jobs::backend::BackendError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Where errors say the backend was trying to reach, and how long it waits.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    /// The server URL without its password.
    pub(crate) target: String,
    /// The response timeout, reported in timeout errors.
    pub(crate) timeout: Duration,
    /// Whether the connections are TLS (`rediss://`): a failed handshake is then reported as
    /// TLS, and as a problem retrying will not fix.
    pub(crate) tls: bool,
}

impl Edge {
    /// Converts a driver error.
    pub(crate) fn map(&self, e: RedisError) -> BackendError {
        if self.tls && (e.is_io_error() || e.is_connection_dropped()) {
            if let Some(problem) = super::tls::tls_problem(&e.to_string()) {
                return BackendError::other(format!("Redis at {}: {problem}", self.target), e);
            }
        }
        if e.is_timeout() {
            return BackendError::Timeout(self.timeout);
        }
        if e.is_io_error()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || matches!(
                e.kind(),
                ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ReadOnly
                ) | ErrorKind::ClusterConnectionNotFound
            )
        {
            return BackendError::connection(&self.target, &e);
        }
        if matches!(e.kind(), ErrorKind::Parse | ErrorKind::UnexpectedReturnType) {
            return BackendError::Decode(format!("unexpected reply from Redis: {e}"));
        }
        BackendError::other(format!("Redis at {} refused: {e}", self.target), e)
    }

    /// The error for a client-side deadline that passed.
    pub(crate) fn elapsed(&self, waited: Duration) -> BackendError {
        BackendError::Timeout(waited)
    }
}

/// A reply whose shape is not what the script or command returns.
pub(crate) fn bad_reply(what: &str) -> BackendError {
    BackendError::Decode(format!("unexpected reply from Redis for {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::backend::ErrorKind as Kind;

    fn edge() -> Edge {
        Edge {
            target: "redis://127.0.0.1:1".into(),
            timeout: Duration::from_secs(1),
            tls: false,
        }
    }

    #[test]
    fn kinds_follow_the_cause() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(edge().map(refused).kind(), Kind::Connection);
        let timed_out = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(edge().map(timed_out).kind(), Kind::Timeout);
        let parse = RedisError::from((ErrorKind::UnexpectedReturnType, "boom"));
        assert_eq!(edge().map(parse).kind(), Kind::Decode);
        let other = RedisError::from((ErrorKind::Client, "boom"));
        assert_eq!(edge().map(other).kind(), Kind::Other);
    }
}
