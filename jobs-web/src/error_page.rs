//! The HTML page a page route's error becomes: the dashboard's layout, the status and the
//! message, and a way back to the listing the request came from (a job already retried or
//! deleted by someone else is the common case), so an operator never lands on a bare text.

use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::layout::{page, Nav};
use crate::{Ctx, WebError};

/// The section of the dashboard a path (below the mount) belongs to: its navigation entry,
/// its own path and its name.
fn section(path: &str) -> (Nav, &'static str, &'static str) {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "busy" => (Nav::Busy, "/busy", "Busy"),
        "queues" => (Nav::Queues, "/queues", "Queues"),
        "scheduled" => (Nav::Scheduled, "/scheduled", "Scheduled"),
        "retries" => (Nav::Retries, "/retries", "Retries"),
        "dead" => (Nav::Dead, "/dead", "Dead"),
        "cancelled" | "cancel" => (Nav::Cancelled, "/cancelled", "Cancelled"),
        "locks" => (Nav::Locks, "/locks", "Locks"),
        "limits" => (Nav::Limits, "/limits", "Limits"),
        "recurring" => (Nav::Recurring, "/recurring", "Recurring"),
        "metrics" => (Nav::Metrics, "/metrics", "Metrics"),
        "actions" => (Nav::Actions, "/actions", "Actions"),
        _ => (Nav::Dashboard, "/", "Dashboard"),
    }
}

/// A hint for the errors people meet in the normal course of things.
fn hint(e: &WebError, path: &str) -> Option<&'static str> {
    let job_page = path.trim_start_matches('/').split('/').count() >= 2;
    match e.code {
        crate::error::ErrorCode::NotFound if job_page => {
            Some("The job may have run, been retried, deleted or moved since the page was shown.")
        }
        crate::error::ErrorCode::Conflict => {
            Some("Someone or something changed it first; the listing shows where it is now.")
        }
        crate::error::ErrorCode::BackendUnavailable => {
            Some("The store did not answer; the page works again once it does.")
        }
        _ => None,
    }
}

/// `e`, answered at `path`, as a page in the layout, with the same status.
pub(crate) fn render(ctx: &Ctx, path: &str, e: &WebError) -> Response {
    let status = e.status();
    let (nav, back, name) = section(path);
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        section.panel.error {
            p { strong { (status.as_u16()) " " (title) } ": " (e.message) }
            @if let Some(h) = hint(e, path) { p.muted { (h) } }
            p {
                a href=(ctx.url(back)) { "← Back to " (name) }
                @if nav != Nav::Dashboard { " · " a href=(ctx.home()) { "Dashboard" } }
            }
        }
    };
    let mut resp = (status, page(ctx, nav, title, body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_finds_its_section_and_unknown_ones_the_dashboard() {
        assert_eq!(section("/retries/abc/retry").1, "/retries");
        assert_eq!(section("/queues/default").2, "Queues");
        assert_eq!(section("/nope").1, "/");
        assert_eq!(section("/").1, "/");
    }
}
