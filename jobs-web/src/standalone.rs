//! What the standalone `jobs-web` binary needs: its options, the rule that it never
//! listens beyond loopback without credentials, and HTTP basic auth.
//!
//! 1. [`Options::from_env_and_args`] reads `JOBS_URL`, `JOBS_WEB_LISTEN`, `JOBS_WEB_USER`,
//!    `JOBS_WEB_PASSWORD`, `JOBS_WEB_READ_ONLY`, `JOBS_WEB_BEHIND_PROXY`,
//!    `JOBS_WEB_HIDE_ARGS` and the matching flags; `--help` and bad arguments come back as an [`ArgsError`].
//! 2. [`check_listen`] refuses a non-loopback address without credentials.
//! 3. [`with_basic_auth`] wraps a router so every request needs the credentials (401
//!    otherwise), compared in constant time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;

/// A user name and password for basic auth.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: \"…\" }}",
            self.user
        )
    }
}

/// The binary's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The backend URL (`JOBS_URL`, `--url`), `memory://` by default.
    pub url: String,
    /// Where to listen (`JOBS_WEB_LISTEN`, `--listen`), `127.0.0.1:9494` by default.
    pub listen: SocketAddr,
    /// Basic auth credentials (`JOBS_WEB_USER` and `JOBS_WEB_PASSWORD`), if both are set.
    pub credentials: Option<Credentials>,
    /// Refuse every action (`JOBS_WEB_READ_ONLY=1`, `--read-only`).
    pub read_only: bool,
    /// Served behind a reverse proxy that sets `X-Forwarded-Host`
    /// (`JOBS_WEB_BEHIND_PROXY=1`, `--behind-proxy`; see [`crate::Dashboard::behind_proxy`]).
    pub behind_proxy: bool,
    /// Hide every job argument unless revealed on a job's page (`JOBS_WEB_HIDE_ARGS=1`,
    /// `--hide-args`; see [`crate::Dashboard::hide_args`]). The binary runs none of the
    /// app's code, so it cannot know the arguments jobs declare secret: this is how to
    /// keep them off its pages.
    pub hide_args: bool,
}

/// How to run the binary: what `--help` prints, usage first.
pub const USAGE: &str =
    "Usage: jobs-web [--url URL] [--listen ADDR:PORT] [--read-only] [--behind-proxy] [--hide-args]

Serves the jobs dashboard for the backend at URL.

Options:
  --url URL           the backend, e.g. redis://127.0.0.1:6379/0 or sqlite://jobs.db
                      (env JOBS_URL; default memory://)
  --listen ADDR:PORT  where to listen (env JOBS_WEB_LISTEN; default 127.0.0.1:9494)
  --read-only         refuse every action (env JOBS_WEB_READ_ONLY=1)
  --behind-proxy      trust X-Forwarded-Host from a reverse proxy in the cross-site check
                      (env JOBS_WEB_BEHIND_PROXY=1)
  --hide-args         show every job argument as [hidden] until revealed on the job's
                      page (env JOBS_WEB_HIDE_ARGS=1); this binary cannot know which
                      arguments the app's jobs declare secret
  -h, --help          print this help

Listening beyond loopback needs JOBS_WEB_USER and JOBS_WEB_PASSWORD (basic auth).";

/// Why the command line gave no [`Options`]: help was asked for, or an argument is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// `-h` or `--help`: print [`USAGE`] and exit successfully.
    #[error("{USAGE}")]
    Help,
    /// A flag that takes a value came last.
    #[error("{flag} needs a value\n\n{USAGE}")]
    MissingValue {
        /// The flag, e.g. `--url`.
        flag: &'static str,
    },
    /// An argument the binary does not know.
    #[error("unknown argument `{0}`\n\n{USAGE}")]
    Unknown(String),
    /// The listen address does not parse.
    #[error("bad listen address `{value}` (from {source_name}): {reason}; expected ADDR:PORT, e.g. 127.0.0.1:9494")]
    Listen {
        /// The address given.
        value: String,
        /// Where it came from: `--listen` or `JOBS_WEB_LISTEN`.
        source_name: &'static str,
        /// Why it does not parse.
        reason: String,
    },
}

impl Options {
    /// Reads the settings from `env` (a lookup) and `args` (without the program name).
    ///
    /// ```
    /// use jobs_web::standalone::Options;
    /// let env = |k: &str| (k == "JOBS_URL").then(|| "memory://".to_string());
    /// let o = Options::from_env_and_args(env, ["--listen", "127.0.0.1:8080"]).unwrap();
    /// assert_eq!(o.listen.port(), 8080);
    /// assert!(o.credentials.is_none());
    /// assert!(!o.behind_proxy);
    /// let o = Options::from_env_and_args(env, ["--behind-proxy"]).unwrap();
    /// assert!(o.behind_proxy && !o.hide_args);
    /// let o = Options::from_env_and_args(env, ["--hide-args"]).unwrap();
    /// assert!(o.hide_args);
    /// let hide = |k: &str| (k == "JOBS_WEB_HIDE_ARGS").then(|| "1".to_string());
    /// assert!(Options::from_env_and_args(hide, Vec::<String>::new()).unwrap().hide_args);
    /// let help = Options::from_env_and_args(env, ["--help"]).unwrap_err();
    /// assert_eq!(help, jobs_web::standalone::ArgsError::Help);
    /// assert!(help.to_string().starts_with("Usage: jobs-web"));
    /// ```
    pub fn from_env_and_args<I, S>(
        env: impl Fn(&str) -> Option<String>,
        args: I,
    ) -> Result<Options, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut url = env("JOBS_URL").unwrap_or_else(|| "memory://".to_owned());
        let mut listen = env("JOBS_WEB_LISTEN").unwrap_or_else(|| "127.0.0.1:9494".to_owned());
        let mut listen_from = "JOBS_WEB_LISTEN";
        let on = |k: &str| env(k).is_some_and(|v| v == "1" || v == "true");
        let mut read_only = on("JOBS_WEB_READ_ONLY");
        let mut behind_proxy = on("JOBS_WEB_BEHIND_PROXY");
        let mut hide_args = on("JOBS_WEB_HIDE_ARGS");
        let mut args = args.into_iter().map(Into::into);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--url" => {
                    url = args
                        .next()
                        .ok_or(ArgsError::MissingValue { flag: "--url" })?
                }
                "--listen" => {
                    listen = args
                        .next()
                        .ok_or(ArgsError::MissingValue { flag: "--listen" })?;
                    listen_from = "--listen";
                }
                "--read-only" => read_only = true,
                "--behind-proxy" => behind_proxy = true,
                "--hide-args" => hide_args = true,
                "-h" | "--help" => return Err(ArgsError::Help),
                _ => return Err(ArgsError::Unknown(a)),
            }
        }
        let listen: SocketAddr =
            listen
                .parse()
                .map_err(|e: std::net::AddrParseError| ArgsError::Listen {
                    value: listen.clone(),
                    source_name: listen_from,
                    reason: e.to_string(),
                })?;
        let credentials = match (env("JOBS_WEB_USER"), env("JOBS_WEB_PASSWORD")) {
            (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                Some(Credentials { user, password })
            }
            _ => None,
        };
        Ok(Options {
            url,
            listen,
            credentials,
            read_only,
            behind_proxy,
            hide_args,
        })
    }
}

/// Refuses to listen on a non-loopback address without credentials.
///
/// ```
/// use jobs_web::standalone::{check_listen, Credentials};
/// assert!(check_listen("127.0.0.1:9494".parse().unwrap(), None).is_ok());
/// assert!(check_listen("0.0.0.0:9494".parse().unwrap(), None).is_err());
/// let c = Credentials { user: "admin".into(), password: "s3cret".into() };
/// assert!(check_listen("0.0.0.0:9494".parse().unwrap(), Some(&c)).is_ok());
/// ```
pub fn check_listen(addr: SocketAddr, credentials: Option<&Credentials>) -> Result<(), String> {
    if addr.ip().is_loopback() || credentials.is_some() {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr} without credentials: set JOBS_WEB_USER and \
             JOBS_WEB_PASSWORD, or listen on 127.0.0.1"
        ))
    }
}

/// Requires `credentials` (HTTP basic auth) on every request to `router`.
///
/// ```
/// use std::sync::Arc;
/// use jobs_web::standalone::{with_basic_auth, Credentials};
/// let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
/// let c = Credentials { user: "admin".into(), password: "s3cret".into() };
/// let app = with_basic_auth(jobs_web::Dashboard::new(backend).router(), c);
/// # let _: axum::Router = app;
/// ```
pub fn with_basic_auth(router: Router, credentials: Credentials) -> Router {
    let expected = Arc::new(format!("{}:{}", credentials.user, credentials.password));
    router.layer(axum::middleware::from_fn_with_state(expected, basic_auth))
}

async fn basic_auth(State(expected): State<Arc<String>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        });
    match given {
        Some(given) if constant_time_eq(&given, expected.as_bytes()) => next.run(req).await,
        _ => {
            let mut resp = (StatusCode::UNAUTHORIZED, "401 credentials required\n").into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"jobs\", charset=\"UTF-8\""),
            );
            resp
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ x);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_equal() {
        assert!(constant_time_eq(b"a:b", b"a:b"));
        assert!(!constant_time_eq(b"a:b", b"a:c"));
        assert!(!constant_time_eq(b"a:b ", b"a:b"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
