//! The HTML pages, one file per area, and what the pages and the API share: the job sets
//! and the actions allowed on each.

pub mod actions;
pub mod busy;
pub mod cancel;
pub mod dashboard;
pub mod job_metrics;
pub mod job_status;
pub mod limits;
pub mod locks;
pub mod metrics;
pub mod queues;
pub mod recurring;
pub mod sets;

use jobs::backend::JobSet;

use crate::WebError;

/// The sets of jobs with their own pages: scheduled, retries, dead, cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// Jobs waiting for their time.
    Scheduled,
    /// Failed jobs waiting to retry.
    Retries,
    /// Jobs whose retries ran out.
    Dead,
    /// Jobs cancelled before or while they ran.
    Cancelled,
}

impl SetKind {
    /// The set named by a URL segment.
    pub fn from_slug(slug: &str) -> Result<SetKind, WebError> {
        match slug {
            "scheduled" => Ok(SetKind::Scheduled),
            "retries" => Ok(SetKind::Retries),
            "dead" => Ok(SetKind::Dead),
            "cancelled" => Ok(SetKind::Cancelled),
            _ => Err(WebError::not_found("no such page")),
        }
    }

    /// Its URL segment.
    pub fn slug(self) -> &'static str {
        match self {
            SetKind::Scheduled => "scheduled",
            SetKind::Retries => "retries",
            SetKind::Dead => "dead",
            SetKind::Cancelled => "cancelled",
        }
    }

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            SetKind::Scheduled => "Scheduled",
            SetKind::Retries => "Retries",
            SetKind::Dead => "Dead",
            SetKind::Cancelled => "Cancelled",
        }
    }

    /// The backend's set.
    pub fn set(self) -> JobSet {
        match self {
            SetKind::Scheduled => JobSet::Scheduled,
            SetKind::Retries => JobSet::Retry,
            SetKind::Dead => JobSet::Dead,
            SetKind::Cancelled => JobSet::Cancelled,
        }
    }

    /// The actions offered on its jobs.
    pub fn actions(self) -> &'static [SetAction] {
        match self {
            SetKind::Scheduled => &[
                SetAction::Enqueue,
                SetAction::Cancel,
                SetAction::Delete,
                SetAction::Kill,
            ],
            SetKind::Retries => &[
                SetAction::Retry,
                SetAction::Cancel,
                SetAction::Delete,
                SetAction::Kill,
            ],
            SetKind::Dead => &[SetAction::Retry, SetAction::Delete],
            SetKind::Cancelled => &[SetAction::Delete],
        }
    }

    /// The action named `name`, if this set offers it; else a 400.
    pub fn action(self, name: &str) -> Result<SetAction, WebError> {
        self.actions()
            .iter()
            .copied()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                WebError::bad_request(format!("{} jobs cannot be sent to '{name}'", self.title()))
            })
    }
}

/// What can be done to jobs in a set (each needs one [`crate::Action`]; see `permit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAction {
    /// Put scheduled jobs on their queues now.
    Enqueue,
    /// Put retry or dead jobs on their queues now.
    Retry,
    /// Remove them.
    Delete,
    /// Move them to the dead set.
    Kill,
    /// Move them to the cancelled set (they never run).
    Cancel,
}

impl SetAction {
    /// Its name in forms and the API.
    pub fn name(self) -> &'static str {
        match self {
            SetAction::Enqueue => "enqueue",
            SetAction::Retry => "retry",
            SetAction::Delete => "delete",
            SetAction::Kill => "kill",
            SetAction::Cancel => "cancel",
        }
    }

    /// Its button label.
    pub fn label(self) -> &'static str {
        match self {
            SetAction::Enqueue => "Enqueue now",
            SetAction::Retry => "Retry now",
            SetAction::Delete => "Delete",
            SetAction::Kill => "Kill",
            SetAction::Cancel => "Cancel",
        }
    }

    /// Its verb, for a sentence with a count: `Retry all 3 jobs`.
    pub fn verb(self) -> &'static str {
        match self {
            SetAction::Enqueue => "Enqueue",
            SetAction::Retry => "Retry",
            SetAction::Delete => "Delete",
            SetAction::Kill => "Kill",
            SetAction::Cancel => "Cancel",
        }
    }

    /// The button that takes it on `n` jobs (`matching`: a filter chose them), in English:
    /// `Retry all 3 jobs`, `Delete the 1 matching job`.
    pub fn on_count(self, n: u64, matching: bool) -> String {
        let what = if matching { " matching" } else { "" };
        match n {
            1 => format!("{} the 1{what} job", self.verb()),
            n => format!("{} all {n}{what} jobs", self.verb()),
        }
    }

    /// Whether it cannot be undone (shown in red).
    pub fn danger(self) -> bool {
        matches!(
            self,
            SetAction::Delete | SetAction::Kill | SetAction::Cancel
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_actions() {
        assert_eq!(SetKind::from_slug("retries").ok(), Some(SetKind::Retries));
        assert!(SetKind::from_slug("nope").is_err());
        for kind in [
            SetKind::Scheduled,
            SetKind::Retries,
            SetKind::Dead,
            SetKind::Cancelled,
        ] {
            assert_eq!(SetKind::from_slug(kind.slug()).ok(), Some(kind));
        }
        assert_eq!(SetKind::Dead.action("retry").ok(), Some(SetAction::Retry));
        assert!(SetKind::Dead.action("kill").is_err());
    }
}
