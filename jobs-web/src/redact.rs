//! What of a job's arguments the dashboard shows: every job `data` loads passes through
//! [`AppState::shown`] before a page or the API sees it.
//!
//! 1. Arguments a job declares secret (`#[job(redact = [..])]`, known through the `#[job]`s
//!    of the program the dashboard runs in) are always [`jobs::redact::MARKER`], even on
//!    reveal: they are secrets, not noise.
//! 2. With [`crate::Dashboard::hide_args`], every argument is [`HIDDEN`], unless the request
//!    holds a [`Reveal`]: `?reveal=1` on a job's page (or its API twin) by a role granted
//!    [`Action::RevealArgs`]. A role without it gets the hidden view, never the values.

use jobs::envelope::JobEnvelope;
use serde_json::Value;

use crate::params::Pairs;
use crate::{Action, AppState, Ctx};

/// What an argument hidden by [`crate::Dashboard::hide_args`] is shown as.
pub(crate) const HIDDEN: &str = "[hidden]";

/// Proof that a request asked to see a job's arguments and may: only made by
/// [`Reveal::asked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reveal(());

impl Reveal {
    /// A reveal when the query says `reveal=1` and the request is granted
    /// [`Action::RevealArgs`]; `None` otherwise (the request gets the default view).
    pub(crate) fn asked(ctx: &Ctx, query: &Pairs) -> Option<Reveal> {
        let asked = matches!(query.get("reveal"), Some("1" | "true"));
        (asked && ctx.can(Action::RevealArgs)).then_some(Reveal(()))
    }
}

impl AppState {
    /// `job` with its arguments as this dashboard shows them: declared secrets masked, and
    /// all of them hidden under `hide_args` unless revealed.
    pub(crate) fn shown(&self, job: &mut JobEnvelope, reveal: Option<Reveal>) {
        if self.hide_args && reveal.is_none() {
            job.args = vec![Value::from(HIDDEN); job.args.len()];
        } else {
            job.args = jobs::redact::args(&job.class, &job.args);
        }
    }

    /// Whether the arguments of jobs are hidden by default.
    pub(crate) fn hides_args(&self) -> bool {
        self.hide_args
    }
}
