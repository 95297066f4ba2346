//! The settle step of a batch member, written once for backends that run it as a sequence
//! of calls inside their own transaction (SQLite, Postgres): [`walk`] over a [`BatchTx`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{callback_job, child_member, plan, BatchEvent, BatchInfo, Counts, Fired, MemberState};
use crate::backend::BackendError;
use crate::envelope::{to_epoch, JobEnvelope};

/// A batch as loaded inside a settle transaction.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Loaded {
    /// What it is.
    pub info: BatchInfo,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Which callbacks fired.
    pub fired: Fired,
    /// Its counts.
    pub counts: Counts,
}

impl Loaded {
    /// A loaded batch.
    pub fn new(info: BatchInfo, sealed: bool, fired: Fired, counts: Counts) -> Self {
        Loaded {
            info,
            sealed,
            fired,
            counts,
        }
    }
}

/// The batch operations a backend runs inside one transaction.
#[async_trait]
pub trait BatchTx: Send {
    /// Batch `bid`, locked for the rest of the transaction; `None` if it does not exist.
    async fn load(&mut self, bid: &str) -> Result<Option<Loaded>, BackendError>;
    /// Moves `member` of `bid` to `to`; returns the state it was in (`None`: no such member,
    /// nothing changed).
    async fn member_move(
        &mut self,
        bid: &str,
        member: &str,
        to: MemberState,
    ) -> Result<Option<MemberState>, BackendError>;
    /// Stores `bid`'s counts and fired callbacks.
    async fn save(&mut self, bid: &str, counts: Counts, fired: Fired) -> Result<(), BackendError>;
    /// Pushes callback jobs to their queues.
    async fn enqueue(&mut self, jobs: Vec<JobEnvelope>) -> Result<(), BackendError>;
}

/// In batch `bid`: moves a member (if `moved`), claims and enqueues the callbacks now due
/// (`death` forces `death`, as a child's death propagates), then does the same for the
/// parent with this batch's new state there. Returns whether a callback was enqueued.
pub async fn walk(
    tx: &mut dyn BatchTx,
    bid: &str,
    moved: Option<(String, MemberState)>,
    death: bool,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let mut enqueued = false;
    let mut step = Some((bid.to_owned(), moved, death));
    while let Some((bid, moved, death)) = step.take() {
        let Some(mut b) = tx.load(&bid).await? else {
            break;
        };
        let mut changed = false;
        if let Some((member, to)) = moved {
            match tx.member_move(&bid, &member, to).await? {
                Some(from) if from != to => {
                    b.counts = b.counts.moved(Some(from), to);
                    changed = true;
                }
                _ => break,
            }
        }
        let mut p = plan(b.counts, b.sealed, b.fired);
        if death && b.fired.death.is_none() && !p.fire.contains(&BatchEvent::Death) {
            p.fire.push(BatchEvent::Death);
            p.parent_death = true;
        }
        let t = to_epoch(now);
        let mut jobs = Vec::new();
        for event in &p.fire {
            b.fired.set(*event, t);
            if *event == BatchEvent::Death && b.info.cancel_on_death {
                // Claimed, never enqueued: the dependant is cancelled.
                b.fired.set(BatchEvent::Success, t);
            }
            jobs.extend(
                b.info
                    .callbacks
                    .iter()
                    .filter(|c| c.event == *event)
                    .map(|c| callback_job(c, &bid, t)),
            );
        }
        if changed || !p.fire.is_empty() {
            tx.save(&bid, b.counts, b.fired).await?;
        }
        if !jobs.is_empty() {
            tx.enqueue(jobs).await?;
            enqueued = true;
        }
        if let Some(parent) = b.info.parent {
            if p.in_parent.is_some() || p.parent_death {
                let moved = p.in_parent.map(|s| (child_member(&bid), s));
                step = Some((parent, moved, p.parent_death));
            }
        }
    }
    Ok(enqueued)
}
