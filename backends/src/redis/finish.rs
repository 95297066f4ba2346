//! Finishing reserved jobs: `finish.lua`, fenced per item by `LREM` on the in-flight list.
//!
//! 1. [`job_finish`] passes each in-flight list once, with its process's epoch key and the
//!    epoch the tokens carry, and, per item, its outcome, the raw payload its lease token
//!    carries and, for a move, the time and the new payload.
//! 2. The script checks the epoch (another one: the process was rescued since, the lease is
//!    lost) and removes exactly that payload from the in-flight list (0 removed: the lease
//!    was lost), applying nothing for a lost item; it moves or drops the job, counts it, and
//!    trims the dead set when a job died, all in one round trip.
//! 3. A job whose token says it had been rescued has its rescue count cleared in the same
//!    script: the run ended. A job never rescued (the usual case) costs nothing more.
//! 4. An expired job is dropped and counted in `jobs-rs:stat:expired`. A job with a unique
//!    lock names it (lock hash key, lock key, jid): the script releases it with the job's last
//!    transition, or records where the job waits when it goes to the retry or schedule set.
//!    Only then are the index and counter keys passed: a plain job costs nothing more.

use std::fmt::Write as _;

use jobs::backend::{BackendError, FinishOutcome, FinishParams, FinishReport};
use jobs::envelope::flow::UniqueLock;

use super::raw::encode;
use super::scripts::FINISH;
use super::token::Token;
use super::unique::lock_of;
use super::{earlier, score, Inner, STATS_TTL_SECS};

/// Settles reserved jobs, each fenced by its lease token.
pub(super) async fn job_finish(
    inner: &Inner,
    p: FinishParams,
) -> Result<FinishReport, BackendError> {
    if p.items.is_empty() {
        return Ok(FinishReport::default());
    }
    if p.items
        .iter()
        .any(|i| i.outcome == FinishOutcome::Cancelled)
    {
        let cancelled: Vec<(usize, String)> = p
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.outcome == FinishOutcome::Cancelled)
            .map(|(n, i)| (n, i.job.jid.clone()))
            .collect();
        let (now, limits) = (p.now, p.dead_limits);
        // One `finish.lua` call (outcome `x`), then the requests and the set's trim.
        let report = settle(inner, p).await?;
        let done: Vec<String> = cancelled
            .into_iter()
            .filter(|(n, _)| !report.lost.contains(n))
            .map(|(_, jid)| jid)
            .collect();
        super::cancel::clear_requests(inner, &done).await?;
        super::cancel::trim(inner, now, limits).await?;
        return Ok(report);
    }
    settle(inner, p).await
}

/// Settles the items in one `finish.lua` call.
async fn settle(inner: &Inner, p: FinishParams) -> Result<FinishReport, BackendError> {
    let k = inner.keys();
    let day = p.now.date_naive();
    let mut inv = FINISH.prepare_invoke();
    inv.key(k.retry())
        .key(k.schedule())
        .key(k.dead())
        .key(k.processed())
        .key(k.failed())
        .key(k.processed_on(day))
        .key(k.failed_on(day))
        .key(k.dead_trimmed())
        .key(k.rescues());
    inv.arg(score(p.now))
        .arg(score(earlier(p.now, p.dead_limits.max_age)))
        .arg(p.dead_limits.max_jobs)
        .arg(STATS_TTL_SECS);
    // Each in-flight list is passed once, with the epoch its tokens carry; items name theirs
    // by index (usually all share one: one process, one queue, one epoch).
    let mut lists: Vec<(&str, &str, u64)> = Vec::new();
    let mut tokens = Vec::with_capacity(p.items.len());
    for item in &p.items {
        let t = Token::decode(&item.token)?;
        let list = match lists
            .iter()
            .position(|&l| l == (t.process, t.queue, t.epoch))
        {
            Some(i) => i + 1,
            None => {
                lists.push((t.process, t.queue, t.epoch));
                inv.key(k.inflight(t.process, t.queue))
                    .key(k.epoch(t.process));
                lists.len()
            }
        };
        tokens.push((t, list));
    }
    inv.arg(lists.len());
    for &(_, _, epoch) in &lists {
        inv.arg(epoch);
    }
    let locks: Vec<Option<UniqueLock>> = p.items.iter().map(|i| lock_of(&i.job)).collect();
    let expiring = p
        .items
        .iter()
        .any(|i| matches!(i.outcome, FinishOutcome::Expired));
    if expiring || locks.iter().any(Option::is_some) {
        inv.key(k.uniques()).key(k.expired());
    }
    let mut head = String::new();
    for ((item, (t, list)), lock) in p.items.iter().zip(tokens).zip(locks) {
        let (code, at) = match &item.outcome {
            FinishOutcome::Completed | FinishOutcome::Discard => ('c', None),
            FinishOutcome::Expired => ('e', None),
            FinishOutcome::Retry { at } => ('r', Some(score(*at))),
            FinishOutcome::Snooze { at } => ('s', Some(score(*at))),
            FinishOutcome::Dead => ('d', Some(String::new())),
            FinishOutcome::Cancelled => ('x', Some(String::new())),
            _ => {
                return Err(BackendError::Unsupported {
                    backend: "redis",
                    operation: "this finish outcome",
                })
            }
        };
        head.clear();
        let failed = u8::from(item.failed);
        let rescued = u8::from(t.rescues > 0);
        let result = super::results::record(k, item, p.now);
        let bid = item
            .job
            .extra
            .get(jobs::batch::BATCH_FIELD)
            .and_then(|b| b.as_str());
        // 1: a unique lock, 2: a result, 4: a batch member, summed (finish.lua).
        let locked =
            u8::from(lock.is_some()) + 2 * u8::from(result.is_some()) + 4 * u8::from(bid.is_some());
        // Writing to a String cannot fail.
        let _ = write!(head, "{code}{failed}{rescued}{locked}{list}");
        inv.arg(head.as_str()).arg(t.raw);
        if let Some(at) = at {
            inv.arg(at).arg(encode(&item.job)?);
        }
        if let Some(lock) = lock {
            inv.arg(k.unique(&lock.key))
                .arg(&lock.key)
                .arg(&item.job.jid);
        }
        if let Some((key, record, ttl_ms, expiry)) = result {
            inv.arg(key).arg(record).arg(ttl_ms).arg(expiry);
        }
        if let Some(bid) = bid {
            inv.arg(bid).arg(&item.job.jid);
        }
    }
    let reply: Vec<i64> = inner.eval(&inv).await?;
    let (trimmed, lost) = reply
        .split_first()
        .ok_or_else(|| super::error::bad_reply("finish"))?;
    let report = FinishReport {
        lost: lost
            .iter()
            .filter_map(|&i| usize::try_from(i).ok())
            .collect(),
        dead_trimmed: u64::try_from(*trimmed).unwrap_or(0),
    };
    jobs::backend::warn_dead_trimmed("redis", report.dead_trimmed);
    Ok(report)
}
