//! What the standalone `jobs-web` binary needs: its options, the rule that it never
//! listens beyond loopback without credentials, and HTTP basic auth.
//!
//! 1. [`Options::from_env_and_args`] parses the flags with clap ([`WebCli`], whose
//!    [`ServeArgs`] `jobs web` shares) and reads `JOBS_URL`, `JOBS_WEB_LISTEN`,
//!    `JOBS_WEB_USER`, `JOBS_WEB_PASSWORD`, `JOBS_WEB_READ_ONLY`, `JOBS_WEB_BEHIND_PROXY` and
//!    `JOBS_WEB_HIDE_ARGS` for what they leave unset; `--help` and bad arguments come back
//!    as an [`ArgsError`].
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

/// The usage line of `jobs-web`, as `--help` and every usage error begin.
const USAGE_LINE: &str =
    "jobs-web [--url URL] [--listen ADDR:PORT] [--read-only] [--behind-proxy] [--hide-args]";

/// Printed after the options by `jobs-web --help`.
const AFTER_HELP: &str = "\
Listening beyond loopback needs JOBS_WEB_USER and JOBS_WEB_PASSWORD (basic auth).

Examples:
  JOBS_URL=redis://127.0.0.1:6379/0 jobs-web --listen 127.0.0.1:9494
  JOBS_WEB_USER=admin JOBS_WEB_PASSWORD=… jobs-web --listen 0.0.0.0:9494 --read-only";

/// How help pages are laid out: usage first, then what the command does, then its options.
pub const HELP_TEMPLATE: &str =
    "{usage-heading} {usage}\n\n{about-with-newline}\n{all-args}{after-help}";

/// How the dashboard is served: the options `jobs-web` and `jobs web` share (the backend URL
/// is each command's own). Each flag falls back to its environment variable in
/// [`Options::from_parts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ServeArgs {
    /// Where to listen (env JOBS_WEB_LISTEN; default 127.0.0.1:9494)
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Refuse every action (env JOBS_WEB_READ_ONLY=1)
    #[arg(long)]
    pub read_only: bool,
    /// Trust X-Forwarded-Host from a reverse proxy in the cross-site check (env
    /// JOBS_WEB_BEHIND_PROXY=1)
    #[arg(long)]
    pub behind_proxy: bool,
    /// Show every job argument as [hidden] until revealed on the job's page (env
    /// JOBS_WEB_HIDE_ARGS=1); this binary cannot know which arguments the app's jobs declare
    /// secret
    #[arg(long)]
    pub hide_args: bool,
}

/// The `jobs-web` command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "jobs-web",
    version,
    about = "Serves the jobs dashboard for the backend at URL.",
    override_usage = USAGE_LINE,
    after_help = AFTER_HELP,
    help_template = HELP_TEMPLATE
)]
pub struct WebCli {
    /// The backend, e.g. redis://127.0.0.1:6379/0 or sqlite://jobs.db (env JOBS_URL; default
    /// memory://)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// How to serve it.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What `jobs-web --help` prints, usage first.
///
/// ```
/// assert!(jobs_web::standalone::usage().starts_with("Usage: jobs-web [--url URL]"));
/// ```
pub fn usage() -> String {
    <WebCli as clap::CommandFactory>::command()
        .render_help()
        .to_string()
}

/// Why the command line gave no [`Options`]: help was asked for, or an argument is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// `-h` or `--help`: print [`usage`] and exit successfully.
    #[error("{}", usage())]
    Help,
    /// A flag that takes a value came last.
    #[error("{flag} needs a value\n\n{}", usage())]
    MissingValue {
        /// The flag, e.g. `--url`.
        flag: &'static str,
    },
    /// An argument the binary does not know.
    #[error("unknown argument `{0}`\n\n{usage}", usage = usage())]
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
    /// `-V` or `--version`: print this (`jobs-web 0.1.0`) and exit successfully.
    #[error("jobs-web {}", env!("CARGO_PKG_VERSION"))]
    Version,
    /// Any other mistake clap found, as it words it (usage included).
    #[error("{0}")]
    Usage(String),
}

impl ArgsError {
    /// The error for clap's `error`.
    fn from_clap(error: &clap::Error) -> Self {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        let arg = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => arg.clone(),
            _ => String::new(),
        };
        match error.kind() {
            ErrorKind::DisplayHelp => ArgsError::Help,
            ErrorKind::DisplayVersion => ArgsError::Version,
            ErrorKind::UnknownArgument => ArgsError::Unknown(arg),
            ErrorKind::InvalidValue | ErrorKind::NoEquals if arg.starts_with("--url") => {
                ArgsError::MissingValue { flag: "--url" }
            }
            ErrorKind::InvalidValue | ErrorKind::NoEquals if arg.starts_with("--listen") => {
                ArgsError::MissingValue { flag: "--listen" }
            }
            _ => ArgsError::Usage(
                error
                    .render()
                    .to_string()
                    .trim_start_matches("error: ")
                    .trim_end()
                    .to_owned(),
            ),
        }
    }
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
    /// let err = Options::from_env_and_args(env, ["--url"]).unwrap_err();
    /// assert_eq!(err, jobs_web::standalone::ArgsError::MissingValue { flag: "--url" });
    /// ```
    pub fn from_env_and_args<I, S>(
        env: impl Fn(&str) -> Option<String>,
        args: I,
    ) -> Result<Options, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv = std::iter::once("jobs-web".to_owned()).chain(args.into_iter().map(Into::into));
        let cli =
            <WebCli as clap::Parser>::try_parse_from(argv).map_err(|e| ArgsError::from_clap(&e))?;
        Options::from_parts(cli.url, &cli.serve, env)
    }

    /// The settings from a parsed `url` and `serve`, each unset one read from `env` (a
    /// lookup): `JOBS_URL` (default `memory://`), `JOBS_WEB_LISTEN` (default
    /// `127.0.0.1:9494`), `JOBS_WEB_READ_ONLY`, `JOBS_WEB_BEHIND_PROXY`, `JOBS_WEB_HIDE_ARGS`
    /// (`1` or `true`), and the credentials from `JOBS_WEB_USER` and `JOBS_WEB_PASSWORD`.
    ///
    /// ```
    /// use jobs_web::standalone::{Options, ServeArgs};
    /// let serve = ServeArgs { read_only: true, ..ServeArgs::default() };
    /// let ro = |k: &str| (k == "JOBS_WEB_LISTEN").then(|| "127.0.0.1:9000".to_string());
    /// let o = Options::from_parts(Some("sqlite://jobs.db".into()), &serve, ro).unwrap();
    /// assert!(o.read_only);
    /// assert_eq!(o.listen.port(), 9000);
    /// ```
    pub fn from_parts(
        url: Option<String>,
        serve: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Options, ArgsError> {
        let url = url
            .or_else(|| env("JOBS_URL"))
            .unwrap_or_else(|| "memory://".to_owned());
        let (listen, listen_from) = match &serve.listen {
            Some(listen) => (listen.clone(), "--listen"),
            None => (
                env("JOBS_WEB_LISTEN").unwrap_or_else(|| "127.0.0.1:9494".to_owned()),
                "JOBS_WEB_LISTEN",
            ),
        };
        let on = |k: &str| env(k).is_some_and(|v| v == "1" || v == "true");
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
            read_only: serve.read_only || on("JOBS_WEB_READ_ONLY"),
            behind_proxy: serve.behind_proxy || on("JOBS_WEB_BEHIND_PROXY"),
            hide_args: serve.hide_args || on("JOBS_WEB_HIDE_ARGS"),
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
