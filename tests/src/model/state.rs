//! The reference model: where every pushed job is, in the order the backend must keep.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Waiting in its queue (order kept in [`Model`]'s queues).
    Queued,
    /// Leased to a process (index into the processes).
    Leased(usize),
    /// In the scheduled set, due at this second.
    Scheduled(i64),
    /// In the retry set, due at this second.
    Retry(i64),
    /// In the dead set.
    Dead,
    /// Finished, kept nowhere.
    Done,
}

/// What every backend must agree with.
#[derive(Debug, Default)]
pub struct Model {
    places: HashMap<String, Place>,
    queue_of: HashMap<String, String>,
    queues: BTreeMap<String, VecDeque<String>>,
    rescues: HashMap<String, u32>,
    /// The time of the schedulers' last pass over the recurring schedule.
    tick_seen: Option<i64>,
    /// The latest tick of the recurring schedule that enqueued a job.
    tick_last_run: Option<i64>,
}

impl Model {
    /// A job pushed to the tail of `queue`.
    pub fn push_queue(&mut self, jid: &str, queue: &str) {
        self.queue_of.insert(jid.into(), queue.into());
        self.places.insert(jid.into(), Place::Queued);
        self.queues
            .entry(queue.into())
            .or_default()
            .push_back(jid.into());
    }

    /// A job pushed to the scheduled set for `queue`, due at `due`.
    pub fn push_scheduled(&mut self, jid: &str, queue: &str, due: i64) {
        self.queue_of.insert(jid.into(), queue.into());
        self.places.insert(jid.into(), Place::Scheduled(due));
    }

    /// What a reserve of `limit` from `queues` for `process` takes, with each job's rescues.
    pub fn reserve(&mut self, queues: &[&str], limit: usize, process: usize) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for q in queues {
            while out.len() < limit {
                let Some(jid) = self.queues.get_mut(*q).and_then(VecDeque::pop_front) else {
                    break;
                };
                self.places.insert(jid.clone(), Place::Leased(process));
                let rescues = self.rescues.get(&jid).copied().unwrap_or(0);
                out.push((jid, rescues));
            }
        }
        out
    }

    /// A held job settled to `place`; its run ended, so its rescue count is cleared.
    pub fn settle(&mut self, jid: &str, place: Place) {
        self.rescues.remove(jid);
        self.places.insert(jid.into(), place);
    }

    /// A held job given back to the head of its queue.
    pub fn requeue(&mut self, jid: &str) {
        self.places.insert(jid.into(), Place::Queued);
        let q = self.queue_of[jid].clone();
        self.queues.entry(q).or_default().push_front(jid.into());
    }

    /// Every held job rescued; `order` is reserve order with each job's process. The rescued
    /// jobs of a queue go in front of the waiting ones (in reserve order here; see
    /// [`Model::order_rescued`] for the order across processes); a job at its `max`th rescue
    /// dies.
    pub fn rescue(&mut self, order: &[(String, usize)], max: u32) {
        // Per queue, the rescued jobs in reserve order go in front of the waiting ones.
        let mut fronts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (jid, _) in order {
            let count = self.rescues.get(jid).copied().unwrap_or(0) + 1;
            if count >= max {
                self.rescues.remove(jid);
                self.places.insert(jid.clone(), Place::Dead);
            } else {
                self.rescues.insert(jid.clone(), count);
                self.places.insert(jid.clone(), Place::Queued);
                fronts
                    .entry(self.queue_of[jid].clone())
                    .or_default()
                    .push(jid.clone());
            }
        }
        for (q, jids) in fronts {
            let queue = self.queues.entry(q).or_default();
            for jid in jids.into_iter().rev() {
                queue.push_front(jid);
            }
        }
    }

    /// After a rescue: the head of `queue` as listed must be exactly its rescued jobs, each
    /// process's in the order it reserved them (`order`), then the jobs that waited; the
    /// model takes the listed order across processes.
    pub fn order_rescued(&mut self, queue: &str, order: &[(String, usize)], listed: &[String]) {
        let waiting = self.queues.entry(queue.into()).or_default();
        let rescued: Vec<&(String, usize)> = order
            .iter()
            .filter(|(j, _)| waiting.iter().any(|w| w == j))
            .collect();
        let k = rescued.len();
        assert!(listed.len() >= k, "rescue into {queue}: {listed:?}");
        let head: BTreeSet<&String> = listed[..k].iter().collect();
        let expected: BTreeSet<&String> = rescued.iter().map(|(j, _)| j).collect();
        assert_eq!(head, expected, "rescue into {queue}: the rescued jobs lead");
        for p in rescued.iter().map(|(_, p)| *p).collect::<BTreeSet<_>>() {
            let mine: Vec<&String> = rescued
                .iter()
                .filter(|(_, q)| *q == p)
                .map(|(j, _)| j)
                .collect();
            let listed_mine: Vec<&String> =
                listed[..k].iter().filter(|j| mine.contains(j)).collect();
            assert_eq!(
                listed_mine, mine,
                "rescue into {queue}: process {p}'s jobs in reserve order"
            );
        }
        let rest: Vec<String> = waiting.iter().skip(k).cloned().collect();
        assert_eq!(
            &listed[k..],
            &rest[..],
            "rescue into {queue}: the waiting jobs follow"
        );
        *waiting = listed.iter().cloned().collect();
    }

    /// The jobs of the scheduled and retry sets due at `now`, which a promotion moves.
    pub fn due(&self, now: i64) -> BTreeSet<String> {
        self.places
            .iter()
            .filter(|(_, p)| matches!(p, Place::Scheduled(t) | Place::Retry(t) if *t <= now))
            .map(|(j, _)| j.clone())
            .collect()
    }

    /// Applies a promotion of `due` into `queue`, whose listing after it is `listed`: the
    /// jobs that were waiting keep their order at the head, and the promoted jobs of this
    /// queue follow in the order the backend chose (checked to be exactly them).
    pub fn promote_into(&mut self, queue: &str, due: &BTreeSet<String>, listed: &[String]) {
        let waiting = self.queues.entry(queue.into()).or_default();
        let kept = waiting.len();
        assert!(
            listed.len() >= kept && listed[..kept].iter().eq(waiting.iter()),
            "promotion into {queue} disturbed the jobs waiting: {listed:?}, was {waiting:?}"
        );
        let arrived: BTreeSet<String> = listed[kept..].iter().cloned().collect();
        let expected: BTreeSet<String> = due
            .iter()
            .filter(|j| self.queue_of[*j] == queue)
            .cloned()
            .collect();
        assert_eq!(
            arrived, expected,
            "promotion into {queue} moves exactly the due jobs"
        );
        for jid in &listed[kept..] {
            waiting.push_back(jid.clone());
            self.places.insert(jid.clone(), Place::Queued);
        }
    }

    /// A scheduler pass at `now` over a schedule firing every `period` seconds: the ticks it
    /// must claim, oldest first. The first pass declares the schedule (its next run is the
    /// first tick after `now`) and claims nothing; a later one claims the ticks since the
    /// previous pass that the default catch-up policy keeps: the latest (on time, as it is
    /// less than the 60 s grace old) and the one before it (missed: `CatchUp::Once` runs the
    /// latest missed tick). Each tick is claimed once, whoever passes.
    pub fn tick(&mut self, now: i64, period: i64) -> Vec<i64> {
        let Some(seen) = self.tick_seen.replace(now) else {
            return Vec::new();
        };
        let latest = now.div_euclid(period) * period;
        let fired: Vec<i64> = [latest - period, latest]
            .into_iter()
            .filter(|t| *t > seen)
            .collect();
        if let Some(t) = fired.last() {
            self.tick_last_run = Some(*t);
        }
        fired
    }

    /// The recurring schedule's last run and next run, once a pass declared it.
    pub fn schedule(&self, period: i64) -> Option<(Option<i64>, i64)> {
        let seen = self.tick_seen?;
        let next = (seen.div_euclid(period) + 1) * period;
        Some((self.tick_last_run, next))
    }

    /// The jobs waiting in `queue`, head first.
    pub fn queue(&self, queue: &str) -> Vec<String> {
        self.queues
            .get(queue)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The jobs of the named set: `scheduled`, `retry` or `dead`.
    pub fn set(&self, name: &str) -> BTreeSet<String> {
        self.places
            .iter()
            .filter(|(_, p)| match name {
                "scheduled" => matches!(p, Place::Scheduled(_)),
                "retry" => matches!(p, Place::Retry(_)),
                _ => matches!(p, Place::Dead),
            })
            .map(|(j, _)| j.clone())
            .collect()
    }
}
