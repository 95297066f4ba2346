//! Leases: requeue and rescue.
//!
//! 1. [`job_requeue`]: `requeue.lua` pushes the raw payload of each lease back to the head
//!    of its queue, fenced by the process's lease epoch and `LREM` on the in-flight list.
//! 2. [`lease_rescue`]: `rescue.lua` pushes back the in-flight lists of every process whose
//!    lease expired (no heartbeat) and drops its lease bookkeeping. It counts each rescue of
//!    a job in `jobs-rs:rescues` (by the SHA-1 of its payload, which goes back unchanged);
//!    reserves hand the count out, and a finish clears it (`reserve.rs`, `finish.rs`). It
//!    raises the lease epoch of each such process (`jobs-rs:epoch:<n>:<process>`), so no
//!    token it handed out before settles, even for a job it reserves again.
//! 3. A job at its `max_rescues`th rescue is moved to the dead set as it is by the script;
//!    then its entry there is replaced by the job marked as having killed its process
//!    (`jobs::envelope::bury_rescued`), claimed by its exact bytes (`moves.rs`), under the
//!    `dead_limits`. Should that second step not happen, the job is dead unchanged, not lost.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, RequeueParams, RescueParams};
use jobs::envelope::bury_rescued;
use redis::Value;

use super::error::bad_reply;
use super::moves::{run_moves, Action, Move, Source};
use super::raw;
use super::scripts::{REQUEUE, RESCUE};
use super::token::Token;
use super::{score, Inner, EPOCH_TTL_SECS};

/// Gives leased jobs back to the heads of their queues, byte for byte.
pub(super) async fn job_requeue(inner: &Inner, p: RequeueParams) -> Result<(), BackendError> {
    if p.tokens.is_empty() {
        return Ok(());
    }
    let k = inner.keys();
    let mut inv = REQUEUE.prepare_invoke();
    inv.key(k.queues());
    for token in &p.tokens {
        let t = Token::decode(token)?;
        inv.key(k.inflight(t.process, t.queue))
            .key(k.queue(t.queue))
            .key(k.epoch(t.process));
        inv.arg(t.raw).arg(t.queue).arg(t.epoch);
    }
    let _moved: u64 = inner.eval(&inv).await?;
    Ok(())
}

/// Returns the in-flight jobs of processes whose lease expired, burying those rescued
/// `max_rescues` times; returns how many jobs were rescued (buried ones included).
pub(super) async fn lease_rescue(inner: &Inner, p: RescueParams) -> Result<u64, BackendError> {
    let k = inner.keys();
    let mut inv = RESCUE.prepare_invoke();
    inv.key(k.leases())
        .key(k.beats())
        .key(k.processes())
        .key(k.queues())
        .key(k.rescues())
        .key(k.dead());
    let now = match p.lease_clock {
        jobs::backend::LeaseClock::Caller => score(p.now),
        _ => "+0".to_owned(),
    };
    inv.arg(now)
        .arg(k.ns())
        .arg(p.max_rescues.max(1))
        .arg(EPOCH_TTL_SECS);
    let reply: Vec<Value> = inner.eval(&inv).await?;
    let mut items = reply.into_iter();
    let total: u64 = match items.next() {
        Some(v) => redis::from_redis_value(v).map_err(|_| bad_reply("rescue"))?,
        None => return Err(bad_reply("rescue")),
    };
    let buried: Vec<Value> = match items.next() {
        Some(v) => redis::from_redis_value(v).map_err(|_| bad_reply("rescue"))?,
        None => return Err(bad_reply("rescue")),
    };
    while let (Some(process), Some(count)) = (items.next(), items.next()) {
        let process: String = redis::from_redis_value(process).unwrap_or_default();
        let count: u64 = redis::from_redis_value(count).unwrap_or_default();
        tracing::warn!(
            %process,
            jobs = count,
            "lease expired (no heartbeat); its in-flight jobs were returned to their queues"
        );
    }
    if !buried.is_empty() {
        let moves = marked_dead(inner, buried, p.now)?;
        run_moves(inner, moves, p.now, p.dead_limits).await?;
    }
    Ok(total)
}

/// The moves that replace each job `rescue.lua` buried (`queue, payload, rescues` triples)
/// by the job marked as having killed its process.
fn marked_dead(
    inner: &Inner,
    buried: Vec<Value>,
    now: DateTime<Utc>,
) -> Result<Vec<Move>, BackendError> {
    let mut moves = Vec::with_capacity(buried.len() / 3);
    let mut it = buried.into_iter();
    while let (Some(queue), Some(member), Some(rescues)) = (it.next(), it.next(), it.next()) {
        let bad = |_| bad_reply("rescue");
        let queue: String = redis::from_redis_value(queue).map_err(bad)?;
        let member: Vec<u8> = redis::from_redis_value(member).map_err(bad)?;
        let rescues: u32 = redis::from_redis_value(rescues).map_err(bad)?;
        let payload = match raw::parse(&member) {
            Ok((_, mut job)) => {
                tracing::error!(
                    jid = %job.jid,
                    %queue,
                    rescues,
                    "lease expired again; the job is taken for what killed its processes \
                     and moved to the dead set"
                );
                bury_rescued(&mut job, rescues, now);
                raw::encode(&job)?.into_bytes()
            }
            Err(why) => {
                let place = format!("the in-flight jobs of queue `{queue}`");
                raw::bury(&member, &queue, &place, &why, now)?
            }
        };
        moves.push(Move {
            source: Source::Set,
            key: inner.keys().dead(),
            member,
            action: Action::Kill,
            payload,
            lock: None,
        });
    }
    Ok(moves)
}
