//! Promotion: due scheduled jobs and retries moved to their queues' tails.
//!
//! 1. [`scheduled_promote`] reads the due members of `schedule` and `retry` in one
//!    pipeline, restamps them in Rust (a text edit, arguments kept byte for byte), then
//!    `move.lua` claims each with `ZREM` (`moves.rs`): exactly once across callers.
//! 2. Members are read as bytes: one that is not a job (not UTF-8, not JSON, not a job's
//!    shape) is moved to the dead set on its own, claimed by its exact bytes, and never holds
//!    back the valid jobs due with it.

use jobs::backend::{BackendError, DeadLimits, PromoteParams};

use super::moves::{enqueue_or_bury, run_moves, Move, Source};
use super::{score, Inner};

/// Moves due scheduled and retry jobs to their queues' tails; returns how many moved.
pub(super) async fn scheduled_promote(
    inner: &Inner,
    p: PromoteParams,
) -> Result<u64, BackendError> {
    if p.limit == 0 {
        return Ok(0);
    }
    let k = inner.keys();
    let now = score(p.now);
    let (schedule, retry) = (k.schedule(), k.retry());
    let mut pipe = redis::pipe();
    for key in [&schedule, &retry] {
        pipe.cmd("ZRANGEBYSCORE")
            .arg(key)
            .arg("-inf")
            .arg(&now)
            .arg("LIMIT")
            .arg(0)
            .arg(p.limit);
    }
    let (due_scheduled, due_retry): (Vec<Vec<u8>>, Vec<Vec<u8>>) = inner.pipe(&pipe).await?;
    let moves = due_scheduled
        .into_iter()
        .map(|m| (&schedule, "the schedule set", m))
        .chain(due_retry.into_iter().map(|m| (&retry, "the retry set", m)))
        .take(p.limit)
        .map(|(key, place, m)| enqueue_or_bury(Source::Set, key, m, "default", place, p.now))
        .collect::<Result<Vec<Move>, BackendError>>()?;
    if moves.is_empty() {
        return Ok(0);
    }
    let (moved, _) = run_moves(inner, moves, p.now, DeadLimits::default()).await?;
    Ok(moved)
}
