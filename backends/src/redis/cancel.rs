//! Cancelling jobs on Redis: the cancelled set, cancel requests, and pub/sub.
//!
//! 1. Keys, which Sidekiq never reads: `jobs-rs:cancelled` (sorted set of cancelled jobs by
//!    time, members as stored), `jobs-rs:cancels` (sorted set: jid of a running job whose
//!    cancel is requested -> when), and the pub/sub channel `jobs-rs:cancel`.
//! 2. [`job_cancel`] first asks `cancel.lua` whether the job runs (it is in an in-flight
//!    list; atomic with settles and rescues): then the request is stored and published.
//!    Otherwise the job is looked for in the scheduled and retry sets and every queue, and
//!    claimed into `jobs-rs:cancelled` by `move.lua` (action `c`: the unique lock is
//!    released); a claim lost to a reserve asks again whether it runs.
//! 3. A settle as cancelled is `finish.lua`'s outcome `x` (fenced like every settle, frees
//!    the slot, releases the lock, counts nothing); its request is then removed.

use futures::StreamExt;
use jobs::backend::{
    BackendError, CancelFeed, CancelParams, CancelPendingParams, Cancellation, DeadLimits,
    JobGetParams, JobSet, QueueListParams, CANCEL_REQUEST_TTL,
};

use super::moves::{run_moves, Action, Move};
use super::scripts::CANCEL;
use super::sets::{entries, set_key};
use super::{earlier, score, Inner};

/// The pub/sub channel of cancel requests.
fn channel(inner: &Inner) -> String {
    format!("{}jobs-rs:cancel", inner.keys().ns())
}

/// Asks `cancel.lua` whether `jid` runs; when it does, the request is stored and published.
async fn request(
    inner: &Inner,
    jid: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, BackendError> {
    let k = inner.keys();
    let mut inv = CANCEL.prepare_invoke();
    inv.key(k.leases()).key(k.cancels());
    inv.arg(k.ns())
        .arg(format!("\"jid\":\"{jid}\""))
        .arg(jid)
        .arg(score(now))
        .arg(channel(inner))
        .arg(score(earlier(now, CANCEL_REQUEST_TTL)));
    let ran: i64 = inner.eval(&inv).await?;
    Ok(ran == 1)
}

/// Claims the waiting job `jid` into the cancelled set; `None` when it is waiting nowhere,
/// `Some(false)` when a reserve took it first.
async fn claim_waiting(
    inner: &Inner,
    jid: &str,
    now: chrono::DateTime<chrono::Utc>,
    limits: DeadLimits,
) -> Result<Option<bool>, BackendError> {
    let mut sets = vec![JobSet::Scheduled, JobSet::Retry];
    let queues = super::listing::queue_list(inner, QueueListParams::new(now)).await?;
    sets.extend(queues.into_iter().map(|q| JobSet::Queue(q.name)));
    for set in sets {
        let found = entries(inner, &set)
            .await?
            .into_iter()
            .find(|e| e.job.jid == jid);
        let Some(e) = found else { continue };
        let (key, source) = set_key(inner, &set);
        let lock = if e.decoded {
            Move::lock_of(&e.job)
        } else {
            None
        };
        let m = Move {
            source,
            key: e.list.clone().unwrap_or(key),
            member: e.raw.clone(),
            action: Action::Cancel,
            payload: e.raw,
            lock,
        };
        let (moved, _) = run_moves(inner, vec![m], now, limits).await?;
        return Ok(Some(moved > 0));
    }
    Ok(None)
}

/// Cancels each jid (see the module docs).
pub(super) async fn job_cancel(
    inner: &Inner,
    p: CancelParams,
) -> Result<Vec<Cancellation>, BackendError> {
    let mut answers = Vec::with_capacity(p.jids.len());
    for jid in &p.jids {
        answers.push(cancel_one(inner, jid, p.now, p.limits).await?);
    }
    trim(inner, p.now, p.limits).await?;
    Ok(answers)
}

async fn cancel_one(
    inner: &Inner,
    jid: &str,
    now: chrono::DateTime<chrono::Utc>,
    limits: DeadLimits,
) -> Result<Cancellation, BackendError> {
    for _ in 0..3 {
        if request(inner, jid, now).await? {
            return Ok(Cancellation::Requested);
        }
        match claim_waiting(inner, jid, now, limits).await? {
            Some(true) => return Ok(Cancellation::Cancelled),
            // Taken by a reserve meanwhile: it runs now.
            Some(false) => continue,
            None => break,
        }
    }
    for set in [JobSet::Dead, JobSet::Cancelled] {
        let got = super::listing::job_get(inner, JobGetParams::new(set, jid)).await?;
        if got.is_some() {
            return Ok(Cancellation::AlreadyFinished);
        }
    }
    // It may have been reserved between the first look and the search.
    if request(inner, jid, now).await? {
        return Ok(Cancellation::Requested);
    }
    Ok(Cancellation::NotFound)
}

/// Drops cancelled jobs older than the limits' age, then the oldest beyond their count.
pub(super) async fn trim(
    inner: &Inner,
    now: chrono::DateTime<chrono::Utc>,
    limits: DeadLimits,
) -> Result<(), BackendError> {
    let key = inner.keys().cancelled();
    let mut pipe = redis::pipe();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(format!("({}", score(earlier(now, limits.max_age))))
        .ignore();
    pipe.cmd("ZREMRANGEBYRANK")
        .arg(&key)
        .arg(0)
        .arg(-(i64::try_from(limits.max_jobs).unwrap_or(i64::MAX - 1) + 1))
        .ignore();
    inner.pipe::<()>(&pipe).await
}

/// Removes the requests of jobs settled as cancelled.
pub(super) async fn clear_requests(inner: &Inner, jids: &[String]) -> Result<(), BackendError> {
    if jids.is_empty() {
        return Ok(());
    }
    inner
        .query::<()>(redis::cmd("ZREM").arg(inner.keys().cancels()).arg(jids))
        .await
}

/// Which of the jids have a cancel requested.
pub(super) async fn cancel_pending(
    inner: &Inner,
    p: CancelPendingParams,
) -> Result<Vec<String>, BackendError> {
    pending(inner, &p.jids).await
}

/// Which of `jids` have a cancel requested (the heartbeat's answer too).
pub(super) async fn pending(inner: &Inner, jids: &[String]) -> Result<Vec<String>, BackendError> {
    if jids.is_empty() {
        return Ok(Vec::new());
    }
    let scores: Vec<Option<f64>> = inner
        .query(redis::cmd("ZMSCORE").arg(inner.keys().cancels()).arg(jids))
        .await?;
    Ok(jids
        .iter()
        .zip(scores)
        .filter(|(_, s)| s.is_some())
        .map(|(j, _)| j.clone())
        .collect())
}

/// SUBSCRIBEs to the cancel channel on a connection of its own.
pub(super) async fn cancel_listen(inner: &Inner) -> Result<CancelFeed, BackendError> {
    let client = super::tls::client(&inner.opts).map_err(|message| BackendError::Other {
        message,
        source: None,
    })?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .map_err(|e| inner.edge().map(e))?;
    pubsub
        .subscribe(channel(inner))
        .await
        .map_err(|e| inner.edge().map(e))?;
    let feed = pubsub
        .into_on_message()
        .filter_map(|msg| async move { msg.get_payload::<String>().ok() });
    Ok(feed.boxed())
}
