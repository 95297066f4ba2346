//! `jobs`: the command line of the `jobs` framework, to inspect and manage a backend by URL.
//!
//! It talks to any backend `jobs_backends::connect` opens (Redis, Postgres, SQLite) through
//! the admin API the dashboard uses, so it sees and does what the dashboard does:
//!
//! ```text
//! export JOBS_URL=redis://127.0.0.1:6379/0      # or pass --url
//! jobs status                                   # totals, queues, processes
//! jobs queues                                   # sizes, latency, paused
//! jobs list retry --filter alice@example.com    # a page of a queue or set
//! jobs list queue mailers --limit 100
//! jobs show 2f1c0b9e8d7a6f5e4d3c2b1a            # one job, wherever it is
//! jobs retry 2f1c0b9e8d7a6f5e4d3c2b1a           # back on its queue now
//! jobs delete --all --set dead --filter Timeout # asks first; --yes in scripts
//! jobs pause mailers && jobs resume mailers
//! jobs quiet host-1:4242:0a1b                   # stop taking jobs
//! jobs --json status | jq .stats.failed         # JSON for scripts
//! jobs schedule check config/schedule.toml      # no backend needed
//! jobs migrate --dry-run && jobs migrate        # SQL stores: pending schema migrations
//! jobs web --listen 127.0.0.1:9494 --read-only  # the dashboard, until SIGTERM
//! jobs completions zsh > ~/.zfunc/_jobs
//! ```
//!
//! Exit status: 0 done; 1 failed (the store is unreachable, a job is not found, an action was
//! refused or cancelled, a migration failed); 2 bad usage (as clap reports it, no URL given,
//! a bad or refused `jobs web` listen address). Errors print
//! their message and causes and name the setting to change; the URL is printed with its
//! password removed.
//!
//! Layout: `args.rs` (the command line), `commands/` (one module per group of subcommands),
//! `output/` (tables, JSON, formats), `error.rs` (failures and how they are reported).

mod args;
mod commands;
mod error;
mod output;

use std::io::Write;
use std::process::ExitCode;

use crate::error::CliError;

fn main() -> ExitCode {
    let cli = args::parse();
    let url = cli.url.clone();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::Io(e), url.as_deref()),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = runtime
        .block_on(commands::run(cli, &mut out))
        .and_then(|()| out.flush().map_err(CliError::Io));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`jobs list … | head`): nothing left to tell.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => fail(&e, url.as_deref()),
    }
}

/// Prints `error` for a person and returns its exit status.
fn fail(error: &CliError, url: Option<&str>) -> ExitCode {
    output::note(&error.report(url));
    error.exit_code()
}
