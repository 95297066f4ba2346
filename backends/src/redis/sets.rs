//! The admin side's job sets as Redis keys: where a set's members are, in listing order.
//!
//! 1. A [`JobSet`] is a key and how its members are claimed: a queue is a list, read from
//!    the right (the head); `schedule`, `retry` and `dead` are sorted sets.
//! 2. [`entries`] reads what Sidekiq's API reads (`LRANGE` for a queue, `ZRANGE` /
//!    `ZREVRANGE WITHSCORES` for the sets) and decodes every member, for listing
//!    (`listing.rs`) and actions (`actions.rs`).

use jobs::backend::{BackendError, JobSet, StoredJob};
use jobs::envelope::{from_epoch, JobEnvelope};

use super::error::bad_reply;
use super::moves::Source;
use super::{raw, Inner};

/// A stored member with its place: the raw text, the job, and its score (sets only).
pub(super) struct Entry {
    pub(super) raw: String,
    pub(super) job: JobEnvelope,
    pub(super) score: Option<f64>,
}

/// The key of a set and how its members are claimed.
pub(super) fn set_key(inner: &Inner, set: &JobSet) -> (String, Source) {
    let k = inner.keys();
    match set {
        JobSet::Queue(name) => (k.queue(name), Source::List),
        JobSet::Scheduled => (k.schedule(), Source::Set),
        JobSet::Retry => (k.retry(), Source::Set),
        _ => (k.dead(), Source::Set),
    }
}

/// Every member of a set in listing order (queue oldest first, scheduled and retry
/// soonest first, dead most recent first).
pub(super) async fn entries(inner: &Inner, set: &JobSet) -> Result<Vec<Entry>, BackendError> {
    let (key, source) = set_key(inner, set);
    let place = describe(set);
    if source == Source::List {
        let mut raws: Vec<String> = inner
            .query(redis::cmd("LRANGE").arg(&key).arg(0).arg(-1))
            .await?;
        raws.reverse();
        return raws
            .into_iter()
            .map(|raw| {
                let job = raw::decode(&raw, &place)?;
                Ok(Entry {
                    raw,
                    job,
                    score: None,
                })
            })
            .collect();
    }
    let cmd = if *set == JobSet::Dead {
        "ZREVRANGE"
    } else {
        "ZRANGE"
    };
    let flat: Vec<String> = inner
        .query(redis::cmd(cmd).arg(&key).arg(0).arg(-1).arg("WITHSCORES"))
        .await?;
    scored(flat, &place)
}

/// How errors name a set.
pub(super) fn describe(set: &JobSet) -> String {
    match set {
        JobSet::Queue(name) => format!("queue `{name}`"),
        JobSet::Scheduled => "the schedule set".into(),
        JobSet::Retry => "the retry set".into(),
        _ => "the dead set".into(),
    }
}

/// Decodes a `WITHSCORES` reply.
pub(super) fn scored(flat: Vec<String>, place: &str) -> Result<Vec<Entry>, BackendError> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(raw), Some(score)) = (it.next(), it.next()) {
        let score: f64 = score.parse().map_err(|_| bad_reply("a sorted set score"))?;
        let job = raw::decode(&raw, place)?;
        out.push(Entry {
            raw,
            job,
            score: Some(score),
        });
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
