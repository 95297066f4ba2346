//! Serves a worker's health probes over HTTP (the `health-http` feature): `GET /livez` and
//! `GET /readyz`, answered from [`Health`] by a small axum server on a listener of its own,
//! and `GET /metrics` there too when the worker was given a
//! [`metrics_endpoint`](crate::WorkerBuilder::metrics_endpoint).
//!
//! Why here, behind a feature, and not in `jobs-web` or a crate of its own:
//! [`WorkerBuilder::health_addr`](crate::WorkerBuilder::health_addr) must start the server
//! with the worker's run and stop it after the drain, which only the core can do without the
//! user wiring two crates together. The feature is off by default, so a worker without it
//! compiles no HTTP stack at all; with it, the stack is axum (hyper underneath), the one
//! `jobs-web` already uses, so an app that also mounts the dashboard compiles no second one.
//! An app that runs the worker inside its own axum server needs none of this: it sends
//! [`Health::livez`] and [`Health::readyz`] from two routes of its own router.

use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Health, Probe};
use crate::worker::{MetricsText, WorkerError};

impl Health {
    /// Serves `GET /livez` and `GET /readyz` (and `HEAD`) on `listener` until `shutdown`
    /// completes, then lets the requests being answered finish. Every other path is a 404.
    /// [`WorkerBuilder::health_addr`](crate::WorkerBuilder::health_addr) does this for the
    /// run of a worker; call it yourself to serve the probes on a listener you bound.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = jobs::connect("memory://").await.unwrap();
    /// let worker = jobs::Worker::builder(backend).build().unwrap();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let stop = tokio_util::sync::CancellationToken::new();
    /// let server = tokio::spawn(worker.health().serve(listener, stop.clone().cancelled_owned()));
    /// stop.cancel();
    /// server.await.unwrap().unwrap();
    /// # });
    /// ```
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self, None, listener, shutdown).await
    }
}

/// Serves the probes, and `GET /metrics` from `metrics` when given.
async fn serve(
    health: Health,
    metrics: Option<MetricsText>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz));
    if let Some(render) = metrics {
        app = app.route("/metrics", get(move || scrape(render.clone())));
    }
    axum::serve(listener, app.with_state(health))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The metrics in the Prometheus text format (version 0.0.4).
async fn scrape(render: MetricsText) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(),
    )
        .into_response()
}

async fn livez(State(health): State<Health>) -> Response {
    answer(health.livez())
}

async fn readyz(State(health): State<Health>) -> Response {
    answer(health.readyz())
}

fn answer(probe: Probe) -> Response {
    let status = StatusCode::from_u16(probe.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        probe.body,
    )
        .into_response()
}

/// Binds `addr` and serves `health` (and `metrics` at `/metrics`, when given) on it until
/// `stop` is cancelled.
pub(crate) async fn start(
    health: &Health,
    metrics: Option<MetricsText>,
    addr: &str,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, WorkerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| WorkerError::HealthBind {
            addr: addr.to_owned(),
            source,
        })?;
    let what = match metrics {
        Some(_) => "health probes on /livez and /readyz, metrics on /metrics",
        None => "health probes on /livez and /readyz",
    };
    match listener.local_addr() {
        Ok(local) => tracing::info!(addr = %local, "{what}"),
        Err(_) => tracing::info!(addr, "{what}"),
    }
    let health = health.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = serve(health, metrics, listener, stop.cancelled_owned()).await {
            tracing::warn!(error = %e, "the health probe server stopped");
        }
    }))
}

/// How long a stopped server may take to finish the requests it is answering.
const FINISH_WITHIN: Duration = Duration::from_secs(1);

/// Waits for the server, stopped already, to close; one that does not within a second (a
/// client stalled half-way through a request) is aborted.
pub(crate) async fn finish(server: JoinHandle<()>) {
    let abort = server.abort_handle();
    if tokio::time::timeout(FINISH_WITHIN, server).await.is_err() {
        abort.abort();
    }
}
