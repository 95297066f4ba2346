//! Unique jobs on Redis (the push path of jobs with flow options, unique_list,
//! unique_release), priorities, and the wake-up of idle workers for prioritized jobs.
//! Plain jobs never come here.
//!
//! 1. **Locks.** A unique lock is the hash `jobs-rs:unique:<key>` (`jid`, `class`, `queue`,
//!    `until`, `exp`, and where its holder waits: `in` = `l`/`z`, `place` = the list or sorted
//!    set, `raw` = its exact bytes), which Redis expires at the lock's lapse (`PEXPIREAT`), and
//!    its entry `key -> expires_at` in the index `jobs-rs:uniques`, for listing. Both are
//!    written by the script that stores the job (`push.lua`) and dropped, compare-and-delete
//!    by jid, by the script of the transition that releases it: `finish.lua` (completed,
//!    discarded, dead, expired), `reserve.lua` and `blocked.lua` (a lock held until the job
//!    starts), `move.lua` (admin delete and kill), `clear.lua` (queue clear) and `rescue.lua`
//!    (a job buried at its last rescue). The scripts that move a locked job to another place
//!    with other bytes (retry, snooze, promotion, enqueue now) update `place` and `raw`.
//! 2. **Replace.** `push.lua` deletes a waiting holder by its recorded place and bytes, or by
//!    the same bytes at the head of its queue (requeues, rescues and heartbeats give a job
//!    back there unchanged); found in neither, the holder is running (in an in-flight list),
//!    dead or gone, and the new job is a duplicate, as with `Skip`.
//! 3. **Priorities.** Priority 0 stays in Sidekiq's `queue:<name>`; priority `p` in 1..=9
//!    goes to `jobs-rs:pqueue:<p>:<name>`, with the queue in `jobs-rs:pqueues` while it has
//!    any. `reserve.lua` takes `queue:<name>` first, then the priority lists in order, looking
//!    at them only for a queue in that set.
//! 4. **Wake-ups.** A blocking reserve watches `queue:<name>` only, so the pushes that put a
//!    job in a priority list (`push.lua`, `move.lua`, `schedule_claim.lua`) return the client
//!    ids registered in `jobs-rs:sleepers:<name>` by the blocking connections waiting on that
//!    queue (`sleep.lua`, in the pop's round trip), and [`wake`] sends them `CLIENT UNBLOCK`:
//!    the pop returns empty at once and the reserve's next round takes the job.

use jobs::backend::{
    BackendError, PushConflict, PushParams, PushReport, UniqueHeld, UniqueListParams,
    UniqueReleaseParams,
};
use jobs::envelope::flow::{UniqueUntil, PRIORITY_FIELD};
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};

use super::error::bad_reply;
use super::raw::encode;
use super::scripts::{LOCKS, PUSH};
use super::{score, Inner};

/// (index in the push, holder jid) pairs, as `push.lua` returns them.
type Indexed = Vec<(usize, String)>;

/// Whether a push has a job that needs `push.lua` (a unique lock or a priority); a field and
/// a map lookup per job, nothing decoded.
pub(super) fn needs_flow(jobs: &[JobEnvelope]) -> bool {
    jobs.iter()
        .any(|j| j.unique_ref().is_some() || j.extra.contains_key(PRIORITY_FIELD))
}

/// The unique lock of `job`, if it has one.
pub(super) fn lock_of(job: &JobEnvelope) -> Option<jobs::envelope::flow::UniqueLock> {
    job.unique()
}

/// `until` as the lock hash keeps it.
fn until_name(until: UniqueUntil) -> &'static str {
    match until {
        UniqueUntil::Start => "start",
        _ => "success",
    }
}

/// Pushes jobs of which some have a unique lock or a priority, all in one `push.lua`.
pub(super) async fn job_push(inner: &Inner, p: PushParams) -> Result<PushReport, BackendError> {
    let k = inner.keys();
    let stamp = to_epoch(p.now);
    let keys = [
        k.queues(),
        k.schedule(),
        k.pqueues(),
        k.uniques(),
        k.rescues(),
    ];
    let replace = matches!(p.on_conflict, PushConflict::Replace);
    // One job goes on a pooled connection of its own, as a plain single push does, and asks
    // for the one-line answer those connections read.
    let alone = p.jobs.len() == 1 && inner.push.is_some();
    let mode = match (replace, alone) {
        (true, true) => "1s",
        (true, false) => "1",
        (false, true) => "0s",
        (false, false) => "0",
    };
    let mut args: Vec<Vec<u8>> = Vec::with_capacity(3 + 9 * p.jobs.len());
    args.push(k.ns().as_bytes().to_vec());
    args.push(score(p.now).into_bytes());
    args.push(mode.as_bytes().to_vec());
    for mut job in p.jobs {
        let lock = job.unique();
        let priority = job.priority();
        let (kind, at) = match job.at.take() {
            Some(at) => ('z', at.to_string()),
            None => {
                job.enqueued_at = Some(stamp);
                ('q', String::new())
            }
        };
        let locked = if lock.is_some() { 'u' } else { '-' };
        args.push(format!("{kind}{priority}{locked}").into_bytes());
        args.push(encode(&job)?.into_bytes());
        args.push(job.queue.into_bytes());
        args.push(at.into_bytes());
        if let Some(lock) = lock {
            let expires_at = if lock.expires_at.is_finite() {
                lock.expires_at
            } else {
                0.0
            };
            args.push(lock.key.into_bytes());
            args.push(until_name(lock.until).as_bytes().to_vec());
            args.push(expires_at.to_string().into_bytes());
            args.push(job.jid.into_bytes());
            args.push(job.class.into_bytes());
        }
    }
    let sent = match alone {
        true => run_alone(inner, &keys, &args).await?,
        false => None,
    };
    let reply = match sent {
        Some(reply) => reply,
        None => {
            let mut inv = PUSH.prepare_invoke();
            for key in &keys {
                inv.key(key);
            }
            for arg in &args {
                inv.arg(arg);
            }
            inner.eval(&inv).await?
        }
    };
    let (duplicates, replaced, sleepers) = read_reply(reply)?;
    wake(inner, &sleepers).await;
    let mut report = PushReport::default();
    report.duplicates = duplicates;
    report.replaced = replaced;
    Ok(report)
}

/// Runs `push.lua` for one job on a connection of the push pool; `None` when there is no
/// pool or the server does not have the script yet (nothing ran: the caller sends it on the
/// shared connection, which loads it). Sent bytes are never sent again (`push_pool.rs`).
async fn run_alone(
    inner: &Inner,
    keys: &[String],
    args: &[Vec<u8>],
) -> Result<Option<redis::Value>, BackendError> {
    let Some(pool) = &inner.push else {
        return Ok(None);
    };
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(PUSH.get_hash()).arg(keys.len()).arg(keys).arg(args);
    let mut pipe = redis::pipe();
    pipe.add_command(cmd);
    match pool.run(&pipe, 1).await {
        None => Ok(None),
        Some(Err(e)) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            Ok(None)
        }
        Some(Err(e)) => Err(inner.edge().map(e)),
        Some(Ok(mut replies)) => Ok(replies.pop()),
    }
}

/// What `push.lua` answered: its three lists, or the one status line of a push of one job
/// (`ok`, ` d <holder hex>`, ` r <replaced hex>`, ` w <client id>`...).
fn read_reply(reply: redis::Value) -> Result<(Indexed, Indexed, Vec<String>), BackendError> {
    let line = match reply {
        redis::Value::SimpleString(line) => line,
        redis::Value::Okay => "ok".to_owned(),
        other => {
            return redis::from_redis_value(other).map_err(|_| bad_reply("push.lua"));
        }
    };
    let mut words = line.split(' ');
    if words.next() != Some("ok") {
        return Err(bad_reply("push.lua"));
    }
    let (mut duplicates, mut replaced, mut sleepers) = (Vec::new(), Vec::new(), Vec::new());
    while let (Some(tag), Some(value)) = (words.next(), words.next()) {
        match tag {
            "d" => duplicates.push((0, unhex(value)?)),
            "r" => replaced.push((0, unhex(value)?)),
            "w" => sleepers.push(value.to_owned()),
            _ => return Err(bad_reply("push.lua")),
        }
    }
    Ok((duplicates, replaced, sleepers))
}

/// A jid `push.lua` wrote in hex.
fn unhex(hex: &str) -> Result<String, BackendError> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad_reply("push.lua"))
}

/// Wakes the blocking connections `ids` (`CLIENT UNBLOCK`): their pops return empty and
/// their reserves look again. Best effort: a server that refuses the command (an ACL, a
/// renamed command) only makes the wait last until the pop's slice ends.
pub(super) async fn wake(inner: &Inner, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("CLIENT").arg("UNBLOCK").arg(id).ignore();
    }
    if let Err(e) = inner.pipe::<()>(&pipe).await {
        tracing::debug!(error = %e, "could not wake blocked reserves for a prioritized job");
    }
}

/// The unique locks held at `p.now`, soonest to lapse first.
pub(super) async fn unique_list(
    inner: &Inner,
    p: UniqueListParams,
) -> Result<Vec<UniqueHeld>, BackendError> {
    if p.limit == 0 {
        return Ok(Vec::new());
    }
    let k = inner.keys();
    let mut inv = LOCKS.prepare_invoke();
    inv.key(k.uniques())
        .arg(k.ns())
        .arg(score(p.now))
        .arg(p.offset)
        .arg(p.limit);
    let flat: Vec<String> = inner.eval(&inv).await?;
    flat.chunks_exact(6)
        .map(|c| {
            let expires_at: f64 = c[5].parse().map_err(|_| bad_reply("unique locks"))?;
            let until = match c[4].as_str() {
                "start" => UniqueUntil::Start,
                _ => UniqueUntil::Success,
            };
            Ok(UniqueHeld::new(
                c[0].as_str(),
                c[1].as_str(),
                c[2].as_str(),
                c[3].as_str(),
                until,
                from_epoch(expires_at),
            ))
        })
        .collect()
}

/// Drops lock `p.key` (the job stays); whether it was there.
pub(super) async fn unique_release(
    inner: &Inner,
    p: UniqueReleaseParams,
) -> Result<bool, BackendError> {
    let k = inner.keys();
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("DEL").arg(k.unique(&p.key));
    pipe.cmd("ZREM").arg(k.uniques()).arg(&p.key).ignore();
    let (dropped,): (u64,) = inner.pipe(&pipe).await?;
    Ok(dropped > 0)
}
