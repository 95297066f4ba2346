//! Cancel one job by jid, wherever it is: `GET /cancel?jid=…` confirms, `POST /cancel` acts
//! (a waiting job moves to the cancelled set; a running one is signalled in its process).
//! The Busy page and a queue's page link here for each job.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Redirect;
use axum::Extension;
use jobs::backend::Cancellation;
use maud::{html, Markup};

use crate::layout::{hidden, page as chrome, Nav};
use crate::params::Pairs;
use crate::permit::Op;
use crate::{Action, AppState, Ctx, WebError};

/// The jids a request names; a 400 when none.
fn jids(p: &Pairs) -> Result<Vec<String>, WebError> {
    let jids = p.jids()?;
    if jids.is_empty() || jids.iter().any(|j| j.is_empty()) {
        return Err(WebError::bad_request("jid is required: the job to cancel"));
    }
    Ok(jids)
}

/// `GET /cancel?jid=…`: what cancelling will do, and the button.
pub async fn confirm(
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let jids = jids(&q)?;
    let body = html! {
        section.panel.confirm {
            p {
                "Cancel " strong #confirm-count { (jids.len()) } @if jids.len() == 1 { " job" } @else { " jobs" }
                " (" code { (jids.join(", ")) } ")? A waiting job moves to the cancelled set and never runs; "
                "a running job is told to stop, and is aborted after its grace period."
            }
            @if ctx.can(Action::Cancel) {
                form method="post" action=(ctx.url("/cancel")) {
                    @for j in &jids { (hidden("jid", j)) }
                    button type="submit" class="danger" { "Cancel " (jids.len()) @if jids.len() == 1 { " job" } @else { " jobs" } }
                    " " a href=(ctx.url("/busy")) { "Back" }
                }
            } @else { p.muted { "You may not take this action." } }
        }
    };
    Ok(chrome(&ctx, Nav::Cancelled, "Confirm", body))
}

/// `POST /cancel` with `jid`s: cancel them; back to the cancelled set when one moved
/// there, else to Busy.
pub async fn act(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Result<Redirect, WebError> {
    let form = Pairs::from_body(&body);
    let permit = ctx.permit(Op::Cancel)?;
    let jids = jids(&form)?;
    let answers = st.cancel(permit, jids, st.now()).await?;
    let to = if answers.contains(&Cancellation::Cancelled) {
        "/cancelled"
    } else {
        "/busy"
    };
    Ok(Redirect::to(&ctx.url(to)))
}
