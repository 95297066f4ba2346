//! The page chrome: head with the hashed assets, the navigation, and shared pieces (the
//! pager, the filter form, the set names). Everything goes through maud, which escapes
//! every value it is given; nothing here writes raw HTML from data.

use maud::{html, Markup, DOCTYPE};

use crate::assets::hashed;
use crate::mount::query;
use crate::params::Paging;
use crate::Ctx;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Dashboard,
    Busy,
    Queues,
    Scheduled,
    Retries,
    Dead,
    Cancelled,
    Locks,
    Limits,
    Recurring,
    Metrics,
    Actions,
    Batches,
}

/// A whole page: `title`, the navigation with `nav` current, and `body`.
pub(crate) fn page(ctx: &Ctx, nav: Nav, title: &str, body: Markup) -> Markup {
    let links = [
        (Nav::Dashboard, ctx.home(), "Dashboard"),
        (Nav::Busy, ctx.url("/busy"), "Busy"),
        (Nav::Queues, ctx.url("/queues"), "Queues"),
        (Nav::Scheduled, ctx.url("/scheduled"), "Scheduled"),
        (Nav::Retries, ctx.url("/retries"), "Retries"),
        (Nav::Dead, ctx.url("/dead"), "Dead"),
        (Nav::Cancelled, ctx.url("/cancelled"), "Cancelled"),
        (Nav::Locks, ctx.url("/locks"), "Locks"),
        (Nav::Limits, ctx.url("/limits"), "Limits"),
        (Nav::Recurring, ctx.url("/recurring"), "Recurring"),
        (Nav::Metrics, ctx.url("/metrics"), "Metrics"),
        (Nav::Actions, ctx.url("/actions"), "Actions"),
        (Nav::Batches, ctx.url("/batches"), "Batches"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · jobs" }
                link rel="stylesheet" href=(ctx.url(&format!("/assets/{}", hashed("style.css"))));
                link rel="icon" href=(ctx.url(&format!("/assets/{}", hashed("icon.svg")))) type="image/svg+xml";
                script src=(ctx.url(&format!("/assets/{}", hashed("app.js")))) defer {}
            }
            body {
                header.top {
                    a.brand href=(ctx.home()) {
                        img src=(ctx.url(&format!("/assets/{}", hashed("icon.svg")))) alt="" width="24" height="24";
                        span { "jobs" }
                    }
                    nav {
                        @for (n, href, label) in &links {
                            a href=(href) class=[(*n == nav).then_some("current")] { (label) }
                        }
                    }
                    @if ctx.read_only { span.badge { "read-only" } }
                }
                main { h1 { (title) } (body) }
                footer { "jobs dashboard" }
            }
        }
    }
}

/// Previous / next links for a listing with `total` rows; `keep` are the other query pairs.
pub(crate) fn pager(url: &str, paging: Paging, total: u64, keep: &[(&str, &str)]) -> Markup {
    let pages = paging.pages(total);
    let link = |page: u64| {
        let p = page.to_string();
        let n = paging.per_page.to_string();
        let mut pairs: Vec<(&str, &str)> = keep.to_vec();
        pairs.push(("page", &p));
        pairs.push(("per_page", &n));
        format!("{url}?{}", query(&pairs))
    };
    html! {
        nav.pager aria-label="pages" {
            @if paging.page > 1 { a href=(link(paging.page - 1)) rel="prev" { "← Previous" } }
            span { "Page " (paging.page.min(pages)) " of " (pages) " · " (total) " jobs" }
            @if paging.page < pages { a href=(link(paging.page + 1)) rel="next" { "Next →" } }
        }
    }
}

/// Previous / next links for a listing whose total is not known: `more` says whether a
/// next page has rows.
pub(crate) fn pager_more(url: &str, paging: Paging, more: bool) -> Markup {
    pager_more_keeping(url, paging, more, &[])
}

/// [`pager_more`] whose links keep the query pairs `keep` (a listing's own parameters).
pub(crate) fn pager_more_keeping(
    url: &str,
    paging: Paging,
    more: bool,
    keep: &[(&str, &str)],
) -> Markup {
    let link = |page: u64| {
        let p = page.to_string();
        let n = paging.per_page.to_string();
        let mut pairs: Vec<(&str, &str)> = keep.to_vec();
        pairs.push(("page", &p));
        pairs.push(("per_page", &n));
        format!("{url}?{}", query(&pairs))
    };
    html! {
        nav.pager aria-label="pages" {
            @if paging.page > 1 { a href=(link(paging.page - 1)) rel="prev" { "← Previous" } }
            span { "Page " (paging.page) }
            @if more { a href=(link(paging.page + 1)) rel="next" { "Next →" } }
        }
    }
}

/// A hidden input.
pub(crate) fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// The end of a confirmation page: the fields posted to `action` by a danger button
/// `label`, and a way `back`; when the request is not `allowed` to, a line saying so
/// instead.
pub(crate) fn confirm_form(
    allowed: bool,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    back: &str,
) -> Markup {
    html! {
        @if allowed {
            form method="post" action=(action) {
                @for (name, value) in fields { (hidden(name, value)) }
                button.danger type="submit" { (label) }
                " " a href=(back) { "Cancel" }
            }
        } @else { p.muted { "You may not take actions here." } }
    }
}

/// A small POST form with one button and hidden fields.
pub(crate) fn post_button(
    action: &str,
    label: &str,
    class: &str,
    fields: &[(&str, &str)],
) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            @for (k, v) in fields { (hidden(k, v)) }
            button type="submit" class=(class) { (label) }
        }
    }
}

/// A short notice shown above a listing.
pub(crate) fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// One page of a listing the backend may not keep (`None`): `none` then, `nothing` for an
/// empty page, else the `table` of its rows; with a page, its `pager` (told whether more
/// follow).
pub(crate) fn listing<T>(
    page: &Option<(Vec<T>, bool)>,
    (none, nothing): (&str, &str),
    table: impl FnOnce(&[T]) -> Markup,
    pager: impl FnOnce(bool) -> Markup,
) -> Markup {
    match page {
        None => empty(none),
        Some((rows, more)) => html! {
            @if rows.is_empty() { (empty(nothing)) } @else { (table(rows)) }
            (pager(*more))
        },
    }
}
