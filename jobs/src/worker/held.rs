//! The leases a worker holds, and when each was last confirmed by the store: the heartbeat
//! extends only these, and a job whose lease may have lapsed is abandoned rather than run
//! on beside the worker the store gave it to.
//!
//! A lease is confirmed when the reserve that took it is sent, and again when a heartbeat
//! listing it is answered (from the moment that heartbeat was sent). The store sets its
//! expiry no earlier than that moment plus the lease TTL, so once `confirmed + ttl` has
//! passed on this process's monotonic clock the store may have rescued the job: a process
//! that was stopped (SIGSTOP, a VM pause) or cut off from its store past its lease must not
//! go on running the job when it wakes. This is what keeps a concurrency limit of 1 true
//! when a worker stalls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::LeaseToken;

#[derive(Debug, Clone, Copy)]
struct Held {
    /// How many reserves handed out this token and are not settled (a backend may hand one
    /// token out twice in a row).
    count: usize,
    /// When the store last confirmed the lease (when that request was sent).
    confirmed: Instant,
}

/// The leases held, by token.
#[derive(Debug, Default)]
pub(crate) struct HeldLeases {
    map: Mutex<HashMap<LeaseToken, Held>>,
    /// Tokens a checkpoint replaced (old -> new), so a run watching its first token still
    /// sees its lease (`rekey`).
    renamed: Mutex<HashMap<LeaseToken, LeaseToken>>,
}

impl HeldLeases {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<LeaseToken, Held>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lease of `token` is held from a reserve sent at `sent`.
    pub(crate) fn hold(&self, token: &LeaseToken, sent: Instant) {
        let mut map = self.map();
        let held = map.entry(token.clone()).or_insert(Held {
            count: 0,
            confirmed: sent,
        });
        held.count += 1;
        held.confirmed = held.confirmed.max(sent);
    }

    /// The lease of `token` is settled, given back or given up on.
    pub(crate) fn release(&self, token: &LeaseToken) {
        {
            let mut renamed = self.renamed.lock().unwrap_or_else(|e| e.into_inner());
            if !renamed.is_empty() {
                renamed.retain(|old, new| old != token && new != token);
            }
        }
        let mut map = self.map();
        if let Some(held) = map.get_mut(token) {
            held.count -= 1;
            if held.count == 0 {
                map.remove(token);
            }
        }
    }

    /// The store now names the lease of `old` by `new` (a checkpoint re-issued its token):
    /// it stays held, confirmed as it was, under the new token.
    pub(crate) fn rekey(&self, old: &LeaseToken, new: &LeaseToken) {
        let mut map = self.map();
        if let Some(held) = map.remove(old) {
            map.insert(new.clone(), held);
        }
        drop(map);
        let mut renamed = self.renamed.lock().unwrap_or_else(|e| e.into_inner());
        for to in renamed.values_mut() {
            if to == old {
                *to = new.clone();
            }
        }
        renamed.insert(old.clone(), new.clone());
    }

    /// The token the lease of `token` goes by now.
    #[cfg(test)]
    fn current(&self, token: &LeaseToken) -> LeaseToken {
        let renamed = self.renamed.lock().unwrap_or_else(|e| e.into_inner());
        renamed.get(token).unwrap_or(token).clone()
    }

    /// Every lease held now.
    pub(crate) fn tokens(&self) -> Vec<LeaseToken> {
        self.map().keys().cloned().collect()
    }

    /// A heartbeat sent at `sent` listing `tokens` was answered: those still held, and whose
    /// lease had not lapsed by `sent` (`ttl` after their last confirmation), are confirmed
    /// from `sent`. One that had lapsed stays lapsed: the store may have given its job to
    /// another worker before this beat, and the beat's answer does not say it did not (a
    /// process woken from SIGSTOP beats before its jobs are polled).
    pub(crate) fn confirm(&self, tokens: &[LeaseToken], sent: Instant, ttl: Duration) {
        let mut map = self.map();
        for token in tokens {
            if let Some(held) = map.get_mut(token) {
                let live = held.confirmed.checked_add(ttl).is_none_or(|end| end > sent);
                if live {
                    held.confirmed = held.confirmed.max(sent);
                }
            }
        }
    }

    /// When the lease of `token` may lapse in the store, if it is held (and the TTL is not
    /// too long to count).
    fn deadline(&self, token: &LeaseToken, ttl: Duration) -> Option<Instant> {
        // Copied only when a checkpoint renamed it (rare), not for every job.
        let renamed = {
            let renamed = self.renamed.lock().unwrap_or_else(|e| e.into_inner());
            renamed.get(token).cloned()
        };
        self.map()
            .get(renamed.as_ref().unwrap_or(token))
            .and_then(|h| h.confirmed.checked_add(ttl))
    }

    /// Resolves once the lease of `token` may have lapsed in the store (never, while it is
    /// confirmed in time or once it is no longer held).
    pub(crate) async fn lapsed(&self, token: &LeaseToken, ttl: Duration) {
        loop {
            let Some(deadline) = self.deadline(token, ttl) else {
                return std::future::pending().await;
            };
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_lapses_ttl_after_its_last_confirmation() {
        let held = HeldLeases::default();
        let token = LeaseToken("t".into());
        let ttl = Duration::from_secs(10);
        held.hold(&token, Instant::now());
        tokio::time::advance(Duration::from_secs(8)).await;
        held.confirm(std::slice::from_ref(&token), Instant::now(), ttl);
        let start = Instant::now();
        held.lapsed(&token, ttl).await;
        assert_eq!(
            start.elapsed(),
            ttl,
            "ten seconds after the heartbeat, not the reserve"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_beat_sent_after_a_lease_lapsed_does_not_revive_it() {
        let held = HeldLeases::default();
        let token = LeaseToken("t".into());
        let ttl = Duration::from_secs(10);
        held.hold(&token, Instant::now());
        // Stopped past the lease; on waking, a heartbeat goes out and is answered first.
        tokio::time::advance(Duration::from_secs(11)).await;
        held.confirm(std::slice::from_ref(&token), Instant::now(), ttl);
        let start = Instant::now();
        held.lapsed(&token, ttl).await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "still lapsed: the job is dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rekeyed_lease_is_held_and_watched_under_either_token() {
        let held = HeldLeases::default();
        let (old, new) = (LeaseToken("old".into()), LeaseToken("new".into()));
        let ttl = Duration::from_secs(10);
        held.hold(&old, Instant::now());
        held.rekey(&old, &new);
        assert_eq!(held.tokens(), vec![new.clone()], "beats list the new token");
        tokio::time::advance(Duration::from_secs(8)).await;
        held.confirm(std::slice::from_ref(&new), Instant::now(), ttl);
        let start = Instant::now();
        held.lapsed(&old, ttl).await;
        assert_eq!(
            start.elapsed(),
            ttl,
            "the run watching its first token sees the new token's confirmation"
        );
        held.release(&new);
        assert!(held.tokens().is_empty() && held.current(&old) == old);
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_lease_never_lapses_and_counts_are_kept() {
        let held = HeldLeases::default();
        let token = LeaseToken("t".into());
        held.hold(&token, Instant::now());
        held.hold(&token, Instant::now());
        held.release(&token);
        assert_eq!(held.tokens(), vec![token.clone()], "one hold is left");
        held.release(&token);
        assert!(held.tokens().is_empty());
        let waited = tokio::time::timeout(
            Duration::from_secs(3600),
            held.lapsed(&token, Duration::ZERO),
        )
        .await;
        assert!(waited.is_err(), "a lease not held does not lapse here");
    }
}
