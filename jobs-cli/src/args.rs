//! The command line: every subcommand, argument and help text, as clap derives them.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Examples shown at the end of `jobs --help`.
const EXAMPLES: &str = "\
Examples:
  export JOBS_URL=redis://127.0.0.1:6379/0
  jobs status
  jobs list retry --filter alice@example.com
  jobs show 2f1c0b9e8d7a6f5e4d3c2b1a
  jobs retry --all --set dead --filter Timeout --yes
  jobs pause mailers
  jobs --json queues | jq '.[] | select(.size > 1000)'
  jobs migrate --dry-run && jobs migrate
  jobs web --listen 127.0.0.1:9494 --read-only

Exit status:
  0  done (also: nothing to migrate, nothing matched)
  1  failed: the store is unreachable, a job or process is not found, an action was refused
     or cancelled, a migration failed
  2  bad usage: an unknown command or option, a missing argument, no URL given, a bad
     listen address";

/// How every help page is laid out: usage first, then what the command does, then its
/// arguments.
const HELP_TEMPLATE: &str =
    "{usage-heading} {usage}\n\n{about-with-newline}\n{all-args}{after-help}";

/// The command line with the help layout applied to every subcommand.
pub fn command() -> clap::Command {
    fn layout(cmd: clap::Command) -> clap::Command {
        cmd.help_template(HELP_TEMPLATE).mut_subcommands(layout)
    }
    layout(<Cli as clap::CommandFactory>::command())
}

/// Parses the process's arguments; prints help, version or a usage error and exits (status
/// 2 for an error, as clap does) when that is what they ask for.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = check(&cli) {
        e.exit()
    }
    cli
}

/// What clap's attributes cannot say: a NAME only goes with `jobs list queue`.
fn check(cli: &Cli) -> Result<(), clap::Error> {
    match &cli.command {
        Command::List(ListArgs {
            set,
            name: Some(name),
            ..
        }) if *set != ListSet::Queue => {
            let mut cmd = command();
            cmd.build();
            let mut list = cmd.find_subcommand_mut("list").cloned().unwrap_or_default();
            Err(list.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("`{name}`: a NAME goes only with `jobs list queue NAME`"),
            ))
        }
        _ => Ok(()),
    }
}

/// `jobs`: inspect and manage the jobs of a Redis, Postgres or SQLite backend.
#[derive(Debug, Parser)]
#[command(
    name = "jobs",
    version,
    about = "Inspect and manage background jobs: queues, the scheduled, retry and dead sets, processes.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// The backend: redis://host:6379/0, postgres://user@host/db, sqlite:///path/jobs.db
    ///
    /// Any URL the jobs framework opens, with its options: redis://…?prefix=app,
    /// postgres://…?schema=app, sqlite://…?busy_timeout_ms=10000. memory:// is accepted but
    /// always empty. The password is never printed.
    #[arg(
        long,
        env = jobs::JOBS_URL,
        hide_env_values = true,
        global = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub url: Option<String>,

    /// Print JSON for scripts instead of tables and sentences.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Totals, queues with their sizes and latency, and the live processes.
    Status,
    /// Every queue with its size, latency and whether it is paused.
    Queues,
    /// List the jobs of a queue or of the scheduled, retry, dead or cancelled set.
    ///
    /// Prints the job id, class, queue, time (enqueued, runs at, retries at or died at; in
    /// UTC), arguments and, for retries and dead jobs, the error. --json prints every job in
    /// its wire format, with the total that matches.
    List(ListArgs),
    /// Show one job with all its fields, wherever it is (queues, scheduled, retry, dead).
    ///
    /// Times are in UTC. --json prints the job in its wire format with where it is.
    Show {
        /// The job's id.
        #[arg(value_name = "JID")]
        jid: String,
    },
    /// Put jobs of the scheduled, retry or dead set back on their queues now.
    Retry(ActionArgs),
    /// Move jobs to the dead set.
    Kill(ActionArgs),
    /// Delete jobs for good.
    Delete(ActionArgs),
    /// Cancel jobs wherever they are: a waiting, scheduled or retrying job moves to the
    /// cancelled set and never runs; a running one is told to stop by its worker (and
    /// aborted after its grace period). Fails when a JID names no job.
    Cancel {
        /// The ids of the jobs.
        #[arg(value_name = "JID", required = true)]
        jids: Vec<String>,
    },
    /// Pause a queue: workers skip it until it is resumed.
    Pause {
        /// The queue's name.
        #[arg(value_name = "QUEUE")]
        queue: String,
    },
    /// Resume a paused queue.
    Resume {
        /// The queue's name.
        #[arg(value_name = "QUEUE")]
        queue: String,
    },
    /// Ask a worker process to stop taking jobs (it finishes those it runs).
    Quiet {
        /// The process id, as `jobs status` lists it.
        #[arg(value_name = "PROCESS")]
        process: String,
    },
    /// Ask a worker process to shut down gracefully.
    Stop {
        /// The process id, as `jobs status` lists it.
        #[arg(value_name = "PROCESS")]
        process: String,
    },
    /// Recurring jobs: check a schedule file, list the backend's schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Apply the pending schema migrations of a Postgres or SQLite store (after printing them).
    ///
    /// Workers and the dashboard apply them when they connect; this is for deploys that
    /// migrate first. Redis and memory keep no schema: nothing to migrate. A SQLite file is
    /// created when missing (unless --dry-run).
    Migrate {
        /// Print the pending migrations without applying them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Serve the dashboard for the backend (as the `jobs-web` binary does), until SIGTERM or Ctrl-C.
    ///
    /// Listens on 127.0.0.1:9494 unless --listen or JOBS_WEB_LISTEN says otherwise; listening
    /// beyond loopback needs JOBS_WEB_USER and JOBS_WEB_PASSWORD (basic auth).
    Web(jobs_web::standalone::ServeArgs),
    /// Print the completion script for a shell, e.g. `jobs completions bash > /etc/bash_completion.d/jobs`.
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// What `jobs list` lists.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which collection: `queue NAME`, `scheduled`, `retry`, `dead` or `cancelled`.
    #[arg(value_enum, value_name = "SET")]
    pub set: ListSet,

    /// The queue's name (with `queue` only).
    #[arg(value_name = "NAME", required_if_eq("set", "queue"))]
    pub name: Option<String>,

    /// Only jobs whose arguments or error message contain this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// Only jobs of this class (job name).
    #[arg(long, value_name = "CLASS")]
    pub class: Option<String>,

    /// The most jobs to print (at least 1).
    #[arg(long, value_name = "N", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,

    /// Matching jobs to skip first (to page).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u64,
}

/// A collection `jobs list` can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListSet {
    /// A queue, oldest first (give its NAME).
    Queue,
    /// Jobs waiting for their time, soonest first.
    Scheduled,
    /// Failed jobs waiting to retry, soonest first.
    Retry,
    /// Jobs whose retries are exhausted, most recent first.
    Dead,
    /// Jobs cancelled before or while they ran, most recent first.
    Cancelled,
}

/// A set `retry`, `kill` and `delete` can act on as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SetName {
    /// Jobs waiting for their time.
    Scheduled,
    /// Failed jobs waiting to retry.
    Retry,
    /// Jobs whose retries are exhausted.
    Dead,
}

/// Which jobs `retry`, `kill` or `delete` act on.
#[derive(Debug, Args)]
pub struct ActionArgs {
    /// The ids of the jobs, looked up in the scheduled, retry and dead sets and every queue.
    #[arg(
        value_name = "JID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub jids: Vec<String>,

    /// Act on every job of --set that matches --filter and --class (all of them without).
    #[arg(long, requires = "set")]
    pub all: bool,

    /// The set to act on: with --all, required; with JIDs, only that set is searched.
    #[arg(long, value_enum, value_name = "SET")]
    pub set: Option<SetName>,

    /// With --all: only jobs whose arguments or error message contain this text.
    #[arg(long, value_name = "TEXT", requires = "all")]
    pub filter: Option<String>,

    /// With --all: only jobs of this class (job name).
    #[arg(long, value_name = "CLASS", requires = "all")]
    pub class: Option<String>,

    /// Do not ask for confirmation (needed with --all when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// The `jobs schedule` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Check a schedule file (TOML) and print the next fire times of each entry.
    ///
    /// Timings, time zones and entries are checked; job names are not, since this command
    /// links none of your jobs (an app checks those with `jobs::schedule::check_file` and its
    /// own registry, as examples/schedule_check.rs does). Needs no backend.
    Check {
        /// The schedule file.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,

        /// How many fire times to print per entry.
        #[arg(long, value_name = "N", default_value_t = 5)]
        count: usize,
    },
    /// The schedules the backend knows, with their last and next runs.
    List,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_starts_with_the_usage() {
        let help = command().render_help().to_string();
        assert!(
            help.starts_with("Usage: jobs [OPTIONS] <COMMAND>\n\nInspect"),
            "{help}"
        );
        let mut cmd = command();
        cmd.build();
        let list = cmd
            .find_subcommand_mut("list")
            .map(|c| c.render_help().to_string());
        let list = list.unwrap_or_default();
        assert!(
            list.starts_with("Usage: jobs list [OPTIONS] <SET> [NAME]\n\nList"),
            "{list}"
        );
    }

    #[test]
    fn list_queue_needs_a_name() {
        let err = Cli::try_parse_from(["jobs", "list", "queue"]).err();
        assert_eq!(
            err.map(|e| e.kind()),
            Some(clap::error::ErrorKind::MissingRequiredArgument)
        );
        assert!(Cli::try_parse_from(["jobs", "list", "retry"]).is_ok());
        let named = Cli::try_parse_from(["jobs", "list", "retry", "mailers"]);
        let err = named
            .map_err(|e| e.to_string())
            .and_then(|cli| check(&cli).map_err(|e| e.to_string()));
        let err = err.err().unwrap_or_default();
        assert!(err.starts_with("error: `mailers`: a NAME goes only with `jobs list queue NAME`\n\nUsage: jobs list"), "{err}");
    }

    #[test]
    fn all_needs_a_set_and_excludes_jids() {
        assert!(Cli::try_parse_from(["jobs", "retry", "--all"]).is_err());
        assert!(Cli::try_parse_from(["jobs", "retry", "--all", "--set", "dead", "abc"]).is_err());
        assert!(Cli::try_parse_from(["jobs", "retry", "--all", "--set", "dead"]).is_ok());
        assert!(Cli::try_parse_from(["jobs", "cancel"]).is_err());
        assert!(Cli::try_parse_from(["jobs", "cancel", "a", "b"]).is_ok());
        assert!(Cli::try_parse_from(["jobs", "list", "cancelled"]).is_ok());
        assert!(Cli::try_parse_from(["jobs", "retry"]).is_err());
    }
}
