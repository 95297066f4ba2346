//! `jobs cancel JID...`: cancel jobs wherever they are, and say what happened to each.
//!
//! A waiting, scheduled or retrying job moves to the cancelled set (`jobs list cancelled`);
//! a running one is signalled in its worker process. The command fails (after printing every
//! answer) when a jid names no job.

use std::io::Write;

use chrono::Utc;
use jobs::backend::{CancelParams, Cancellation};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output;

/// `jobs cancel --json`: one per jid.
#[derive(Debug, Serialize)]
struct CancelJson<'a> {
    jid: &'a str,
    /// `cancelled`, `requested`, `not_found` or `already_finished`.
    answer: &'static str,
}

/// What one answer means, for people.
fn say(answer: Cancellation) -> &'static str {
    match answer {
        Cancellation::Cancelled => "cancelled: moved to the cancelled set, it will not run",
        Cancellation::Requested => {
            "cancel requested: it is running; its worker stops it (aborted after its grace period)"
        }
        Cancellation::AlreadyFinished => "already finished (dead or cancelled): nothing to do",
        _ => "not found: no job has this id (or it completed)",
    }
}

/// Cancels `jids`.
pub async fn run(ctx: &Ctx, jids: &[String], out: &mut dyn Write) -> Result<(), CliError> {
    let answers = ctx
        .backend
        .job_cancel(CancelParams::new(jids.to_vec(), Utc::now()))
        .await
        .map_err(ctx.failed())?;
    if ctx.json {
        let rows: Vec<CancelJson<'_>> = jids
            .iter()
            .zip(&answers)
            .map(|(jid, a)| CancelJson {
                jid,
                answer: a.as_str(),
            })
            .collect();
        output::json(out, &rows)?;
    } else {
        for (jid, a) in jids.iter().zip(&answers) {
            writeln!(out, "{jid}  {}", say(*a))?;
        }
    }
    match jids
        .iter()
        .zip(&answers)
        .find(|(_, a)| **a == Cancellation::NotFound)
    {
        Some((jid, _)) => Err(CliError::JobNotFound {
            jid: jid.clone(),
            place: "any queue, set or running process".to_owned(),
        }),
        None => Ok(()),
    }
}
