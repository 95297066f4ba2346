//! Limits: every concurrency key with slots taken or jobs waiting (in use / limit, waiting)
//! and every rate key with starts in its window (starts / limit per window, when a full
//! window frees), page by page; and, per concurrency key, the jobs waiting aside for a slot,
//! each of which an operator may delete after a confirmation.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Redirect;
use axum::Extension;
use chrono::{DateTime, Utc};
use jobs::backend::{LimitKind, LimitUsage};
use maud::{html, Markup};

use crate::layout::{confirm_form, listing, page as chrome, pager_more, pager_more_keeping, Nav};
use crate::params::{Paging, Pairs};
use crate::permit::Op;
use crate::{fmt, mount, Action, AppState, Ctx, ErrorCode, WebError};

/// How many characters of a waiting job's arguments the listing shows.
const ARGS: usize = 120;

/// How full a limit is, in percent (for the bar), at most 100.
fn fill(u: &LimitUsage) -> u64 {
    (u.in_use.saturating_mul(100) / u64::from(u.limit.max(1))).min(100)
}

/// `GET /limits`: the limits in use now.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let now = st.now();
    let limits = st.limits(now, paging).await?;
    let base = ctx.url("/limits");
    let body = html! {
        p.muted {
            "A concurrency limit lets at most so many jobs of a key run at once: a job over it "
            "waits aside, counts no attempt, and comes back when a slot frees. A rate limit lets "
            "at most so many start per window: a job over it waits in the scheduled set until a "
            "start frees."
        }
        section.panel {
            (listing(&limits, ("This backend keeps no limits.", "No limit in use."), |used| html! {
                    div.scroll { table #limits {
                        thead { tr {
                            th { "Kind" } th { "Key" } th { "In use" }
                            th title="concurrency: jobs waiting aside for a slot" { "Waiting" }
                            th title="rate: when the oldest start leaves a full window" { "Frees" }
                        } }
                        tbody { @for u in used { (row(&ctx, u, now)) } }
                    } }
            }, |more| pager_more(&base, paging, more)))
        }
    };
    Ok(chrome(&ctx, Nav::Limits, "Limits", body))
}

/// The URL of the jobs waiting for a slot of `key`.
fn waiting_url(ctx: &Ctx, key: &str) -> String {
    format!(
        "{}?{}",
        ctx.url("/limits/waiting"),
        mount::query(&[("key", key)])
    )
}

fn row(ctx: &Ctx, u: &LimitUsage, now: DateTime<Utc>) -> Markup {
    let kind = match u.kind {
        LimitKind::Concurrency => "concurrency".to_owned(),
        LimitKind::Rate { per } => format!("rate per {}", fmt::dur(per)),
        _ => "other".to_owned(),
    };
    html! {
        tr {
            td { (kind) }
            td { code { (u.key) } }
            td {
                (u.in_use) " / " (u.limit)
                br; meter min="0" max="100" value=(fill(u)) title=(format!("{}% used", fill(u))) {}
            }
            td {
                @if !matches!(u.kind, LimitKind::Concurrency) { span.muted { "–" } }
                @else if u.waiting == 0 { (u.waiting) }
                @else { a href=(waiting_url(ctx, &u.key)) title="the jobs waiting aside" { (u.waiting) } }
            }
            td {
                @match u.frees_at {
                    Some(at) => { (fmt::relative(at, now)) br; small.muted { (fmt::time(at)) } }
                    None => span.muted { "–" },
                }
            }
        }
    }
}

/// `GET /limits/waiting?key=`: the jobs moved aside waiting for a slot of a concurrency key,
/// oldest first (the next to come back first), page by page. They are in no queue until a
/// slot frees, so this is where they show.
pub async fn waiting(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let key = match q.get("key") {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => {
            return Err(WebError::bad_request(
                "key: the concurrency key is required",
            ))
        }
    };
    let found = st.limit_waiting(&key, paging).await?;
    let deleted: Option<String> = q.get("deleted").map(|j| j.chars().take(64).collect());
    let base = ctx.url("/limits/waiting");
    let body = html! {
        @if let Some(jid) = &deleted {
            p.notice role="status" { "Deleted job " code { (jid) } "." }
        }
        p.muted {
            "Jobs of concurrency key " code { (key) } " moved aside while its slots were all "
            "taken, oldest first. Each freed slot brings the first of them back to the head "
            "of its queue; none counted an attempt."
        }
        p { a href=(ctx.url("/limits")) { "← All limits" } }
        section.panel {
            (listing(&found, ("This backend keeps no limits.", "No job waits for a slot of this key."), |jobs| html! {
                    div.scroll { table #waiting {
                        thead { tr {
                            th { "Job" } th { "Class" } th { "Arguments" } th { "Queue" }
                            @if ctx.can(Action::Release) { th { "Actions" } }
                        } }
                        tbody { @for j in jobs {
                            tr {
                                td { code { (j.jid) } }
                                td { (j.class) }
                                td { code { (fmt::args_short(&j.args, ARGS)) } }
                                td { (j.queue) }
                                @if ctx.can(Action::Release) {
                                    td.actions {
                                        a.button.danger href=(confirm_url(&ctx, &key, &j.jid)) { "Delete…" }
                                    }
                                }
                            }
                        } }
                    } }
            }, |more| pager_more_keeping(&base, paging, more, &[("key", &key)])))
        }
    };
    Ok(chrome(&ctx, Nav::Limits, "Waiting for a slot", body))
}

/// The confirmation page of deleting job `jid` waiting for a slot of `key`.
fn confirm_url(ctx: &Ctx, key: &str, jid: &str) -> String {
    format!(
        "{}?{}",
        ctx.url("/limits/waiting/confirm"),
        mount::query(&[("key", key), ("jid", jid)])
    )
}

/// The `key` and `jid` of a request; a 400 naming the one missing.
fn key_and_jid(q: &Pairs) -> Result<(String, String), WebError> {
    let get = |name: &str| match q.get(name) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(WebError::bad_request(format!("{name} is required"))),
    };
    Ok((get("key")?, get("jid")?))
}

/// `GET /limits/waiting/confirm?key=&jid=`: the job in full, what deleting it does, and the
/// button; 404 when it no longer waits for a slot of that key.
pub async fn confirm(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let (key, jid) = key_and_jid(&Pairs::parse(raw.as_deref()))?;
    let job = st.limit_waiting_job(&key, &jid).await?;
    let back = waiting_url(&ctx, &key);
    let body = html! {
        section.panel.confirm {
            p {
                "Deleting this job removes it for good: it will not run, and its unique lock, if "
                "it holds one, is released. The jobs running and the others waiting for the key "
                "stay as they are."
            }
            dl.facts {
                dt { "Concurrency key" } dd { code { (key) } }
                dt { "Job" } dd { (job.class) }
                dt { "Job id" } dd { code #confirm-jid { (job.jid) } }
                dt { "Queue" } dd { (job.queue) }
                dt { "Arguments" } dd { code { (fmt::args_short(&job.args, ARGS)) } }
            }
            (confirm_form(
                ctx.can(Action::Release),
                &ctx.url("/limits/waiting/delete"),
                &[("key", &key), ("jid", &job.jid)],
                "Delete job",
                &back,
            ))
        }
    };
    Ok(chrome(&ctx, Nav::Limits, "Delete a waiting job", body))
}

/// `POST /limits/waiting/delete` (`key`, `jid`): deletes the job if it still waits for a
/// slot of the key (409 when it does not: it was brought back, ran, or is gone).
pub async fn delete(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let permit = ctx.permit(Op::WaitingDelete)?;
    let (key, jid) = key_and_jid(&Pairs::from_body(&body))?;
    if st
        .limit_waiting_delete(permit, &key, vec![jid.clone()])
        .await?
        == 0
    {
        return Err(WebError::new(
            ErrorCode::Conflict,
            "this job no longer waits for a slot of this key: it was brought back, ran, or is gone",
        ));
    }
    Ok(Redirect::to(&format!(
        "{}?{}",
        ctx.url("/limits/waiting"),
        mount::query(&[("key", &key), ("deleted", &jid)])
    )))
}
