//! Choosing a backend by URL: `memory://` here, the others registered by `jobs-backends`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::backend::{AdminBackend, BackendError, Traced};
use crate::memory::MemoryBackend;

mod params;

/// A boxed future returned by a [`Connector`].
pub type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<Arc<dyn AdminBackend>, ConnectError>> + Send>>;

/// A backend that can be built from a URL scheme, registered with `inventory` by the crate
/// that implements it (`jobs-backends` registers `redis`, `postgres` and `sqlite`).
pub struct Connector {
    /// The URL schemes it serves, e.g. `["redis", "rediss"]`.
    pub schemes: &'static [&'static str],
    /// Builds the backend from the whole URL.
    pub connect: fn(String) -> ConnectFuture,
}

inventory::collect!(Connector);

/// Schemes this framework knows, with the Cargo feature of `jobs-backends` that provides each.
const KNOWN: &[(&str, &str)] = &[
    ("redis", "redis"),
    ("rediss", "redis"),
    ("postgres", "postgres"),
    ("postgresql", "postgres"),
    ("sqlite", "sqlite"),
];

/// Why a backend URL could not be turned into a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("invalid backend URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given (without password).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No backend serves this scheme.
    #[error("unknown backend scheme `{scheme}://`: expected memory://, redis://, postgres:// or sqlite://")]
    UnknownScheme {
        /// The scheme given.
        scheme: String,
    },
    /// The backend exists but its Cargo feature is off.
    #[error("the `{scheme}://` backend is not compiled in: enable the `{feature}` feature of the `jobs-backends` crate and connect with `jobs_backends::connect`")]
    FeatureDisabled {
        /// The scheme given.
        scheme: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// The URL is fine but an option in it is not.
    #[error("invalid option in backend URL `{url}`: {message}")]
    Config {
        /// The URL given (without password).
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A query parameter the backend does not read, such as a misspelt `?prefx=`; build it
    /// with [`ConnectError::unknown_parameter`].
    #[error(
        "unknown parameter `{parameter}` in backend URL `{url}`{}: {scheme}:// accepts {}",
        params::did_you_mean(suggestion),
        params::listing(known)
    )]
    UnknownParameter {
        /// The URL given (without password).
        url: String,
        /// The URL's scheme, e.g. `redis`.
        scheme: String,
        /// The parameter given.
        parameter: String,
        /// Every parameter the scheme accepts.
        known: Vec<String>,
        /// The known parameter the given one is most likely a typo of.
        suggestion: Option<String>,
    },
    /// A parameter the backend reads, with a value it cannot use.
    #[error("invalid `{parameter}` in backend URL `{url}`: {problem}")]
    InvalidParameter {
        /// The URL given (without password).
        url: String,
        /// The parameter's name.
        parameter: String,
        /// What is wrong with its value.
        problem: String,
    },
    /// The server could not be reached or set up.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Removes a password from a URL so it can be shown in errors and logs: the one after the
/// user name, and the value of a query parameter whose name holds `pass`, `secret` or
/// `token` or is a near miss of `password` (so a misspelt `?pasword=` is hidden too).
///
/// ```
/// assert_eq!(jobs::redact_url("redis://:secret@localhost:6379/2"), "redis://:***@localhost:6379/2");
/// assert_eq!(
///     jobs::redact_url("postgres://me@h/db?pasword=secret&schema=app"),
///     "postgres://me@h/db?pasword=***&schema=app"
/// );
/// assert_eq!(jobs::redact_url("memory://"), "memory://");
/// ```
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["pass", "secret", "token"].iter().any(|s| key.contains(s))
            || params::closest(&key, &["password", "passwd", "pwd"]).is_some()
    };
    let hide_query = u.query_pairs().any(|(k, _)| secret(&k));
    if u.password().is_none() && !hide_query {
        return url.to_owned();
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if hide_query {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) { "***".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs).finish();
    }
    u.to_string().replace("=%2A%2A%2A", "=***")
}

/// Builds a backend from a URL: `memory://`, `redis://…`, `postgres://…`, `sqlite://…`.
///
/// The network backends live in the `jobs-backends` crate behind Cargo features; prefer
/// `jobs_backends::connect`, which also makes sure they are linked in. The backend returned
/// is wrapped in [`Traced`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = jobs::connect("memory://").await.unwrap();
/// assert_eq!(backend.name(), "memory");
/// let Err(err) = jobs::connect("kafka://localhost").await else { panic!("kafka is no backend") };
/// assert!(err.to_string().contains("unknown backend scheme `kafka://`"));
/// # });
/// ```
pub async fn connect(url: &str) -> Result<Arc<dyn AdminBackend>, ConnectError> {
    let scheme = match url.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => scheme.to_ascii_lowercase(),
        _ => {
            return Err(ConnectError::InvalidUrl {
                url: redact_url(url),
                reason: "expected scheme://..., e.g. memory:// or redis://127.0.0.1:6379".into(),
            })
        }
    };
    if scheme == "memory" {
        return memory(url).map(Traced::wrap);
    }
    for connector in inventory::iter::<Connector> {
        if connector.schemes.iter().any(|s| *s == scheme) {
            return Ok(Traced::wrap((connector.connect)(url.to_owned()).await?));
        }
    }
    match KNOWN.iter().find(|(s, _)| *s == scheme) {
        Some((_, feature)) => Err(ConnectError::FeatureDisabled { scheme, feature }),
        None => Err(ConnectError::UnknownScheme { scheme }),
    }
}

/// A new in-memory backend for `memory://`, which takes no host, path or parameter.
fn memory(url: &str) -> Result<Arc<dyn AdminBackend>, ConnectError> {
    let shown = redact_url(url);
    let rest = shown.split_once("://").map_or("", |(_, rest)| rest);
    if !rest.is_empty() {
        return Err(ConnectError::InvalidUrl {
            url: shown.clone(),
            reason: format!(
                "the memory backend reads nothing after `memory://`, but `{rest}` follows it; \
                 write `memory://` alone"
            ),
        });
    }
    Ok(Arc::new(MemoryBackend::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_with_anything_after_the_scheme_is_refused() {
        for (url, rest) in [
            ("memory://x?y=1", "x?y=1"),
            ("memory://?prefix=app", "?prefix=app"),
            ("memory:///", "/"),
            ("MEMORY://host", "host"),
        ] {
            let Err(err) = connect(url).await else {
                panic!("{url} was accepted")
            };
            let text = err.to_string();
            assert!(matches!(err, ConnectError::InvalidUrl { .. }), "{text}");
            assert!(
                text.contains(&format!("`{rest}`")) && text.contains("write `memory://` alone"),
                "{url}: {text}"
            );
        }
        let Err(err) = connect("memory://:secret@host").await else {
            panic!("a memory URL with a password was accepted")
        };
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(connect("memory://").await.is_ok());
        assert!(connect("Memory://").await.is_ok());
    }

    #[test]
    fn an_unknown_parameter_names_itself_the_known_ones_and_the_closest() {
        let err = ConnectError::unknown_parameter(
            "sqlite://jobs.db?pol_ms=5",
            "pol_ms",
            &["synchronous", "poll_ms"],
        );
        assert_eq!(
            err.to_string(),
            "unknown parameter `pol_ms` in backend URL `sqlite://jobs.db?pol_ms=5` \
             (did you mean `poll_ms`?): sqlite:// accepts `synchronous`, `poll_ms`"
        );
        let err = ConnectError::unknown_parameter("redis://h?color=1", "color", &["prefix"]);
        assert_eq!(
            err.to_string(),
            "unknown parameter `color` in backend URL `redis://h?color=1`: \
             redis:// accepts `prefix`"
        );
    }

    #[test]
    fn passwords_in_the_query_are_hidden_even_misspelt() {
        for (url, shown) in [
            (
                "redis://h/0?pwd=s3&prefix=a",
                "redis://h/0?pwd=***&prefix=a",
            ),
            (
                "postgres://u:pw@h/db?Password=s3",
                "postgres://u:***@h/db?Password=***",
            ),
            (
                "postgres://h/db?api_token=s3",
                "postgres://h/db?api_token=***",
            ),
            ("postgres://h/db?schema=app", "postgres://h/db?schema=app"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let err = ConnectError::unknown_parameter(
            "postgres://h/db?pasword=s3cr3t",
            "pasword",
            &["password"],
        );
        let text = err.to_string();
        assert!(
            !text.contains("s3cr3t") && text.contains("did you mean `password`?"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_known_scheme_without_its_feature_names_the_feature() {
        let Err(err) = connect("redis://127.0.0.1:6379").await else {
            panic!("redis is not linked into this test")
        };
        assert!(
            matches!(
                err,
                ConnectError::FeatureDisabled {
                    feature: "redis",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("enable the `redis` feature"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_url_without_scheme_is_invalid() {
        let Err(err) = connect("localhost:6379").await else {
            panic!("a URL without scheme was accepted")
        };
        assert!(matches!(err, ConnectError::InvalidUrl { .. }), "{err}");
    }
}
