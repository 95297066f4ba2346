//! `jobs-web`: serves the dashboard for a backend URL, on loopback unless credentials are set.
//!
//! ```text
//! JOBS_URL=redis://127.0.0.1/ jobs-web --listen 127.0.0.1:9494
//! JOBS_WEB_USER=admin JOBS_WEB_PASSWORD=… jobs-web --listen 0.0.0.0:9494
//! ```
//!
//! The command line is clap's ([`jobs_web::standalone::WebCli`]); `jobs web` serves the
//! same dashboard with the same options. SIGTERM or SIGINT stops it gracefully.

use std::process::ExitCode;

use jobs_web::serve::{serve, ServeError};
use jobs_web::standalone::{ArgsError, Options};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let opts = match Options::from_env_and_args(|k| std::env::var(k).ok(), std::env::args().skip(1))
    {
        Ok(opts) => opts,
        Err(e @ (ArgsError::Help | ArgsError::Version)) => {
            println!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("jobs-web: {e}");
            return ExitCode::from(2);
        }
    };
    let url = jobs::redact_url(&opts.url);
    let ready = |addr| println!("jobs-web: dashboard for {url} at http://{addr}/");
    match serve(&opts, jobs::shutdown_signal(), ready).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobs-web: {}", message(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line.
fn message(error: &ServeError) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Logs on stderr, coloured only on a terminal; `JOBS_LOG_FORMAT=json` for one JSON object
/// per line. `RUST_LOG` filters (default `info`).
fn init_logging() {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match std::env::var("JOBS_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().try_init(),
        _ => builder.try_init(),
    };
}
