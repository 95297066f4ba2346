//! The job status page, `GET /jobs/{jid}`: where a job is, its progress while it runs, and
//! its result while kept (redacted as arguments are; `?reveal=1` for a role granted
//! [`crate::Action::RevealArgs`] under `hide_args`).

use axum::extract::{Path, RawQuery, State};
use axum::Extension;
use jobs::backend::JobStatus;
use maud::{html, Markup};

use crate::job_status::bar;
use crate::layout::{page as chrome, Nav};
use crate::params::Pairs;
use crate::redact::Reveal;
use crate::{fmt, mount, AppState, Ctx, WebError};

/// `GET /jobs/{jid}`.
pub async fn page(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(jid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let now = st.now();
    let reveal = Reveal::asked(&ctx, &Pairs::parse(raw.as_deref()));
    let r = st.job_report(&jid, reveal).await?;
    let here = ctx.url(&format!("/jobs/{}", mount::seg(&jid)));
    let body = html! {
        section.panel {
            dl.facts {
                dt { "Job id" } dd { code { (r.jid) } }
                dt { "Status" } dd { span.badge { (r.status.name()) } }
                @match &r.status {
                    JobStatus::Waiting { queue } => { dt { "Queue" } dd { (queue) } }
                    JobStatus::Scheduled { at } => { dt { "Runs" } dd { (fmt::time(*at)) " (" (fmt::relative(*at, now)) ")" } }
                    JobStatus::Retry { at, error } => {
                        dt { "Retries" } dd { (fmt::time(*at)) " (" (fmt::relative(*at, now)) ")" }
                        dt { "Error" } dd { (error.as_deref().unwrap_or("–")) }
                    }
                    JobStatus::Dead { error } => { dt { "Error" } dd { (error.as_deref().unwrap_or("–")) } }
                    JobStatus::Running { progress } => {
                        dt { "Progress" } dd { @if let Some(p) = progress { (bar(p)) " " small.muted { "reported " (fmt::relative(p.updated_at, now)) } } @else { "–" } }
                    }
                    _ => {}
                }
                @if let Some(at) = r.finished_at { dt { "Finished" } dd { (fmt::time(at)) } }
                @if let Some(at) = r.result_expires_at { dt { "Result kept until" } dd { (fmt::time(at)) } }
            }
            @if let JobStatus::Running { progress: Some(p) } = &r.status {
                @if let Some(data) = &p.data { h2 { "Progress data" } pre { (fmt::pretty(data)) } }
            }
            @if let Some(v) = &r.result {
                h2 { "Result" }
                pre { (fmt::pretty(v)) }
                @if r.result_masked && st.hides_args() && ctx.can(crate::Action::RevealArgs) && reveal.is_none() {
                    p { a href=(format!("{here}?reveal=1")) { "Reveal result" } }
                }
            }
            @if matches!(r.status, JobStatus::Unknown) && r.result.is_none() {
                p.muted { "No such job is known: it finished without a result to keep, its result expired, or it was never pushed." }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Busy, "Job", body))
}
