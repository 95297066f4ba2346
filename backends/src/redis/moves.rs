//! The shared "claim then move" step: promotion, reserves that bury a bad payload, and
//! the admin actions move jobs with it.
//!
//! 1. A [`Move`] names one exact member of a set or list, what happens to it ([`Action`])
//!    and what is stored at the destination.
//! 2. [`run_moves`] runs `move.lua` over them, [`MOVE_CHUNK`] at a time: it claims each
//!    member with `ZREM`/`LREM` before moving it, so a job moves at most once even when a
//!    worker or poller takes it at the same time, and trims the dead set when jobs die. A
//!    member claimed from a list loses its rescue count with it (a queued job deleted,
//!    killed or buried before it ran).
//! 3. Members and payloads are bytes: a member is matched exactly as stored, whatever its
//!    bytes (valid UTF-8 or not).
//! 4. [`enqueue_or_bury`] is the move back to a queue now (to its priority list for a job
//!    with a priority), or to the dead set when the stored bytes are not a job.
//! 5. A job with a unique lock names it in its move: deleting or killing it releases the lock,
//!    enqueueing it records where it now waits (`unique.rs`). A move to a priority list wakes
//!    the blocking reserves waiting on its queue.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, DeadLimits};

use super::raw;
use super::scripts::MOVE;
use super::{earlier, score, Inner};

/// Items per `move.lua` call, so one call never blocks the server for long.
const MOVE_CHUNK: usize = 500;

/// Where a job is claimed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A sorted set (`schedule`, `retry`, `dead`).
    Set,
    /// A list (a queue, an in-flight list).
    List,
}

/// What happens to a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Removed.
    Delete,
    /// Pushed to the tail of this queue, at this priority.
    Enqueue(String, u8),
    /// Into the dead set at `now`.
    Kill,
    /// Into the cancelled set at `now` (`cancel.rs`).
    Cancel,
}

/// One job to claim from `key` and move.
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub(crate) source: Source,
    pub(crate) key: String,
    /// The member exactly as stored.
    pub(crate) member: Vec<u8>,
    pub(crate) action: Action,
    /// What to store at the destination (ignored for `Delete`).
    pub(crate) payload: Vec<u8>,
    /// The job's unique lock, if it has one: (the lock's key, the job's jid).
    pub(crate) lock: Option<(String, String)>,
}

impl Move {
    /// The lock `job` holds, for [`Move::lock`].
    pub(crate) fn lock_of(job: &jobs::envelope::JobEnvelope) -> Option<(String, String)> {
        super::unique::lock_of(job).map(|l| (l.key, job.jid.clone()))
    }
}

/// Claims and moves jobs; returns (moved, dead jobs trimmed).
pub(crate) async fn run_moves(
    inner: &Inner,
    moves: Vec<Move>,
    now: DateTime<Utc>,
    limits: DeadLimits,
) -> Result<(u64, u64), BackendError> {
    let k = inner.keys();
    let (mut moved, mut trimmed) = (0, 0);
    for chunk in moves.chunks(MOVE_CHUNK) {
        let mut inv = MOVE.prepare_invoke();
        inv.key(k.queues())
            .key(k.dead())
            .key(k.dead_trimmed())
            .key(k.rescues())
            .key(k.pqueues());
        inv.arg(score(now))
            .arg(score(earlier(now, limits.max_age)))
            .arg(limits.max_jobs)
            .arg(k.ns());
        for m in chunk {
            let (dst, action, queue) = match &m.action {
                Action::Delete => (m.key.clone(), "x", ""),
                Action::Enqueue(q, 0) => (k.queue(q), "q", q.as_str()),
                Action::Enqueue(q, p) => (k.pqueue(*p, q), "p", q.as_str()),
                Action::Kill => (k.dead(), "d", ""),
                Action::Cancel => (k.cancelled(), "c", ""),
            };
            inv.key(&m.key).key(dst);
            let source = match m.source {
                Source::Set => "z",
                Source::List => "l",
            };
            let (key, jid) = m.lock.as_ref().map_or(("", ""), |(k, j)| (k, j));
            inv.arg(source)
                .arg(&m.member)
                .arg(action)
                .arg(&m.payload)
                .arg(queue)
                .arg(key)
                .arg(jid);
        }
        let (m, t, sleepers): (u64, u64, Vec<String>) = inner.eval(&inv).await?;
        moved += m;
        trimmed += t;
        super::unique::wake(inner, &sleepers).await;
    }
    jobs::backend::warn_dead_trimmed("redis", trimmed);
    Ok((moved, trimmed))
}

/// The move that puts a stored job back on its queue now, or, when its bytes are not a job,
/// into the dead set as the dead job that keeps them (filed under `queue`, unless the bytes
/// name theirs).
pub(crate) fn enqueue_or_bury(
    source: Source,
    key: &str,
    member: Vec<u8>,
    queue: &str,
    place: &str,
    now: DateTime<Utc>,
) -> Result<Move, BackendError> {
    let restamped =
        raw::parse(&member).and_then(|(text, job)| match raw::restamp(text, &job, now) {
            Ok(payload) => Ok((job, payload)),
            Err(e) => Err(e.to_string()),
        });
    let (action, payload, lock) = match restamped {
        Ok((job, payload)) => {
            let lock = Move::lock_of(&job);
            let priority = job.priority();
            (
                Action::Enqueue(job.queue, priority),
                payload.into_bytes(),
                lock,
            )
        }
        Err(why) => {
            tracing::error!(%place, error = %why, "bytes that are not a job moved to the dead set");
            let payload = raw::bury(&member, queue, place, &why, now)?;
            (Action::Kill, payload, None)
        }
    };
    Ok(Move {
        source,
        key: key.to_owned(),
        member,
        action,
        payload,
        lock,
    })
}
