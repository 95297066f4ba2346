//! Routing the hot path: pushes by queue, reserves from the worker's shards, settles by the
//! shard in the lease token, and the periodic calls on every shard.
//!
//! 1. **Tokens.** A lease token is `<shard>/<the shard's own token>`, so a finish or a
//!    requeue goes to the shard the job was reserved from, whatever the routes say since.
//! 2. **Push.** Jobs are grouped by their queue's shard; each group is one push on its
//!    shard (atomic there), the groups run at the same time, and the report's indexes are
//!    mapped back to the caller's. A push spanning shards is atomic per shard only.
//! 3. **Reserve.** The worker's queues, in its order, are cut into runs on the same shard;
//!    one pass takes what is there without waiting, in that order. Only when nothing was
//!    there and the caller may wait does it block, on one shard at a time, for at most
//!    [`ROTATION`] each, so a job on another shard waits at most about that long.
//! 4. **Heartbeats** go to every shard (each extends the leases reserved there, listed by
//!    that shard's tokens, and shows the jobs of its own queues as running); their signals
//!    are merged. Promotion (within one limit for all shards, from a rotating first shard),
//!    rescue and aging run on every shard and add up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use jobs::backend::*;

use super::Shards;

/// The longest one blocking reserve waits on one shard before trying the next.
pub const ROTATION: Duration = Duration::from_millis(100);

/// A shard's token, marked with its shard.
pub(super) fn encode(shard: usize, token: &LeaseToken) -> LeaseToken {
    LeaseToken(format!("{shard}/{}", token.0))
}

/// The shard a token was issued by, and that shard's own token.
pub(super) fn decode(
    shards: usize,
    token: &LeaseToken,
) -> Result<(usize, LeaseToken), BackendError> {
    let bad = || {
        BackendError::Decode(format!(
            "not a lease token of the sharded Redis backend (expected `<shard>/...` with a \
             shard below {shards})"
        ))
    };
    let (shard, rest) = token.0.split_once('/').ok_or_else(bad)?;
    let shard: usize = shard.parse().map_err(|_| bad())?;
    if shard >= shards {
        return Err(bad());
    }
    Ok((shard, LeaseToken(rest.to_owned())))
}

fn mark(shard: usize, mut got: Vec<Reserved>) -> Vec<Reserved> {
    for r in &mut got {
        r.token = encode(shard, &r.token);
    }
    got
}

pub(super) async fn job_push(s: &Shards, mut p: PushParams) -> Result<PushReport, BackendError> {
    let jobs = std::mem::take(&mut p.jobs);
    let mut groups: BTreeMap<usize, (Vec<usize>, Vec<_>)> = BTreeMap::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let group = groups.entry(s.opts.shard_of(&job.queue)).or_default();
        group.0.push(i);
        group.1.push(job);
    }
    let calls = groups.into_iter().map(|(shard, (indexes, jobs))| {
        let mut q = p.clone();
        q.jobs = jobs;
        async move {
            let report = s.backends[shard].job_push(q).await?;
            Ok::<_, BackendError>((indexes, report))
        }
    });
    let mut report = PushReport::default();
    for (indexes, r) in try_join_all(calls).await? {
        let at = |i: usize| indexes.get(i).copied().unwrap_or(i);
        report
            .duplicates
            .extend(r.duplicates.into_iter().map(|(i, jid)| (at(i), jid)));
        report
            .replaced
            .extend(r.replaced.into_iter().map(|(i, jid)| (at(i), jid)));
    }
    report.duplicates.sort();
    report.replaced.sort();
    Ok(report)
}

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

pub(super) async fn job_finish(
    s: &Shards,
    mut p: FinishParams,
) -> Result<FinishReport, BackendError> {
    let items = std::mem::take(&mut p.items);
    let mut groups: BTreeMap<usize, (Vec<usize>, Vec<Finish>)> = BTreeMap::new();
    for (i, mut item) in items.into_iter().enumerate() {
        let (shard, token) = decode(s.backends.len(), &item.token)?;
        item.token = token;
        let group = groups.entry(shard).or_default();
        group.0.push(i);
        group.1.push(item);
    }
    let calls = groups.into_iter().map(|(shard, (indexes, items))| {
        let mut q = p.clone();
        q.items = items;
        async move {
            let report = s.backends[shard].job_finish(q).await?;
            Ok::<_, BackendError>((indexes, report))
        }
    });
    let mut report = FinishReport::default();
    for (indexes, r) in try_join_all(calls).await? {
        report.lost.extend(
            r.lost
                .into_iter()
                .map(|i| indexes.get(i).copied().unwrap_or(i)),
        );
        report.dead_trimmed += r.dead_trimmed;
    }
    report.lost.sort_unstable();
    Ok(report)
}

pub(super) async fn job_requeue(s: &Shards, mut p: RequeueParams) -> Result<(), BackendError> {
    let tokens = std::mem::take(&mut p.tokens);
    let mut groups: BTreeMap<usize, Vec<LeaseToken>> = BTreeMap::new();
    for t in &tokens {
        let (shard, token) = decode(s.backends.len(), t)?;
        groups.entry(shard).or_default().push(token);
    }
    let calls = groups.into_iter().map(|(shard, tokens)| {
        let mut q = p.clone();
        q.tokens = tokens;
        s.backends[shard].job_requeue(q)
    });
    try_join_all(calls).await.map(drop)
}

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
    for r in try_join_all(calls).await? {
        for signal in r.signals {
            if !reply.signals.contains(&signal) {
                reply.signals.push(signal);
            }
        }
    }
    Ok(reply)
}

pub(super) async fn process_remove(s: &Shards, p: ProcessRemoveParams) -> Result<(), BackendError> {
    try_join_all(s.backends.iter().map(|b| b.process_remove(p.clone())))
        .await
        .map(drop)
}

/// Every shard in turn, each up to what is left of the limit; the first shard asked rotates
/// from call to call, so a shard with many due jobs cannot keep the others waiting.
pub(super) async fn scheduled_promote(s: &Shards, p: PromoteParams) -> Result<u64, BackendError> {
    let n = s.backends.len();
    let start = s
        .promote_from
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut moved = 0u64;
    for i in 0..n {
        let left = p
            .limit
            .saturating_sub(usize::try_from(moved).unwrap_or(usize::MAX));
        if left == 0 {
            break;
        }
        let mut q = p.clone();
        q.limit = left;
        moved += s.backends[(start + i) % n].scheduled_promote(q).await?;
    }
    Ok(moved)
}

pub(super) async fn lease_rescue(s: &Shards, p: RescueParams) -> Result<u64, BackendError> {
    let moved = try_join_all(s.backends.iter().map(|b| b.lease_rescue(p.clone()))).await?;
    Ok(moved.into_iter().sum())
}

pub(super) async fn priority_age(s: &Shards, p: AgeParams) -> Result<u64, BackendError> {
    let moved = try_join_all(s.backends.iter().map(|b| b.priority_age(p.clone()))).await?;
    Ok(moved.into_iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_other_shapes() {
        let t = encode(1, &LeaseToken("9:host:1:ab7:default0:0:{}".into()));
        assert_eq!(
            decode(2, &t).unwrap(),
            (1, LeaseToken("9:host:1:ab7:default0:0:{}".into()))
        );
        for bad in ["", "x/1", "2/abc", "abc"] {
            assert!(decode(2, &LeaseToken(bad.into())).is_err(), "{bad}");
        }
    }
}
