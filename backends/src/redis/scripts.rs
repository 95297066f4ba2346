//! The Lua scripts, kept as files in `backends/lua/` and loaded once per process.
//!
//! `invoke_async` sends `EVALSHA` and loads the script on `NOSCRIPT`, so a restarted server
//! gets them back on first use. Scripts that release or move a job's unique lock start with
//! the helpers of `lock.lua`; those that set or judge a lease, with `lease_time.lua`; those
//! that take or free a concurrency slot, with `limits.lua`.

use std::sync::LazyLock;

use redis::Script;

/// The unique-lock helpers (`lock_of`, `release`, `moved`, `release_named`).
macro_rules! with_lock {
    ($file:literal) => {
        concat!(
            include_str!("../../lua/lock.lua"),
            include_str!(concat!("../../lua/", $file))
        )
    };
}

/// The concurrency-slot helpers (`limit_of`, `take_slot`, `wait_aside`, `free_slot`), then
/// what follows.
macro_rules! with_limits {
    ($($text:expr),+) => {
        concat!(include_str!("../../lua/limits.lua"), $($text),+)
    };
}

/// `lease_time` (a lease time in the caller's or the store's clock), then what follows.
macro_rules! with_lease_time {
    ($($text:expr),+) => {
        concat!(include_str!("../../lua/lease_time.lua"), $($text),+)
    };
}

/// Moves up to `limit` jobs from queues into a process's in-flight lists.
pub(crate) static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_lease_time!(with_limits!(with_lock!("reserve.lua")))));
/// Settles leases, fenced by `LREM`, with counters and dead-set trimming.
pub(crate) static CANCEL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/cancel.lua")));
pub(crate) static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(with_lock!("finish.lua"))));
/// Deletes jobs waiting for a slot of a concurrency key, releasing their locks.
pub(crate) static UNWAIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(with_lock!("unwait.lua"))));
/// Gives leased jobs back to the head of their queues.
pub(crate) static REQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(include_str!("../../lua/requeue.lua"))));
/// Claims jobs from a set or list and moves each once (promote, admin actions).
pub(crate) static MOVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(with_lock!("move.lua"))));
/// Pushes back the in-flight jobs of processes whose lease expired.
pub(crate) static RESCUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_lease_time!(with_limits!(with_lock!("rescue.lua")))));
/// The rescue count of one job taken by a blocking `LMOVE`.
pub(crate) static RESCUES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/rescues.lua")));
/// Pushes jobs with a unique lock or a priority (and the plain jobs pushed with them).
pub(crate) static PUSH: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(include_str!("../../lua/push.lua"))));
/// Moves waiting jobs whose wait earned a better priority into that priority's list.
pub(crate) static AGE: LazyLock<Script> = LazyLock::new(|| Script::new(with_lock!("age.lua")));
/// Clears a queue and its priority lists, releasing their jobs' locks.
pub(crate) static CLEAR: LazyLock<Script> = LazyLock::new(|| Script::new(with_lock!("clear.lua")));
/// A page of a queue in run order, across its priority lists.
pub(crate) static PAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/page.lua")));
/// The unique locks held, soonest to lapse first.
pub(crate) static LOCKS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/locks.lua")));
/// Run before a blocking `LMOVE`, in its round trip: registers the connection among the
/// queue's sleepers, so a prioritized push can wake it. Sent as `EVAL` (its source).
pub(crate) const SLEEP: &str = include_str!("../../lua/sleep.lua");
/// Run after a blocking `LMOVE`, in its round trip: the current lease epoch of the process,
/// and the start lock of the job moved released. Sent as `EVAL` (its source): a pipelined
/// `EVALSHA` would not load it on `NOSCRIPT`.
pub(crate) const BLOCKED: &str = with_lease_time!(with_lock!("blocked.lua"));
/// Run in the heartbeat's transaction: the process's lease and record expiry. Sent as `EVAL`.
pub(crate) const BEAT: &str = with_lease_time!(include_str!("../../lua/beat.lua"));
/// Run in the heartbeat's transaction: gives back in-flight jobs the process does not hold.
/// Sent as `EVAL`.
pub(crate) const UNHELD: &str = with_limits!(include_str!("../../lua/unheld.lua"));
/// Run after a blocking `LMOVE` moved a job with a concurrency limit: takes its slot or moves
/// it aside.
pub(crate) static SLOT: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(with_lock!("slot.lua"))));
/// Takes a start from a rate limit's sliding log.
pub(crate) static RATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/rate.lua")));
/// The concurrency and rate limits in use, for the dashboard.
pub(crate) static LIMITS_LIST: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(include_str!("../../lua/limits_list.lua"))));
/// Stores a running job's progress, fenced by its lease (`results.rs`).
pub(crate) static PROGRESS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/progress.lua")));
/// Whether a job runs, with its current run's progress (`results.rs`).
pub(crate) static RUNNING: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/running.lua")));
/// Replaces a leased job's in-flight record with the job carrying its step progress.
pub(crate) static CHECKPOINT: LazyLock<Script> =
    LazyLock::new(|| Script::new(with_limits!(include_str!("../../lua/checkpoint.lua"))));
