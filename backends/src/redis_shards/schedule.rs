//! Recurring jobs across shards: a schedule lives on the shard of its job's queue.
//!
//! 1. **Exactly once.** A tick is claimed and its job pushed in one script on the shard of
//!    the job's queue (the single-instance claim, `SET NX` and push together). Every process
//!    computes the same shard for the same queue, so every claim of a `(name, tick)` meets
//!    on one shard and one wins; the job lands in its queue in the same atomic step, which
//!    claiming on a fixed shard and pushing to another could not promise.
//! 2. The record (declared, enabled, last and next run) is on that same shard, so the claim
//!    raises the `last_run` the scheduler reads. Listings merge every shard's records;
//!    calls by name go to the shards that hold the name (shard 0 when none does yet).
//! 3. Metrics, which have no queue, are kept on shard 0 (see `mod.rs`).

use futures::future::try_join_all;
use jobs::backend::*;
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};

use super::Shards;

/// The shards that hold a record named `name`; shard 0 when none does.
async fn holders(s: &Shards, name: &str) -> Result<Vec<usize>, BackendError> {
    let found = try_join_all(
        s.backends
            .iter()
            .map(|b| b.schedule_get(ScheduleGetParams::new(name))),
    )
    .await?;
    let holders: Vec<usize> = (0..found.len()).filter(|i| found[*i].is_some()).collect();
    Ok(if holders.is_empty() { vec![0] } else { holders })
}

pub(super) async fn schedule_list(s: &Shards) -> Result<Vec<ScheduleRecord>, BackendError> {
    let lists = try_join_all(s.backends.iter().map(|b| b.schedule_list())).await?;
    let mut all: Vec<ScheduleRecord> = Vec::new();
    for r in lists.into_iter().flatten() {
        if !all.iter().any(|x| x.name == r.name) {
            all.push(r);
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

pub(super) async fn schedule_get(
    s: &Shards,
    p: ScheduleGetParams,
) -> Result<Option<ScheduleRecord>, BackendError> {
    for b in &s.backends {
        if let Some(r) = b.schedule_get(p.clone()).await? {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

pub(super) async fn schedule_declare(
    s: &Shards,
    p: DeclareParams,
) -> Result<ScheduleRecord, BackendError> {
    s.backends[s.opts.shard_of(&p.job.queue)]
        .schedule_declare(p)
        .await
}

pub(super) async fn schedule_advance(s: &Shards, p: AdvanceParams) -> Result<(), BackendError> {
    for shard in holders(s, &p.name).await? {
        s.backends[shard].schedule_advance(p.clone()).await?;
    }
    Ok(())
}

pub(super) async fn schedule_set_enabled(
    s: &Shards,
    p: EnableParams,
) -> Result<bool, BackendError> {
    let found = try_join_all(s.backends.iter().map(|b| b.schedule_set_enabled(p.clone()))).await?;
    Ok(found.into_iter().any(|f| f))
}

pub(super) async fn schedule_remove(
    s: &Shards,
    p: ScheduleRemoveParams,
) -> Result<bool, BackendError> {
    let found = try_join_all(s.backends.iter().map(|b| b.schedule_remove(p.clone()))).await?;
    Ok(found.into_iter().any(|f| f))
}

pub(super) async fn schedule_claim(s: &Shards, p: ClaimParams) -> Result<bool, BackendError> {
    s.backends[s.opts.shard_of(&p.job.queue)]
        .schedule_claim(p)
        .await
}
