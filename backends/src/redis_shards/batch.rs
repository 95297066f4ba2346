//! Batches across shards (and a cluster's groups): each batch lives whole on one shard, the
//! one its members', callbacks' and parent's queues are on, so a member's settle and its
//! batch's bookkeeping stay one atomic step on one server (one slot on a cluster), as on a
//! single Redis. BullMQ asks the same of a flow on a cluster: its queues share one hash tag.
//!
//! 1. **Create** goes to the shard every queue of the batch routes to; a batch whose queues
//!    are on several shards is refused before anything is written, with the queues and their
//!    shards named and the `route=` that puts them together. A batch with no queue at all
//!    (no members, no callbacks, no parent yet) goes by the hash of its id.
//! 2. **Add and seal** find the batch's shard ([`locate`]: asked of every shard at once,
//!    then remembered, since a batch never moves) and refuse members of another shard.
//! 3. **Status, list and cleanup** read every shard and merge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, BatchAddParams, BatchCreateParams, BatchStatus, BatchStore};
use jobs::envelope::JobEnvelope;

use super::config::shard_for_hash;
use super::{all, ShardedRedis, Shards};

/// Where batches were found: a batch never moves, so an entry stays right while it lives.
/// Bounded: emptied when it reaches this many entries.
const REMEMBERED: usize = 10_000;

/// The remembered shard of each batch id.
#[derive(Default)]
pub(crate) struct Homes(Mutex<HashMap<String, usize>>);

impl Homes {
    fn get(&self, bid: &str) -> Option<usize> {
        self.0.lock().ok().and_then(|m| m.get(bid).copied())
    }

    fn put(&self, bid: &str, shard: usize) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= REMEMBERED {
                m.clear();
            }
            m.insert(bid.to_owned(), shard);
        }
    }
}

/// The shard each queue of `jobs` is on, by queue name.
fn shards_of<'a>(
    s: &Shards,
    jobs: impl IntoIterator<Item = &'a JobEnvelope>,
) -> BTreeMap<String, usize> {
    jobs.into_iter()
        .map(|j| (j.queue.clone(), s.opts.shard_of(&j.queue)))
        .collect()
}

/// The one shard of `queues` (and of the parent's shard, if any), or the error naming them.
fn one_shard(
    bid: &str,
    queues: &BTreeMap<String, usize>,
    parent: Option<(&str, usize)>,
) -> Result<Option<usize>, BackendError> {
    let mut shards: Vec<usize> = queues.values().copied().collect();
    shards.extend(parent.map(|(_, p)| p));
    shards.sort_unstable();
    shards.dedup();
    match shards.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => {
            let mut named: Vec<String> = queues
                .iter()
                .map(|(q, s)| format!("queue {q} on shard {s}"))
                .collect();
            named.extend(parent.map(|(p, s)| format!("parent batch {p} on shard {s}")));
            let target = shards[0];
            let routes: Vec<String> = queues
                .iter()
                .filter(|(_, s)| **s != target)
                .map(|(q, _)| format!("{q}:{target}"))
                .collect();
            Err(BackendError::msg(format!(
                "batch {bid} spans shards ({}): a batch's members, callbacks and parent must \
                 be on one shard, so that each member's settle moves its batch in the same \
                 atomic step; pin its queues together with route= (for instance route={})",
                named.join(", "),
                routes.join(",")
            )))
        }
    }
}

/// The shard batch `bid` is on, if any shard has it.
async fn locate(s: &Shards, bid: &str) -> Result<Option<usize>, BackendError> {
    if let Some(shard) = s.batch_homes.get(bid) {
        return Ok(Some(shard));
    }
    let found = all(s.backends.iter().map(|b| b.batch_status(bid))).await?;
    let shard = found.iter().position(Option::is_some);
    if let Some(shard) = shard {
        s.batch_homes.put(bid, shard);
    }
    Ok(shard)
}

/// Refuses members of batch `bid` (on `home`) whose queues are on another shard.
fn members_on(
    s: &Shards,
    bid: &str,
    home: usize,
    jobs: &[JobEnvelope],
) -> Result<(), BackendError> {
    let mut queues = shards_of(s, jobs);
    queues.retain(|_, shard| *shard != home);
    if queues.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = queues
        .iter()
        .map(|(q, shard)| format!("queue {q} on shard {shard}"))
        .collect();
    let routes: Vec<String> = queues.keys().map(|q| format!("{q}:{home}")).collect();
    Err(BackendError::msg(format!(
        "batch {bid} is on shard {home}; its new members are not ({}): pin their queues to \
         shard {home} with route={}",
        named.join(", "),
        routes.join(",")
    )))
}

#[async_trait]
impl BatchStore for ShardedRedis {
    async fn batch_create(&self, p: BatchCreateParams) -> Result<(), BackendError> {
        let s = &*self.inner;
        let bid = p.info.bid.clone();
        let callbacks: Vec<JobEnvelope> = p
            .info
            .callbacks
            .iter()
            .map(|cb| jobs::batch::callback_job(cb, &bid, 0.0))
            .collect();
        let queues = shards_of(s, p.jobs.iter().chain(&callbacks));
        let parent = match &p.info.parent {
            Some(parent) => locate(s, parent)
                .await?
                .map(|shard| (parent.as_str(), shard)),
            None => None,
        };
        // A parent no shard has: the shard of the queues (or the hash) says it is missing.
        let home = one_shard(&bid, &queues, parent)?
            .unwrap_or_else(|| shard_for_hash(&bid, s.backends.len()));
        s.backends[home].batch_create(p).await?;
        s.batch_homes.put(&bid, home);
        Ok(())
    }

    async fn batch_add(&self, p: BatchAddParams) -> Result<(), BackendError> {
        let s = &*self.inner;
        let Some(home) = locate(s, &p.bid).await? else {
            // No shard has it: the shard of its first member says so in its own words.
            let shard = p.jobs.first().map_or(0, |j| s.opts.shard_of(&j.queue));
            return s.backends[shard].batch_add(p).await;
        };
        members_on(s, &p.bid, home, &p.jobs)?;
        s.backends[home].batch_add(p).await
    }

    async fn batch_seal(&self, bid: &str, now: DateTime<Utc>) -> Result<(), BackendError> {
        let s = &*self.inner;
        let home = locate(s, bid).await?.unwrap_or(0);
        s.backends[home].batch_seal(bid, now).await
    }

    async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BackendError> {
        let s = &*self.inner;
        if let Some(home) = s.batch_homes.get(bid) {
            return s.backends[home].batch_status(bid).await;
        }
        let found = all(s.backends.iter().map(|b| b.batch_status(bid))).await?;
        Ok(found.into_iter().flatten().next())
    }

    async fn batch_list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BatchStatus>, BackendError> {
        let s = &*self.inner;
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Each shard's newest `offset + limit` ids with their creation times, merged newest
        // first; then the statuses of the page, each from its shard.
        let pages = all(s.backends.iter().map(|b| b.batch_ids(offset + limit))).await?;
        let mut merged: Vec<(f64, String, usize)> = pages
            .into_iter()
            .enumerate()
            .flat_map(|(shard, ids)| ids.into_iter().map(move |(bid, at)| (at, bid, shard)))
            .collect();
        merged.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        let page: Vec<(String, usize)> = merged
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, bid, shard)| (bid, shard))
            .collect();
        let found = all(page
            .iter()
            .map(|(bid, shard)| s.backends[*shard].batch_status(bid)))
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn batch_cleanup(&self, now: DateTime<Utc>) -> Result<u64, BackendError> {
        let s = &*self.inner;
        let removed = all(s.backends.iter().map(|b| b.batch_cleanup(now))).await?;
        Ok(removed.into_iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_names_every_queue_and_the_route_that_joins_them() {
        let queues: BTreeMap<String, usize> = [("a".to_owned(), 0), ("b".to_owned(), 1)]
            .into_iter()
            .collect();
        let e = one_shard("b1", &queues, None).unwrap_err().to_string();
        assert!(
            e.contains("queue a on shard 0") && e.contains("queue b on shard 1"),
            "{e}"
        );
        assert!(e.contains("route=b:0"), "{e}");
        let same: BTreeMap<String, usize> = [("a".to_owned(), 1), ("b".to_owned(), 1)]
            .into_iter()
            .collect();
        assert_eq!(one_shard("b1", &same, None).unwrap(), Some(1));
        assert_eq!(one_shard("b1", &same, Some(("p", 1))).unwrap(), Some(1));
        let e = one_shard("b1", &same, Some(("p", 0)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("parent batch p on shard 0"), "{e}");
        assert_eq!(one_shard("b1", &BTreeMap::new(), None).unwrap(), None);
    }
}
