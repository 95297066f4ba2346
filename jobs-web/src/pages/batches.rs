//! Batches: every batch with its progress (newest first), one batch with its counts,
//! progress bar, callbacks' state, children and failed members (linked to their pages),
//! and "retry all failed", which puts its members in retry or dead back on their queues.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Redirect;
use axum::Extension;
use chrono::{DateTime, Utc};
use jobs::backend::{BatchStatus, JobActionParams, JobSet};
use jobs::batch::BatchEvent;
use jobs::envelope::from_epoch;
use maud::{html, Markup};

use crate::layout::{confirm_form, empty, listing, page as chrome, pager_more, Nav};
use crate::params::{Paging, Pairs};
use crate::permit::{Op, Permit};
use crate::{fmt, mount, Action, AppState, Ctx, WebError};

impl AppState {
    /// A page of batches, newest first, and whether more follow; `None` when the backend
    /// keeps none.
    async fn batches(&self, paging: Paging) -> Result<Option<(Vec<BatchStatus>, bool)>, WebError> {
        let Some(store) = self.backend.batches() else {
            return Ok(None);
        };
        let per = paging.per_page.max(1) as usize;
        let offset = (paging.page.max(1) as usize - 1) * per;
        let mut list = store.batch_list(offset, per + 1).await?;
        let more = list.len() > per;
        list.truncate(per);
        Ok(Some((list, more)))
    }

    /// Batch `bid`; 404 when there is none.
    async fn batch(&self, bid: &str) -> Result<BatchStatus, WebError> {
        let store = self
            .backend
            .batches()
            .ok_or_else(|| WebError::not_found("this backend keeps no batches"))?;
        store
            .batch_status(bid)
            .await?
            .ok_or_else(|| WebError::not_found("no such batch (never created, or expired)"))
    }

    /// Puts batch `bid`'s members in retry or dead back on their queues now; returns how
    /// many moved.
    async fn batch_retry(&self, permit: Permit, bid: &str) -> Result<u64, WebError> {
        let status = self.batch(bid).await?;
        let now = self.now();
        let mut moved = 0;
        for set in [JobSet::Retry, JobSet::Dead] {
            let params = JobActionParams::jids(set, status.failed_jids.clone(), now);
            moved += self.backend.job_enqueue_now(params).await?;
        }
        self.audit(permit, format!("batch {bid}: failed members"), moved);
        Ok(moved)
    }
}

fn batch_url(ctx: &Ctx, bid: &str) -> String {
    ctx.url(&format!("/batches/{}", mount::seg(bid)))
}

fn at(t: Option<f64>, now: DateTime<Utc>) -> Markup {
    match t {
        Some(t) => html! { (fmt::relative(from_epoch(t), now)) },
        None => html! { span.muted { "—" } },
    }
}

/// The progress bar: members that ran at least once, of all.
fn progress(s: &BatchStatus) -> Markup {
    let total = s.total();
    let done = total - s.counts.pending;
    html! {
        progress max=(total.max(1)) value=(done) title=(format!("{done} of {total} ran")) { (done) "/" (total) }
        " " small.muted { (done) " / " (total) }
    }
}

/// Whether a callback fired, was cancelled, or why it still waits.
fn callback_state(s: &BatchStatus, event: BatchEvent, now: DateTime<Utc>) -> Markup {
    let cancelled =
        event == BatchEvent::Success && s.info.cancel_on_death && s.has_fired(BatchEvent::Death);
    let pending = s.counts.pending;
    let failing = s.counts.failed + s.counts.dead;
    html! {
        @if cancelled {
            span.cancelled { "cancelled: a member died" }
        } @else if s.has_fired(event) {
            "fired " (at(s.fired.get(event), now))
        } @else if !s.sealed {
            span.muted { "waiting: the batch is still open" }
        } @else if event == BatchEvent::Death {
            span.muted { "not yet: no member died" }
        } @else if pending > 0 {
            span.muted { "waiting for " (pending) " pending members" }
        } @else {
            span.muted { "waiting for " (failing) " failed members to succeed" }
        }
    }
}

fn state(s: &BatchStatus) -> &'static str {
    if s.is_finished() {
        "succeeded"
    } else if s.has_fired(BatchEvent::Complete) {
        "complete, with failures"
    } else if !s.sealed {
        "open"
    } else {
        "running"
    }
}

/// `GET /batches`: every batch, newest first, page by page.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let now = st.now();
    let batches = st.batches(paging).await?;
    let base = ctx.url("/batches");
    let body = html! {
        p.muted {
            "A batch tracks its member jobs by id; its callbacks (complete: every member ran; "
            "success: every member succeeded; death: a member died) are enqueued once each."
        }
        section.panel {
            (listing(&batches, ("This backend keeps no batches.", "No batches."), |list| html! {
                    div.scroll { table #batches {
                        thead { tr {
                            th { "Batch" } th { "Progress" } th { "Pending" } th { "Succeeded" }
                            th { "Failed" } th { "Dead" } th { "State" } th { "Created" }
                        } }
                        tbody { @for s in list {
                            tr {
                                td { a href=(batch_url(&ctx, &s.info.bid)) { (if s.info.description.is_empty() { s.info.bid.as_str() } else { s.info.description.as_str() }) }
                                    br; small.muted { (s.info.bid) } }
                                td { (progress(s)) }
                                td { (s.counts.pending) } td { (s.counts.succeeded) }
                                td { (s.counts.failed) } td { (s.counts.dead) }
                                td { (state(s)) }
                                td { (at(Some(s.info.created_at), now)) }
                            }
                        } }
                    } }
            }, |more| pager_more(&base, paging, more)))
        }
    };
    Ok(chrome(&ctx, Nav::Batches, "Batches", body))
}

/// `GET /batches/{bid}`: one batch in full, with "retry all failed" when it has any.
pub async fn detail(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(bid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let retried = q.get("retried");
    let s = st.batch(&bid).await?;
    let now = st.now();
    let retry_url = format!("{}/retry", batch_url(&ctx, &bid));
    let body = html! {
        @if let Some(n) = retried {
            p.notice role="status" { "Put " (n) " failed members back on their queues." }
        }
        section.panel {
            dl.facts {
                dt { "Batch" } dd { code #batch-id { (s.info.bid) } }
                dt { "Description" } dd { (s.info.description) }
                dt { "Progress" } dd { (progress(&s)) }
                dt { "Total" } dd #batch-total { (s.total()) }
                dt { "Pending" } dd { (s.counts.pending) }
                dt { "Succeeded" } dd { (s.counts.succeeded) }
                dt { "Failed (in retry)" } dd { (s.counts.failed) }
                dt { "Dead" } dd { (s.counts.dead) }
                dt { "State" } dd { (state(&s)) @if !s.sealed { " (members may still be added)" } }
                dt { "Created" } dd { (fmt::time(from_epoch(s.info.created_at))) }
                dt { "Finished" } dd { (at(s.fired.success, now)) }
                dt { "Expires" } dd { (fmt::time(from_epoch(s.info.expires_at))) }
                @if let Some(parent) = &s.info.parent {
                    dt { "Parent" } dd { a href=(batch_url(&ctx, parent)) { code { (parent) } } }
                }
            }
        }
        section.panel {
            h2 { "Callbacks" }
            table #callbacks {
                thead { tr { th { "Event" } th { "Job" } th { "Fired" } } }
                tbody { @for cb in &s.info.callbacks {
                    tr {
                        td { (cb.event.as_str()) }
                        td { (cb.job.class) br; small.muted { (cb.job.jid) } }
                        td { (callback_state(&s, cb.event, now)) }
                    }
                } }
            }
        }
        @if !s.children.is_empty() {
            section.panel {
                h2 { "Child batches" }
                ul { @for c in &s.children { li { a href=(batch_url(&ctx, c)) { code { (c) } } } } }
            }
        }
        section.panel {
            h2 { "Failed members" }
            @if s.failed_jids.is_empty() {
                (empty("No member is in retry or dead."))
            } @else {
                ul #failed-members { @for jid in &s.failed_jids {
                    li {
                        a href=(ctx.url(&format!("/retries/{}", mount::seg(jid)))) { code { (jid) } }
                        " " a.muted href=(ctx.url(&format!("/dead/{}", mount::seg(jid)))) { small { "(if dead)" } }
                    }
                } }
                (confirm_form(ctx.can(Action::BatchRetry), &retry_url, &[], "Retry all failed", &batch_url(&ctx, &bid)))
            }
        }
    };
    Ok(chrome(&ctx, Nav::Batches, "Batch", body))
}

/// `POST /batches/{bid}/retry`: put every member in retry or dead back on its queue now.
pub async fn retry(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(bid): Path<String>,
    _body: Bytes,
) -> Result<Redirect, WebError> {
    let permit = ctx.permit(Op::BatchRetry)?;
    let n = st.batch_retry(permit, &bid).await?;
    Ok(Redirect::to(&format!(
        "{}?{}",
        batch_url(&ctx, &bid),
        mount::query(&[("retried", &n.to_string())])
    )))
}
