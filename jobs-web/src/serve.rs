//! Serving the dashboard from [`Options`]: check the address, connect, guard, listen, and
//! stop gracefully on SIGTERM or SIGINT. What the `jobs-web` binary and `jobs web` run.

use std::future::Future;
use std::net::SocketAddr;

use crate::standalone::{check_listen, with_basic_auth, Options};
use crate::Dashboard;

/// Why the dashboard could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A non-loopback address without credentials (see [`check_listen`]).
    #[error("{0}")]
    Refused(String),
    /// The backend URL did not open a backend.
    #[error("cannot open the backend at {url}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// Why.
        #[source]
        source: jobs::ConnectError,
    },
    /// The address could not be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the dashboard's server failed")]
    Serve(#[source] std::io::Error),
}

/// Serves the dashboard `opts` describe until `shutdown` completes (then finishes the
/// requests in flight); calls `ready` with the address once listening.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_web::serve::serve;
/// use jobs_web::standalone::Options;
/// let opts = Options::from_env_and_args(|k| std::env::var(k).ok(), ["--read-only"])?;
/// serve(&opts, jobs::shutdown_signal(), |addr| println!("at http://{addr}/")).await?;
/// # Ok(()) }
/// ```
pub async fn serve(
    opts: &Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    check_listen(opts.listen, opts.credentials.as_ref()).map_err(ServeError::Refused)?;
    let backend =
        jobs_backends::connect(&opts.url)
            .await
            .map_err(|source| ServeError::Connect {
                url: jobs::redact_url(&opts.url),
                source,
            })?;
    let mut dashboard = Dashboard::new(backend)
        .read_only(opts.read_only)
        .behind_proxy(opts.behind_proxy)
        .hide_args(opts.hide_args);
    if let Some(c) = &opts.credentials {
        // Every request that gets through basic auth is this user's.
        let user = c.user.clone();
        dashboard = dashboard.identify(move |_| Some(user.clone()));
    }
    let mut app = dashboard.router();
    if let Some(c) = opts.credentials.clone() {
        app = with_basic_auth(app, c);
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: opts.listen,
        source,
    })?;
    ready(addr);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}
