//! Priority aging on every shard.

use futures::future::try_join_all;
use jobs::backend::*;

use super::Shards;

pub(super) async fn priority_age(s: &Shards, p: AgeParams) -> Result<u64, BackendError> {
    let moved = try_join_all(s.backends.iter().map(|b| b.priority_age(p.clone()))).await?;
    Ok(moved.into_iter().sum())
}
