//! Scheduled, Retries, Dead and Cancelled: page through with a filter, a detail page per job, and
//! actions on one job, a selection, or all matching the filter, each confirmed with the
//! count first (a GET that changes nothing, then a POST that acts).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Redirect;
use axum::Extension;
use chrono::{DateTime, Utc};
use jobs::backend::{JobFilter, Selection, StoredJob};
use maud::{html, Markup};

use super::{SetAction, SetKind};
use crate::layout::{empty, hidden, page as chrome, pager, Nav};
use crate::params::{Paging, Pairs};
use crate::permit::Op;
use crate::redact::Reveal;
use crate::{fmt, mount, AppState, Ctx, ErrorCode, WebError};

fn nav(kind: SetKind) -> Nav {
    match kind {
        SetKind::Scheduled => Nav::Scheduled,
        SetKind::Retries => Nav::Retries,
        SetKind::Dead => Nav::Dead,
        SetKind::Cancelled => Nav::Cancelled,
    }
}

fn when_label(kind: SetKind) -> &'static str {
    match kind {
        SetKind::Scheduled => "Runs",
        SetKind::Retries => "Next retry",
        SetKind::Dead => "Died",
        SetKind::Cancelled => "Cancelled",
    }
}

/// `GET /{set}`: a filtered page of the set.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let kind = SetKind::from_slug(&slug)?;
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let filter = q.filter();
    let now = st.now();
    let page = st.jobs(kind.set(), paging, filter.clone()).await?;
    let base = ctx.url(&format!("/{}", kind.slug()));
    let class = filter.class.clone().unwrap_or_default();
    let text = filter.text.clone().unwrap_or_default();
    let actions = allowed(&ctx, kind);
    let body = html! {
        form.filter method="get" action=(base) {
            label { "Job name " input type="text" name="class" value=(class) placeholder="e.g. SendWelcomeEmail"; }
            label { "Text " input type="search" name="q" value=(text) placeholder="in arguments or error"; }
            button type="submit" { "Filter" }
            @if !filter.is_empty() { " " a href=(base) { "Clear filter" } }
        }
        section.panel {
            @if page.jobs.is_empty() { (empty("No jobs here.")) } @else {
                form #selection method="get" action=(format!("{base}/confirm")) {
                    (hidden("class", &class)) (hidden("q", &text))
                    div.scroll { table {
                        thead { tr {
                            @if !actions.is_empty() { th { input type="checkbox" .select-all aria-label="select all"; } }
                            th { (when_label(kind)) } th { "Job" } th { "Queue" } th { "Arguments" }
                            @if kind != SetKind::Scheduled { th { "Error" } th.num { "Retries" } }
                        } }
                        tbody { @for j in &page.jobs { (row(&ctx, kind, j, now, !actions.is_empty())) } }
                    } }
                    @if !actions.is_empty() {
                        p.actions {
                            "Selected: "
                            @for a in &actions {
                                button type="submit" name="action" value=(a.name()) class=[a.danger().then_some("danger")] { (a.label()) }
                                " "
                            }
                        }
                    }
                }
                @if !actions.is_empty() {
                    form.actions method="get" action=(format!("{base}/confirm")) {
                        (hidden("scope", "all")) (hidden("class", &class)) (hidden("q", &text))
                        @for a in &actions {
                            button type="submit" name="action" value=(a.name()) class=[a.danger().then_some("danger")] { (a.on_count(page.total, !filter.is_empty())) }
                            " "
                        }
                    }
                }
            }
            (pager(&base, paging, page.total, &[("class", &class), ("q", &text)]))
        }
    };
    Ok(chrome(&ctx, nav(kind), kind.title(), body))
}

/// The actions of set `kind` this request may take (the only buttons it sees).
fn allowed(ctx: &Ctx, kind: SetKind) -> Vec<SetAction> {
    kind.actions()
        .iter()
        .copied()
        .filter(|a| ctx.can(Op::Jobs(*a).action()))
        .collect()
}

fn row(ctx: &Ctx, kind: SetKind, j: &StoredJob, now: DateTime<Utc>, selectable: bool) -> Markup {
    let detail = ctx.url(&format!("/{}/{}", kind.slug(), mount::seg(&j.job.jid)));
    let by_class = format!(
        "{}?{}",
        ctx.url(&format!("/{}", kind.slug())),
        mount::query(&[("class", &j.job.class)])
    );
    html! {
        tr {
            @if selectable { td { input type="checkbox" name="jid" value=(j.job.jid) aria-label="select"; } }
            td { a href=(detail) { @if let Some(at) = j.at { (fmt::relative(at, now)) } @else { "–" } } }
            td { a href=(by_class) { (j.job.class) } br; a.muted href=(detail) { small { (j.job.jid) } } }
            td { (j.job.queue) }
            td { code { (fmt::args_short(&j.job.args, 80)) } }
            @if kind != SetKind::Scheduled {
                td { @if let Some(m) = &j.job.error_message {
                    (j.job.error_class.as_deref().unwrap_or("Error")) ": " (cut(m, 120))
                } }
                td.num { (j.job.retry_count.unwrap_or(0)) }
            }
        }
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The selection named by a form or query: `scope=all` with the filter, or `jid`s.
pub(crate) fn selection(p: &Pairs) -> Result<Selection, WebError> {
    if p.get("scope") == Some("all") {
        return Ok(Selection::Matching(p.filter()));
    }
    let jids = p.jids()?;
    if jids.is_empty() {
        return Err(WebError::bad_request("select at least one job"));
    }
    Ok(Selection::Jids(jids))
}

fn describe(sel: &Selection) -> String {
    match sel {
        Selection::Matching(JobFilter { class, text, .. }) => {
            let mut s = "all jobs".to_owned();
            if let Some(c) = class {
                s.push_str(&format!(" named {c}"));
            }
            if let Some(t) = text {
                s.push_str(&format!(" containing “{t}”"));
            }
            s
        }
        _ => "the selected jobs".to_owned(),
    }
}

/// `GET /{set}/confirm?action=…&jid=…` or `…&scope=all&class=…&q=…`: states the count.
pub async fn confirm(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let kind = SetKind::from_slug(&slug)?;
    let q = Pairs::parse(raw.as_deref());
    let action = kind.action(q.get("action").unwrap_or(""))?;
    let sel = selection(&q)?;
    let n = st.count(kind, &sel).await?;
    let base = ctx.url(&format!("/{}", kind.slug()));
    let body = html! {
        section.panel.confirm {
            p {
                (action.label()) ": " strong #confirm-count { (n) } " " @if n == 1 { "job" } @else { "jobs" }
                " of " (kind.title()) " (" (describe(&sel)) ")."
                @if action.danger() { " This cannot be undone." }
            }
            @if n > 0 && ctx.can(Op::Jobs(action).action()) {
                form method="post" action=(format!("{base}/action")) {
                    (hidden("action", action.name())) (hidden("expected", &n.to_string()))
                    @match &sel {
                        Selection::Matching(f) => {
                            (hidden("scope", "all"))
                            (hidden("class", f.class.as_deref().unwrap_or("")))
                            (hidden("q", f.text.as_deref().unwrap_or("")))
                        }
                        Selection::Jids(jids) => { @for j in jids { (hidden("jid", j)) } }
                        _ => {}
                    }
                    button type="submit" class=[action.danger().then_some("danger")] { (action.verb()) " " (n) @if n == 1 { " job" } @else { " jobs" } }
                    " " a href=(base) { "Cancel" }
                }
            } @else if n == 0 { p.muted { "Nothing to do. " a href=(base) { "Back" } } }
            @else { p.muted { "You may not take this action." } }
        }
    };
    Ok(chrome(&ctx, nav(kind), "Confirm", body))
}

/// `POST /{set}/action`: apply the confirmed action. With `scope=all`, refuses (409) when
/// more jobs match now than the confirmation stated.
pub async fn act(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let kind = SetKind::from_slug(&slug)?;
    let form = Pairs::from_body(&body);
    let action = kind.action(form.get("action").unwrap_or(""))?;
    let permit = ctx.permit(Op::Jobs(action))?;
    let sel = selection(&form)?;
    if let (Selection::Matching(_), Some(expected)) = (&sel, form.get("expected")) {
        let expected: u64 = expected
            .parse()
            .map_err(|_| WebError::bad_request("expected must be a whole number"))?;
        let matching = st.count(kind, &sel).await?;
        if matching > expected {
            return Err(WebError::new(
                ErrorCode::Conflict,
                format!("{matching} jobs match now, not {expected}: confirm again"),
            ));
        }
    }
    let keep = match &sel {
        Selection::Matching(f) => mount::query(&[
            ("class", f.class.as_deref().unwrap_or("")),
            ("q", f.text.as_deref().unwrap_or("")),
        ]),
        _ => String::new(),
    };
    st.apply(permit, kind, action, sel, st.now()).await?;
    let back = ctx.url(&format!("/{}", kind.slug()));
    Ok(Redirect::to(&if keep.is_empty() {
        back
    } else {
        format!("{back}?{keep}")
    }))
}

/// `GET /{set}/{jid}`: one job in full; `?reveal=1` shows arguments the dashboard hides,
/// to a role granted [`crate::Action::RevealArgs`] (see `redact`).
pub async fn detail(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((slug, jid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let kind = SetKind::from_slug(&slug)?;
    let now = st.now();
    let reveal = Reveal::asked(&ctx, &Pairs::parse(raw.as_deref()));
    let j = st.job(kind, &jid, reveal).await?;
    let job = &j.job;
    let base = ctx.url(&format!("/{}", kind.slug()));
    let here = format!("{base}/{}", mount::seg(&job.jid));
    let offer_reveal =
        st.hides_args() && ctx.can(crate::Action::RevealArgs) && !job.args.is_empty();
    let extra = serde_json::Value::Object(job.extra.clone());
    let actions = allowed(&ctx, kind);
    let body = html! {
        p.muted { a href=(base) { "← " (kind.title()) } }
        @if !actions.is_empty() {
            form.actions method="get" action=(format!("{base}/confirm")) {
                (hidden("jid", &job.jid))
                @for a in &actions {
                    button type="submit" name="action" value=(a.name()) class=[a.danger().then_some("danger")] { (a.label()) } " "
                }
            }
        }
        section.panel {
            dl.facts {
                dt { "Job" } dd { (job.class) }
                dt { "Job id" } dd { code { (job.jid) } }
                dt { "Queue" } dd { (job.queue) }
                dt { "Priority" } dd title=(super::queues::PRIORITY_HELP) { (job.priority()) }
                dt { (when_label(kind)) } dd { @if let Some(at) = j.at { (fmt::time(at)) " (" (fmt::relative(at, now)) ")" } @else { "–" } }
                dt { "Attempts" } dd { (job.retry_count.map_or(0, |c| c + 1)) }
                dt { "Created" } dd { (fmt::epoch(Some(job.created_at))) }
                dt { "Enqueued" } dd { (fmt::epoch(job.enqueued_at)) }
                dt { "Failed at" } dd { (fmt::epoch(job.failed_at)) }
                dt { "Retried at" } dd { (fmt::epoch(job.retried_at)) }
                dt { "Error" } dd { (job.error_class.as_deref().unwrap_or("–")) }
            }
            h2 { "Arguments" }
            pre { (fmt::pretty(&serde_json::Value::Array(job.args.clone()))) }
            @if offer_reveal && reveal.is_none() {
                p { a href=(format!("{here}?reveal=1")) { "Reveal arguments" } }
            } @else if reveal.is_some() {
                p.muted { "Shown on request. Arguments the job declares secret stay hidden. " a href=(here) { "Hide" } }
            }
            @if let Some(m) = &job.error_message { h2 { "Error message" } pre { (m) } }
            @if let Some(bt) = job.error_backtrace.as_ref().filter(|bt| fmt::has_backtrace(bt)) { h2 { "Backtrace" } pre { (fmt::backtrace(bt)) } }
            @if !job.extra.is_empty() { h2 { "Other fields" } pre { (fmt::pretty(&extra)) } }
        }
    };
    Ok(chrome(
        &ctx,
        nav(kind),
        &format!("{} job", kind.title()),
        body,
    ))
}
