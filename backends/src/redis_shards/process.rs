//! Processes across shards: a heartbeat goes to every shard (each extends the leases reserved
//! there, listed by that shard's tokens, and shows the jobs of its own queues as running),
//! signals are merged; a process is listed once, with the jobs it runs on every shard.

use jobs::backend::*;

use super::token::decode;
use super::{all, Shards};

pub(super) async fn process_heartbeat(
    s: &Shards,
    p: HeartbeatParams,
) -> Result<HeartbeatReply, BackendError> {
    let n = s.backends.len();
    let mut leases: Option<Vec<Vec<LeaseToken>>> = p.leases.as_ref().map(|_| vec![Vec::new(); n]);
    if let (Some(held), Some(split)) = (&p.leases, &mut leases) {
        for t in held {
            let (shard, token) = decode(n, t)?;
            split[shard].push(token);
        }
    }
    let calls = (0..n).map(|shard| {
        let mut q = p.clone();
        q.running.retain(|r| s.opts.shard_of(&r.job.queue) == shard);
        q.leases = leases.as_ref().map(|l| l[shard].clone());
        s.backends[shard].process_heartbeat(q)
    });
    let mut reply = HeartbeatReply::default();
    for r in all(calls).await? {
        for signal in r.signals {
            if !reply.signals.contains(&signal) {
                reply.signals.push(signal);
            }
        }
        for jid in r.cancels {
            if !reply.cancels.contains(&jid) {
                reply.cancels.push(jid);
            }
        }
    }
    Ok(reply)
}

pub(super) async fn process_remove(s: &Shards, p: ProcessRemoveParams) -> Result<(), BackendError> {
    all(s.backends.iter().map(|b| b.process_remove(p.clone())))
        .await
        .map(drop)
}

pub(super) async fn process_list(s: &Shards) -> Result<Vec<ProcessRecord>, BackendError> {
    let lists = all(s.backends.iter().map(|b| b.process_list())).await?;
    let mut merged: Vec<ProcessRecord> = Vec::new();
    for r in lists.into_iter().flatten() {
        match merged.iter_mut().find(|m| m.info.id == r.info.id) {
            Some(m) => {
                m.quiet |= r.quiet;
                for job in r.running {
                    if !m.running.iter().any(|x| x.job.jid == job.job.jid) {
                        m.running.push(job);
                    }
                }
                if r.beat_at > m.beat_at {
                    m.beat_at = r.beat_at;
                    m.info = r.info;
                }
            }
            None => merged.push(r),
        }
    }
    Ok(merged)
}

pub(super) async fn process_signal(s: &Shards, p: ProcessSignalParams) -> Result<(), BackendError> {
    all(s.backends.iter().map(|b| b.process_signal(p.clone())))
        .await
        .map(drop)
}
