//! `jobs-web`: serves the dashboard for a backend URL, on loopback unless credentials are set.
//!
//! ```text
//! JOBS_URL=redis://127.0.0.1/ jobs-web --listen 127.0.0.1:9494
//! JOBS_WEB_USER=admin JOBS_WEB_PASSWORD=… jobs-web --listen 0.0.0.0:9494
//! ```

use std::process::ExitCode;

use jobs_web::standalone::{check_listen, with_basic_auth, ArgsError, Options};
use jobs_web::Dashboard;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let opts = match Options::from_env_and_args(|k| std::env::var(k).ok(), std::env::args().skip(1))
    {
        Ok(opts) => opts,
        Err(ArgsError::Help) => {
            println!("{}", ArgsError::Help);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("jobs-web: {e}");
            return ExitCode::from(2);
        }
    };
    match run(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobs-web: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(opts: Options) -> Result<(), String> {
    check_listen(opts.listen, opts.credentials.as_ref())?;
    let backend = jobs_backends::connect(&opts.url)
        .await
        .map_err(|e| match e {
            // The server's answer does not name the URL; the URL's own errors already do.
            jobs::ConnectError::Backend(_) => {
                format!("cannot connect to {}: {e}", jobs::redact_url(&opts.url))
            }
            e => e.to_string(),
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
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "jobs-web: dashboard for {} at http://{addr}/",
        jobs::redact_url(&opts.url)
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
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
