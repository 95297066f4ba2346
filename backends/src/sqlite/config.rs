//! How to open a SQLite database: the file, its durability and its timeouts.
//!
//! 1. [`SqliteConfig`] holds the options with their defaults; [`SqliteConfig::from_url`]
//!    reads them from `sqlite://relative/path.db` or `sqlite:///absolute/path.db`, with
//!    options as query parameters (`?synchronous=full&busy_timeout_ms=10000&poll_ms=250`).
//! 2. [`Synchronous`] says how far a commit is durable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jobs::ConnectError;

/// The query parameters a `sqlite://` URL may carry.
const PARAMETERS: &[&str] = &["synchronous", "busy_timeout_ms", "poll_ms", "readers"];

/// How far a committed transaction survives, SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// `NORMAL`: a commit is written to the write-ahead log before it returns, and the log
    /// is synced to disk only at checkpoints. A commit survives the process being killed at
    /// any point (the operating system keeps the written pages); the last commits before a
    /// power loss or kernel crash may be rolled back, never corrupted. The default: it costs
    /// no `fsync` per commit.
    #[default]
    Normal,
    /// `FULL`: the log is synced to disk at every commit, so a commit also survives a power
    /// loss, at the price of one `fsync` per transaction.
    Full,
}

impl Synchronous {
    pub(super) fn to_sqlx(self) -> sqlx::sqlite::SqliteSynchronous {
        match self {
            Synchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
            Synchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
        }
    }
}

/// Options for opening a [`SqliteBackend`](super::SqliteBackend).
///
/// ```
/// use std::time::Duration;
/// use jobs_backends::sqlite::{SqliteConfig, Synchronous};
/// let config = SqliteConfig::from_url("sqlite://jobs.db?synchronous=full&poll_ms=100").unwrap();
/// assert_eq!(config.path, std::path::Path::new("jobs.db"));
/// assert_eq!(config.synchronous, Synchronous::Full);
/// assert_eq!(config.poll_interval, Duration::from_millis(100));
/// let config = SqliteConfig::from_url("sqlite:///var/lib/app/jobs.db").unwrap();
/// assert_eq!(config.path, std::path::Path::new("/var/lib/app/jobs.db"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file, created (with its schema) when missing.
    pub path: PathBuf,
    /// How far a commit is durable (`?synchronous=normal|full`).
    pub synchronous: Synchronous,
    /// How long a write waits for another process's write to finish before failing with a
    /// timeout (`?busy_timeout_ms=`; default 10 s).
    pub busy_timeout: Duration,
    /// How often an idle reserver looks for jobs pushed by other processes
    /// (`?poll_ms=`; default 200 ms). Pushes from this process wake it at once.
    pub poll_interval: Duration,
    /// How many connections serve reads for the admin side (`?readers=`; default 4). Writes
    /// go through one connection per backend.
    pub readers: u32,
}

impl SqliteConfig {
    /// The defaults for the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::default(),
            busy_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(200),
            readers: 4,
        }
    }

    /// Sets how far a commit is durable.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Sets how long a write waits for the write lock.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets how often an idle reserver looks for jobs pushed by other processes.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how many connections serve reads.
    pub fn readers(mut self, readers: u32) -> Self {
        self.readers = readers.max(1);
        self
    }

    /// Reads a `sqlite://` URL: `sqlite://jobs.db` is relative to the working directory,
    /// `sqlite:///abs/jobs.db` absolute. The path is taken as written (no percent-decoding).
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let invalid = |reason: &str| ConnectError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("sqlite") => rest,
            _ => return Err(invalid("expected sqlite://path/to/file.db")),
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" {
            return Err(invalid(
                "expected a file path: sqlite://jobs.db (relative) or sqlite:///abs/jobs.db",
            ));
        }
        let mut config = SqliteConfig::new(Path::new(path));
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let bad = |what: &str| ConnectError::InvalidParameter {
                url: url.to_owned(),
                parameter: key.clone().into_owned(),
                problem: format!("got `{value}`, {what}"),
            };
            let millis = || {
                value
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| bad("expected a number of milliseconds"))
            };
            match key.as_ref() {
                "synchronous" => {
                    config.synchronous = match value.to_ascii_lowercase().as_str() {
                        "normal" => Synchronous::Normal,
                        "full" => Synchronous::Full,
                        _ => return Err(bad("expected `normal` or `full`")),
                    }
                }
                "busy_timeout_ms" => config.busy_timeout = millis()?,
                "poll_ms" => config.poll_interval = millis()?.max(Duration::from_millis(1)),
                "readers" => {
                    let n = value
                        .parse::<u32>()
                        .map_err(|_| bad("expected a number of connections"))?;
                    config = config.readers(n);
                }
                other => return Err(ConnectError::unknown_parameter(url, other, PARAMETERS)),
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_paths() {
        let c = SqliteConfig::from_url("sqlite://data/jobs.db").unwrap();
        assert_eq!(c.path, Path::new("data/jobs.db"));
        assert!(c.path.is_relative());
        let c = SqliteConfig::from_url("sqlite:///tmp/jobs.db").unwrap();
        assert_eq!(c.path, Path::new("/tmp/jobs.db"));
        assert_eq!(c.synchronous, Synchronous::Normal);
    }

    #[test]
    fn options_are_read_and_checked() {
        let c = SqliteConfig::from_url("sqlite://j.db?busy_timeout_ms=50&readers=2").unwrap();
        assert_eq!(c.busy_timeout, Duration::from_millis(50));
        assert_eq!(c.readers, 2);
        let e = SqliteConfig::from_url("sqlite://j.db?synchronous=off").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid `synchronous` in backend URL")
                && e.to_string()
                    .contains("got `off`, expected `normal` or `full`"),
            "{e}"
        );
        let e = SqliteConfig::from_url("sqlite://j.db?poll_ms=soon").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid `poll_ms` in backend URL"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_parameter_is_named_with_the_known_ones() {
        let e = SqliteConfig::from_url("sqlite://j.db?color=blue").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ConnectError::UnknownParameter { .. }), "{text}");
        assert!(text.contains("unknown parameter `color`"), "{text}");
        assert!(
            text.contains(
                "sqlite:// accepts `synchronous`, `busy_timeout_ms`, `poll_ms`, `readers`"
            ),
            "{text}"
        );
        let text = SqliteConfig::from_url("sqlite://j.db?poll=5")
            .unwrap_err()
            .to_string();
        assert!(text.contains("(did you mean `poll_ms`?)"), "{text}");
    }

    #[test]
    fn a_url_without_a_path_is_refused() {
        assert!(SqliteConfig::from_url("sqlite://").is_err());
        assert!(SqliteConfig::from_url("sqlite://:memory:").is_err());
        assert!(SqliteConfig::from_url("redis://x").is_err());
    }
}
