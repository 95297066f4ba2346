//! [`Unique`]: what makes two enqueues of a job duplicates, and for how long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::envelope::flow::{key_over, UniqueLock, UniqueUntil};
use crate::envelope::to_epoch;

/// A unique job's settings, from `#[job(unique(...))]` or per call with `set().unique(..)`.
///
/// Two enqueues of a job are duplicates while the first one's lock is held: same job name,
/// same arguments in `args` (all of them unless chosen), same queue when `queue` is set. The
/// lock is the job's: it is released with the job's last transition (`until`), and it
/// lapses `within` after the enqueue (after the scheduled time for `perform_in`), whatever
/// became of the job.
///
/// ```
/// use std::time::Duration;
/// use jobs::Unique;
/// use jobs::envelope::flow::UniqueUntil;
/// const SYNC: Unique = Unique::within(Duration::from_secs(600)).args(&[0]).until(UniqueUntil::Success);
/// assert_eq!(SYNC.args, Some(&[0usize][..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unique {
    /// The 0-based positions of the arguments the job is unique by; `None`: all of them.
    pub args: Option<&'static [usize]>,
    /// Whether the queue is part of the key (two queues, two locks).
    pub queue: bool,
    /// How long the lock can live at most, from the enqueue (or the scheduled time).
    pub within: Duration,
    /// Until when the lock is held.
    pub until: UniqueUntil,
}

impl Unique {
    /// Unique over all arguments, not by queue, held until success, lapsing after `within`.
    pub const fn within(within: Duration) -> Self {
        Unique {
            args: None,
            queue: false,
            within,
            until: UniqueUntil::Success,
        }
    }

    /// Unique by the arguments at these 0-based positions only.
    pub const fn args(mut self, positions: &'static [usize]) -> Self {
        self.args = Some(positions);
        self
    }

    /// Whether the queue is part of the key.
    pub const fn queue(mut self, by_queue: bool) -> Self {
        self.queue = by_queue;
        self
    }

    /// Until when the lock is held.
    pub const fn until(mut self, until: UniqueUntil) -> Self {
        self.until = until;
        self
    }

    /// The lock of a job named `class` on `queue` with `args`, enqueued to run at `run_at`.
    pub fn lock(
        &self,
        class: &str,
        queue: &str,
        args: &[Value],
        run_at: DateTime<Utc>,
    ) -> UniqueLock {
        let queue = self.queue.then_some(queue);
        let key = match self.args {
            None => key_over(class, queue, args),
            Some(positions) => {
                let by: Vec<&Value> = positions
                    .iter()
                    .map(|&i| args.get(i).unwrap_or(&Value::Null))
                    .collect();
                key_over(class, queue, &by)
            }
        };
        let expires_at = to_epoch(crate::retry::later(run_at, self.within));
        UniqueLock::from_key(key, self.until, expires_at)
    }
}
