//! `jobs retry`, `jobs kill` and `jobs delete`: by job id, or every job of a set that matches,
//! confirmed first.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use jobs::backend::{JobActionParams, JobListParams, JobSet};
use serde::Serialize;

use super::listing::{filter, job_set, locate};
use super::Ctx;
use crate::args::ActionArgs;
use crate::error::CliError;
use crate::output::{self, set_name};

/// What to do to the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Put them on their queues now.
    Retry,
    /// Move them to the dead set.
    Kill,
    /// Delete them.
    Delete,
}

impl Action {
    /// The verb, as a command names it.
    fn verb(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::Kill => "kill",
            Action::Delete => "delete",
        }
    }

    /// The verb in the past tense, capitalized, for the report.
    fn done(self) -> &'static str {
        match self {
            Action::Retry => "Retried",
            Action::Kill => "Killed",
            Action::Delete => "Deleted",
        }
    }

    /// Applies the action to `params`; returns how many jobs it changed.
    async fn apply(self, ctx: &Ctx, params: JobActionParams) -> Result<u64, CliError> {
        let b = &ctx.backend;
        let result = match self {
            Action::Retry => b.job_enqueue_now(params).await,
            Action::Kill => b.job_kill(params).await,
            Action::Delete => b.job_delete(params).await,
        };
        result.map_err(ctx.failed())
    }
}

/// The outcome of an action, as JSON.
#[derive(Debug, Serialize)]
struct ActionJson {
    action: &'static str,
    /// How many jobs were asked for (ids given, or jobs matching).
    matched: u64,
    /// How many were changed.
    done: u64,
}

/// Runs `action` on the jobs `args` select.
pub async fn run(
    ctx: &Ctx,
    action: Action,
    args: &ActionArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (matched, done) = match (args.all, args.set) {
        (true, Some(set)) => match on_all(ctx, action, args, job_set(set)).await? {
            Some(counts) => counts,
            None => {
                let what = if args.filter.is_some() || args.class.is_some() {
                    "matches"
                } else {
                    "is there"
                };
                let message = format!(
                    "No job in the {} set {what}: nothing to {}.",
                    set_name(&job_set(set)),
                    action.verb()
                );
                return report(ctx, action, 0, 0, &message, out);
            }
        },
        _ => on_jids(ctx, action, args).await?,
    };
    let message = if done == matched {
        format!("{} {done} job(s).", action.done())
    } else {
        format!(
            "{} {done} of {matched} job(s); the others had moved on meanwhile.",
            action.done()
        )
    };
    report(ctx, action, matched, done, &message, out)
}

fn report(
    ctx: &Ctx,
    action: Action,
    matched: u64,
    done: u64,
    message: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if ctx.json {
        return output::json(
            out,
            &ActionJson {
                action: action.verb(),
                matched,
                done,
            },
        );
    }
    writeln!(out, "{message}")?;
    Ok(())
}

/// Acts on the jobs given by id, each found first; returns `(asked, done)`. Nothing changes
/// when one of them is not found.
async fn on_jids(ctx: &Ctx, action: Action, args: &ActionArgs) -> Result<(u64, u64), CliError> {
    let mut groups: Vec<(JobSet, Vec<String>)> = Vec::new();
    let mut asked = 0;
    for jid in &args.jids {
        if groups.iter().any(|(_, jids)| jids.contains(jid)) {
            continue;
        }
        asked += 1;
        let found = locate(ctx, jid, args.set).await?;
        let already = match (action, &found.set) {
            (Action::Retry, JobSet::Queue(queue)) => Some(format!("waiting in queue `{queue}`")),
            (Action::Kill, JobSet::Dead) => Some("in the dead set".to_owned()),
            _ => None,
        };
        if let Some(place) = already {
            return Err(CliError::NothingToDo {
                jid: jid.clone(),
                place,
                action: action.verb(),
            });
        }
        match groups.iter_mut().find(|(set, _)| *set == found.set) {
            Some((_, jids)) => jids.push(jid.clone()),
            None => groups.push((found.set, vec![jid.clone()])),
        }
    }
    let mut done = 0;
    for (set, jids) in groups {
        done += action
            .apply(ctx, JobActionParams::jids(set, jids, Utc::now()))
            .await?;
    }
    Ok((asked, done))
}

/// Acts on every job of `set` matching the filter, once confirmed; returns `(matched,
/// done)`, or `None` when no job matches.
async fn on_all(
    ctx: &Ctx,
    action: Action,
    args: &ActionArgs,
    set: JobSet,
) -> Result<Option<(u64, u64)>, CliError> {
    let f = filter(args.class.as_deref(), args.filter.as_deref());
    let count = ctx
        .backend
        .job_list(JobListParams::new(set.clone(), 1).filter(f.clone()))
        .await
        .map_err(ctx.failed())?
        .total;
    if count == 0 {
        return Ok(None);
    }
    if !args.yes {
        confirm(action, count, &set, args)?;
    }
    let done = if super::bulk::shows_bar(ctx, count) {
        super::bulk::in_chunks(ctx, &set, &f, count, action.done(), |p| {
            action.apply(ctx, p)
        })
        .await?
    } else {
        action
            .apply(ctx, JobActionParams::matching(set, f, Utc::now()))
            .await?
    };
    Ok(Some((count, done)))
}

/// Asks on the terminal whether to go on; refuses when stdin is no terminal.
fn confirm(action: Action, count: u64, set: &JobSet, args: &ActionArgs) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::NeedsConfirmation {
            action: action.verb(),
            count,
        });
    }
    let mut what = String::new();
    if let Some(class) = &args.class {
        what.push_str(&format!(" of class {class}"));
    }
    if let Some(text) = &args.filter {
        what.push_str(&format!(" matching \"{text}\""));
    }
    let mut err = std::io::stderr();
    write!(
        err,
        "{} {count} job(s){what} of the {} set? [y/N] ",
        capitalize(action.verb()),
        set_name(set)
    )?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(CliError::Cancelled),
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
