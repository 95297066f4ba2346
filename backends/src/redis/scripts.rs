//! The Lua scripts, kept as files in `backends/lua/` and loaded once per process.
//!
//! `invoke_async` sends `EVALSHA` and loads the script on `NOSCRIPT`, so a restarted server
//! gets them back on first use.

use std::sync::LazyLock;

use redis::Script;

/// Moves up to `limit` jobs from queues into a process's in-flight lists.
pub(crate) static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/reserve.lua")));
/// Settles leases, fenced by `LREM`, with counters and dead-set trimming.
pub(crate) static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/finish.lua")));
/// Gives leased jobs back to the head of their queues.
pub(crate) static REQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/requeue.lua")));
/// Claims jobs from a set or list and moves each once (promote, admin actions).
pub(crate) static MOVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/move.lua")));
/// Pushes back the in-flight jobs of processes whose lease expired.
pub(crate) static RESCUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/rescue.lua")));
/// The rescue count of one job taken by a blocking `LMOVE`.
pub(crate) static RESCUES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/rescues.lua")));
/// Run after a blocking `LMOVE`, in its round trip: the current lease epoch of the process.
/// Sent as `EVAL` (its source): a pipelined `EVALSHA` would not load it on `NOSCRIPT`.
pub(crate) const BLOCKED: &str = include_str!("../../lua/blocked.lua");
/// Run in the heartbeat's transaction: the process's lease and record expiry. Sent as `EVAL`.
pub(crate) const BEAT: &str = include_str!("../../lua/beat.lua");
/// Run in the heartbeat's transaction: gives back in-flight jobs the process does not hold.
/// Sent as `EVAL`.
pub(crate) const UNHELD: &str = include_str!("../../lua/unheld.lua");
