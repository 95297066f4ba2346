//! What one request may do: the [`Action`]s a role is granted, as an [`Access`] set that
//! the [`crate::Dashboard::authorize`] hook returns per request.

use std::fmt;

/// One thing a request may do on the dashboard. Every state-changing route (a form POST of
/// the pages or a POST of the JSON API) needs exactly one of them; see each variant for the
/// routes it opens.
///
/// ```
/// use jobs_web::Action;
/// assert_eq!(Action::Retry.name(), "retry");
/// assert!(Action::ALL.contains(&Action::Release));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// See the pages and the read side of the API (every GET). Every request needs it.
    View,
    /// Put jobs of the retry or dead set back on their queues now, or scheduled jobs early
    /// ("Retry now", "Enqueue now"; `POST {set}/action`, `POST api/{set}/retry|enqueue`).
    Retry,
    /// Delete jobs: from a set, from a queue, or clear a whole queue
    /// (`POST {set}/action` with `delete`, `POST queues/{name}/delete|clear`, and their API
    /// twins).
    Delete,
    /// Move scheduled or retry jobs to the dead set (`POST {set}/action` with `kill`,
    /// `POST api/{set}/kill`).
    Kill,
    /// Pause and resume queues (`POST queues/{name}/pause`, `POST api/queues/{name}/pause`
    /// and `…/resume`).
    Pause,
    /// Ask a process to stop taking jobs (`POST busy/signal` with `quiet`,
    /// `POST api/processes/signal`).
    Quiet,
    /// Ask a process to shut down (`POST busy/signal` with `stop`,
    /// `POST api/processes/signal`).
    Stop,
    /// Enable, disable and run now recurring schedules (`POST recurring/{name}/{action}`,
    /// `POST api/recurring/{name}/{action}`).
    Schedule,
    /// Release unique locks and delete jobs waiting aside for a concurrency slot
    /// (`POST locks/{key}/release`, `POST limits/waiting/delete`, and their API twins).
    Release,
    /// Cancel jobs: waiting ones move to the cancelled set, running ones are signalled
    /// (`POST cancel`, `POST {set}/action` with `cancel`, `POST api/cancel`).
    Cancel,
    /// See a job's arguments when the dashboard hides them ([`crate::Dashboard::hide_args`]):
    /// `GET {set}/{jid}?reveal=1` and `GET api/{set}/{id}?reveal=1`. A read, not a change: it
    /// opens no POST route, and a read-only dashboard keeps it. Arguments a job declares
    /// secret (`#[job(redact = [..])]`) stay hidden even then.
    RevealArgs,
}

impl Action {
    /// Every action, in a stable order.
    pub const ALL: [Action; 11] = [
        Action::View,
        Action::Retry,
        Action::Delete,
        Action::Kill,
        Action::Pause,
        Action::Quiet,
        Action::Stop,
        Action::Schedule,
        Action::Release,
        Action::Cancel,
        Action::RevealArgs,
    ];

    /// Its name in logs and audit records (`snake_case`).
    pub fn name(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Retry => "retry",
            Action::Delete => "delete",
            Action::Kill => "kill",
            Action::Pause => "pause",
            Action::Quiet => "quiet",
            Action::Stop => "stop",
            Action::Schedule => "schedule",
            Action::Release => "release",
            Action::Cancel => "cancel",
            Action::RevealArgs => "reveal_args",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of [`Action`]s one request is granted, as the [`crate::Dashboard::authorize`]
/// hook decides. A request without [`Action::View`] is refused (403) whatever else it has;
/// a state-changing request whose action is not in the set is refused (403) and changes
/// nothing, and the pages leave out the buttons of the actions not granted.
///
/// ```
/// use jobs_web::{Access, Action};
/// assert!(Access::full().allows(Action::Kill));
/// assert!(Access::read_only().allows(Action::View) && !Access::read_only().can_act());
/// assert!(!Access::none().allows(Action::View));
/// // A support role: sees everything, may retry and pause, nothing else.
/// let support = Access::only([Action::Retry, Action::Pause]);
/// assert!(support.allows(Action::View) && support.allows(Action::Retry));
/// assert!(!support.allows(Action::Delete));
/// assert_eq!(support.actions().count(), 3);
/// // The default grants nothing.
/// assert_eq!(Access::default(), Access::none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Access {
    bits: u16,
}

impl Access {
    /// Nothing: every request is refused.
    pub const fn none() -> Access {
        Access { bits: 0 }
    }

    /// Viewing only: the pages and the read API, no action.
    pub const fn read_only() -> Access {
        Access {
            bits: Action::View.bit(),
        }
    }

    /// Viewing and every action (the default without a hook).
    pub const fn full() -> Access {
        let mut bits = 0;
        let mut i = 0;
        while i < Action::ALL.len() {
            bits |= Action::ALL[i].bit();
            i += 1;
        }
        Access { bits }
    }

    /// Viewing plus exactly `actions`: a role must see what it acts on, so [`Action::View`]
    /// is always included.
    ///
    /// ```
    /// use jobs_web::{Access, Action};
    /// assert_eq!(Access::only([]), Access::read_only());
    /// assert!(Access::only([Action::Release]).allows(Action::Release));
    /// ```
    pub fn only(actions: impl IntoIterator<Item = Action>) -> Access {
        actions
            .into_iter()
            .fold(Access::read_only(), |a, action| a.with(action))
    }

    /// This set with `action` added.
    ///
    /// ```
    /// use jobs_web::{Access, Action};
    /// assert!(Access::read_only().with(Action::Pause).allows(Action::Pause));
    /// ```
    pub const fn with(self, action: Action) -> Access {
        Access {
            bits: self.bits | action.bit(),
        }
    }

    /// This set with `action` taken away.
    ///
    /// ```
    /// use jobs_web::{Access, Action};
    /// let no_stop = Access::full().without(Action::Stop);
    /// assert!(no_stop.allows(Action::Quiet) && !no_stop.allows(Action::Stop));
    /// ```
    pub const fn without(self, action: Action) -> Access {
        Access {
            bits: self.bits & !action.bit(),
        }
    }

    /// Whether `action` is granted.
    pub const fn allows(self, action: Action) -> bool {
        self.bits & action.bit() != 0
    }

    /// Whether any action that changes state is granted (viewing and
    /// [`Action::RevealArgs`] change nothing).
    ///
    /// ```
    /// use jobs_web::{Access, Action};
    /// assert!(!Access::only([Action::RevealArgs]).can_act());
    /// assert!(Access::only([Action::Pause]).can_act());
    /// ```
    pub const fn can_act(self) -> bool {
        self.bits & !(Action::View.bit() | Action::RevealArgs.bit()) != 0
    }

    /// Only what of this set reads: [`Action::View`] and [`Action::RevealArgs`], as a
    /// read-only dashboard grants.
    ///
    /// ```
    /// use jobs_web::{Access, Action};
    /// let reads = Access::full().reads();
    /// assert!(reads.allows(Action::RevealArgs) && !reads.can_act());
    /// assert_eq!(Access::only([Action::Retry]).reads(), Access::read_only());
    /// ```
    pub const fn reads(self) -> Access {
        Access {
            bits: self.bits & (Action::View.bit() | Action::RevealArgs.bit()),
        }
    }

    /// The actions granted, in the order of [`Action::ALL`].
    pub fn actions(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.allows(*a))
    }
}

/// The actions granted: `{View, Retry}`.
impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.actions()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets() {
        assert_eq!(Access::full().actions().count(), Action::ALL.len());
        assert_eq!(Access::none().actions().count(), 0);
        for a in Action::ALL {
            let one = Access::only([a]);
            assert!(one.allows(a) && one.allows(Action::View));
            assert_eq!(
                one.can_act(),
                !matches!(a, Action::View | Action::RevealArgs)
            );
            assert!(!Access::full().without(a).allows(a));
        }
        assert_eq!(
            format!("{:?}", Access::only([Action::Retry])),
            "{View, Retry}"
        );
        let names: std::collections::HashSet<_> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
