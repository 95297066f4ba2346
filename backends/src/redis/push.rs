//! Putting jobs in, as Sidekiq's client does: queued jobs `LPUSH`ed to their queues,
//! scheduled ones `ZADD`ed to `schedule`.
//!
//! 1. [`job_push`]: queued jobs `SADD queues` (skipped for a queue added in the last few
//!    seconds, see `push_pool.rs`) + `LPUSH queue:<name>` (all of one queue in one LPUSH),
//!    scheduled ones `ZADD schedule`.
//! 2. Several jobs go in one MULTI/EXEC on the shared connection, one job on a plain
//!    connection of its own (`push_pool.rs`).
//! 3. A push with a job that has a unique lock or a priority goes, whole, through
//!    `push.lua` (`unique.rs`); this path, for plain jobs only, is unchanged by flow control.

use std::time::Instant;

use jobs::backend::{BackendError, PushParams, PushReport};
use jobs::envelope::to_epoch;

use super::raw::encode;
use super::Inner;

/// Stores jobs: those with `at` in the schedule set, the others at their queues' tails.
pub(super) async fn job_push(inner: &Inner, p: PushParams) -> Result<PushReport, BackendError> {
    if p.jobs.is_empty() {
        return Ok(PushReport::default());
    }
    if super::unique::needs_flow(&p.jobs) {
        return super::unique::job_push(inner, p).await;
    }
    let k = inner.keys();
    let stamp = to_epoch(p.now);
    let mut queued: Vec<(String, Vec<String>)> = Vec::new();
    let mut scheduled: Vec<(String, String)> = Vec::new();
    let many = p.jobs.len() > 1;
    for mut job in p.jobs {
        match job.at.take() {
            Some(at) => scheduled.push((at.to_string(), encode(&job)?)),
            None => {
                job.enqueued_at = Some(stamp);
                let payload = encode(&job)?;
                match queued.iter_mut().find(|(q, _)| *q == job.queue) {
                    Some((_, list)) => list.push(payload),
                    None => queued.push((job.queue, vec![payload])),
                }
            }
        }
    }
    let known = &inner.known;
    let (sent, generation) = (Instant::now(), known.generation());
    let mut pipe = redis::pipe();
    if many {
        pipe.atomic();
    }
    let mut replies = 0;
    let mut added = Vec::new();
    for (queue, payloads) in &queued {
        if !known.is_known(queue, sent) {
            pipe.cmd("SADD").arg(k.queues()).arg(queue).ignore();
            added.push(queue.as_str());
            replies += 1;
        }
        pipe.cmd("LPUSH").arg(k.queue(queue)).arg(payloads).ignore();
        replies += 1;
    }
    if !scheduled.is_empty() {
        let cmd = pipe.cmd("ZADD").arg(k.schedule());
        for (at, payload) in &scheduled {
            cmd.arg(at).arg(payload);
        }
        cmd.ignore();
        replies += 1;
    }
    let plain = match &inner.push {
        Some(pool) if !many => pool.run(&pipe, replies).await,
        _ => None,
    };
    match plain {
        Some(reply) => {
            reply.map_err(|e| inner.edge().map(e))?;
        }
        None => inner.pipe::<()>(&pipe).await?,
    }
    for queue in added {
        known.added(queue, sent, generation);
    }
    Ok(PushReport::default())
}
