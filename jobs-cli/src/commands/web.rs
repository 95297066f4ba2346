//! `jobs web`: serves the dashboard for the backend, with the `jobs-web` binary's options
//! and code, until SIGTERM or SIGINT.

use std::io::Write;

use jobs_web::serve::{serve, ServeError};
use jobs_web::standalone::{Options, ServeArgs};
use serde::Serialize;

use crate::error::CliError;
use crate::output;

/// Where the dashboard listens, as JSON.
#[derive(Debug, Serialize)]
struct ReadyJson<'a> {
    /// The backend, password removed.
    url: &'a str,
    /// The dashboard's address, `http://127.0.0.1:9494/`.
    dashboard: String,
}

/// Serves the dashboard for `url` as `args` say; returns when a signal stopped it.
pub async fn run(
    url: String,
    args: &ServeArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let opts = Options::from_parts(Some(url), args, |k| std::env::var(k).ok())
        .map_err(CliError::WebOptions)?;
    let redacted = jobs::redact_url(&opts.url);
    let mut written = Ok(());
    let ready = |addr| {
        let dashboard = format!("http://{addr}/");
        written = if json {
            output::json(
                out,
                &ReadyJson {
                    url: &redacted,
                    dashboard,
                },
            )
        } else {
            writeln!(out, "jobs web: dashboard for {redacted} at {dashboard}").map_err(Into::into)
        }
        // Whoever started the command waits for this line: it must not sit in a buffer.
        .and_then(|()| out.flush().map_err(Into::into));
    };
    let served = serve(&opts, jobs::shutdown_signal(), ready).await;
    served.map_err(|e| match e {
        ServeError::Connect { url, source } => CliError::Connect {
            url,
            source: Box::new(source),
        },
        e => CliError::Web(Box::new(e)),
    })?;
    written
}
