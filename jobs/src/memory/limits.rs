//! The in-memory backend's limits: concurrency slots held by leases (a job whose key is full
//! is moved aside and brought back, one per freed slot), and sliding-window rate logs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::State;
use crate::backend::{LimitUsage, RateAcquireParams, RateDecision};
use crate::envelope::JobEnvelope;

/// One concurrency key: the leases holding its slots and the jobs waiting for one.
#[derive(Debug, Default)]
pub(super) struct Slots {
    /// The limit, as the last job taken with this key declared it.
    limit: u32,
    /// Lease tokens holding a slot.
    holders: HashSet<String>,
    /// Jobs moved aside while the key was full, oldest first.
    waiting: VecDeque<Arc<JobEnvelope>>,
    /// The job a freed slot last brought back to its queue (its queue and jid): while it is
    /// there it is on its way to the slot, and the sweep must not send another ahead of it.
    on_way: Option<(String, String)>,
}

/// One rate key: its limit, window, and the starts (µs) inside the window, oldest first.
#[derive(Debug)]
pub(super) struct RateLog {
    limit: u32,
    per: Duration,
    starts: VecDeque<i64>,
}

/// Concurrency keys (left out once idle) and rate keys.
#[derive(Debug, Default)]
pub(super) struct Limits {
    slots: HashMap<String, Slots>,
    rates: HashMap<String, RateLog>,
}

impl State {
    /// Whether the job `(queue, jid)` is in its queue.
    fn queued(&self, (queue, jid): &(String, String)) -> bool {
        self.queues
            .get(queue)
            .is_some_and(|q| q.iter().any(|job| &job.jid == jid))
    }

    /// Takes a slot of `job`'s concurrency key for lease `token`. When the key is full the
    /// job is moved aside (returned as `Err`), to come back when a slot frees.
    pub(super) fn take_slot(
        &mut self,
        job: Arc<JobEnvelope>,
        token: &str,
    ) -> Result<Arc<JobEnvelope>, ()> {
        let Some(limit) = job.concurrency() else {
            return Ok(job);
        };
        let slots = self.limits.slots.entry(limit.key).or_default();
        slots.limit = limit.limit;
        if slots.holders.len() >= limit.limit as usize {
            slots.waiting.push_back(job);
            return Err(());
        }
        slots.holders.insert(token.to_owned());
        Ok(job)
    }

    /// Frees the slot lease `token` holds for `job`, if any, and brings the oldest job
    /// waiting for that key back to the head of its queue.
    pub(super) fn free_slot(&mut self, job: &JobEnvelope, token: &str) {
        if self.limits.slots.is_empty() {
            return;
        }
        let Some(limit) = job.concurrency() else {
            return;
        };
        let Some(slots) = self.limits.slots.get_mut(&limit.key) else {
            return;
        };
        if !slots.holders.remove(token) {
            return;
        }
        let back = slots.waiting.pop_front();
        slots.on_way = back.as_ref().map(|b| (b.queue.clone(), b.jid.clone()));
        if slots.holders.is_empty() && slots.waiting.is_empty() {
            self.limits.slots.remove(&limit.key);
        }
        if let Some(back) = back {
            self.requeue_front(back);
        }
    }

    /// The jobs waiting for a slot of `key`, oldest first, `limit` of them from `offset`.
    pub(super) fn waiting_for(&self, key: &str, offset: usize, limit: usize) -> Vec<JobEnvelope> {
        self.limits.slots.get(key).map_or_else(Vec::new, |s| {
            s.waiting
                .iter()
                .skip(offset)
                .take(limit)
                .map(|job| JobEnvelope::clone(job))
                .collect()
        })
    }

    /// Deletes the jobs `jids` waiting for a slot of `key`, with their unique locks; how
    /// many. A key left with no slot held and no job waiting is dropped.
    pub(super) fn delete_waiting(&mut self, key: &str, jids: &[String]) -> u64 {
        let Some(slots) = self.limits.slots.get_mut(key) else {
            return 0;
        };
        let mut gone = Vec::new();
        slots.waiting.retain(|job| {
            let hit = jids.contains(&job.jid);
            if hit {
                gone.push(job.clone());
            }
            !hit
        });
        if slots.holders.is_empty() && slots.waiting.is_empty() {
            self.limits.slots.remove(key);
        }
        for job in &gone {
            self.release(job);
        }
        gone.len() as u64
    }

    /// Deletes job `jid` from the jobs moved aside for a slot, whatever its key (its lock is
    /// left to the caller); whether it was there.
    pub(super) fn remove_aside(&mut self, jid: &str) -> bool {
        let found = self.limits.slots.iter_mut().find_map(|(key, slots)| {
            let at = slots.waiting.iter().position(|j| j.jid == jid)?;
            slots.waiting.remove(at);
            Some((
                key.clone(),
                slots.holders.is_empty() && slots.waiting.is_empty(),
            ))
        });
        match found {
            Some((key, idle)) => {
                if idle {
                    self.limits.slots.remove(&key);
                }
                true
            }
            None => false,
        }
    }

    /// Brings back the oldest waiting job of every key with no slot held and no job on its
    /// way to one: the job a freed slot brought back was deleted by an operator. While that
    /// job is still in its queue the key is left alone, so no later job overtakes it.
    pub(super) fn sweep_slots(&mut self) {
        let stuck: Vec<String> = self
            .limits
            .slots
            .iter()
            .filter(|(_, s)| s.holders.is_empty() && !s.waiting.is_empty())
            .filter(|(_, s)| !s.on_way.as_ref().is_some_and(|way| self.queued(way)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stuck {
            let back = self.limits.slots.get_mut(&key).and_then(|s| {
                let back = s.waiting.pop_front();
                s.on_way = back.as_ref().map(|b| (b.queue.clone(), b.jid.clone()));
                back
            });
            if self
                .limits
                .slots
                .get(&key)
                .is_some_and(|s| s.waiting.is_empty())
            {
                self.limits.slots.remove(&key);
            }
            if let Some(job) = back {
                self.requeue_front(job);
            }
        }
    }

    /// Takes one start from a rate limit, judged at `now`.
    pub(super) fn rate_take(&mut self, p: &RateAcquireParams, now: DateTime<Utc>) -> RateDecision {
        let now = now.timestamp_micros();
        let per = i64::try_from(p.per.as_micros()).unwrap_or(i64::MAX);
        let log = self.limits.rates.entry(p.key.clone()).or_insert(RateLog {
            limit: p.limit,
            per: p.per,
            starts: VecDeque::new(),
        });
        (log.limit, log.per) = (p.limit, p.per);
        while log
            .starts
            .front()
            .is_some_and(|&t| t <= now.saturating_sub(per))
        {
            log.starts.pop_front();
        }
        if log.starts.len() < p.limit as usize {
            log.starts.push_back(now);
            return RateDecision::Granted;
        }
        // The window is full: a start frees when the oldest of the last `limit` leaves it.
        let oldest = log.starts[log.starts.len() - p.limit as usize];
        let retry_at = DateTime::from_timestamp_micros(oldest.saturating_add(per))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        RateDecision::Refused { retry_at }
    }

    /// Every concurrency key in use, then every rate key with a start in its window at `now`.
    pub(super) fn limits_in_use(&self, now: DateTime<Utc>) -> Vec<LimitUsage> {
        let concurrency: BTreeMap<_, _> = self.limits.slots.iter().collect();
        let mut out: Vec<LimitUsage> = concurrency
            .into_iter()
            .map(|(key, s)| {
                LimitUsage::concurrency(
                    key.clone(),
                    s.limit,
                    s.holders.len() as u64,
                    s.waiting.len() as u64,
                )
            })
            .collect();
        let now = now.timestamp_micros();
        let rates: BTreeMap<_, _> = self.limits.rates.iter().collect();
        for (key, log) in rates {
            let per = i64::try_from(log.per.as_micros()).unwrap_or(i64::MAX);
            let live: Vec<i64> = log
                .starts
                .iter()
                .copied()
                .filter(|&t| t > now.saturating_sub(per))
                .collect();
            if live.is_empty() {
                continue;
            }
            let frees_at = (live.len() >= log.limit as usize)
                .then(|| live[live.len() - log.limit as usize].saturating_add(per))
                .and_then(DateTime::from_timestamp_micros);
            out.push(LimitUsage::rate(
                key.clone(),
                log.limit,
                log.per,
                live.len() as u64,
                frees_at,
            ));
        }
        out
    }
}
