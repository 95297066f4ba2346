//! Reserving jobs: a Lua script that moves up to `limit` jobs into the process's in-flight
//! lists, and, when none is there, a blocking `BLMOVE` on a connection of its own.
//!
//! 1. Each round runs `reserve.lua` over all queues (paused ones skipped, in the order
//!    given). When it finds nothing, it registers one open queue (rotating over rounds) in
//!    the process's lease bookkeeping and extends its lease *before* the blocking pop, so a
//!    job the pop moves can always be rescued.
//! 2. `BLMOVE queue:<q> <in-flight list> RIGHT LEFT <slice>` then blocks in Redis. With one
//!    open queue the slice is the whole wait (at most `max_block` and half the lease ttl);
//!    with several it is `queue_rotation`, after which all queues are checked again.
//! 3. A popped job is returned at once (the latency of a push to an idle worker); the lease
//!    extended before the pop still has at least half its ttl left, and the next reserve
//!    takes whatever else has arrived.
//! 4. Payloads are read as bytes. One that is not a job (not UTF-8, not JSON, not a job's
//!    shape) is moved from the in-flight list to the dead set on its own, claimed by its
//!    exact bytes, with an error saying why; the other jobs of the batch are returned as
//!    usual. When every job taken was buried, the reserve looks again (or blocks on) while
//!    its wait lasts.
//! 5. Each job comes with its rescue count (`jobs-rs:rescues`, see `lease.rs`), in its
//!    `Reserved` and its lease token. `reserve.lua` reads the counts only when some job has
//!    one; the blocking pop asks, in the same round trip, whether any job has one, and only
//!    then looks its job's count up (`rescues.lua`).
//! 6. Each job's lease token carries the process's lease epoch, which `reserve.lua` returns
//!    (`lease.rs`: a rescue raises it). A blocking pop reads it again in its round trip
//!    (`blocked.lua`, after the move): a job moved after a rescue of the process (taken for
//!    silent between the round and the pop) is not handed out under the old epoch; it goes
//!    back to the head of its queue, and meanwhile its list is registered again, so a rescue
//!    finds it should the process die first.
//! 7. Flow control (`unique.rs`): `reserve.lua` takes a queue's priority lists after its
//!    Sidekiq list, and releases the unique lock of a job held until it starts, in the same
//!    script; after a blocking pop, `blocked.lua` does the same for the job moved. The pop
//!    watches `queue:<name>` only: the connection registers as one of the queue's sleepers
//!    (`sleep.lua`, sent just ahead of the pop on the same connection), and a push to a
//!    priority list wakes it with `CLIENT UNBLOCK`; the pop then returns empty and the next
//!    round takes the job. A prioritized job pushed between the round and the registration
//!    is seen by `sleep.lua`, and the reserve wakes its own pop.
//! 8. Concurrency limits (`limits.rs`): `reserve.lua` takes each limited job's slot, or moves
//!    the job aside, as it moves it; a round that stopped at its budget of jobs moved aside
//!    says so, and the reserve runs another at once. A limited job a blocking pop moved takes
//!    its slot or is moved aside by `slot.lua` in one more round trip (plain jobs: none);
//!    moved aside or taken back by a rescue meanwhile, it is not handed out.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, DeadLimits, ReserveParams, Reserved};
use redis::Value;

use super::error::bad_reply;
use super::limits::{may_be_limited, take_popped, Popped};
use super::moves::{run_moves, Action, Move, Source};
use super::raw;
use super::scripts::{BLOCKED, REQUEUE, RESCUES, RESERVE, SLEEP};
use super::token::Token;
use super::{later, lease_arg, Inner};

/// The least margin past a blocking slice before the call counts as hung: Redis times
/// blocked clients out on its cron (every 100 ms at the default `hz`), often late.
const BLOCK_MARGIN: Duration = Duration::from_secs(1);

/// A job taken: the 1-based index of its queue in `queues`, its raw payload and its rescue
/// count.
type Taken = (usize, Vec<u8>, u32);

/// What one run of `reserve.lua` found.
struct Round {
    jobs: Vec<Taken>,
    /// The 1-based index of the queue registered for a blocking pop, or 0.
    block: usize,
    /// How many of the queues are not paused.
    open: usize,
    /// The process's lease epoch (when a job was taken or a queue registered).
    epoch: u64,
    /// The round stopped at its budget of jobs moved aside: the queues may hold more.
    busy: bool,
}

/// How often a waiting reserve on a Redis Cluster looks again (it polls: a blocking pop would
/// hold the connection the cluster client shares for every command to that node).
const CLUSTER_POLL: Duration = Duration::from_millis(10);

/// Blocking pops shorter than this are not worth a round trip.
const MIN_BLOCK: Duration = Duration::from_millis(1);

/// Reserves up to `limit` jobs, waiting up to `wait` for one to be pushed.
pub(super) async fn job_reserve(
    inner: &Inner,
    p: ReserveParams,
) -> Result<Vec<Reserved>, BackendError> {
    if p.limit == 0 || p.queues.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let deadline = started + p.wait;
    let at = |t: Instant| later(p.now, t.duration_since(started));
    let mut rotation = 1u64;
    loop {
        let now = at(Instant::now());
        let block = if p.wait.is_zero() || inner.conn.is_cluster() {
            0
        } else {
            rotation
        };
        let round = reserve_round(inner, &p, p.limit, now, block).await?;
        if !round.jobs.is_empty() {
            let got = take(inner, &p, round.jobs, round.epoch, now).await?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            // Every job of the round was buried as not a job: look again while time is left.
            continue;
        }
        if round.busy {
            // Only jobs of full keys were met, and moved aside: the jobs behind them are
            // looked at now, whatever the wait.
            continue;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if inner.conn.is_cluster() && !p.wait.is_zero() {
            // A blocking pop would hold the node's shared connection: poll instead.
            if remaining.is_zero() {
                return Ok(Vec::new());
            }
            tokio::time::sleep(remaining.min(CLUSTER_POLL)).await;
            continue;
        }
        if round.block == 0 || remaining < MIN_BLOCK {
            return Ok(Vec::new());
        }
        let mut slice = remaining.min(inner.opts.max_block).min(p.lease_ttl / 2);
        if round.open > 1 {
            slice = slice.min(inner.opts.queue_rotation);
        }
        let Some(queue) = p.queues.get(round.block - 1) else {
            return Err(bad_reply("reserve"));
        };
        if slice < MIN_BLOCK {
            return Ok(Vec::new());
        }
        let expiry = lease_arg(p.lease_clock, now, p.lease_ttl);
        let popped = block_move(inner, queue, &p.process, slice, round.epoch, &expiry).await?;
        if let Some((raw, counting, epoch)) = popped {
            if epoch != round.epoch {
                // The process was rescued between the round and the pop: the job must not
                // carry the old epoch. Back to the head of its queue; the next round takes it
                // (or another process does) under a lease that holds.
                give_back(inner, &p.process, queue, &raw, epoch).await?;
                rotation += 1;
                continue;
            }
            if may_be_limited(&raw)
                && take_popped(inner, &p.process, queue, &raw, epoch).await? != Popped::Held
            {
                // Its key was full (it waits aside now), or a rescue took it back meanwhile.
                rotation += 1;
                continue;
            }
            // Returned at once, without a round trip for more: that is the latency of a
            // job pushed to an idle worker. The lease set before the pop still has at
            // least half its ttl left (the slice is at most half), and the next reserve
            // takes whatever else has arrived.
            let rescues = if counting {
                rescues_of(inner, &raw).await?
            } else {
                0
            };
            let taken = vec![(round.block, raw, rescues)];
            let got = take(inner, &p, taken, epoch, at(Instant::now())).await?;
            if !got.is_empty() {
                return Ok(got);
            }
            // It was buried as not a job: wait on for the rest of the time.
        }
        rotation += 1;
    }
}

/// One run of `reserve.lua`.
async fn reserve_round(
    inner: &Inner,
    p: &ReserveParams,
    limit: usize,
    now: DateTime<Utc>,
    block: u64,
) -> Result<Round, BackendError> {
    let k = inner.keys();
    let mut inv = RESERVE.prepare_invoke();
    inv.key(k.paused())
        .key(k.leases())
        .key(k.leased(&p.process))
        .key(k.rescues())
        .key(k.epoch(&p.process))
        .key(k.pqueues());
    for q in &p.queues {
        inv.key(k.queue(q)).key(k.inflight(&p.process, q));
    }
    inv.arg(limit)
        .arg(lease_arg(p.lease_clock, now, p.lease_ttl))
        .arg(&p.process)
        .arg(block)
        .arg(k.ns());
    for q in &p.queues {
        inv.arg(q);
    }
    let reply: Value = inner.eval(&inv).await?;
    parse_round(reply).ok_or_else(|| bad_reply("reserve"))
}

/// `BLMOVE` from the head of `queue` into the process's in-flight list, on a blocking
/// connection; `None` when `slice` passed with nothing pushed. With the job, whether some
/// job has a rescue count and the process's lease epoch, asked in the same round trip right
/// after the move (`blocked.lua`, given the `epoch` the round read and the lease `expiry`).
async fn block_move(
    inner: &Inner,
    queue: &str,
    process: &str,
    slice: Duration,
    epoch: u64,
    expiry: &str,
) -> Result<Option<(Vec<u8>, bool, u64)>, BackendError> {
    let pool = &inner.blocking;
    let (mut b, mut reused) = pool.get().await.map_err(|e| inner.edge().map(e))?;
    loop {
        let pipe = block_pipe(inner, &b, queue, process, slice, epoch, expiry);
        // The server answers when the slice ends; this bound only catches a server that
        // stopped answering. The connection is dropped then, never reused mid-command.
        // Redis times blocked clients out on its cron (100 ms at the default `hz`), so the
        // margin never drops below a second, whatever the response timeout.
        let guard = slice + inner.opts.response_timeout.max(BLOCK_MARGIN);
        let mut conn = b.conn.clone();
        let popped = pipe.query_async::<(Option<Vec<u8>>, (u64, bool))>(&mut conn);
        // Polled in order: the registration is sent ahead of the pop.
        let (_, popped) = futures::join!(
            sleep(inner, &b, queue, slice),
            tokio::time::timeout(guard, popped)
        );
        match popped {
            Ok(Ok((job, (epoch, counting)))) => {
                pool.put(b);
                return Ok(job.map(|job| (job, counting, epoch)));
            }
            Ok(Err(e)) => {
                // A broken connection usually means the server went away: the idle ones
                // are as stale, so start afresh rather than fail once per idle
                // connection. An idle one that broke (the server restarted since) is
                // tried once more on a new connection; if the lost attempt did move a
                // job, it waits in this process's in-flight list, where a rescue finds it.
                pool.clear();
                if reused && (e.is_io_error() || e.is_connection_dropped()) {
                    (b, reused) = pool.get().await.map_err(|e| inner.edge().map(e))?;
                    continue;
                }
                return Err(inner.edge().map(e));
            }
            Err(_) => {
                pool.clear();
                return Err(inner.edge().elapsed(guard));
            }
        }
    }
}

/// Registers `b` among the sleepers of `queue` (`sleep.lua`), sent on `b` just ahead of its
/// pop, so a prioritized push wakes it; when prioritized jobs already wait (pushed after the
/// round looked and before this registration), wakes the pop itself. Nothing without a client
/// id; errors only cost the early wake-up.
async fn sleep(inner: &Inner, b: &super::blocking::Blocking, queue: &str, slice: Duration) {
    let Some(id) = b.id else {
        return;
    };
    let k = inner.keys();
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SLEEP)
        .arg(2)
        .arg(k.sleepers(queue))
        .arg(k.pqueues())
        .arg(id)
        .arg(format!("{:.3}", slice.as_secs_f64()))
        .arg(queue);
    let mut conn = b.conn.clone();
    match cmd.query_async::<i64>(&mut conn).await {
        Ok(1) => super::unique::wake(inner, &[id.to_string()]).await,
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "could not register a blocking reserve as a sleeper"),
    }
}

/// The blocking pop's round trip on `b`: the `BLMOVE`, then `blocked.lua`.
fn block_pipe(
    inner: &Inner,
    b: &super::blocking::Blocking,
    queue: &str,
    process: &str,
    slice: Duration,
    epoch: u64,
    expiry: &str,
) -> redis::Pipeline {
    let k = inner.keys();
    let mut pipe = redis::pipe();
    let id = b.id.map(|id| id.to_string()).unwrap_or_default();
    pipe.cmd("BLMOVE")
        .arg(k.queue(queue))
        .arg(k.inflight(process, queue))
        .arg("RIGHT")
        .arg("LEFT")
        .arg(format!("{:.3}", slice.as_secs_f64()));
    pipe.cmd("EVAL")
        .arg(BLOCKED)
        .arg(6)
        .arg(k.epoch(process))
        .arg(k.rescues())
        .arg(k.leased(process))
        .arg(k.leases())
        .arg(k.inflight(process, queue))
        .arg(k.sleepers(queue))
        .arg(epoch)
        .arg(queue)
        .arg(expiry)
        .arg(process)
        .arg(k.ns())
        .arg(id);
    pipe
}

/// Gives `raw`, moved by a blocking pop after a rescue of the process, back to the head of
/// `queue` (`requeue.lua`, under the process's current `epoch`). Skipped when it is no longer
/// in the in-flight list: the rescue that raised the epoch already gave it back.
async fn give_back(
    inner: &Inner,
    process: &str,
    queue: &str,
    raw: &[u8],
    epoch: u64,
) -> Result<(), BackendError> {
    let k = inner.keys();
    let mut inv = REQUEUE.prepare_invoke();
    inv.key(k.queues())
        .key(k.inflight(process, queue))
        .key(k.queue(queue))
        .key(k.epoch(process));
    inv.arg(raw).arg(queue).arg(epoch);
    let _moved: u64 = inner.eval(&inv).await?;
    Ok(())
}

/// The rescue count of `raw`, a job just taken by a blocking pop.
async fn rescues_of(inner: &Inner, raw: &[u8]) -> Result<u32, BackendError> {
    let mut inv = RESCUES.prepare_invoke();
    inv.key(inner.keys().rescues()).arg(raw);
    inner.eval(&inv).await
}

/// Decodes the jobs taken; any that is not a job goes to the dead set instead, on its own.
async fn take(
    inner: &Inner,
    p: &ReserveParams,
    jobs: Vec<Taken>,
    epoch: u64,
    now: DateTime<Utc>,
) -> Result<Vec<Reserved>, BackendError> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut buried = Vec::new();
    for (index, raw, rescues) in jobs {
        let queue = p
            .queues
            .get(index.wrapping_sub(1))
            .ok_or_else(|| bad_reply("reserve"))?;
        match raw::parse(&raw) {
            Ok((text, job)) => {
                let token = Token::encode(&p.process, queue, rescues, epoch, text);
                out.push(Reserved::new(job, token).rescues(rescues));
            }
            Err(why) => {
                let place = format!("queue `{queue}`");
                tracing::error!(
                    queue = %queue,
                    error = %why,
                    "a payload in the queue is not a job; moved to the dead set"
                );
                let payload = raw::bury(&raw, queue, &place, &why, now)?;
                buried.push(Move {
                    source: Source::List,
                    key: inner.keys().inflight(&p.process, queue),
                    member: raw,
                    action: Action::Kill,
                    payload,
                    lock: None,
                });
            }
        }
    }
    if !buried.is_empty() {
        run_moves(inner, buried, now, DeadLimits::default()).await?;
    }
    Ok(out)
}

/// `{ {i, payload, ...}, block, open, rescues, epoch }` from `reserve.lua`.
fn parse_round(reply: Value) -> Option<Round> {
    let Value::Array(parts) = reply else {
        return None;
    };
    let mut parts = parts.into_iter();
    let Some(Value::Array(flat)) = parts.next() else {
        return None;
    };
    let block: i64 = redis::from_redis_value(parts.next()?).ok()?;
    let open: i64 = redis::from_redis_value(parts.next()?).ok()?;
    let rescues: Vec<u32> = redis::from_redis_value(parts.next()?).ok()?;
    let epoch: u64 = redis::from_redis_value(parts.next()?).ok()?;
    let busy = match parts.next() {
        Some(v) => redis::from_redis_value::<i64>(v).ok()? == 1,
        None => false,
    };
    if !rescues.is_empty() && rescues.len() * 2 != flat.len() {
        return None;
    }
    let mut rescues = rescues.into_iter();
    let mut jobs = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(i), Some(job)) = (flat.next(), flat.next()) {
        let i: i64 = redis::from_redis_value(i).ok()?;
        let job: Vec<u8> = redis::from_redis_value(job).ok()?;
        jobs.push((usize::try_from(i).ok()?, job, rescues.next().unwrap_or(0)));
    }
    Some(Round {
        jobs,
        block: usize::try_from(block).ok()?,
        open: usize::try_from(open).ok()?,
        epoch,
        busy,
    })
}
