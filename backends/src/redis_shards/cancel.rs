//! Cancellation across shards: a job is on one shard, so each shard is asked and the answer
//! that found the job wins; pending cancels and announcements are merged from every shard.

use futures::StreamExt;
use jobs::backend::*;

use super::{all, Shards};

/// How much an answer says: one that found the job beats one that did not.
fn rank(c: &Cancellation) -> u8 {
    match c {
        Cancellation::NotFound => 0,
        Cancellation::AlreadyFinished => 1,
        _ => 2,
    }
}

pub(super) async fn job_cancel(
    s: &Shards,
    p: CancelParams,
) -> Result<Vec<Cancellation>, BackendError> {
    let answers = all(s.backends.iter().map(|b| b.job_cancel(p.clone()))).await?;
    let mut merged: Vec<Cancellation> = vec![Cancellation::NotFound; p.jids.len()];
    for shard in answers {
        for (m, a) in merged.iter_mut().zip(shard) {
            if rank(&a) > rank(m) {
                *m = a;
            }
        }
    }
    Ok(merged)
}

pub(super) async fn cancel_pending(
    s: &Shards,
    p: CancelPendingParams,
) -> Result<Vec<String>, BackendError> {
    let lists = all(s.backends.iter().map(|b| b.cancel_pending(p.clone()))).await?;
    let mut out: Vec<String> = Vec::new();
    for jid in lists.into_iter().flatten() {
        if !out.contains(&jid) {
            out.push(jid);
        }
    }
    Ok(out)
}

/// Every shard's announcements in one feed; it ends when every shard's has (a lost one's
/// announcements reach the worker through its heartbeat, as the contract says).
pub(super) async fn cancel_listen(s: &Shards) -> Result<CancelFeed, BackendError> {
    let feeds = all(s.backends.iter().map(|b| b.cancel_listen())).await?;
    Ok(futures::stream::select_all(feeds).boxed())
}
