//! Reading a `postgres://` URL: the options this backend adds, the rest left to sqlx.
//!
//! 1. `schema=NAME` (default `jobs`): the Postgres schema holding every table, so several
//!    apps (or tests) share a database without seeing each other's jobs.
//! 2. `max_connections=N` (default 10), `acquire_timeout_ms=N` (default 5000),
//!    `poll_interval_ms=N` (default 1000, the fallback when notifications are lost) and
//!    `completed_retention_secs=N` (default 0: completed jobs are deleted at once).
//! 3. The parameters sqlx's `PgConnectOptions` reads (`sslmode`, `application_name`, …) go
//!    to it unchanged; any other is refused, naming the known ones (sqlx would ignore it).

use std::str::FromStr;
use std::time::Duration;

use jobs::{redact_url, ConnectError};
use sqlx::postgres::PgConnectOptions;

/// The longest schema name accepted: `jobs.` plus the name must fit Postgres's 63-byte
/// identifier limit, as the notification channel is named after the schema.
const MAX_SCHEMA_LEN: usize = 48;

/// The query parameters this backend reads itself.
const OURS: &[&str] = &[
    "schema",
    "max_connections",
    "acquire_timeout_ms",
    "poll_interval_ms",
    "completed_retention_secs",
];

/// The query parameters sqlx's `PgConnectOptions` reads (besides `options[NAME]`).
const SQLX: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// How a [`PostgresBackend`](super::PostgresBackend) is set up, beyond the connection.
///
/// ```
/// use jobs_backends::postgres::PostgresOptions;
/// let options = PostgresOptions::new().with_schema("myapp").unwrap();
/// assert_eq!(options.schema(), "myapp");
/// assert!(PostgresOptions::new().with_schema("My App").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    schema: String,
    max_connections: u32,
    acquire_timeout: Duration,
    poll_interval: Duration,
    completed_retention: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "jobs".to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            completed_retention: Duration::ZERO,
        }
    }
}

/// A schema name that is not a plain lowercase identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid schema name `{0}`: use 1 to 48 characters a-z, 0-9 and _, not starting with a digit"
)]
pub struct InvalidSchema(pub String);

impl PostgresOptions {
    /// The defaults: schema `jobs`, 10 connections, 5 s to get one, 1 s fallback polling.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep the tables in schema `name` (lowercase letters, digits and `_`).
    pub fn with_schema(mut self, name: &str) -> Result<Self, InvalidSchema> {
        validate_schema(name)?;
        self.schema = name.to_owned();
        Ok(self)
    }

    /// The most connections the pool opens (the notification listener uses one more).
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long an operation waits for a free connection before failing with a timeout.
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How often an idle reserver checks the table anyway, in case a notification was lost.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Keep completed jobs this long (state `completed`, invisible to the admin side)
    /// instead of deleting them; `lease_rescue` prunes them in batches. Zero deletes them.
    pub fn with_completed_retention(mut self, retention: Duration) -> Self {
        self.completed_retention = retention;
        self
    }

    /// The schema name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long an operation waits for a free connection.
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// The fallback polling interval of idle reservers.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// How long completed jobs are kept; zero when they are deleted at once.
    pub fn completed_retention(&self) -> Duration {
        self.completed_retention
    }

    /// Splits a `postgres://` URL into sqlx's connection options and ours.
    ///
    /// ```
    /// use jobs_backends::postgres::PostgresOptions;
    /// let (_, options) =
    ///     PostgresOptions::from_url("postgres://root@127.0.0.1:5432/test?schema=myapp").unwrap();
    /// assert_eq!(options.schema(), "myapp");
    /// ```
    pub fn from_url(url: &str) -> Result<(PgConnectOptions, Self), ConnectError> {
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: redact_url(url),
            reason,
        };
        let config = |message: String| ConnectError::Config {
            url: redact_url(url),
            message,
        };
        let bad = |parameter: &str, problem: String| ConnectError::InvalidParameter {
            url: redact_url(url),
            parameter: parameter.to_owned(),
            problem,
        };
        let mut parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let mut options = PostgresOptions::new();
        let mut rest = Vec::new();
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "schema" if value.is_empty() => {
                    return Err(bad(
                        "schema",
                        "it is empty; give a name such as `myapp`, or leave `schema` out for \
                         the default `jobs`"
                            .to_owned(),
                    ))
                }
                "schema" => {
                    options = options
                        .with_schema(&value)
                        .map_err(|e| bad("schema", e.to_string()))?
                }
                "max_connections" => {
                    options =
                        options.with_max_connections(number(&value).map_err(|p| bad(&key, p))?)
                }
                "acquire_timeout_ms" => {
                    options = options.with_acquire_timeout(Duration::from_millis(
                        number(&value).map_err(|p| bad(&key, p))?,
                    ))
                }
                "poll_interval_ms" => {
                    options = options.with_poll_interval(Duration::from_millis(
                        number(&value).map_err(|p| bad(&key, p))?,
                    ))
                }
                "completed_retention_secs" => {
                    options = options.with_completed_retention(Duration::from_secs(
                        number(&value).map_err(|p| bad(&key, p))?,
                    ))
                }
                k if SQLX.contains(&k) || (k.starts_with("options[") && k.ends_with(']')) => {
                    rest.push((key.into_owned(), value.into_owned()))
                }
                other => {
                    let known: Vec<&str> = OURS.iter().chain(SQLX).copied().collect();
                    return Err(ConnectError::unknown_parameter(url, other, &known));
                }
            }
        }
        if rest.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(rest);
        }
        let connect = PgConnectOptions::from_str(parsed.as_str())
            .map_err(|e| config(format!("not a Postgres URL: {e}")))?;
        Ok((connect, options))
    }
}

/// `value` as a number, or the problem to report with the parameter's name.
fn number<T: FromStr>(value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("got `{value}`, expected a whole number"))
}

/// Checks that `name` is a plain lowercase identifier, safe to quote into SQL text.
pub(crate) fn validate_schema(name: &str) -> Result<(), InvalidSchema> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SCHEMA_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(InvalidSchema(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_parameters_are_taken_out_and_the_rest_kept() {
        let (connect, options) = PostgresOptions::from_url(
            "postgres://root@127.0.0.1:5432/test?schema=app_1&max_connections=3&application_name=x",
        )
        .unwrap();
        assert_eq!(options.schema(), "app_1");
        assert_eq!(options.max_connections(), 3);
        assert_eq!(connect.get_database(), Some("test"));
        assert_eq!(connect.get_application_name(), Some("x"));
    }

    #[test]
    fn a_bad_schema_or_number_names_the_parameter() {
        for (url, parameter) in [
            ("postgres://h/db?schema=Robert%22;drop", "schema"),
            ("postgres://h/db?schema=1abc", "schema"),
            ("postgres://h/db?max_connections=lots", "max_connections"),
            ("postgres://h/db?poll_interval_ms=-1", "poll_interval_ms"),
        ] {
            let err = PostgresOptions::from_url(url).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, ConnectError::InvalidParameter { .. }),
                "{url}: {text}"
            );
            assert!(
                text.starts_with(&format!("invalid `{parameter}` in backend URL")),
                "{url}: {text}"
            );
        }
    }

    #[test]
    fn an_unknown_parameter_is_named_with_the_known_ones() {
        let err = PostgresOptions::from_url("postgres://root:secret@h/db?shema=app").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConnectError::UnknownParameter { .. }),
            "{text}"
        );
        assert!(text.contains("unknown parameter `shema`"), "{text}");
        assert!(text.contains("did you mean `schema`?"), "{text}");
        for known in OURS.iter().chain(SQLX) {
            assert!(text.contains(&format!("`{known}`")), "{known}: {text}");
        }
        assert!(!text.contains("secret"), "{text}");
        let text = PostgresOptions::from_url("postgres://h/db?prefix=app")
            .unwrap_err()
            .to_string();
        assert!(text.contains("unknown parameter `prefix`"), "{text}");
    }

    #[test]
    fn an_empty_schema_is_refused_naming_schema() {
        let err = PostgresOptions::from_url("postgres://h/db?schema=").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConnectError::InvalidParameter { .. }),
            "{text}"
        );
        assert!(
            text.starts_with("invalid `schema` in backend URL"),
            "{text}"
        );
        assert!(text.contains("it is empty"), "{text}");
    }

    #[test]
    fn sqlx_parameters_pass_through() {
        let (connect, _) = PostgresOptions::from_url(
            "postgres://h/db?sslmode=disable&application_name=app&options[search_path]=x&port=6543",
        )
        .unwrap();
        assert_eq!(connect.get_port(), 6543);
        assert_eq!(connect.get_application_name(), Some("app"));
    }

    #[test]
    fn the_default_schema_is_jobs() {
        let (_, options) = PostgresOptions::from_url("postgresql://h/db").unwrap();
        assert_eq!(options.schema(), "jobs");
    }
}
