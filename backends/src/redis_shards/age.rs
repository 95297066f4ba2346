//! Priority aging on every shard.

use jobs::backend::*;

use super::{all, Shards};

pub(super) async fn priority_age(s: &Shards, p: AgeParams) -> Result<u64, BackendError> {
    let moved = all(s.backends.iter().map(|b| b.priority_age(p.clone()))).await?;
    Ok(moved.into_iter().sum())
}
