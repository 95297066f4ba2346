//! The last actions taken through this dashboard, kept in memory for the Recent actions page
//! and `api/actions`: this process only, newest first, at most [`KEPT`], gone on restart. A
//! lasting audit trail is the `on_action` hook's job.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::AuditEvent;

/// How many actions are kept.
pub(crate) const KEPT: usize = 100;

/// One action and when it was done (by the dashboard's clock).
#[derive(Debug, Clone)]
pub(crate) struct Done {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub event: AuditEvent,
}

/// The last [`KEPT`] actions, oldest first inside.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    done: Mutex<VecDeque<Done>>,
}

impl Recent {
    /// Keeps `event`, done `at`, dropping the oldest beyond [`KEPT`].
    pub(crate) fn push(&self, at: DateTime<Utc>, event: AuditEvent) {
        // A panic elsewhere while holding the lock leaves a list still worth showing.
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if done.len() == KEPT {
            done.pop_front();
        }
        done.push_back(Done { at, event });
    }

    /// The actions kept, newest first.
    pub(crate) fn newest_first(&self) -> Vec<Done> {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        done.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    #[test]
    fn keeps_the_last_hundred_newest_first() {
        let recent = Recent::default();
        let at: DateTime<Utc> = DateTime::UNIX_EPOCH;
        for i in 0..(KEPT as u64 + 5) {
            let e = AuditEvent {
                user: None,
                action: Action::Pause,
                verb: "pause",
                target: format!("queue q{i}"),
                count: i,
            };
            recent.push(at, e);
        }
        let kept = recent.newest_first();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept.first().map(|d| d.event.count), Some(KEPT as u64 + 4));
        assert_eq!(kept.last().map(|d| d.event.count), Some(5));
    }
}
