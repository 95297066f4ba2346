//! Admin actions: pausing a queue goes to its shard; clearing a queue and every job action go
//! to every shard and add up, so jobs left on a shard by an earlier routing are reached too.

use jobs::backend::*;

use super::{all, Shards};

pub(super) async fn queue_pause(s: &Shards, p: QueuePauseParams) -> Result<(), BackendError> {
    s.backends[s.opts.shard_of(&p.queue)].queue_pause(p).await
}

pub(super) async fn queue_clear(s: &Shards, p: QueueClearParams) -> Result<u64, BackendError> {
    sum(all(s.backends.iter().map(|b| b.queue_clear(p.clone()))).await?)
}

pub(super) async fn job_delete(s: &Shards, p: JobActionParams) -> Result<u64, BackendError> {
    sum(all(s.backends.iter().map(|b| b.job_delete(p.clone()))).await?)
}

pub(super) async fn job_enqueue_now(s: &Shards, p: JobActionParams) -> Result<u64, BackendError> {
    sum(all(s.backends.iter().map(|b| b.job_enqueue_now(p.clone()))).await?)
}

pub(super) async fn job_kill(s: &Shards, p: JobActionParams) -> Result<u64, BackendError> {
    sum(all(s.backends.iter().map(|b| b.job_kill(p.clone()))).await?)
}

pub(super) async fn clear_all(s: &Shards) -> Result<(), BackendError> {
    all(s.backends.iter().map(|b| b.clear_all()))
        .await
        .map(drop)
}

pub(super) fn sum(counts: Vec<u64>) -> Result<u64, BackendError> {
    Ok(counts.into_iter().sum())
}
