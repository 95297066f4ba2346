//! The admin side across shards: listings merged, actions sent where the jobs may be.
//!
//! 1. A queue's own calls (pause, its job listing) go to its shard; clearing a queue and
//!    every job action go to every shard and add up, so jobs left on a shard by an earlier
//!    routing are reached too.
//! 2. Scheduled, retry and dead listings are merged in their set's order (soonest first;
//!    dead: most recent first): each shard is asked for its first `offset + limit`, the
//!    merge is sorted, then the page is cut, so pages are exact across shards.
//! 3. Queues, processes, unique locks, limits and statistics are merged: a process beats on
//!    every shard, and is listed once with the jobs it runs on all of them.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;

use super::Shards;

pub(super) async fn queue_list(
    s: &Shards,
    p: QueueListParams,
) -> Result<Vec<QueueInfo>, BackendError> {
    let lists = try_join_all(s.backends.iter().map(|b| b.queue_list(p.clone()))).await?;
    let mut merged: BTreeMap<String, QueueInfo> = BTreeMap::new();
    for q in lists.into_iter().flatten() {
        match merged.get_mut(&q.name) {
            Some(m) => {
                m.size += q.size;
                m.latency = m.latency.max(q.latency);
                m.paused |= q.paused;
            }
            None => {
                merged.insert(q.name.clone(), q);
            }
        }
    }
    Ok(merged.into_values().collect())
}

pub(super) async fn queue_pause(s: &Shards, p: QueuePauseParams) -> Result<(), BackendError> {
    s.backends[s.opts.shard_of(&p.queue)].queue_pause(p).await
}

pub(super) async fn queue_clear(s: &Shards, p: QueueClearParams) -> Result<u64, BackendError> {
    sum(try_join_all(s.backends.iter().map(|b| b.queue_clear(p.clone()))).await?)
}

pub(super) async fn job_list(s: &Shards, p: JobListParams) -> Result<JobPage, BackendError> {
    if let JobSet::Queue(queue) = &p.set {
        return s.backends[s.opts.shard_of(queue)].job_list(p).await;
    }
    let mut first = p.clone();
    first.offset = 0;
    first.limit = p.offset.saturating_add(p.limit);
    let pages = try_join_all(s.backends.iter().map(|b| b.job_list(first.clone()))).await?;
    let total = pages.iter().map(|page| page.total).sum();
    let mut jobs: Vec<StoredJob> = pages.into_iter().flat_map(|page| page.jobs).collect();
    if p.set == JobSet::Dead {
        jobs.sort_by(|a, b| b.at.cmp(&a.at));
    } else {
        jobs.sort_by(|a, b| a.at.cmp(&b.at));
    }
    let jobs = jobs
        .into_iter()
        .skip(usize::try_from(p.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(p.limit).unwrap_or(usize::MAX))
        .collect();
    Ok(JobPage { total, jobs })
}

pub(super) async fn job_get(
    s: &Shards,
    p: JobGetParams,
) -> Result<Option<StoredJob>, BackendError> {
    if let JobSet::Queue(queue) = &p.set {
        if let Some(found) = s.backends[s.opts.shard_of(queue)]
            .job_get(p.clone())
            .await?
        {
            return Ok(Some(found));
        }
    }
    for b in &s.backends {
        if let Some(found) = b.job_get(p.clone()).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

pub(super) async fn job_delete(s: &Shards, p: JobActionParams) -> Result<u64, BackendError> {
    sum(try_join_all(s.backends.iter().map(|b| b.job_delete(p.clone()))).await?)
}

pub(super) async fn job_enqueue_now(s: &Shards, p: JobActionParams) -> Result<u64, BackendError> {
    sum(try_join_all(s.backends.iter().map(|b| b.job_enqueue_now(p.clone()))).await?)
}

pub(super) async fn job_kill(s: &Shards, p: JobActionParams) -> Result<u64, BackendError> {
    sum(try_join_all(s.backends.iter().map(|b| b.job_kill(p.clone()))).await?)
}

pub(super) async fn unique_list(
    s: &Shards,
    p: UniqueListParams,
) -> Result<Vec<UniqueHeld>, BackendError> {
    let lists = try_join_all(s.backends.iter().map(|b| b.unique_list(p.clone()))).await?;
    let mut all: Vec<UniqueHeld> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(all)
}

pub(super) async fn unique_release(
    s: &Shards,
    p: UniqueReleaseParams,
) -> Result<bool, BackendError> {
    let released = try_join_all(s.backends.iter().map(|b| b.unique_release(p.clone()))).await?;
    Ok(released.into_iter().any(|r| r))
}

pub(super) async fn limits_list(
    s: &Shards,
    p: LimitsListParams,
) -> Result<Vec<LimitUsage>, BackendError> {
    let lists = try_join_all(s.backends.iter().map(|b| b.limits_list(p.clone()))).await?;
    let mut merged: Vec<LimitUsage> = Vec::new();
    for l in lists.into_iter().flatten() {
        match merged
            .iter_mut()
            .find(|m| m.key == l.key && m.kind == l.kind)
        {
            Some(m) => {
                m.limit = m.limit.max(l.limit);
                m.in_use += l.in_use;
                m.waiting += l.waiting;
                m.frees_at = match (m.frees_at, l.frees_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => merged.push(l),
        }
    }
    merged.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(merged)
}

pub(super) async fn limit_waiting(
    s: &Shards,
    p: LimitWaitingParams,
) -> Result<Vec<JobEnvelope>, BackendError> {
    let lists = try_join_all(s.backends.iter().map(|b| b.limit_waiting(p.clone()))).await?;
    Ok(lists.into_iter().flatten().collect())
}

pub(super) async fn limit_waiting_delete(
    s: &Shards,
    p: LimitWaitingDeleteParams,
) -> Result<u64, BackendError> {
    sum(try_join_all(s.backends.iter().map(|b| b.limit_waiting_delete(p.clone()))).await?)
}

pub(super) async fn process_list(s: &Shards) -> Result<Vec<ProcessRecord>, BackendError> {
    let lists = try_join_all(s.backends.iter().map(|b| b.process_list())).await?;
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
    try_join_all(s.backends.iter().map(|b| b.process_signal(p.clone())))
        .await
        .map(drop)
}

pub(super) async fn stats(s: &Shards) -> Result<Stats, BackendError> {
    let all = try_join_all(s.backends.iter().map(|b| b.stats())).await?;
    let mut t = Stats::default();
    for x in all {
        t.processed += x.processed;
        t.failed += x.failed;
        t.dead_trimmed += x.dead_trimmed;
        t.expired += x.expired;
        t.enqueued += x.enqueued;
        t.scheduled += x.scheduled;
        t.retries += x.retries;
        t.dead += x.dead;
    }
    Ok(t)
}

pub(super) async fn stats_history(
    s: &Shards,
    p: StatsHistoryParams,
) -> Result<Vec<DayStats>, BackendError> {
    let all = try_join_all(s.backends.iter().map(|b| b.stats_history(p.clone()))).await?;
    let mut merged: Vec<DayStats> = Vec::new();
    for day in all.into_iter().flatten() {
        match merged.iter_mut().find(|m| m.date == day.date) {
            Some(m) => {
                m.processed += day.processed;
                m.failed += day.failed;
            }
            None => merged.push(day),
        }
    }
    Ok(merged)
}

pub(super) async fn facts(s: &Shards) -> Result<Vec<(String, String)>, BackendError> {
    let all = try_join_all(s.backends.iter().map(|b| b.facts())).await?;
    let mut out = vec![("Shards".to_owned(), s.backends.len().to_string())];
    for (i, facts) in all.into_iter().enumerate() {
        out.extend(
            facts
                .into_iter()
                .map(|(k, v)| (format!("Shard {i}: {k}"), v)),
        );
    }
    Ok(out)
}

pub(super) async fn clear_all(s: &Shards) -> Result<(), BackendError> {
    try_join_all(s.backends.iter().map(|b| b.clear_all()))
        .await
        .map(drop)
}

fn sum(counts: Vec<u64>) -> Result<u64, BackendError> {
    Ok(counts.into_iter().sum())
}
