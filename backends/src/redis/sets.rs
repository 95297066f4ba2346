//! The admin side's job sets as Redis keys: where a set's members are, in listing order.
//!
//! 1. A [`JobSet`] is a key and how its members are claimed: a queue is a list, read from
//!    the right (the head), followed by its priority lists (`page.lua` reads them in run
//!    order, each member with the list it is in); `schedule`, `retry` and `dead` are sorted
//!    sets.
//! 2. [`entries`] reads what Sidekiq's API reads (`LRANGE` for a queue, `ZRANGE` /
//!    `ZREVRANGE WITHSCORES` for the sets) and decodes every member, for listing
//!    (`listing.rs`) and actions (`actions.rs`).
//! 3. Members are read as bytes. One that is not a job shows as the dead job that stands for
//!    it (`jobs::envelope::undecodable`), with the jid that job gets, so no listing fails because of it and
//!    it can be found and acted on by that jid; its exact bytes are kept for the claim.

use chrono::Utc;
use jobs::backend::{BackendError, JobSet, StoredJob};
use jobs::envelope::{from_epoch, undecodable, JobEnvelope};

use super::error::bad_reply;
use super::moves::Source;
use super::scripts::PAGE;
use super::{raw, Inner};

/// A stored member with its place: the raw bytes, the job (or the dead job standing for
/// bytes that are not one), and its score (sets only).
pub(super) struct Entry {
    pub(super) raw: Vec<u8>,
    pub(super) job: JobEnvelope,
    /// Whether `raw` is a job; `false` when `job` is the dead job standing for it.
    pub(super) decoded: bool,
    pub(super) score: Option<f64>,
    /// The list a queue's member is in (`queue:<name>` or a priority list); `None` in a set.
    pub(super) list: Option<String>,
}

impl Entry {
    /// The member `raw` of `set`, scored `score` (sets only).
    pub(super) fn new(set: &JobSet, raw: Vec<u8>, score: Option<f64>) -> Self {
        let queue = match set {
            JobSet::Queue(name) => name.as_str(),
            _ => "default",
        };
        let (job, decoded) = match raw::parse(&raw) {
            Ok((_, job)) => (job, true),
            Err(why) => {
                // Shown as dead since its score (or now, in a queue).
                let since = score.map_or_else(Utc::now, from_epoch);
                let place = describe(set);
                (undecodable(&raw, queue, &place, &why, since), false)
            }
        };
        Entry {
            raw,
            job,
            decoded,
            score,
            list: None,
        }
    }
}

/// The key of a set and how its members are claimed.
pub(super) fn set_key(inner: &Inner, set: &JobSet) -> (String, Source) {
    let k = inner.keys();
    match set {
        JobSet::Queue(name) => (k.queue(name), Source::List),
        JobSet::Scheduled => (k.schedule(), Source::Set),
        JobSet::Retry => (k.retry(), Source::Set),
        JobSet::Cancelled => (k.cancelled(), Source::Set),
        _ => (k.dead(), Source::Set),
    }
}

/// Every member of a set in listing order (queue oldest first, scheduled and retry
/// soonest first, dead most recent first).
pub(super) async fn entries(inner: &Inner, set: &JobSet) -> Result<Vec<Entry>, BackendError> {
    let (key, _) = set_key(inner, set);
    if let JobSet::Queue(name) = set {
        return Ok(queue_page(inner, name, 0, u64::MAX).await?.1);
    }
    let cmd = if matches!(set, JobSet::Dead | JobSet::Cancelled) {
        "ZREVRANGE"
    } else {
        "ZRANGE"
    };
    let flat: Vec<Vec<u8>> = inner
        .query(redis::cmd(cmd).arg(&key).arg(0).arg(-1).arg("WITHSCORES"))
        .await?;
    scored(set, flat)
}

/// A page of queue `name` in run order (`page.lua`): how many jobs it has in all, and `limit`
/// of them from `offset`, each with the list it is in.
pub(super) async fn queue_page(
    inner: &Inner,
    name: &str,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Entry>), BackendError> {
    let (total, raws) = queue_raw(inner, name, offset, limit).await?;
    let set = JobSet::Queue(name.to_owned());
    let entries = raws
        .into_iter()
        .map(|(list, raw)| {
            let mut e = Entry::new(&set, raw, None);
            e.list = Some(list);
            e
        })
        .collect();
    Ok((total, entries))
}

/// [`queue_page`] as stored bytes, not decoded: (list, member) pairs.
pub(super) async fn queue_raw(
    inner: &Inner,
    name: &str,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<(String, Vec<u8>)>), BackendError> {
    let lists = inner.keys().run_lists(name);
    let mut inv = PAGE.prepare_invoke();
    for list in &lists {
        inv.key(list);
    }
    inv.arg(offset).arg(limit);
    let (total, flat): (u64, Vec<(usize, Vec<u8>)>) = inner.eval(&inv).await?;
    let raws = flat
        .into_iter()
        .map(|(i, raw)| {
            let list = lists
                .get(i.wrapping_sub(1))
                .ok_or_else(|| bad_reply("a queue page"));
            list.map(|l| (l.clone(), raw))
        })
        .collect::<Result<_, _>>()?;
    Ok((total, raws))
}

/// How errors name a set.
pub(super) fn describe(set: &JobSet) -> String {
    match set {
        JobSet::Queue(name) => format!("queue `{name}`"),
        JobSet::Scheduled => "the schedule set".into(),
        JobSet::Retry => "the retry set".into(),
        JobSet::Cancelled => "the cancelled set".into(),
        _ => "the dead set".into(),
    }
}

/// Decodes a `WITHSCORES` reply of `set`.
pub(super) fn scored(set: &JobSet, flat: Vec<Vec<u8>>) -> Result<Vec<Entry>, BackendError> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(raw), Some(score)) = (it.next(), it.next()) {
        let score: f64 = std::str::from_utf8(&score)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_reply("a sorted set score"))?;
        out.push(Entry::new(set, raw, Some(score)));
    }
    Ok(out)
}

pub(super) fn stored(set: &JobSet, e: Entry) -> StoredJob {
    StoredJob {
        job: e.job,
        set: set.clone(),
        at: e.score.map(from_epoch),
    }
}
