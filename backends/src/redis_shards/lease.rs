//! Requeues by the shard in each token, and lease rescue on every shard.

use std::collections::BTreeMap;

use jobs::backend::*;

use super::token::decode;
use super::{all, Shards};

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
    all(calls).await.map(drop)
}

pub(super) async fn lease_rescue(s: &Shards, p: RescueParams) -> Result<u64, BackendError> {
    let moved = all(s.backends.iter().map(|b| b.lease_rescue(p.clone()))).await?;
    Ok(moved.into_iter().sum())
}
