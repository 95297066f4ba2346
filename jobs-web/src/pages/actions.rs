//! Recent actions: the last actions taken through this dashboard process (who, when, which
//! action on what, how many affected), newest first, from the in-memory list of `recent`.

use axum::extract::State;
use axum::Extension;
use maud::{html, Markup};

use crate::layout::{empty, page as chrome, Nav};
use crate::recent::KEPT;
use crate::{fmt, AppState, Ctx, WebError};

/// `GET /actions`: the recent actions.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Markup, WebError> {
    let now = st.now();
    let done = st.recent.newest_first();
    let body = html! {
        p.muted {
            "The last " (KEPT) " actions taken through this dashboard process, newest first. "
            "They are kept in memory only: other processes serving the dashboard, and a "
            "restart, do not show here."
        }
        section.panel {
            @if done.is_empty() { (empty("No action taken yet.")) } @else {
                div.scroll { table #actions {
                    thead { tr {
                        th { "When" } th { "User" } th { "Action" } th { "Target" } th.num { "Affected" }
                    } }
                    tbody { @for d in &done {
                        tr {
                            td { (fmt::relative(d.at, now)) br; small.muted { (fmt::time(d.at)) } }
                            td { @if let Some(u) = &d.event.user { (u) } @else { span.muted { "–" } } }
                            td { (d.event.verb) @if d.event.verb != d.event.action.name() { br; small.muted { (d.event.action.name()) } } }
                            td { (d.event.target) }
                            td.num { (d.event.count) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Actions, "Recent actions", body))
}
