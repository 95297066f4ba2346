//! Reserves from the shards of the worker's queues, in the worker's order.
//!
//! The queues are cut into runs on the same shard; one pass takes what is there without
//! waiting, in that order. Only when nothing was there and the caller may wait does it block,
//! on one shard at a time, for at most [`ROTATION`] each, so a job on another shard waits at
//! most about that long.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jobs::backend::*;

use super::token::mark;
use super::Shards;

/// The longest one blocking reserve waits on one shard before trying the next.
pub const ROTATION: Duration = Duration::from_millis(100);

pub(super) async fn job_reserve(
    s: &Shards,
    p: ReserveParams,
) -> Result<Vec<Reserved>, BackendError> {
    // Runs of consecutive queues on one shard, in the caller's order.
    let mut runs: Vec<(usize, Vec<String>)> = Vec::new();
    for q in &p.queues {
        let shard = s.opts.shard_of(q);
        match runs.last_mut() {
            Some((last, queues)) if *last == shard => queues.push(q.clone()),
            _ => runs.push((shard, vec![q.clone()])),
        }
    }
    if runs.len() <= 1 {
        let shard = runs.first().map_or(0, |r| r.0);
        let got = s.backends[shard].job_reserve(p).await?;
        return Ok(mark(shard, got));
    }
    let mut out = Vec::new();
    for (shard, queues) in &runs {
        let mut q = p.clone();
        q.queues = queues.clone();
        q.limit = p.limit.saturating_sub(out.len());
        q.wait = Duration::ZERO;
        out.extend(mark(*shard, s.backends[*shard].job_reserve(q).await?));
        if out.len() >= p.limit {
            return Ok(out);
        }
    }
    if !out.is_empty() || p.wait.is_zero() {
        return Ok(out);
    }
    let mut by_shard: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (shard, queues) in runs {
        by_shard.entry(shard).or_default().extend(queues);
    }
    let deadline = Instant::now() + p.wait;
    loop {
        for (shard, queues) in &by_shard {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let mut q = p.clone();
            q.queues = queues.clone();
            q.wait = left.min(ROTATION);
            let got = s.backends[*shard].job_reserve(q).await?;
            if !got.is_empty() {
                return Ok(mark(*shard, got));
            }
        }
    }
}
