//! The admin side's writes: pausing and clearing queues, acting on jobs, clearing all.
//!
//! 1. Pausing adds the queue to `jobs-rs:paused` (the reserve script skips it); clearing
//!    deletes the queue's list, its priority lists and its name in `queues`, releasing the
//!    unique locks of its jobs, in one script (`clear.lua`).
//! 2. Actions (delete, enqueue now, kill) pick jobs in Rust, then `move.lua` claims each
//!    exact member with `ZREM`/`LREM` before moving it (`moves.rs`), so a job moves at
//!    most once even when a worker or poller takes it at the same time. A member that is
//!    not a job is picked by the jid it shows as (`sets.rs`) and claimed by its exact bytes:
//!    deleting removes it; killing it, or enqueueing it from the scheduled or retry set,
//!    buries it as the dead job that keeps its bytes (what its promotion would do); a dead
//!    one cannot be enqueued and is left where it is. A queue's member is claimed from the
//!    list it is in (its priority's); a job with a unique lock names it in its move, so
//!    deleting or killing it releases the lock (`moves.rs`).
//! 3. `clear_all` deletes by SCAN only keys this backend writes: everything under the prefix
//!    when there is one, else Sidekiq's and `jobs-rs:` keys. Never FLUSHDB.

use jobs::backend::QueueClearParams;
use jobs::backend::QueuePauseParams;
use jobs::backend::{BackendError, JobActionParams, JobSet, Selection};

use super::moves::{enqueue_or_bury, run_moves, Action, Move, Source};
use super::scripts::CLEAR;
use super::sets::{describe, entries, set_key, Entry};
use super::{raw, Inner};

/// Keys deleted per UNLINK during `clear_all`.
const UNLINK_CHUNK: usize = 500;

/// Pauses or resumes a queue.
pub(super) async fn queue_pause(
    inner: &Inner,
    params: QueuePauseParams,
) -> Result<(), BackendError> {
    let (queue, paused) = (params.queue.as_str(), params.paused);
    let cmd = if paused { "SADD" } else { "SREM" };
    inner
        .query::<()>(redis::cmd(cmd).arg(inner.keys().paused()).arg(queue))
        .await
}

/// Deletes a queue's jobs and forgets the queue; returns how many jobs.
pub(super) async fn queue_clear(
    inner: &Inner,
    params: QueueClearParams,
) -> Result<u64, BackendError> {
    let queue = params.queue.as_str();
    let k = inner.keys();
    let mut inv = CLEAR.prepare_invoke();
    inv.key(k.queue(queue))
        .key(k.queues())
        .key(k.pqueues())
        .key(k.uniques())
        .arg(k.ns())
        .arg(queue);
    let reply = inner.eval(&inv).await;
    // After the removal: a push that raced it must not count the queue as added.
    inner.known.forget();
    reply
}

/// Members of `set` that `selection` picks.
async fn selected(
    inner: &Inner,
    set: &JobSet,
    selection: &Selection,
) -> Result<Vec<Entry>, BackendError> {
    let all = entries(inner, set).await?;
    Ok(all
        .into_iter()
        .filter(|e| match selection {
            Selection::Jids(jids) => jids.contains(&e.job.jid),
            Selection::Matching(filter) => filter.matches(&e.job),
            _ => false,
        })
        .collect())
}

/// Where a member is claimed from: its set's key and kind.
struct Claim<'a> {
    key: &'a str,
    source: Source,
}

impl Claim<'_> {
    /// The move of `e` to `action`, storing `payload`; from the list `e` is in, for a queue.
    fn to(&self, e: Entry, action: Action, payload: Vec<u8>) -> Move {
        let lock = if e.decoded {
            Move::lock_of(&e.job)
        } else {
            None
        };
        Move {
            source: self.source,
            key: e.list.unwrap_or_else(|| self.key.to_owned()),
            member: e.raw,
            action,
            payload,
            lock,
        }
    }
}

/// Claims and moves the members of `p.set` that `p.selection` picks, each as `choose` says
/// (`None`: left where it is); returns how many moved.
async fn act(
    inner: &Inner,
    p: JobActionParams,
    choose: impl Fn(&Claim<'_>, Entry) -> Result<Option<Move>, BackendError>,
) -> Result<u64, BackendError> {
    let (key, source) = set_key(inner, &p.set);
    let from = Claim { key: &key, source };
    let mut moves = Vec::new();
    for e in selected(inner, &p.set, &p.selection).await? {
        moves.extend(choose(&from, e)?);
    }
    if moves.is_empty() {
        return Ok(0);
    }
    Ok(run_moves(inner, moves, p.now, p.dead_limits).await?.0)
}

/// Deletes the selected jobs; returns how many.
pub(super) async fn job_delete(inner: &Inner, p: JobActionParams) -> Result<u64, BackendError> {
    act(inner, p, |from, e| {
        Ok(Some(from.to(e, Action::Delete, Vec::new())))
    })
    .await
}

/// Moves the selected jobs to the tails of their queues now; 0 for a queue.
pub(super) async fn job_enqueue_now(
    inner: &Inner,
    p: JobActionParams,
) -> Result<u64, BackendError> {
    if matches!(p.set, JobSet::Queue(_)) {
        return Ok(0);
    }
    let (now, dead) = (p.now, p.set == JobSet::Dead);
    let place = describe(&p.set);
    act(inner, p, |from, e| {
        if dead && !e.decoded {
            tracing::warn!(jid = %e.job.jid, "a dead member that is not a job cannot be enqueued");
            return Ok(None);
        }
        let queue = e.job.queue.clone();
        enqueue_or_bury(from.source, from.key, e.raw, &queue, &place, now).map(Some)
    })
    .await
}

/// Moves the selected jobs to the dead set, trimming it; 0 for the dead set.
pub(super) async fn job_kill(inner: &Inner, p: JobActionParams) -> Result<u64, BackendError> {
    if p.set == JobSet::Dead {
        return Ok(0);
    }
    let now = p.now;
    let place = describe(&p.set);
    act(inner, p, |from, e| {
        let payload = match e.decoded {
            // Killed as stored, byte for byte.
            true => e.raw.clone(),
            false => {
                let why = raw::parse(&e.raw).err().unwrap_or_default();
                raw::bury(&e.raw, &e.job.queue, &place, &why, now)?
            }
        };
        Ok(Some(from.to(e, Action::Kill, payload)))
    })
    .await
}

/// Deletes every key this backend writes (never FLUSHDB).
pub(super) async fn clear_all(inner: &Inner) -> Result<(), BackendError> {
    let result = async {
        let k = inner.keys();
        let mut doomed: Vec<String> = Vec::new();
        if k.ns().is_empty() {
            let ids: Vec<String> = inner
                .query(redis::cmd("SMEMBERS").arg(k.processes()))
                .await?;
            for id in &ids {
                doomed.extend([k.process(id), k.workers(id), k.work(id), k.signals(id)]);
            }
            doomed.extend([k.queues(), k.schedule(), k.retry(), k.dead(), k.processes()]);
        }
        for pattern in k.patterns() {
            let mut cursor = 0u64;
            loop {
                // On a cluster, on the node that holds the prefix's slot.
                let reply = inner
                    .conn
                    .on_tag_node(
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000),
                        &k.queues(),
                    )
                    .await
                    .map_err(|e| inner.edge().map(e))?;
                let (next, keys): (u64, Vec<String>) =
                    redis::from_redis_value(reply).map_err(|e| inner.edge().map(e.into()))?;
                doomed.extend(keys);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        doomed.sort();
        doomed.dedup();
        for chunk in doomed.chunks(UNLINK_CHUNK) {
            inner.query::<()>(redis::cmd("UNLINK").arg(chunk)).await?;
        }
        Ok::<(), BackendError>(())
    }
    .await;
    // After the removal: a push that raced it must not count a queue as added.
    inner.known.forget();
    result
}
