//! Concurrency and rate limits on Redis: the slot a limited job takes after a blocking pop,
//! the sliding-window rate limiter, and the dashboard's listing of limits in use.
//!
//! 1. **Concurrency.** A job's `jobs_rs_concurrency` names a key and a limit. Each slot held
//!    is an entry of the hash `jobs-rs:slots`, holder -> `<limit>:<key>`, a holder being a
//!    lease: the in-flight list the job sits in and its exact payload. `jobs-rs:limits`
//!    counts the slots held per key, plus 2^32 while jobs of the key wait (so a free pops
//!    the waiting list only when something is there); a key is in it while it has a slot held
//!    or a job waiting, which makes it the index the listing reads. `reserve.lua` takes the
//!    slot in the step that moves the job into the in-flight list, or, the key being full,
//!    moves the job aside to `jobs-rs:waiting:<key>` (oldest first, each entry prefixed with
//!    its queue) in the same step, counting no attempt and going on with the jobs behind it.
//!    A job a blocking pop moves (without the script) runs `slot.lua` right after
//!    ([`take_popped`]). `finish.lua` (a whole batch with a few commands), `requeue.lua`,
//!    `rescue.lua` and the heartbeat's `unheld.lua` free the slot by its holder
//!    (compare-and-delete, so a fenced-off lease frees nothing and nothing is freed twice) in
//!    the step that ends the lease, bringing the oldest waiting job of the key back to the
//!    head of its queue; a key left idle is dropped from `jobs-rs:limits`. While others
//!    still wait, that job's entry stays in `jobs-rs:onway` (key -> entry): the rescue's
//!    sweep, which brings back a waiting job of a key whose job on its way was deleted, leaves
//!    the key alone while that job is still in its queue (`LPOS`). The helpers are
//!    `limits.lua`. A limited job's limit is read when it takes its slot, by a pattern when
//!    it is the payload's last member (as this crate writes it), else by decoding; freeing
//!    looks the key up by holder.
//! 2. **No leak.** A slot exists only while its job sits in an in-flight list, and every way
//!    out of an in-flight list (settle, requeue, rescue, give-back, burial of bytes that are
//!    not a job by `move.lua`) frees it in the same script. A crash between a blocking pop and `slot.lua` leaves the job in flight without a
//!    slot: its rescue frees nothing and gives it back.
//! 3. **Rates.** `rate.lua` keeps a sliding log per key, `jobs-rs:rate:<key>` (starts in
//!    epoch µs), pruned on each call and expiring one window after its last start; the index
//!    `jobs-rs:rates` (key -> when its window empties) and `jobs-rs:rates:conf` (key -> limit
//!    and window) serve the listing.
//! 4. **Plain jobs** pay one `string.find` per script that meets them: no decode, no key,
//!    no command, no round trip.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::backend::{
    BackendError, LeaseClock, LimitUsage, LimitWaitingDeleteParams, LimitWaitingParams,
    LimitsListParams, RateAcquireParams, RateDecision,
};
use jobs::envelope::{undecodable, JobEnvelope};

use super::error::bad_reply;
use super::scripts::{LIMITS_LIST, RATE, SLOT, UNWAIT};
use super::Inner;

/// What became of a job a blocking pop moved, once `slot.lua` ran for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Popped {
    /// It holds its slot (or has no limit): hand it out.
    Held,
    /// Its key was full: it waits aside.
    Aside,
    /// A rescue took it back since: not ours to hand out.
    Gone,
}

/// `"jobs_rs_concurrency"`, quotes included: what the scripts look for before decoding.
const QUOTED_FIELD: &[u8] = b"\"jobs_rs_concurrency\"";

/// Whether a payload may carry a concurrency limit (the test the scripts make).
pub(super) fn may_be_limited(raw: &[u8]) -> bool {
    raw.windows(QUOTED_FIELD.len()).any(|w| w == QUOTED_FIELD)
}

/// Takes the slot of `raw`, a job with a concurrency limit that a blocking pop of `process`
/// moved from `queue` under lease epoch `epoch`, or moves it aside (`slot.lua`).
pub(super) async fn take_popped(
    inner: &Inner,
    process: &str,
    queue: &str,
    raw: &[u8],
    epoch: u64,
) -> Result<Popped, BackendError> {
    let k = inner.keys();
    let mut inv = SLOT.prepare_invoke();
    inv.key(k.inflight(process, queue))
        .key(k.epoch(process))
        .arg(raw)
        .arg(epoch)
        .arg(k.ns())
        .arg(queue);
    let reply: i64 = inner.eval(&inv).await?;
    match reply {
        0 => Ok(Popped::Held),
        1 => Ok(Popped::Aside),
        2 => Ok(Popped::Gone),
        _ => Err(bad_reply("slot")),
    }
}

/// The script's `now`: epoch µs for [`LeaseClock::Caller`], empty for the server's clock.
fn now_arg(clock: LeaseClock, now: DateTime<Utc>) -> String {
    match clock {
        LeaseClock::Caller => now.timestamp_micros().to_string(),
        _ => String::new(),
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Takes one start from a rate limit's sliding window (`rate.lua`).
pub(super) async fn rate_acquire(
    inner: &Inner,
    p: RateAcquireParams,
) -> Result<RateDecision, BackendError> {
    let k = inner.keys();
    let mut inv = RATE.prepare_invoke();
    inv.key(k.rate(&p.key))
        .key(k.rates())
        .key(k.rates_conf())
        .arg(now_arg(p.clock, p.now))
        .arg(p.limit.max(1))
        .arg(micros(p.per).max(1))
        .arg(&p.key);
    let (granted, retry_at): (i64, i64) = inner.eval(&inv).await?;
    Ok(if granted == 1 {
        RateDecision::Granted
    } else {
        RateDecision::Refused {
            retry_at: from_micros(retry_at),
        }
    })
}

/// `(key, limit, in use, waiting)` of each concurrency key, as `limits_list.lua` returns them.
type ConcurrencyRow = (String, u32, u64, u64);
/// `(key, limit, window µs, starts, full, frees at µs)` of each rate key.
type RateRow = (String, u32, i64, u64, i64, i64);

/// Every concurrency key in use, then every rate key with a start in its window, each sorted
/// by key, then paged.
pub(super) async fn limits_list(
    inner: &Inner,
    p: LimitsListParams,
) -> Result<Vec<LimitUsage>, BackendError> {
    let k = inner.keys();
    let mut inv = LIMITS_LIST.prepare_invoke();
    inv.key(k.limits())
        .key(k.rates())
        .key(k.rates_conf())
        .key(k.slots())
        .arg(k.ns())
        .arg(now_arg(p.clock, p.now));
    let (conc, rates): (Vec<redis::Value>, Vec<redis::Value>) = inner.eval(&inv).await?;
    let mut conc = rows::<ConcurrencyRow>(conc, 4)?;
    let mut rates = rows::<RateRow>(rates, 6)?;
    conc.sort_by(|a, b| a.0.cmp(&b.0));
    rates.sort_by(|a, b| a.0.cmp(&b.0));
    let conc = conc
        .into_iter()
        .map(|(key, limit, in_use, waiting)| LimitUsage::concurrency(key, limit, in_use, waiting));
    let rates = rates
        .into_iter()
        .map(|(key, limit, per, in_use, full, frees)| {
            let per = Duration::from_micros(u64::try_from(per).unwrap_or(0));
            let frees_at = (full == 1).then(|| from_micros(frees));
            LimitUsage::rate(key, limit, per, in_use, frees_at)
        });
    Ok(conc.chain(rates).skip(p.offset).take(p.limit).collect())
}

/// Reads a flat reply of `width`-wide rows.
fn rows<T: redis::FromRedisValue>(
    flat: Vec<redis::Value>,
    width: usize,
) -> Result<Vec<T>, BackendError> {
    if flat.len() % width != 0 {
        return Err(bad_reply("limits"));
    }
    let mut out = Vec::with_capacity(flat.len() / width);
    let mut it = flat.into_iter();
    loop {
        let row: Vec<redis::Value> = it.by_ref().take(width).collect();
        if row.is_empty() {
            return Ok(out);
        }
        let row =
            redis::from_redis_value(redis::Value::Array(row)).map_err(|_| bad_reply("limits"))?;
        out.push(row);
    }
}

/// One page of the jobs moved aside waiting for a slot of `p.key`, oldest first (the order
/// a freed slot brings them back in): a range of `jobs-rs:waiting:<key>`. An entry that is
/// not a job is listed as the dead job standing for it, as in every listing.
pub(super) async fn limit_waiting(
    inner: &Inner,
    p: LimitWaitingParams,
) -> Result<Vec<JobEnvelope>, BackendError> {
    if p.limit == 0 {
        return Ok(Vec::new());
    }
    let start = i64::try_from(p.offset).unwrap_or(i64::MAX);
    let stop = start.saturating_add(i64::try_from(p.limit).unwrap_or(i64::MAX) - 1);
    let mut cmd = redis::cmd("LRANGE");
    cmd.arg(inner.keys().waiting(&p.key)).arg(start).arg(stop);
    let entries: Vec<Vec<u8>> = inner.query(&cmd).await?;
    Ok(entries.iter().map(|e| waiting_job(e, &p.key)).collect())
}

/// The job of an entry of a waiting list, `<byte length of the queue name>:<queue><payload>`.
fn waiting_job(entry: &[u8], key: &str) -> JobEnvelope {
    let colon = entry.iter().position(|b| *b == b':');
    let len = colon
        .and_then(|c| std::str::from_utf8(&entry[..c]).ok())
        .and_then(|n| n.parse::<usize>().ok());
    let (queue, payload) = match (colon, len) {
        (Some(c), Some(n)) if entry.len() >= c + 1 + n => (
            String::from_utf8_lossy(&entry[c + 1..c + 1 + n]).into_owned(),
            &entry[c + 1 + n..],
        ),
        _ => ("default".to_owned(), entry),
    };
    match super::raw::parse(payload) {
        Ok((_, job)) => job,
        Err(why) => {
            let place = format!("the jobs waiting for a slot of `{key}`");
            undecodable(payload, &queue, &place, &why, Utc::now())
        }
    }
}

/// Deletes jobs waiting for a slot of `p.key` by jid: the entries are matched here (a job's
/// jid, or for bytes that are not a job the jid of the dead job listed for them) and removed
/// by `unwait.lua` by their exact bytes, with their locks, in one step.
pub(super) async fn limit_waiting_delete(
    inner: &Inner,
    p: LimitWaitingDeleteParams,
) -> Result<u64, BackendError> {
    if p.jids.is_empty() {
        return Ok(0);
    }
    let k = inner.keys();
    let list = k.waiting(&p.key);
    // Read a slice at a time (a hot key's backlog can be long) until every jid is found.
    const SLICE: i64 = 1000;
    let mut chosen: Vec<Vec<u8>> = Vec::new();
    let mut from = 0;
    loop {
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(&list).arg(from).arg(from + SLICE - 1);
        let entries: Vec<Vec<u8>> = inner.query(&cmd).await?;
        let last = entries.len() < SLICE as usize;
        chosen.extend(
            entries
                .into_iter()
                .filter(|e| p.jids.contains(&waiting_job(e, &p.key).jid)),
        );
        if last || chosen.len() >= p.jids.len() {
            break;
        }
        from += SLICE;
    }
    if chosen.is_empty() {
        return Ok(0);
    }
    let mut inv = UNWAIT.prepare_invoke();
    inv.key(&list)
        .key(k.limits())
        .key(k.onway())
        .arg(k.ns())
        .arg(&p.key);
    for entry in &chosen {
        inv.arg(entry.as_slice());
    }
    inner.eval(&inv).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_needle_is_the_envelope_field() {
        let field = jobs::envelope::limits::CONCURRENCY_FIELD.as_bytes();
        assert_eq!(&QUOTED_FIELD[1..QUOTED_FIELD.len() - 1], field);
    }

    #[test]
    fn only_payloads_naming_the_field_may_be_limited() {
        assert!(may_be_limited(
            br#"{"jid":"a","jobs_rs_concurrency":{"key":"k","limit":1}}"#
        ));
        assert!(!may_be_limited(
            br#"{"jid":"a","args":["jobs_rs_concurrency_x"]}"#
        ));
        assert!(!may_be_limited(b""));
    }
}
