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
//!
//! No timer is kept per job: two lower bounds on the confirmations held (`floor`, over
//! every lease; `next`, over those not lapsed yet) let a run check its lease with a clock
//! read and one atomic load on each poll, and one watch per worker ([`watch_loop`]) sleeps
//! until the next lease may lapse and then flags the runs whose lease has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::LeaseToken;
use crate::fast_map::FastMap;

#[derive(Debug, Clone, Copy)]
struct Held {
    /// How many reserves handed out this token and are not settled (a backend may hand one
    /// token out twice in a row).
    count: usize,
    /// When the store last confirmed the lease (when that request was sent).
    confirmed: Instant,
}

/// The leases held, by token.
#[derive(Debug)]
pub(crate) struct HeldLeases {
    map: Mutex<FastMap<LeaseToken, Held>>,
    /// Tokens a checkpoint replaced (old -> new), so a run watching its first token still
    /// sees its lease (`rekey`).
    renamed: Mutex<FastMap<LeaseToken, LeaseToken>>,
    /// The instant `floor` and `next` count from.
    base: Instant,
    /// No lease held was confirmed before this (ns after `base`; `u64::MAX`: none held).
    /// Only lowered between two [`HeldLeases::survey`]s, which set it under the map's lock.
    floor: AtomicU64,
    /// The earliest confirmation among leases not lapsed at the last survey: the watch
    /// wakes `ttl` after it.
    next: AtomicU64,
    /// Tells the watch that a lease held now lapses before the one it waits for.
    sooner: Notify,
}

impl Default for HeldLeases {
    fn default() -> Self {
        HeldLeases {
            map: Mutex::default(),
            renamed: Mutex::default(),
            base: Instant::now(),
            floor: AtomicU64::new(u64::MAX),
            next: AtomicU64::new(u64::MAX),
            sooner: Notify::new(),
        }
    }
}

impl HeldLeases {
    fn map(&self) -> std::sync::MutexGuard<'_, FastMap<LeaseToken, Held>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `at` in ns after `base` (0 before it: a bound that is only too early).
    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The lease of `token` is held from a reserve sent at `sent`.
    #[cfg(test)]
    pub(crate) fn hold(&self, token: &LeaseToken, sent: Instant) {
        self.hold_all(std::iter::once(token), sent);
    }

    /// The leases of `tokens` are held from one reserve sent at `sent` (one lock for all).
    pub(crate) fn hold_all<'a>(
        &self,
        tokens: impl IntoIterator<Item = &'a LeaseToken>,
        sent: Instant,
    ) {
        let mut map = self.map();
        let mut any = false;
        for token in tokens {
            let held = map.entry(token.clone()).or_insert(Held {
                count: 0,
                confirmed: sent,
            });
            held.count += 1;
            held.confirmed = held.confirmed.max(sent);
            any = true;
        }
        if !any {
            return;
        }
        // Every lease of the reserve is confirmed from `sent` (one held already, a token
        // handed out twice, from then or later): one count for the whole reserve.
        let earliest = self.ns(sent);
        self.floor.fetch_min(earliest, Ordering::SeqCst);
        if earliest < self.next.load(Ordering::SeqCst) {
            self.next.store(earliest, Ordering::SeqCst);
            self.sooner.notify_one();
        }
    }

    /// The lease of `token` is settled, given back or given up on.
    pub(crate) fn release(&self, token: &LeaseToken) {
        self.release_all(std::slice::from_ref(token));
    }

    /// The leases of `tokens` are settled, given back or given up on (one lock for all).
    pub(crate) fn release_all<'a>(&self, tokens: impl IntoIterator<Item = &'a LeaseToken> + Clone) {
        {
            let mut renamed = self.renamed.lock().unwrap_or_else(|e| e.into_inner());
            if !renamed.is_empty() {
                for token in tokens.clone() {
                    renamed.retain(|old, new| old != token && new != token);
                }
            }
        }
        let mut map = self.map();
        for token in tokens {
            // Taken out in one lookup; put back in the rare case of a token handed out twice.
            if let Some((token, held)) = map.remove_entry(token) {
                if held.count > 1 {
                    let count = held.count - 1;
                    map.insert(token, Held { count, ..held });
                }
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

    /// Whether the lease of `token` may have lapsed in the store by now (never while it is
    /// confirmed in time, nor once it is no longer held). Cheap while no lease held may
    /// have lapsed: a clock read and one atomic load.
    pub(crate) fn lapsed(&self, token: &LeaseToken, ttl: Duration) -> bool {
        self.lapsed_at(token, ttl, Instant::now())
    }

    /// [`HeldLeases::lapsed`] at `now`, a clock read the caller made just before (so a run's
    /// first check shares the read that timed its start).
    pub(crate) fn lapsed_at(&self, token: &LeaseToken, ttl: Duration, now: Instant) -> bool {
        let ttl_ns = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        let first_end = self.floor.load(Ordering::SeqCst).saturating_add(ttl_ns);
        if self.ns(now) < first_end {
            return false;
        }
        self.deadline(token, ttl)
            .is_some_and(|deadline| now >= deadline)
    }

    /// Sets the bounds from the leases held now; returns when the next one not lapsed yet
    /// may lapse.
    fn survey(&self, ttl: Duration) -> Option<Instant> {
        let now = Instant::now();
        let map = self.map();
        let floor = map.values().map(|h| h.confirmed).min();
        let live = map
            .values()
            .filter(|h| h.confirmed.checked_add(ttl).is_none_or(|end| end > now))
            .map(|h| h.confirmed)
            .min();
        self.floor
            .store(floor.map_or(u64::MAX, |at| self.ns(at)), Ordering::SeqCst);
        self.next
            .store(live.map_or(u64::MAX, |at| self.ns(at)), Ordering::SeqCst);
        live.and_then(|at| at.checked_add(ttl))
    }
}

/// Until `done`: sleeps until the next held lease may lapse (sooner when a lease that
/// lapses earlier is taken), then flags the runs whose lease has lapsed, which abandon
/// their job.
pub(crate) async fn watch_loop(rt: Arc<super::Runtime>, done: CancellationToken) {
    let ttl = rt.lease_ttl;
    loop {
        let sooner = rt.held.sooner.notified();
        let next = rt.held.survey(ttl);
        for run in rt.running_links() {
            let lapsed = run
                .first_token()
                .is_some_and(|token| rt.held.lapsed(token, ttl));
            if lapsed && !run.has_lapsed() {
                run.lapse();
            }
        }
        let wait = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = done.cancelled() => return,
            () = sooner => {}
            () = wait => {}
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
        assert_eq!(
            held.survey(ttl),
            Some(Instant::now() + ttl),
            "the watch wakes ten seconds after the heartbeat, not the reserve"
        );
        tokio::time::advance(ttl - Duration::from_millis(1)).await;
        assert!(!held.lapsed(&token, ttl));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(held.lapsed(&token, ttl));
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
        assert!(held.lapsed(&token, ttl), "still lapsed: the job is dropped");
        assert_eq!(
            held.survey(ttl),
            None,
            "nothing left for the watch to wait for"
        );
        assert!(
            held.lapsed(&token, ttl),
            "and still seen by a run after a survey"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_taken_before_the_one_watched_wakes_the_watch() {
        let held = HeldLeases::default();
        let ttl = Duration::from_secs(10);
        let (a, b) = (LeaseToken("a".into()), LeaseToken("b".into()));
        let early = Instant::now();
        tokio::time::advance(Duration::from_secs(5)).await;
        held.hold(&a, Instant::now());
        assert_eq!(held.survey(ttl), Some(Instant::now() + ttl));
        // A reserve sent before `a`'s, answered after the survey.
        held.hold(&b, early);
        let woken = tokio::time::timeout(Duration::from_millis(1), held.sooner.notified()).await;
        assert!(woken.is_ok(), "the watch is told");
        assert_eq!(held.survey(ttl), Some(early + ttl));
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
        held.survey(ttl);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(
            !held.lapsed(&old, ttl),
            "the run watching its first token sees the new token's confirmation"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(held.lapsed(&old, ttl));
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
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(
            !held.lapsed(&token, Duration::ZERO),
            "a lease not held does not lapse here"
        );
        assert_eq!(held.survey(Duration::ZERO), None);
    }

    #[test]
    fn leases_held_and_released_together_are_counted_like_one_by_one() {
        let held = HeldLeases::default();
        let (a, b) = (LeaseToken("a".into()), LeaseToken("b".into()));
        let early = Instant::now();
        held.hold_all([&a, &b, &a], early);
        let mut tokens = held.tokens();
        tokens.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(tokens, [a.clone(), b.clone()]);
        assert_eq!(held.floor.load(Ordering::SeqCst), held.ns(early));
        // `a` was handed out twice: one release keeps it held.
        held.release_all([&a, &b]);
        assert_eq!(held.tokens(), std::slice::from_ref(&a));
        held.release_all([&a]);
        assert!(held.tokens().is_empty());
        held.release_all(std::iter::empty());
    }
}
