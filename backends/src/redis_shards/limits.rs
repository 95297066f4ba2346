//! Concurrency and rate limit usage across shards: one line per key, counts summed.

use jobs::backend::*;
use jobs::envelope::JobEnvelope;

use super::actions::sum;
use super::{all, Shards};

pub(super) async fn limits_list(
    s: &Shards,
    p: LimitsListParams,
) -> Result<Vec<LimitUsage>, BackendError> {
    let lists = all(s.backends.iter().map(|b| b.limits_list(p.clone()))).await?;
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
    let lists = all(s.backends.iter().map(|b| b.limit_waiting(p.clone()))).await?;
    Ok(lists.into_iter().flatten().collect())
}

pub(super) async fn limit_waiting_delete(
    s: &Shards,
    p: LimitWaitingDeleteParams,
) -> Result<u64, BackendError> {
    sum(all(s.backends.iter().map(|b| b.limit_waiting_delete(p.clone()))).await?)
}
