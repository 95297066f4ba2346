//! The one table of which [`Action`] each state-changing operation needs, the [`Permit`]
//! a handler must get (checking it) before it may change anything, and the [`AuditEvent`]
//! every permitted operation leaves with the `on_action` hook.
//!
//! 1. [`Op`] lists every state-changing operation of the pages and the API; [`Op::action`]
//!    is the table. A new operation must be added there (the match is exhaustive).
//! 2. [`Permit`] is only made by [`Permit::check`], which refuses (403 `forbidden`) an
//!    operation whose action the request lacks. Every method of `data` that changes state
//!    takes a permit by value, so no state changes without the check, and each change
//!    leaves one audit record.

use std::sync::Arc;

use jobs::backend::{JobFilter, Selection};

use crate::access::Action;
use crate::pages::SetAction;
use crate::{Ctx, WebError};

/// Every state-changing operation the pages and the API offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Pause a queue.
    QueuePause,
    /// Resume a paused queue.
    QueueResume,
    /// Remove every job waiting in a queue.
    QueueClear,
    /// Delete chosen jobs from a queue.
    QueueDelete,
    /// Ask a process to stop taking jobs.
    Quiet,
    /// Ask a process to shut down.
    Stop,
    /// Act on jobs of the scheduled, retry or dead set.
    Jobs(SetAction),
    /// Enable a recurring schedule.
    ScheduleEnable,
    /// Disable a recurring schedule.
    ScheduleDisable,
    /// Run a recurring schedule now.
    ScheduleRun,
    /// Remove a recurring schedule's record (an orphan; a declared one is declared again).
    ScheduleRemove,
    /// Release a unique lock.
    LockRelease,
    /// Delete jobs waiting aside for a concurrency slot.
    WaitingDelete,
    /// Cancel jobs by jid, waiting or running.
    Cancel,
}

impl Op {
    /// The action the operation needs: the one table.
    pub(crate) fn action(self) -> Action {
        match self {
            Op::QueuePause | Op::QueueResume => Action::Pause,
            Op::QueueClear | Op::QueueDelete => Action::Delete,
            Op::Quiet => Action::Quiet,
            Op::Stop => Action::Stop,
            Op::Jobs(SetAction::Enqueue | SetAction::Retry) => Action::Retry,
            Op::Jobs(SetAction::Delete) => Action::Delete,
            Op::Jobs(SetAction::Kill) => Action::Kill,
            Op::Jobs(SetAction::Cancel) | Op::Cancel => Action::Cancel,
            Op::ScheduleEnable | Op::ScheduleDisable | Op::ScheduleRun | Op::ScheduleRemove => {
                Action::Schedule
            }
            Op::LockRelease | Op::WaitingDelete => Action::Release,
        }
    }

    /// What was done, in one word, for the audit record.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Op::QueuePause => "pause",
            Op::QueueResume => "resume",
            Op::QueueClear => "clear",
            Op::QueueDelete => "delete",
            Op::Quiet => "quiet",
            Op::Stop => "stop",
            Op::Jobs(a) => a.name(),
            Op::ScheduleEnable => "enable",
            Op::ScheduleDisable => "disable",
            Op::ScheduleRun => "run",
            Op::ScheduleRemove => "remove",
            Op::LockRelease => "release",
            Op::WaitingDelete => "delete",
            Op::Cancel => "cancel",
        }
    }
}

impl Op {
    /// The operation of a recurring schedule's action (`enable`, `disable`, `run`); 404
    /// for any other.
    pub(crate) fn schedule(action: &str) -> Result<Op, WebError> {
        match action {
            "enable" => Ok(Op::ScheduleEnable),
            "disable" => Ok(Op::ScheduleDisable),
            "run" => Ok(Op::ScheduleRun),
            "remove" => Ok(Op::ScheduleRemove),
            _ => Err(WebError::not_found(
                "schedule actions: enable, disable, run, remove",
            )),
        }
    }
}

/// The audit target of jobs chosen by id: `{what}: job {jid}` for one, else
/// `{what}: {n} selected jobs`.
pub(crate) fn describe_jids(what: &str, jids: &[String]) -> String {
    match jids {
        [one] => format!("{what}: job {one}"),
        many => format!("{what}: {} selected jobs", many.len()),
    }
}

/// The audit target of a selection of set `slug`: `dead: all jobs named X containing “t”`,
/// `retries: job …`, `scheduled: 3 selected jobs`.
pub(crate) fn describe_selection(slug: &str, selection: &Selection) -> String {
    match selection {
        Selection::Jids(jids) => describe_jids(slug, jids),
        Selection::Matching(JobFilter { class, text, .. }) => {
            let mut s = format!("{slug}: all jobs");
            if let Some(c) = class {
                s.push_str(&format!(" named {c}"));
            }
            if let Some(t) = text {
                s.push_str(&format!(" containing “{t}”"));
            }
            s
        }
        _ => format!("{slug}: some jobs"),
    }
}

/// Proof that a request was checked for an operation's action; the only way to change
/// state through `data`.
#[derive(Debug)]
#[must_use = "a permit is spent by the data method that changes state"]
pub(crate) struct Permit {
    op: Op,
    user: Option<String>,
}

impl Permit {
    /// A permit for `op` when the request's access grants its action; else 403.
    pub(crate) fn check(ctx: &Ctx, op: Op) -> Result<Permit, WebError> {
        let action = op.action();
        if ctx.access.allows(action) {
            Ok(Permit {
                op,
                user: ctx.user.clone(),
            })
        } else {
            Err(WebError::forbidden(format!(
                "you may not {} here (the '{action}' action is not granted)",
                op.verb()
            )))
        }
    }

    /// The audit record of the permitted operation: done on `target`, affecting `count`.
    pub(crate) fn record(self, target: String, count: u64) -> AuditEvent {
        AuditEvent {
            user: self.user,
            action: self.op.action(),
            verb: self.op.verb(),
            target,
            count,
        }
    }
}

/// What one state-changing request did, as given to the [`crate::Dashboard::on_action`]
/// hook after it succeeded. A refused or failed request leaves none.
///
/// ```
/// use jobs_web::{Action, AuditEvent};
/// fn show(e: &AuditEvent) -> String {
///     format!("{} {} {} ({} affected)", e.user.as_deref().unwrap_or("-"), e.verb, e.target, e.count)
/// }
/// # let _ = show;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Who, as the [`crate::Dashboard::identify`] hook named the request (`None` without
    /// a hook, or when it named no one).
    pub user: Option<String>,
    /// The action the request needed.
    pub action: Action,
    /// What was done within that action: `pause` or `resume`, `clear` or `delete`,
    /// `retry` or `enqueue`, `enable`, `disable` or `run`, ...
    pub verb: &'static str,
    /// What it was done to, in a few words: `queue payments`, `dead: all jobs`,
    /// `retries: 3 selected jobs`, `process host:1:abc`, `schedule nightly`, `lock 9f2c…`.
    pub target: String,
    /// How many jobs or items it affected (1 for a queue paused, a process signalled, a
    /// schedule changed or a lock released).
    pub count: u64,
}

impl AuditEvent {
    /// Logs the event with `tracing::info!`: what the default hook does.
    ///
    /// ```
    /// let dashboard = |backend| jobs_web::Dashboard::new(backend).on_action(|e| {
    ///     e.log();
    ///     // ...and keep it somewhere.
    /// });
    /// # let _ = dashboard;
    /// ```
    pub fn log(&self) {
        tracing::info!(
            user = self.user.as_deref().unwrap_or("-"),
            action = self.action.name(),
            verb = self.verb,
            target = %self.target,
            count = self.count,
            "dashboard action"
        );
    }
}

/// The hook given every [`AuditEvent`].
pub(crate) type OnActionFn = Arc<dyn Fn(&AuditEvent) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Access;

    fn ctx(access: Access) -> Ctx {
        Ctx {
            base: String::new(),
            access,
            user: Some("ann".into()),
            read_only: false,
        }
    }

    #[test]
    fn a_permit_needs_the_action_of_the_table() {
        let ops = [
            Op::QueuePause,
            Op::QueueResume,
            Op::QueueClear,
            Op::QueueDelete,
            Op::Quiet,
            Op::Stop,
            Op::Jobs(SetAction::Enqueue),
            Op::Jobs(SetAction::Retry),
            Op::Jobs(SetAction::Delete),
            Op::Jobs(SetAction::Kill),
            Op::Jobs(SetAction::Cancel),
            Op::Cancel,
            Op::ScheduleEnable,
            Op::ScheduleDisable,
            Op::ScheduleRun,
            Op::ScheduleRemove,
            Op::LockRelease,
            Op::WaitingDelete,
        ];
        for op in ops {
            let action = op.action();
            assert_ne!(action, Action::View, "{op:?}");
            assert!(Permit::check(&ctx(Access::only([action])), op).is_ok());
            let e = Permit::check(&ctx(Access::full().without(action)), op).err();
            assert_eq!(e.map(|e| e.code), Some(crate::ErrorCode::Forbidden));
            let rec = Permit::check(&ctx(Access::full()), op).map(|p| p.record("x".into(), 2));
            assert_eq!(
                rec.map(|r| (r.user, r.action)).ok(),
                Some((Some("ann".into()), action))
            );
        }
    }
}
