//! The ready Prometheus exporter (feature `prometheus`): installs
//! `metrics-exporter-prometheus` as the process's recorder, with true histogram buckets for
//! the job durations, and hands back the handle that renders the text format.
//!
//! Where the text is served: a worker built with
//! [`WorkerBuilder::metrics_endpoint`](crate::WorkerBuilder::metrics_endpoint) answers
//! `GET /metrics` on its [`health_addr`](crate::WorkerBuilder::health_addr) listener (with
//! the `health-http` feature); `jobs-web` serves it beside the dashboard; or any route of
//! the app's own returns [`PrometheusHandle::render`].

use std::time::Duration;

pub use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The exporter crate itself, for a configuration of your own (global labels, other
/// buckets); describe the metrics with [`super::describe`] after installing it.
pub use metrics_exporter_prometheus as exporter;

use metrics_exporter_prometheus::Matcher;

/// The buckets of `jobs_execution_duration_seconds`, in seconds: from 5 ms to 10 min.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

/// How often [`install`]'s upkeep thread drains the histograms between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why [`install`] could not install the recorder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The exporter refused its configuration, or another recorder is installed already
    /// (a process has one global recorder).
    #[error("could not install the Prometheus recorder: {0}")]
    Exporter(#[from] metrics_exporter_prometheus::BuildError),
    /// The upkeep thread could not be started.
    #[error("could not start the metrics upkeep thread: {0}")]
    Upkeep(#[from] std::io::Error),
}

/// The exporter's builder as `jobs` configures it: true histograms (not summaries) for
/// `jobs_execution_duration_seconds`, with [`DURATION_BUCKETS`]. Add to it, then install it
/// yourself, or let [`install`] do it.
///
/// ```
/// let builder = jobs::telemetry::prometheus::builder().unwrap();
/// let recorder = builder.build_recorder();
/// let handle = recorder.handle();
/// metrics::with_local_recorder(&recorder, || jobs::telemetry::describe());
/// assert_eq!(handle.render(), "");
/// ```
pub fn builder() -> Result<PrometheusBuilder, InstallError> {
    Ok(PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full(super::EXECUTION_DURATION_SECONDS.to_owned()),
        DURATION_BUCKETS,
    )?)
}

/// Installs the Prometheus recorder for the whole process, describes every metric, and
/// starts a thread that drains histograms every 5 s between scrapes. Call it once, early in
/// `main`; serve [`PrometheusHandle::render`] where Prometheus scrapes.
///
/// ```
/// let handle = jobs::telemetry::prometheus::install().unwrap();
/// ::metrics::counter!("jobs_rescued_total").increment(1);
/// assert!(handle.render().contains("jobs_rescued_total 1"));
/// assert!(jobs::telemetry::prometheus::install().is_err(), "one recorder per process");
/// ```
pub fn install() -> Result<PrometheusHandle, InstallError> {
    let handle = builder()?.install_recorder()?;
    super::describe();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("jobs-metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        })?;
    Ok(handle)
}
