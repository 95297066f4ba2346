//! Unique locks across shards: listed together, released wherever held.

use jobs::backend::*;

use super::{all, Shards};

pub(super) async fn unique_list(
    s: &Shards,
    p: UniqueListParams,
) -> Result<Vec<UniqueHeld>, BackendError> {
    let lists = all(s.backends.iter().map(|b| b.unique_list(p.clone()))).await?;
    let mut all: Vec<UniqueHeld> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(all)
}

pub(super) async fn unique_release(
    s: &Shards,
    p: UniqueReleaseParams,
) -> Result<bool, BackendError> {
    let released = all(s.backends.iter().map(|b| b.unique_release(p.clone()))).await?;
    Ok(released.into_iter().any(|r| r))
}
