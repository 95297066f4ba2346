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

/// The job shared by the two-process pair (`pair_web` enqueues it, `pair_worker` performs it).
pub mod pair {
    /// Why rendering an invoice failed.
    #[derive(Debug, thiserror::Error)]
    #[error("the PDF renderer is unavailable")]
    pub struct RenderError;

    /// Renders an invoice PDF (here: prints it), slow work a request should not wait for.
    #[jobs::job(name = "RenderInvoice", queue = "pdf")]
    pub async fn render_invoice(invoice_id: u64) -> Result<(), RenderError> {
        println!(
            "rendered invoice {invoice_id} in process {}",
            std::process::id()
        );
        Ok(())
    }
}
