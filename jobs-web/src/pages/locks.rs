//! Locks: the unique locks held (key, holding job, until when, when each lapses) page by
//! page, where the holding job is, and releasing a lock after a confirmation (the job stays
//! as it is; another job with the same key may then be pushed).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Redirect;
use axum::Extension;
use chrono::{DateTime, Utc};
use jobs::backend::UniqueHeld;
use jobs::envelope::flow::UniqueUntil;
use maud::{html, Markup};

use crate::data::Place;
use crate::layout::{confirm_form, listing, page as chrome, pager_more, Nav};
use crate::params::{Paging, Pairs};
use crate::permit::Op;
use crate::{fmt, mount, Action, AppState, Ctx, ErrorCode, WebError};

/// How many characters of a key a listing shows (the whole key is its title).
const SHORT_KEY: usize = 12;

/// The start of a key, with `…` when cut.
pub(crate) fn short_key(key: &str) -> String {
    if key.chars().count() > SHORT_KEY {
        format!("{}…", key.chars().take(SHORT_KEY).collect::<String>())
    } else {
        key.to_owned()
    }
}

/// Until when a lock is held, as a word, and what that means.
fn until(u: UniqueUntil) -> (&'static str, &'static str) {
    match u {
        UniqueUntil::Start => ("start", "released when a worker takes the job"),
        UniqueUntil::Success => (
            "success",
            "released when the job ends for good: it succeeds, is discarded, dies, expires or is deleted",
        ),
        _ => ("other", "released as its backend decides"),
    }
}

/// Where the page finding the holding job `jid` of `queue` is.
fn holder_url(ctx: &Ctx, jid: &str, queue: &str) -> String {
    format!(
        "{}?{}",
        ctx.url("/locks/holder"),
        mount::query(&[("jid", jid), ("queue", queue)])
    )
}

fn release_url(ctx: &Ctx, key: &str) -> String {
    ctx.url(&format!("/locks/{}/release", mount::seg(key)))
}

/// `GET /locks`: the locks held now, soonest to lapse first, page by page.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let released: Option<String> = q.get("released").map(|k| k.chars().take(200).collect());
    let now = st.now();
    let locks = st.locks(now, paging).await?;
    let base = ctx.url("/locks");
    let body = html! {
        @if let Some(key) = &released {
            p.notice role="status" {
                "Released lock " code title=(key) { (short_key(key)) }
                ". The job that held it stays as it was; another job with its key can be pushed now."
            }
        }
        p.muted {
            "A unique job holds its lock while it waits (until start) or until it ends for good "
            "(until success); meanwhile no other job with the same key is stored. Every lock "
            "lapses at its time, whatever became of its job."
        }
        section.panel {
            (listing(&locks, ("This backend keeps no unique locks.", "No unique locks held."), |held| html! {
                    div.scroll { table #locks {
                        thead { tr {
                            th { "Key" } th { "Job" } th { "Queue" }
                            th title="start: while the job waits; success: until it ends for good" { "Held until" }
                            th { "Lapses" }
                            @if ctx.can(Action::Release) { th { "Actions" } }
                        } }
                        tbody { @for h in held { (row(&ctx, h, now)) } }
                    } }
            }, |more| pager_more(&base, paging, more)))
        }
    };
    Ok(chrome(&ctx, Nav::Locks, "Locks", body))
}

fn row(ctx: &Ctx, h: &UniqueHeld, now: DateTime<Utc>) -> Markup {
    let (word, meaning) = until(h.until);
    html! {
        tr {
            td { code title=(h.key) { (short_key(&h.key)) } }
            td { (h.class) br; a.muted href=(holder_url(ctx, &h.jid, &h.queue)) title="where the job is" { small { (h.jid) } } }
            td { a href=(ctx.url(&format!("/queues/{}", mount::seg(&h.queue)))) { (h.queue) } }
            td { span title=(meaning) { (word) } }
            td { (fmt::relative(h.expires_at, now)) br; small.muted { (fmt::time(h.expires_at)) } }
            @if ctx.can(Action::Release) {
                td.actions { a.button.danger href=(release_url(ctx, &h.key)) { "Release…" } }
            }
        }
    }
}

/// `GET /locks/{key}/release`: the lock in full, what releasing it does, and the button.
pub async fn confirm(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
) -> Result<Markup, WebError> {
    let now = st.now();
    let h = st.lock(&key, now).await?;
    let (word, meaning) = until(h.until);
    let base = ctx.url("/locks");
    let body = html! {
        section.panel.confirm {
            p {
                "Releasing this lock lets another " strong { (h.class) } " job with the same key be "
                "pushed. The job that holds it stays as it is."
            }
            dl.facts {
                dt { "Key" } dd { code #confirm-key { (h.key) } }
                dt { "Job" } dd { (h.class) }
                dt { "Job id" } dd { a href=(holder_url(&ctx, &h.jid, &h.queue)) { code { (h.jid) } } }
                dt { "Queue" } dd { (h.queue) }
                dt { "Held until" } dd { (word) " (" (meaning) ")" }
                dt { "Lapses" } dd { (fmt::time(h.expires_at)) " (" (fmt::relative(h.expires_at, now)) ")" }
            }
            (confirm_form(ctx.can(Action::Release), &release_url(&ctx, &h.key), &[("jid", &h.jid)], "Release lock", &base))
        }
    };
    Ok(chrome(&ctx, Nav::Locks, "Release lock", body))
}

/// `POST /locks/{key}/release`, with the `jid` the confirmation showed: release the lock.
/// Refused (409) when another job holds it now; 404 when none does.
pub async fn release(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let permit = ctx.permit(Op::LockRelease)?;
    let form = Pairs::from_body(&body);
    if let Some(jid) = form.get("jid") {
        if st.lock(&key, st.now()).await?.jid != jid {
            return Err(WebError::new(
                ErrorCode::Conflict,
                "another job holds this lock now: confirm again",
            ));
        }
    }
    st.lock_release(permit, &key).await?;
    Ok(Redirect::to(&format!(
        "{}?{}",
        ctx.url("/locks"),
        mount::query(&[("released", &key)])
    )))
}

/// `GET /locks/holder?jid=…&queue=…`: sends the browser to where the job is now (its
/// queue, its page in a set, or Busy); 404 when it is nowhere to be seen.
pub async fn holder(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Redirect, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let jid = q
        .get("jid")
        .ok_or_else(|| WebError::bad_request("jid is required"))?;
    let queue = q
        .get("queue")
        .ok_or_else(|| WebError::bad_request("queue is required"))?;
    let to = match st.locate(jid, queue).await? {
        Place::Queue(name) => format!("/queues/{}", mount::seg(&name)),
        Place::Set(kind) => format!("/{}/{}", kind.slug(), mount::seg(jid)),
        Place::Running => "/busy".to_owned(),
    };
    Ok(Redirect::to(&ctx.url(&to)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_cut_to_twelve_characters() {
        assert_eq!(short_key("0123456789abcdef"), "0123456789ab…");
        assert_eq!(short_key("short"), "short");
    }
}
