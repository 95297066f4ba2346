//! Resumable steps across shards: a checkpoint goes to the shard its lease token names, and
//! the token it answers (a Redis checkpoint re-issues it) is marked with that shard again.

use jobs::backend::{Backend, BackendError, CheckpointParams, LeaseToken};

use super::token::{decode, encode};
use super::Shards;

pub(super) async fn job_checkpoint(
    s: &Shards,
    mut p: CheckpointParams,
) -> Result<LeaseToken, BackendError> {
    let (shard, token) = decode(s.backends.len(), &p.token)?;
    p.token = token;
    let next = s.backends[shard].job_checkpoint(p).await?;
    Ok(encode(shard, &next))
}
