//! Batches in memory: each batch's members by id and state, moved under the backend's one
//! lock in the same step as the member's settle, with callbacks claimed there too.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::state::State;
use super::MemoryBackend;
use crate::backend::{
    BackendError, BatchAddParams, BatchCreateParams, BatchStatus, BatchStore, FinishOutcome,
};
use crate::batch::{
    callback_job, child_member, plan, BatchInfo, Counts, Fired, MemberState, BATCH_FIELD,
};
use crate::envelope::{from_epoch, to_epoch, JobEnvelope};

/// Every batch, by id.
#[derive(Debug, Default)]
pub(super) struct Batches {
    map: HashMap<String, Kept>,
    next: u64,
}

#[derive(Debug)]
struct Kept {
    seq: u64,
    info: BatchInfo,
    sealed: bool,
    fired: Fired,
    counts: Counts,
    members: HashMap<String, MemberState>,
    children: Vec<String>,
}

fn missing(bid: &str) -> BackendError {
    BackendError::Conflict(format!(
        "batch {bid} does not exist (never created, or expired)"
    ))
}

impl State {
    /// Moves the batch member of a settled `job` (if it has a batch) by its outcome;
    /// returns whether a callback was enqueued.
    pub(super) fn batch_settled(
        &mut self,
        job: &JobEnvelope,
        outcome: &FinishOutcome,
        failed: bool,
        now: DateTime<Utc>,
    ) -> bool {
        if self.batches.map.is_empty() {
            return false;
        }
        let Some(bid) = job.extra.get(BATCH_FIELD).and_then(|b| b.as_str()) else {
            return false;
        };
        let Some(to) = MemberState::after(outcome, failed) else {
            return false;
        };
        // The member moves here, in place; only when that makes something due does the
        // walk run (it fires the callbacks and moves this batch in its parent).
        let Some(b) = self.batches.map.get_mut(bid) else {
            return false;
        };
        let Some(state) = b.members.get_mut(job.jid.as_str()) else {
            return false;
        };
        let from = std::mem::replace(state, to);
        if from == to {
            return false;
        }
        b.counts = b.counts.moved(Some(from), to);
        let p = plan(b.counts, b.sealed, b.fired);
        if p.fire.is_empty() && p.in_parent.is_none() && !p.parent_death {
            return false;
        }
        self.batch_walk(bid.to_owned(), None, false, now)
    }

    /// In batch `bid`: moves a member (if `moved`), fires what is due (`death` forces the
    /// death callback, a child's death), then does the same in the parent for this batch's
    /// new state there; returns whether a callback was enqueued.
    fn batch_walk(
        &mut self,
        bid: String,
        moved: Option<(String, MemberState)>,
        death: bool,
        now: DateTime<Utc>,
    ) -> bool {
        let mut woke = false;
        let mut step = Some((bid, moved, death));
        while let Some((bid, moved, death)) = step.take() {
            let Some(b) = self.batches.map.get_mut(&bid) else {
                break;
            };
            if let Some((member, to)) = moved {
                let Some(from) = b.members.get(&member).copied() else {
                    break;
                };
                if from == to {
                    break;
                }
                b.members.insert(member, to);
                b.counts = b.counts.moved(Some(from), to);
            }
            let mut p = plan(b.counts, b.sealed, b.fired);
            if death
                && b.fired.death.is_none()
                && !p.fire.contains(&crate::batch::BatchEvent::Death)
            {
                p.fire.push(crate::batch::BatchEvent::Death);
                p.parent_death = true;
            }
            let t = to_epoch(now);
            let mut jobs = Vec::new();
            for event in &p.fire {
                b.fired.set(*event, t);
                if *event == crate::batch::BatchEvent::Death && b.info.cancel_on_death {
                    b.fired.set(crate::batch::BatchEvent::Success, t);
                }
                jobs.extend(
                    b.info
                        .callbacks
                        .iter()
                        .filter(|c| c.event == *event)
                        .map(|c| callback_job(c, &bid, t)),
                );
            }
            let parent = b.info.parent.clone();
            for job in jobs {
                self.enqueue(job, now);
                woke = true;
            }
            if let Some(parent) = parent {
                if p.in_parent.is_some() || p.parent_death {
                    step = Some((
                        parent,
                        p.in_parent.map(|s| (child_member(&bid), s)),
                        p.parent_death,
                    ));
                }
            }
        }
        woke
    }

    fn batch_push(&mut self, bid: &str, jobs: Vec<JobEnvelope>, now: DateTime<Utc>) {
        if let Some(b) = self.batches.map.get_mut(bid) {
            for job in &jobs {
                if b.members
                    .insert(job.jid.clone(), MemberState::Pending)
                    .is_none()
                {
                    b.counts.pending += 1;
                }
            }
        }
        for mut job in jobs {
            match job.at.take() {
                Some(at) => self.scheduled.insert(from_epoch(at), job),
                None => self.enqueue(job, now),
            }
        }
    }

    fn batch_status(&self, bid: &str) -> Option<BatchStatus> {
        let b = self.batches.map.get(bid)?;
        let mut s = BatchStatus::new(b.info.clone(), b.counts);
        s.sealed = b.sealed;
        s.fired = b.fired;
        s.children = b.children.clone();
        s.failed_jids = b
            .members
            .iter()
            .filter(|(m, st)| {
                matches!(st, MemberState::Failed | MemberState::Dead)
                    && !m.starts_with(crate::batch::CHILD_PREFIX)
            })
            .map(|(m, _)| m.clone())
            .take(1000)
            .collect();
        s.failed_jids.sort();
        Some(s)
    }
}

#[async_trait]
impl BatchStore for MemoryBackend {
    async fn batch_create(&self, p: BatchCreateParams) -> Result<(), BackendError> {
        let woke = !p.jobs.is_empty();
        {
            let mut st = self.lock();
            let bid = p.info.bid.clone();
            if let Some(parent) = &p.info.parent {
                let member = child_member(&bid);
                let Some(b) = st.batches.map.get_mut(parent) else {
                    return Err(missing(parent));
                };
                b.members.insert(member, MemberState::Pending);
                b.counts.pending += 1;
                b.children.push(bid.clone());
            }
            st.batches.next += 1;
            let seq = st.batches.next;
            st.batches.map.insert(
                bid.clone(),
                Kept {
                    seq,
                    info: p.info,
                    sealed: false,
                    fired: Fired::default(),
                    counts: Counts::default(),
                    members: HashMap::new(),
                    children: Vec::new(),
                },
            );
            st.batch_push(&bid, p.jobs, p.now);
            if p.sealed {
                seal(&mut st, &bid, p.now);
            }
        }
        if woke {
            self.shared.wake.notify_waiters();
        }
        Ok(())
    }

    async fn batch_add(&self, p: BatchAddParams) -> Result<(), BackendError> {
        {
            let mut st = self.lock();
            let Some(b) = st.batches.map.get(&p.bid) else {
                return Err(missing(&p.bid));
            };
            if b.fired.complete.is_some() {
                return Err(BackendError::Conflict(format!(
                    "batch {} already completed: no member can be added",
                    p.bid
                )));
            }
            st.batch_push(&p.bid, p.jobs, p.now);
        }
        self.shared.wake.notify_waiters();
        Ok(())
    }

    async fn batch_seal(&self, bid: &str, now: DateTime<Utc>) -> Result<(), BackendError> {
        let woke = {
            let mut st = self.lock();
            if !st.batches.map.contains_key(bid) {
                return Err(missing(bid));
            }
            seal(&mut st, bid, now)
        };
        if woke {
            self.shared.wake.notify_waiters();
        }
        Ok(())
    }

    async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BackendError> {
        Ok(self.lock().batch_status(bid))
    }

    async fn batch_list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BatchStatus>, BackendError> {
        let st = self.lock();
        let mut all: Vec<(&u64, &String)> = st
            .batches
            .map
            .iter()
            .map(|(bid, b)| (&b.seq, bid))
            .collect();
        all.sort_unstable_by(|a, b| b.0.cmp(a.0));
        Ok(all
            .into_iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(_, bid)| st.batch_status(bid))
            .collect())
    }

    async fn batch_cleanup(&self, now: DateTime<Utc>) -> Result<u64, BackendError> {
        let now = to_epoch(now);
        let mut st = self.lock();
        let before = st.batches.map.len();
        st.batches.map.retain(|_, b| b.info.expires_at > now);
        Ok((before - st.batches.map.len()) as u64)
    }
}

/// Seals batch `bid` and fires what is due; returns whether a callback was enqueued.
fn seal(st: &mut State, bid: &str, now: DateTime<Utc>) -> bool {
    let Some(b) = st.batches.map.get_mut(bid) else {
        return false;
    };
    if b.sealed {
        return false;
    }
    b.sealed = true;
    st.batch_walk(bid.to_owned(), None, false, now)
}
