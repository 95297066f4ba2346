//! Connection options: the URL, the database number, the key prefix and the timeouts.
//!
//! 1. [`RedisOptions::from_url`] reads `redis://[:password@]host[:port][/db][?prefix=name]`
//!    (and passes `protocol=resp3` on to the redis crate); any other parameter is refused.
//!    `rediss://` URLs also take the TLS files `ca`, `cert` and `key` (see [`RedisTls`]).
//! 2. Everything else has a default that suits a worker on the same network as Redis.

use std::time::Duration;

use jobs::ConnectError;

use super::tls::RedisTls;

/// The query parameters a `redis://` URL may carry: ours, then the redis crate's.
const PARAMETERS: &[&str] = &["prefix", "ca", "cert", "key", "protocol"];

/// The TLS file parameters, which only a `rediss://` URL may carry.
pub(crate) const TLS_PARAMETERS: &[&str] = &["ca", "cert", "key"];

/// Sets the TLS file parameter `key` (one of [`TLS_PARAMETERS`]) of `tls` to the path
/// `value`. `plain` is the scheme of a URL that connects in plain text (`redis`,
/// `redis+cluster`), which may not carry TLS files; `None` for a TLS one. The error is the
/// problem, to be reported for the parameter.
pub(crate) fn tls_parameter(
    tls: &mut RedisTls,
    key: &str,
    value: &str,
    plain: Option<&str>,
) -> Result<(), String> {
    if let Some(plain) = plain {
        let secure = format!("rediss{}", plain.strip_prefix("redis").unwrap_or_default());
        return Err(format!(
            "TLS files are for {secure}:// URLs; {plain}:// connects in plain text: write \
             {secure}:// to use TLS"
        ));
    }
    if value.is_empty() {
        return Err("it is empty; give the path of a PEM file".to_owned());
    }
    let path = Some(std::path::PathBuf::from(value));
    match key {
        "ca" => tls.ca = path,
        "cert" => tls.cert = path,
        "key" => tls.key = path,
        other => return Err(format!("`{other}` is not a TLS file parameter")),
    }
    Ok(())
}

/// `value` as a key prefix, or the error saying why it cannot be one.
fn check_prefix(url: &str, value: &str) -> Result<String, ConnectError> {
    match prefix_problem(value) {
        None => Ok(value.to_owned()),
        Some(problem) => Err(ConnectError::InvalidParameter {
            url: jobs::redact_url(url),
            parameter: "prefix".to_owned(),
            problem,
        }),
    }
}

/// Why `value` cannot be a key prefix, if it cannot: every key starts with `<prefix>:`, so it
/// must be non-empty and free of whitespace and control characters.
pub(crate) fn prefix_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(
            "it is empty; give a name such as `myapp`, or leave `prefix` out for Sidekiq's \
             plain key names"
                .to_owned(),
        );
    }
    let c = value
        .chars()
        .find(|c| c.is_control() || c.is_whitespace())?;
    let kind = if c == ' ' {
        "a space"
    } else if c.is_control() {
        "a control character"
    } else {
        "whitespace"
    };
    Some(format!(
        "`{}` contains {kind} (U+{:04X}), which a key prefix may not",
        value.escape_debug(),
        u32::from(c)
    ))
}

/// How to reach Redis and where in it the jobs live.
///
/// ```
/// use jobs_backends::redis::RedisOptions;
/// let opts = RedisOptions::from_url("redis://127.0.0.1:6379/3?prefix=myapp").unwrap();
/// assert_eq!(opts.db, Some(3));
/// assert_eq!(opts.prefix.as_deref(), Some("myapp"));
/// assert_eq!(opts.url, "redis://127.0.0.1:6379/3");
/// // Printed, the URL's password is hidden:
/// let opts = RedisOptions::from_url("rediss://worker:s3cret@127.0.0.1:6380").unwrap();
/// assert!(!format!("{opts:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The server URL, without the options this crate reads (`prefix`).
    pub url: String,
    /// The database number; `None` keeps the one in the URL (0 when absent).
    pub db: Option<i64>,
    /// Put every key under `<prefix>:`, as the `redis-namespace` gem does for Sidekiq's
    /// `namespace:` option. `None` uses Sidekiq's plain key names.
    pub prefix: Option<String>,
    /// How long to wait for a TCP connection (and for each reconnection attempt).
    pub connect_timeout: Duration,
    /// How long to wait for the answer to a command before reporting a timeout.
    pub response_timeout: Duration,
    /// The longest one blocking pop lasts before the reserve loop checks again; a paused
    /// queue stops being taken from within this time.
    pub max_block: Duration,
    /// With several queues to watch, how long to block on one before looking at all again:
    /// the most a job pushed to another queue waits for an idle worker.
    pub queue_rotation: Duration,
    /// The CA and client certificate files of a `rediss://` connection (`?ca=&cert=&key=`).
    pub tls: RedisTls,
}

impl std::fmt::Debug for RedisOptions {
    /// Every field, with the URL's password (and secret-looking parameters) hidden.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let RedisOptions {
            url,
            db,
            prefix,
            connect_timeout,
            response_timeout,
            max_block,
            queue_rotation,
            tls,
        } = self;
        f.debug_struct("RedisOptions")
            .field("url", &jobs::redact_url(url))
            .field("db", db)
            .field("prefix", prefix)
            .field("connect_timeout", connect_timeout)
            .field("response_timeout", response_timeout)
            .field("max_block", max_block)
            .field("queue_rotation", queue_rotation)
            .field("tls", tls)
            .finish()
    }
}

impl RedisOptions {
    /// Options for `url` with every default.
    ///
    /// ```
    /// let opts = jobs_backends::redis::RedisOptions::new("redis://127.0.0.1:6379");
    /// assert_eq!(opts.prefix, None);
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            db: None,
            prefix: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            max_block: Duration::from_secs(2),
            queue_rotation: Duration::from_millis(100),
            tls: RedisTls::default(),
        }
    }

    /// Reads the database number from the URL's path, the key prefix from `?prefix=`, and
    /// for `rediss://` the TLS files from `?ca=`, `?cert=` and `?key=`.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let redacted = jobs::redact_url(url);
        let mut parsed = url::Url::parse(url).map_err(|e| ConnectError::InvalidUrl {
            url: redacted.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(ConnectError::InvalidUrl {
                url: redacted,
                reason: "expected redis:// or rediss://".into(),
            });
        }
        let mut prefix = None;
        let mut tls = RedisTls::default();
        let mut kept = Vec::new();
        let is_tls = parsed.scheme() == "rediss";
        for (k, v) in parsed.query_pairs() {
            match &*k {
                "prefix" => prefix = Some(check_prefix(url, &v)?),
                k if TLS_PARAMETERS.contains(&k) => {
                    tls_parameter(&mut tls, k, &v, (!is_tls).then_some("redis")).map_err(
                        |problem| ConnectError::InvalidParameter {
                            url: redacted.clone(),
                            parameter: k.to_owned(),
                            problem,
                        },
                    )?;
                }
                // Read by the redis crate: `protocol=resp3`.
                "protocol" => kept.push((k.into_owned(), v.into_owned())),
                other => return Err(ConnectError::unknown_parameter(url, other, PARAMETERS)),
            }
        }
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        let db = match parsed.path().trim_matches('/') {
            "" => None,
            path => Some(path.parse::<i64>().map_err(|_| ConnectError::Config {
                url: redacted.clone(),
                message: format!("the database number `{path}` is not a number"),
            })?),
        };
        let mut opts = RedisOptions::new(parsed.to_string());
        opts.db = db;
        opts.prefix = prefix;
        opts.tls = tls;
        Ok(opts)
    }

    /// Trusts the CA certificates in the PEM file `path` instead of the public roots, for a
    /// `rediss://` server whose certificate a private CA signed (`?ca=`).
    ///
    /// ```
    /// let opts = jobs_backends::redis::RedisOptions::new("rediss://127.0.0.1:6380")
    ///     .with_tls_ca("/etc/ssl/redis-ca.pem");
    /// assert!(opts.tls.ca.is_some());
    /// ```
    pub fn with_tls_ca(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls = self.tls.with_ca(path);
        self
    }

    /// Presents the client certificate chain in the PEM file `cert`, with its private key in
    /// `key`, to a `rediss://` server that asks for one (`?cert=&key=`).
    ///
    /// ```
    /// let opts = jobs_backends::redis::RedisOptions::new("rediss://127.0.0.1:6380")
    ///     .with_tls_client_cert("/etc/ssl/worker.pem", "/etc/ssl/worker.key");
    /// assert!(opts.tls.cert.is_some());
    /// ```
    pub fn with_tls_client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls = self.tls.with_client_cert(cert, key);
        self
    }

    /// Sets the key prefix; an empty one means none. [`RedisBackend::lazy`] and
    /// [`RedisBackend::connect`] refuse a prefix with whitespace or control characters.
    ///
    /// [`RedisBackend::lazy`]: super::RedisBackend::lazy
    /// [`RedisBackend::connect`]: super::RedisBackend::connect
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.prefix = (!prefix.is_empty()).then_some(prefix);
        self
    }

    /// Sets the database number.
    pub fn with_db(mut self, db: i64) -> Self {
        self.db = Some(db);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_db_and_prefix_and_keeps_other_query_options() {
        let o = RedisOptions::from_url("redis://:pw@localhost:6380/2?prefix=app&protocol=resp3")
            .unwrap();
        assert_eq!(o.db, Some(2));
        assert_eq!(o.prefix.as_deref(), Some("app"));
        assert_eq!(o.url, "redis://:pw@localhost:6380/2?protocol=resp3");
    }

    #[test]
    fn a_bad_db_is_a_config_error_without_the_password() {
        let err = RedisOptions::from_url("redis://:secret@localhost/abc").unwrap_err();
        assert!(matches!(err, ConnectError::Config { .. }), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn tls_files_are_read_from_a_rediss_url_and_refused_on_a_plain_one() {
        let o = RedisOptions::from_url(
            "rediss://user:secret@h:6380/1?ca=/c/ca.pem&cert=/c/w.pem&key=/c/w.key&prefix=p",
        )
        .unwrap();
        assert_eq!(o.tls.ca.as_deref(), Some(std::path::Path::new("/c/ca.pem")));
        assert_eq!(
            o.tls.cert.as_deref(),
            Some(std::path::Path::new("/c/w.pem"))
        );
        assert_eq!(o.tls.key.as_deref(), Some(std::path::Path::new("/c/w.key")));
        assert_eq!(o.url, "rediss://user:secret@h:6380/1");
        let err = RedisOptions::from_url("redis://:secret@h/0?ca=/c/ca.pem").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConnectError::InvalidParameter { .. }),
            "{text}"
        );
        assert!(text.contains("write rediss://"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        let text = RedisOptions::from_url("rediss://h/0?key=")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("invalid `key`") && text.contains("empty"),
            "{text}"
        );
    }

    #[test]
    fn no_db_and_no_prefix_are_none() {
        let o = RedisOptions::from_url("redis://localhost").unwrap();
        assert_eq!((o.db, o.prefix), (None, None));
    }

    #[test]
    fn an_unknown_parameter_is_named_with_the_known_ones() {
        let err = RedisOptions::from_url("redis://:secret@127.0.0.1:6379/0?prefx=app").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConnectError::UnknownParameter { .. }),
            "{text}"
        );
        assert!(text.contains("unknown parameter `prefx`"), "{text}");
        assert!(text.contains("did you mean `prefix`?"), "{text}");
        assert!(
            text.contains("redis:// accepts `prefix`, `ca`, `cert`, `key`, `protocol`"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        let text = RedisOptions::from_url("rediss://h/1?db=2")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("unknown parameter `db`") && text.contains("`key`, `protocol`"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_or_unprintable_prefix_is_refused_naming_prefix() {
        for (url, what) in [
            ("redis://localhost?prefix=", "it is empty"),
            (
                "redis://localhost?prefix=my%20app",
                "`my app` contains a space (U+0020)",
            ),
            (
                "redis://localhost?prefix=a%E2%80%83b",
                "contains whitespace (U+2003)",
            ),
            (
                "redis://localhost?prefix=app%0A",
                "contains a control character",
            ),
            (
                "redis://localhost?prefix=a%09b",
                "contains a control character",
            ),
        ] {
            let err = RedisOptions::from_url(url).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, ConnectError::InvalidParameter { .. }),
                "{text}"
            );
            assert!(
                text.starts_with("invalid `prefix` in backend URL"),
                "{text}"
            );
            assert!(text.contains(what), "{url}: {text}");
        }
        let o = RedisOptions::from_url("redis://localhost?prefix=app:v2-test").unwrap();
        assert_eq!(o.prefix.as_deref(), Some("app:v2-test"));
    }

    #[tokio::test]
    async fn a_backend_refuses_a_prefix_set_in_code_that_the_url_would_refuse() {
        let opts = RedisOptions::new("redis://127.0.0.1:6379/13").with_prefix("my app");
        let Err(err) = super::super::RedisBackend::lazy(opts) else {
            panic!("a prefix with a space was accepted")
        };
        assert!(
            err.to_string().contains("`my app` contains a space"),
            "{err}"
        );
        let mut opts = RedisOptions::new("redis://127.0.0.1:6379/13");
        opts.prefix = Some(String::new());
        assert!(super::super::RedisBackend::lazy(opts).is_err());
        let o = RedisOptions::from_url("redis://localhost?prefix=app:v2-test").unwrap();
        assert_eq!(o.prefix.as_deref(), Some("app:v2-test"));
    }
}
