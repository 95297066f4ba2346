//! Leases: requeue and rescue.
//!
//! 1. [`job_requeue`]: `requeue.lua` pushes the raw payload of each lease back to the head
//!    of its queue, fenced by `LREM` on the in-flight list.
//! 2. [`lease_rescue`]: `rescue.lua` pushes back the in-flight lists of every process whose
//!    lease expired (no heartbeat) and drops its lease bookkeeping.

use jobs::backend::{BackendError, RequeueParams, RescueParams};

use super::scripts::{REQUEUE, RESCUE};
use super::token::Token;
use super::{score, Inner};

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
            .key(k.queue(t.queue));
        inv.arg(t.raw).arg(t.queue);
    }
    let _moved: u64 = inner.eval(&inv).await?;
    Ok(())
}

/// Returns the in-flight jobs of processes whose lease expired; returns how many.
pub(super) async fn lease_rescue(inner: &Inner, p: RescueParams) -> Result<u64, BackendError> {
    let k = inner.keys();
    let mut inv = RESCUE.prepare_invoke();
    inv.key(k.leases())
        .key(k.beats())
        .key(k.processes())
        .key(k.queues());
    inv.arg(score(p.now)).arg(k.ns());
    let reply: Vec<redis::Value> = inner.eval(&inv).await?;
    let mut items = reply.into_iter();
    let total: u64 = match items.next() {
        Some(v) => redis::from_redis_value(v).map_err(|_| super::error::bad_reply("rescue"))?,
        None => return Err(super::error::bad_reply("rescue")),
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
    Ok(total)
}
