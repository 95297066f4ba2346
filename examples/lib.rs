//! Helpers shared by the examples: logging set-up, the backend URL, and how they end on an
//! error.

/// The environment variable that picks the log format: `json` for one JSON object per line
/// (with the job's span: jid, class, queue, attempt), anything else for text.
pub const LOG_FORMAT: &str = "JOBS_LOG_FORMAT";

/// Logging for the examples: `RUST_LOG` filters (default `info`), stderr, colour only on a
/// terminal, and [`LOG_FORMAT`]`=json` for machine-readable lines.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr (stdout is the program's own output), coloured only on a terminal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match std::env::var(LOG_FORMAT).as_deref() {
        Ok("json") => builder.json().with_current_span(true).try_init(),
        _ => builder.try_init(),
    };
}

/// The backend URL: `JOBS_URL`, or `default`.
pub fn backend_url(default: &str) -> String {
    std::env::var(jobs::JOBS_URL).unwrap_or_else(|_| default.to_owned())
}

/// Ends an example: status 0, or the error as a person reads it (its message and each
/// cause, never a debug dump), what setting to change when one would fix it, and status 1.
pub fn exit_on_error(result: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    let Err(error) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    eprintln!("error: {error}");
    let mut cause = error.source();
    while let Some(c) = cause {
        eprintln!("  caused by: {c}");
        cause = c.source();
    }
    if let Some(hint) = hint(&*error) {
        eprintln!("{hint}");
    }
    std::process::ExitCode::FAILURE
}

/// The setting that would fix `error`, when there is one.
fn hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if error.downcast_ref::<jobs::ConnectError>().is_some() {
        let url = std::env::var(jobs::JOBS_URL).map_or_else(
            |_| "unset, so the example's default".to_owned(),
            |u| jobs::redact_url(&u),
        );
        return Some(format!(
            "hint: set {} to a backend URL such as redis://127.0.0.1:6379, \
             postgres://user@host/db, sqlite://jobs.db or memory:// (now: {url})",
            jobs::JOBS_URL
        ));
    }
    match error.downcast_ref::<std::io::Error>() {
        Some(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Some("hint: the port is taken by another program: set PORT to a free one".to_owned())
        }
        _ => None,
    }
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
