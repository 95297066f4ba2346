//! Runs a parsed command line: opens the backend when the command needs one and hands it to
//! the command's module.

mod actions;
mod bulk;
mod cancel;
mod control;
mod listing;
mod migrate;
mod overview;
mod schedule;
mod web;

use std::io::Write;
use std::sync::Arc;

use jobs::backend::{AdminBackend, BackendError};

use crate::args::{Cli, Command, ScheduleCommand};
use crate::error::CliError;

/// What a command that talks to a backend is given.
pub struct Ctx {
    /// The backend.
    pub backend: Arc<dyn AdminBackend>,
    /// Its URL, password removed, for messages.
    pub url: String,
    /// Whether to print JSON.
    pub json: bool,
}

impl Ctx {
    /// Wraps a failed backend call with the URL it went to.
    pub fn failed(&self) -> impl Fn(BackendError) -> CliError + '_ {
        move |source| CliError::Backend {
            url: self.url.clone(),
            source,
        }
    }
}

/// Runs `cli`, writing results to `out` (prompts and warnings go to stderr).
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let json = cli.json;
    match cli.command {
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut crate::args::command(), "jobs", &mut script);
            out.write_all(&script)?;
            return Ok(());
        }
        Command::Schedule(ScheduleCommand::Check { file, count }) => {
            return schedule::check(&file, count, json, out);
        }
        Command::Migrate { dry_run } => {
            let url = cli.url.ok_or(CliError::NoUrl)?;
            return migrate::run(&url, dry_run, json, out).await;
        }
        _ => {}
    }
    let url = cli.url.ok_or(CliError::NoUrl)?;
    let redacted = jobs::redact_url(&url);
    if let Ok(sqlite) = jobs_backends::sqlite::SqliteConfig::from_url(&url) {
        if !sqlite.path.exists() {
            return Err(CliError::NoDatabase {
                path: sqlite.path.display().to_string(),
            });
        }
    }
    if let Command::Web(args) = &cli.command {
        return web::run(url, args, json, out).await;
    }
    let backend = jobs_backends::connect(&url)
        .await
        .map_err(|source| CliError::Connect {
            url: redacted.clone(),
            source: Box::new(source),
        })?;
    if backend.name() == "memory" {
        crate::output::note(
            "note: memory:// is a new, empty store inside this command; use the URL your app uses",
        );
    }
    let ctx = Ctx {
        backend,
        url: redacted,
        json,
    };
    match cli.command {
        Command::Status => overview::status(&ctx, out).await,
        Command::Queues => overview::queues(&ctx, out).await,
        Command::List(args) => listing::list(&ctx, &args, out).await,
        Command::Show { jid } => listing::show(&ctx, &jid, out).await,
        Command::Retry(args) => actions::run(&ctx, actions::Action::Retry, &args, out).await,
        Command::Kill(args) => actions::run(&ctx, actions::Action::Kill, &args, out).await,
        Command::Delete(args) => actions::run(&ctx, actions::Action::Delete, &args, out).await,
        Command::Cancel { jids } => cancel::run(&ctx, &jids, out).await,
        Command::Pause { queue } => control::pause(&ctx, &queue, true, out).await,
        Command::Resume { queue } => control::pause(&ctx, &queue, false, out).await,
        Command::Quiet { process } => control::signal(&ctx, &process, false, out).await,
        Command::Stop { process } => control::signal(&ctx, &process, true, out).await,
        Command::Schedule(ScheduleCommand::List) => schedule::list(&ctx, out).await,
        Command::Completions { .. }
        | Command::Schedule(ScheduleCommand::Check { .. })
        | Command::Migrate { .. }
        | Command::Web(_) => Ok(()),
    }
}
