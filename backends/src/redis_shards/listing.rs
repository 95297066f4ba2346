//! Listings merged across shards.
//!
//! A queue's own listing comes from its shard. Scheduled, retry, dead and cancelled listings
//! are merged in their set's order (soonest first; dead and cancelled: most recent first):
//! each shard is asked for its first `offset + limit`, the merge is sorted, then the page is
//! cut, so pages are exact across shards. Queues and statistics are summed.

use std::collections::BTreeMap;

use jobs::backend::*;

use super::{all, Shards};

pub(super) async fn queue_list(
    s: &Shards,
    p: QueueListParams,
) -> Result<Vec<QueueInfo>, BackendError> {
    let lists = all(s.backends.iter().map(|b| b.queue_list(p.clone()))).await?;
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

pub(super) async fn job_list(s: &Shards, p: JobListParams) -> Result<JobPage, BackendError> {
    if let JobSet::Queue(queue) = &p.set {
        return s.backends[s.opts.shard_of(queue)].job_list(p).await;
    }
    let mut first = p.clone();
    first.offset = 0;
    first.limit = p.offset.saturating_add(p.limit);
    let pages = all(s.backends.iter().map(|b| b.job_list(first.clone()))).await?;
    let total = pages.iter().map(|page| page.total).sum();
    let mut jobs: Vec<StoredJob> = pages.into_iter().flat_map(|page| page.jobs).collect();
    if matches!(p.set, JobSet::Dead | JobSet::Cancelled) {
        jobs.sort_by_key(|j| std::cmp::Reverse(j.at));
    } else {
        jobs.sort_by_key(|j| j.at);
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

pub(super) async fn stats(s: &Shards) -> Result<Stats, BackendError> {
    let all = all(s.backends.iter().map(|b| b.stats())).await?;
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
    let all = all(s.backends.iter().map(|b| b.stats_history(p.clone()))).await?;
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
