//! Promotion of due jobs on every shard, within one limit for all of them.

use jobs::backend::*;

use super::Shards;

/// Every shard in turn, each up to what is left of the limit; the first shard asked rotates
/// from call to call, so a shard with many due jobs cannot keep the others waiting.
pub(super) async fn scheduled_promote(s: &Shards, p: PromoteParams) -> Result<u64, BackendError> {
    let n = s.backends.len();
    let start = s
        .promote_from
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut moved = 0u64;
    for i in 0..n {
        let left = p
            .limit
            .saturating_sub(usize::try_from(moved).unwrap_or(usize::MAX));
        if left == 0 {
            break;
        }
        let mut q = p.clone();
        q.limit = left;
        moved += s.backends[(start + i) % n].scheduled_promote(q).await?;
    }
    Ok(moved)
}
