//! Busy: the live processes and what each runs now, with each job's progress bar (see
//! `job_status.rs`); quiet and stop them, cancel a job.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Redirect;
use axum::Extension;
use jobs::backend::ProcessSignal;
use maud::{html, Markup};

use crate::layout::{empty, page as chrome, post_button, Nav};
use crate::params::Pairs;
use crate::permit::Op;
use crate::{fmt, Action, AppState, Ctx, WebError};

/// `GET /busy`: processes and their running jobs.
pub async fn page(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Markup, WebError> {
    let now = st.now();
    let procs = st.processes().await?;
    let progress = st
        .progress_of(
            procs
                .iter()
                .flat_map(|p| p.running.iter().map(|r| r.job.jid.clone()))
                .collect(),
        )
        .await;
    let signal_url = ctx.url("/busy/signal");
    let signals = ctx.can(Action::Quiet) || ctx.can(Action::Stop);
    let body = html! {
        section.panel {
            h2 { "Processes" }
            @if procs.is_empty() { (empty("No process is running.")) } @else {
                div.scroll { table.stack {
                    thead { tr {
                        th { "Process" } th { "Started" } th.num { "Threads" } th.num { "Busy" }
                        th { "Heartbeat" } th { "Queues" } th { "State" }
                        @if signals { th { "Actions" } }
                    } }
                    tbody {
                        @for p in &procs {
                            tr {
                                td {
                                    strong { (p.info.hostname) ":" (p.info.pid) }
                                    @if let Some(tag) = &p.info.tag { " " span.badge { (tag) } }
                                    br; small.muted { (p.info.id) }
                                }
                                td data-label="Started" { (fmt::relative(p.info.started_at, now)) }
                                td.num data-label="Threads" { (p.info.concurrency) }
                                td.num data-label="Busy" { (p.running.len()) }
                                td data-label="Heartbeat" { (fmt::relative(p.beat_at, now)) }
                                td data-label="Queues" { (p.info.queues.join(", ")) }
                                td data-label="State" { @if p.quiet { span.badge { "quiet" } } @else { "running" } }
                                @if signals {
                                    td.actions {
                                        @if !p.quiet && ctx.can(Action::Quiet) {
                                            (post_button(&signal_url, "Quiet", "", &[("process", &p.info.id), ("signal", "quiet")]))
                                        }
                                        @if ctx.can(Action::Stop) {
                                            (post_button(&signal_url, "Stop", "danger", &[("process", &p.info.id), ("signal", "stop")]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section.panel {
            h2 { "Running jobs" }
            @if procs.iter().all(|p| p.running.is_empty()) { (empty("Nothing is running.")) } @else {
                div.scroll { table.stack {
                    thead { tr {
                        th { "Process" } th { "Job" } th { "Queue" } th { "Arguments" } th { "Started" } th { "Running for" } th { "Progress" }
                        @if ctx.can(Action::Cancel) { th { "Actions" } }
                    } }
                    tbody {
                        @for p in &procs {
                            @for r in &p.running {
                                tr {
                                    td data-label="Process" { (p.info.hostname) ":" (p.info.pid) }
                                    td { (r.job.class) br; small.muted { a href=(ctx.url(&format!("/jobs/{}", crate::mount::seg(&r.job.jid)))) { (r.job.jid) } } }
                                    td data-label="Queue" { (r.job.queue) }
                                    td data-label="Arguments" { code { (fmt::args_short(&r.job.args, 80)) } }
                                    td data-label="Started" { (fmt::time(r.started_at)) }
                                    td data-label="Running for" { (fmt::since(r.started_at, now)) }
                                    td data-label="Progress" { @if let Some(p) = progress.get(&r.job.jid) { (crate::job_status::bar(p)) } @else { "–" } }
                                    @if ctx.can(Action::Cancel) {
                                        td.actions { a.button.danger href=(format!("{}?{}", ctx.url("/cancel"), crate::mount::query(&[("jid", &r.job.jid)]))) { "Cancel" } }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Busy, "Busy", body))
}

/// Reads `signal` (`quiet` or `stop`).
pub(crate) fn parse_signal(s: &str) -> Result<ProcessSignal, WebError> {
    match s {
        "quiet" => Ok(ProcessSignal::Quiet),
        "stop" => Ok(ProcessSignal::Stop),
        other => Err(WebError::bad_request(format!(
            "signal must be quiet or stop, not '{other}'"
        ))),
    }
}

/// The operation of leaving `sig` for a process.
pub(crate) fn signal_op(sig: ProcessSignal) -> Op {
    match sig {
        ProcessSignal::Quiet => Op::Quiet,
        // A signal added later needs at least what stopping needs.
        _ => Op::Stop,
    }
}

/// `POST /busy/signal` with `process` and `signal`: leave a signal for a process.
pub async fn signal(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let form = Pairs::from_body(&body);
    let process = form
        .get("process")
        .ok_or_else(|| WebError::bad_request("process is required"))?
        .to_owned();
    let sig = parse_signal(form.get("signal").unwrap_or(""))?;
    let permit = ctx.permit(signal_op(sig))?;
    st.signal(permit, &process, sig).await?;
    Ok(Redirect::to(&ctx.url("/busy")))
}
