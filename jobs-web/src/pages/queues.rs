//! Queues: sizes, latency and pause state; browse a queue page by page in run order, with
//! each job's priority; delete a job; clear a queue after a confirmation stating how many
//! jobs it removes; pause and resume.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Redirect;
use axum::Extension;
use jobs::backend::{JobFilter, JobSet};
use maud::{html, Markup};

use crate::layout::{empty, hidden, page as chrome, pager, post_button, Nav};
use crate::params::{Paging, Pairs};
use crate::permit::Op;
use crate::{fmt, mount, Action, AppState, Ctx, WebError};

/// `GET /queues`: every queue.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Markup, WebError> {
    let queues = st.queues(st.now()).await?;
    let body = html! {
        section.panel {
            @if queues.is_empty() { (empty("No queues yet.")) } @else {
                div.scroll { table {
                    thead { tr {
                        th { "Queue" } th.num { "Size" } th.num { "Latency" } th { "State" }
                        @if ctx.can(Action::Pause) || ctx.can(Action::Delete) { th { "Actions" } }
                    } }
                    tbody {
                        @for q in &queues {
                            @let base = ctx.url(&format!("/queues/{}", mount::seg(&q.name)));
                            tr {
                                td { a href=(base) { (q.name) } }
                                td.num { (q.size) }
                                td.num { (fmt::dur(q.latency)) }
                                td { @if q.paused { span.badge { "paused" } } @else { "running" } }
                                @if ctx.can(Action::Pause) || ctx.can(Action::Delete) {
                                    td.actions {
                                        @if ctx.can(Action::Pause) {
                                            @if q.paused {
                                                (post_button(&format!("{base}/pause"), "Resume", "", &[("paused", "false")]))
                                            } @else {
                                                (post_button(&format!("{base}/pause"), "Pause", "", &[("paused", "true")]))
                                            }
                                        }
                                        @if ctx.can(Action::Delete) {
                                            a.button.danger href=(format!("{base}/clear")) { "Clear…" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Queues, "Queues", body))
}

/// What a priority means, for the column's title and the legend.
pub(crate) const PRIORITY_HELP: &str =
    "priority 0 runs first, 9 last; oldest first within a priority";

/// `GET /queues/{name}`: the jobs waiting in one queue in the order they run (by priority,
/// then oldest first), page by page.
pub async fn browse(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let now = st.now();
    let page = st
        .jobs(JobSet::Queue(name.clone()), paging, JobFilter::default())
        .await?;
    let info = st.queue(&name, now).await?;
    let base = ctx.url(&format!("/queues/{}", mount::seg(&name)));
    let title = format!("Queue {name}");
    let body = html! {
        p.muted {
            a href=(ctx.url("/queues")) { "← All queues" }
            @if let Some(i) = &info {
                " · " (i.size) " jobs · latency " (fmt::dur(i.latency))
                @if i.paused { " · " span.badge { "paused" } }
            }
        }
        @if ctx.can(Action::Delete) && page.total > 0 {
            p { a.button.danger href=(format!("{base}/clear")) { "Clear this queue…" } }
        }
        section.panel {
            @if page.jobs.is_empty() { (empty("This queue is empty.")) } @else {
                p.legend { "In the order they run: " (PRIORITY_HELP) "." }
                div.scroll { table {
                    thead { tr {
                        th.num title=(PRIORITY_HELP) { "Priority" }
                        th { "Job" } th { "Arguments" } th { "Enqueued" }
                        @if ctx.can(Action::Delete) || ctx.can(Action::Cancel) { th { "Actions" } }
                    } }
                    tbody {
                        @for j in &page.jobs {
                            tr {
                                td.num { (j.job.priority()) }
                                td { (j.job.class) br; small.muted { (j.job.jid) } }
                                td { code { (fmt::args_short(&j.job.args, 120)) } }
                                td { (fmt::epoch(j.job.enqueued_at)) }
                                @if ctx.can(Action::Delete) || ctx.can(Action::Cancel) {
                                    td.actions {
                                        @if ctx.can(Action::Cancel) {
                                            a.button.danger href=(format!("{}?{}", ctx.url("/cancel"), crate::mount::query(&[("jid", &j.job.jid)]))) { "Cancel" } " "
                                        }
                                        @if ctx.can(Action::Delete) {
                                            (post_button(&format!("{base}/delete"), "Delete", "danger", &[("jid", &j.job.jid)]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            (pager(&base, paging, page.total, &[]))
        }
    };
    Ok(chrome(&ctx, Nav::Queues, &title, body))
}

/// `GET /queues/{name}/clear`: how many jobs clearing would remove, and the button.
pub async fn confirm_clear(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> Result<Markup, WebError> {
    let size = st.queue(&name, st.now()).await?.map_or(0, |i| i.size);
    let base = ctx.url(&format!("/queues/{}", mount::seg(&name)));
    let body = html! {
        section.panel.confirm {
            p { "Clearing queue " strong { (name) } " removes " strong #confirm-count { (size) } " jobs. This cannot be undone." }
            @if ctx.can(Action::Delete) {
                form method="post" action=(format!("{base}/clear")) {
                    (hidden("expected", &size.to_string()))
                    button.danger type="submit" { "Remove " (size) " jobs" }
                    " " a href=(base) { "Cancel" }
                }
            } @else { p.muted { "You may not take actions here." } }
        }
    };
    Ok(chrome(&ctx, Nav::Queues, "Clear queue", body))
}

/// `POST /queues/{name}/clear`: remove every job waiting in the queue.
pub async fn clear(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> Result<Redirect, WebError> {
    let permit = ctx.permit(Op::QueueClear)?;
    st.queue_clear(permit, &name).await?;
    Ok(Redirect::to(&ctx.url("/queues")))
}

/// `POST /queues/{name}/pause` with `paused=true|false`.
pub async fn pause(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let paused = parse_bool(Pairs::from_body(&body).get("paused"))?;
    let permit = ctx.permit(pause_op(paused))?;
    st.queue_pause(permit, &name, paused).await?;
    Ok(Redirect::to(&ctx.url("/queues")))
}

/// `POST /queues/{name}/delete` with `jid`: delete jobs from the queue.
pub async fn delete(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let permit = ctx.permit(Op::QueueDelete)?;
    let jids = Pairs::from_body(&body).jids()?;
    if jids.is_empty() {
        return Err(WebError::bad_request("jid is required"));
    }
    st.queue_delete(permit, &name, jids, st.now()).await?;
    Ok(Redirect::to(
        &ctx.url(&format!("/queues/{}", mount::seg(&name))),
    ))
}

/// The operation of pausing (`true`) or resuming (`false`) a queue.
pub(crate) fn pause_op(paused: bool) -> Op {
    if paused {
        Op::QueuePause
    } else {
        Op::QueueResume
    }
}

pub(crate) fn parse_bool(v: Option<&str>) -> Result<bool, WebError> {
    match v {
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        _ => Err(WebError::bad_request("paused must be true or false")),
    }
}
