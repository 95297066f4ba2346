//! `jobs pause|resume QUEUE` and `jobs quiet|stop PROCESS`.

use std::io::Write;

use chrono::Utc;
use jobs::backend::{ProcessSignal, ProcessSignalParams, QueueListParams, QueuePauseParams};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output;

/// `jobs pause|resume --json`.
#[derive(Debug, Serialize)]
struct PauseJson<'a> {
    queue: &'a str,
    paused: bool,
}

/// `jobs quiet|stop --json`.
#[derive(Debug, Serialize)]
struct SignalJson<'a> {
    process: &'a str,
    signal: &'static str,
}

/// Pauses (`paused`) or resumes `queue`. A queue no job has used yet is paused all the same,
/// with a note on stderr in case its name is mistyped.
pub async fn pause(
    ctx: &Ctx,
    queue: &str,
    paused: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let known = ctx
        .backend
        .queue_list(QueueListParams::new(Utc::now()))
        .await
        .map_err(ctx.failed())?
        .iter()
        .any(|q| q.name == queue);
    if !known {
        output::note(&format!(
            "note: no queue named `{queue}` is known yet (see `jobs queues`)"
        ));
    }
    ctx.backend
        .queue_pause(QueuePauseParams::new(queue, paused))
        .await
        .map_err(ctx.failed())?;
    if ctx.json {
        return output::json(out, &PauseJson { queue, paused });
    }
    if paused {
        writeln!(
            out,
            "Paused queue `{queue}`: workers skip it until `jobs resume {queue}`."
        )?;
    } else {
        writeln!(out, "Resumed queue `{queue}`.")?;
    }
    Ok(())
}

/// Leaves a quiet (`stop` false) or stop signal for a live process.
pub async fn signal(
    ctx: &Ctx,
    process: &str,
    stop: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let live = ctx.backend.process_list().await.map_err(ctx.failed())?;
    if !live.iter().any(|p| p.info.id == process) {
        let ids: Vec<&str> = live.iter().map(|p| p.info.id.as_str()).collect();
        return Err(CliError::ProcessNotFound {
            id: process.to_owned(),
            live: if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            },
        });
    }
    let (signal, name) = if stop {
        (ProcessSignal::Stop, "stop")
    } else {
        (ProcessSignal::Quiet, "quiet")
    };
    ctx.backend
        .process_signal(ProcessSignalParams::new(process, signal))
        .await
        .map_err(ctx.failed())?;
    if ctx.json {
        return output::json(
            out,
            &SignalJson {
                process,
                signal: name,
            },
        );
    }
    let what = if stop {
        "shut down gracefully"
    } else {
        "stop taking jobs"
    };
    writeln!(
        out,
        "Asked process `{process}` to {what}; it does so at its next heartbeat."
    )?;
    Ok(())
}
