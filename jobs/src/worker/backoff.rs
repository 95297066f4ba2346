//! How long the worker waits before it asks the store again after a call failed.
//!
//! 1. [`reconnect_delay`]: the store could not be reached (reserve, settle, requeue):
//!    100 ms doubling to 30 s.
//! 2. [`conflict_delay`]: the store refused a batch as conflicting (a deadlock victim or a
//!    serialization failure, already rolled back): 10 ms doubling to 1 s, since the store has
//!    already broken the conflict.

use std::time::Duration;

/// Backoff between attempts to reach an unreachable backend: 100 ms doubling to 30 s.
pub(crate) fn reconnect_delay(attempt: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << attempt.min(9));
    Duration::from_millis(ms.min(30_000))
}

/// Backoff before a batch refused as conflicting is sent again: 10 ms doubling to 1 s.
pub(crate) fn conflict_delay(attempt: u32) -> Duration {
    let ms = 10u64 << attempt.min(7);
    Duration::from_millis(ms.min(1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_their_caps() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(100));
        assert_eq!(reconnect_delay(3), Duration::from_millis(800));
        assert_eq!(reconnect_delay(40), Duration::from_secs(30));
        assert_eq!(conflict_delay(0), Duration::from_millis(10));
        assert_eq!(conflict_delay(2), Duration::from_millis(40));
        assert_eq!(conflict_delay(30), Duration::from_secs(1));
    }
}
