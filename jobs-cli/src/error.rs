//! Why a command failed, and how a failure is told to a person: message, causes, the setting
//! to change, and the exit status.

use std::fmt::Write as _;
use std::process::ExitCode;

use jobs::backend::{BackendError, ErrorKind};
use jobs::schedule::ScheduleError;

/// Everything a `jobs` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Neither `--url` nor `JOBS_URL` was given to a command that needs a backend.
    #[error("no backend URL given")]
    NoUrl,
    /// The URL did not open a backend.
    #[error("cannot open the backend at {url}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// Why (boxed: a URL error carries the known parameters, and every command's
        /// result would otherwise be that large).
        #[source]
        source: Box<jobs::ConnectError>,
    },
    /// A `sqlite://` URL names a file that does not exist (opening it would create an empty
    /// store, which is never what a command that inspects one wants).
    #[error("no SQLite database at {path}")]
    NoDatabase {
        /// The file the URL names.
        path: String,
    },
    /// A call to the backend failed.
    #[error("the backend at {url} failed")]
    Backend {
        /// The URL, password removed.
        url: String,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// No queue or set holds this job.
    #[error("job {jid} not found in {place}")]
    JobNotFound {
        /// The job id asked for.
        jid: String,
        /// Where it was looked for.
        place: String,
    },
    /// The job is already where the action would put it (`retry` of a job waiting in a
    /// queue, `kill` of a dead job).
    #[error("job {jid} is already {place}: there is nothing to {action}")]
    NothingToDo {
        /// The job id.
        jid: String,
        /// Where it is: "waiting in queue `q`", "in the dead set".
        place: String,
        /// The action's verb.
        action: &'static str,
    },
    /// No live process has this id.
    #[error("no live process with id `{id}` (live: {live})")]
    ProcessNotFound {
        /// The id asked for.
        id: String,
        /// The live ids, or "none".
        live: String,
    },
    /// An action on many jobs needs a confirmation that cannot be asked for.
    #[error(
        "refusing to {action} {count} job(s) without confirmation: stdin is not a terminal \
         (pass --yes to confirm)"
    )]
    NeedsConfirmation {
        /// The action's verb.
        action: &'static str,
        /// How many jobs it would touch.
        count: u64,
    },
    /// The person answered no.
    #[error("cancelled: nothing was changed")]
    Cancelled,
    /// The backend keeps no recurring schedules.
    #[error("the {backend} backend keeps no recurring schedules")]
    NoSchedules {
        /// The backend's name.
        backend: &'static str,
    },
    /// The schedule file could not be read or parsed.
    #[error("cannot read the schedule file")]
    ScheduleFile(#[source] ScheduleError),
    /// The schedule file has wrong entries.
    #[error("{path}: {} error(s){}", errors.len(), list(errors))]
    ScheduleInvalid {
        /// The file.
        path: String,
        /// Every error found.
        errors: Vec<ScheduleError>,
    },
    /// `jobs migrate` could not list or apply the migrations.
    #[error("cannot migrate the store at {url}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// Why (boxed, as `Connect`'s).
        #[source]
        source: Box<jobs_backends::migrations::MigrateError>,
    },
    /// `jobs web` was given a bad listen address.
    #[error("bad `jobs web` option")]
    WebOptions(#[source] jobs_web::standalone::ArgsError),
    /// `jobs web` could not serve the dashboard.
    #[error("cannot serve the dashboard")]
    Web(#[source] Box<jobs_web::serve::ServeError>),
    /// Reading the answer or writing the output failed.
    #[error("cannot read or write the terminal")]
    Io(#[from] std::io::Error),
    /// The JSON output could not be written.
    #[error("cannot write JSON")]
    Json(#[from] serde_json::Error),
}

/// Each error on its own line, indented.
fn list(errors: &[ScheduleError]) -> String {
    let mut out = String::new();
    for e in errors {
        let _ = write!(out, "\n  {e}");
    }
    out
}

impl CliError {
    /// The exit status: 2 for a usage mistake (as clap's own), 1 for every other failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::NoUrl | CliError::WebOptions(_) => ExitCode::from(2),
            CliError::Web(e) if matches!(**e, jobs_web::serve::ServeError::Refused(_)) => {
                ExitCode::from(2)
            }
            _ => ExitCode::FAILURE,
        }
    }

    /// Whether the output's reader went away (`jobs list … | head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        let kind = match self {
            CliError::Io(e) => Some(e.kind()),
            CliError::Json(e) => e.io_error_kind(),
            _ => None,
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    }

    /// The setting that would fix this error, when there is one.
    fn hint(&self, url: Option<&str>) -> Option<String> {
        let now = url.map_or_else(|| "unset".to_owned(), jobs::redact_url);
        let set_url = |why: &str| {
            format!(
                "hint: {why}: pass --url or set {} (now: {now})\n      \
                 e.g. redis://127.0.0.1:6379/0, postgres://user@host/db or sqlite:///path/jobs.db",
                jobs::JOBS_URL
            )
        };
        let unreachable = "check the URL and that the store runs";
        match self {
            CliError::NoUrl => Some(set_url("this command needs a backend")),
            CliError::Connect { source, .. }
                if matches!(**source, jobs::ConnectError::Backend(_)) =>
            {
                Some(set_url(unreachable))
            }
            CliError::Connect { .. } => Some(set_url("fix the URL")),
            CliError::NoDatabase { .. } => Some(set_url(
                "name the database file your app uses (sqlite://relative.db or sqlite:///absolute.db)",
            )),
            CliError::Backend { source, .. }
                if matches!(source.kind(), ErrorKind::Connection | ErrorKind::Timeout) =>
            {
                Some(set_url(unreachable))
            }
            CliError::Migrate { source, .. } => match &**source {
                jobs_backends::migrations::MigrateError::Backend { source, .. }
                    if matches!(source.kind(), ErrorKind::Connection | ErrorKind::Timeout) =>
                {
                    Some(set_url(unreachable))
                }
                jobs_backends::migrations::MigrateError::Url(_)
                | jobs_backends::migrations::MigrateError::UnknownScheme { .. } => {
                    Some(set_url("fix the URL"))
                }
                _ => None,
            },
            CliError::JobNotFound { .. } => {
                Some("hint: `jobs list <set>` shows the jobs there are".to_owned())
            }
            _ => None,
        }
    }

    /// The error as a person reads it: the message, each cause on its own line, and a hint
    /// naming the setting to change when one would fix it. Never a debug dump.
    pub fn report(&self, url: Option<&str>) -> String {
        let mut out = format!("error: {self}");
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let _ = write!(out, "\n  caused by: {c}");
            cause = c.source();
        }
        if let Some(hint) = self.hint(url) {
            let _ = write!(out, "\n{hint}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_has_the_causes_and_names_the_setting_with_the_password_removed() {
        let err = CliError::Backend {
            url: jobs::redact_url("redis://:secret@127.0.0.1:1/0"),
            source: BackendError::connection("127.0.0.1:1", "connection refused"),
        };
        let report = err.report(Some("redis://:secret@127.0.0.1:1/0"));
        assert_eq!(
            report,
            "error: the backend at redis://:***@127.0.0.1:1/0 failed\n  \
             caused by: cannot reach the backend at 127.0.0.1:1: connection refused\n\
             hint: check the URL and that the store runs: pass --url or set JOBS_URL \
             (now: redis://:***@127.0.0.1:1/0)\n      e.g. redis://127.0.0.1:6379/0, \
             postgres://user@host/db or sqlite:///path/jobs.db"
        );
    }

    #[test]
    fn a_closed_pipe_is_recognized_in_plain_and_json_output() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(CliError::Io(pipe()).is_broken_pipe());
        assert!(CliError::Json(serde_json::Error::io(pipe())).is_broken_pipe());
        assert!(!CliError::Cancelled.is_broken_pipe());
    }

    #[test]
    fn a_missing_url_is_a_usage_error() {
        assert_eq!(CliError::NoUrl.exit_code(), ExitCode::from(2));
        assert!(CliError::NoUrl.report(None).contains("(now: unset)"));
    }
}
