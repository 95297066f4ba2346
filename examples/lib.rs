//! Helpers shared by the examples: logging set-up and the backend URL.

/// Logs to stderr at `info` (or `RUST_LOG`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// The backend URL: `JOBS_URL`, or `default`.
pub fn backend_url(default: &str) -> String {
    std::env::var(jobs::JOBS_URL).unwrap_or_else(|_| default.to_owned())
}
