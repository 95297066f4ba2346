//! The hot path of [`Backend`]: push, finish, requeue, promote and rescue, each one round trip
//! (promote: two), and the shared "claim then move" step used by promote and admin actions.
//!
//! 1. `job_push`: queued jobs `SADD queues` (skipped for a queue added in the last few
//!    seconds, see `push.rs`) + `LPUSH queue:<name>` (all of one queue in one LPUSH),
//!    scheduled ones `ZADD schedule`; several jobs go in one MULTI/EXEC, one job on a plain
//!    connection of its own.
//! 2. `job_finish`: `finish.lua`, fenced per item by `LREM` on the in-flight list.
//! 3. `job_requeue`: `requeue.lua`, the raw payload back to the head of its queue.
//! 4. `scheduled_promote`: read due members, restamp them in Rust (text edit, arguments kept
//!    byte-for-byte), then `move.lua` claims each with `ZREM`: exactly once across callers.
//! 5. `lease_rescue`: `rescue.lua`.

use std::fmt::Write as _;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::envelope::to_epoch;

use super::raw::{self, encode};
use super::scripts::{FINISH, MOVE, REQUEUE, RESCUE};
use super::token::Token;
use super::{earlier, score, RedisBackend, STATS_TTL_SECS};

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
    /// Pushed to the tail of this queue.
    Enqueue(String),
    /// Into the dead set at `now`.
    Kill,
}

/// One job to claim from `key` and move.
#[derive(Debug, Clone)]
pub(crate) struct Move {
    pub(crate) source: Source,
    pub(crate) key: String,
    pub(crate) member: String,
    pub(crate) action: Action,
    /// What to store at the destination (ignored for `Delete`).
    pub(crate) payload: String,
}

impl RedisBackend {
    /// Claims and moves jobs; returns (moved, dead jobs trimmed).
    pub(crate) async fn run_moves(
        &self,
        moves: Vec<Move>,
        now: DateTime<Utc>,
        limits: DeadLimits,
    ) -> Result<(u64, u64), BackendError> {
        let k = self.keys();
        let (mut moved, mut trimmed) = (0, 0);
        for chunk in moves.chunks(MOVE_CHUNK) {
            let mut inv = MOVE.prepare_invoke();
            inv.key(k.queues()).key(k.dead()).key(k.dead_trimmed());
            inv.arg(score(now))
                .arg(score(earlier(now, limits.max_age)))
                .arg(limits.max_jobs);
            for m in chunk {
                let (dst, action, queue) = match &m.action {
                    Action::Delete => (m.key.clone(), "x", ""),
                    Action::Enqueue(q) => (k.queue(q), "q", q.as_str()),
                    Action::Kill => (k.dead(), "d", ""),
                };
                inv.key(&m.key).key(dst);
                let source = match m.source {
                    Source::Set => "z",
                    Source::List => "l",
                };
                inv.arg(source)
                    .arg(&m.member)
                    .arg(action)
                    .arg(&m.payload)
                    .arg(queue);
            }
            let (m, t): (u64, u64) = self.eval(&inv).await?;
            moved += m;
            trimmed += t;
        }
        if trimmed > 0 {
            tracing::warn!(
                trimmed,
                "dead set over its limits; oldest dead jobs trimmed"
            );
        }
        Ok((moved, trimmed))
    }

    /// The move that puts a stored job back on its queue now, or, when it does not parse,
    /// into the dead set with an error saying so.
    pub(crate) fn enqueue_or_bury(
        source: Source,
        key: &str,
        member: String,
        place: &str,
        now: DateTime<Utc>,
    ) -> Move {
        let (action, payload) = match raw::decode(&member, place) {
            Ok(job) => match raw::restamp(&member, &job, now) {
                Ok(p) => (Action::Enqueue(job.queue.clone()), p),
                Err(e) => (
                    Action::Kill,
                    raw::undecodable(&member, &job.queue, place, &e.to_string(), now),
                ),
            },
            Err(e) => {
                tracing::error!(%place, error = %e, "undecodable job moved to the dead set");
                (
                    Action::Kill,
                    raw::undecodable(&member, "default", place, &e.to_string(), now),
                )
            }
        };
        Move {
            source,
            key: key.to_owned(),
            member,
            action,
            payload,
        }
    }
}

#[async_trait]
impl Backend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn job_push(&self, p: PushParams) -> Result<(), BackendError> {
        if p.jobs.is_empty() {
            return Ok(());
        }
        let k = self.keys();
        let stamp = to_epoch(p.now);
        let mut queued: Vec<(String, Vec<String>)> = Vec::new();
        let mut scheduled: Vec<(String, String)> = Vec::new();
        let many = p.jobs.len() > 1;
        for mut job in p.jobs {
            match job.at.take() {
                Some(at) => scheduled.push((at.to_string(), encode(&job)?)),
                None => {
                    job.enqueued_at = Some(stamp);
                    let payload = encode(&job)?;
                    match queued.iter_mut().find(|(q, _)| *q == job.queue) {
                        Some((_, list)) => list.push(payload),
                        None => queued.push((job.queue, vec![payload])),
                    }
                }
            }
        }
        let known = &self.inner.known;
        let (sent, generation) = (Instant::now(), known.generation());
        let mut pipe = redis::pipe();
        if many {
            pipe.atomic();
        }
        let mut replies = 0;
        let mut added = Vec::new();
        for (queue, payloads) in &queued {
            if !known.is_known(queue, sent) {
                pipe.cmd("SADD").arg(k.queues()).arg(queue).ignore();
                added.push(queue.as_str());
                replies += 1;
            }
            pipe.cmd("LPUSH").arg(k.queue(queue)).arg(payloads).ignore();
            replies += 1;
        }
        if !scheduled.is_empty() {
            let cmd = pipe.cmd("ZADD").arg(k.schedule());
            for (at, payload) in &scheduled {
                cmd.arg(at).arg(payload);
            }
            cmd.ignore();
            replies += 1;
        }
        let plain = match &self.inner.push {
            Some(pool) if !many => pool.run(&pipe, replies).await,
            _ => None,
        };
        match plain {
            Some(reply) => {
                reply.map_err(|e| self.edge().map(e))?;
            }
            None => self.pipe::<()>(&pipe).await?,
        }
        for queue in added {
            known.added(queue, sent, generation);
        }
        Ok(())
    }

    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        self.reserve(p).await
    }

    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        if p.items.is_empty() {
            return Ok(FinishReport::default());
        }
        let k = self.keys();
        let day = p.now.date_naive();
        let mut inv = FINISH.prepare_invoke();
        inv.key(k.retry())
            .key(k.schedule())
            .key(k.dead())
            .key(k.processed())
            .key(k.failed())
            .key(k.processed_on(day))
            .key(k.failed_on(day))
            .key(k.dead_trimmed());
        inv.arg(score(p.now))
            .arg(score(earlier(p.now, p.dead_limits.max_age)))
            .arg(p.dead_limits.max_jobs)
            .arg(STATS_TTL_SECS);
        // Each in-flight list is passed once; items name theirs by index (usually all share
        // one: one process, one queue).
        let mut lists: Vec<(&str, &str)> = Vec::new();
        let mut head = String::new();
        for item in &p.items {
            let t = Token::decode(&item.token)?;
            let list = match lists.iter().position(|&l| l == (t.process, t.queue)) {
                Some(i) => i + 1,
                None => {
                    lists.push((t.process, t.queue));
                    inv.key(k.inflight(t.process, t.queue));
                    lists.len()
                }
            };
            let (code, at) = match &item.outcome {
                FinishOutcome::Completed | FinishOutcome::Discard => ('c', None),
                FinishOutcome::Retry { at } => ('r', Some(score(*at))),
                FinishOutcome::Snooze { at } => ('s', Some(score(*at))),
                FinishOutcome::Dead => ('d', Some(String::new())),
                _ => {
                    return Err(BackendError::Unsupported {
                        backend: "redis",
                        operation: "this finish outcome",
                    })
                }
            };
            head.clear();
            let failed = u8::from(item.failed);
            // Writing to a String cannot fail.
            let _ = write!(head, "{code}{failed}{list}");
            inv.arg(head.as_str()).arg(t.raw);
            if let Some(at) = at {
                inv.arg(at).arg(encode(&item.job)?);
            }
        }
        let reply: Vec<i64> = self.eval(&inv).await?;
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
        if report.dead_trimmed > 0 {
            tracing::warn!(
                trimmed = report.dead_trimmed,
                "dead set over its limits; oldest dead jobs trimmed"
            );
        }
        Ok(report)
    }

    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        if p.tokens.is_empty() {
            return Ok(());
        }
        let k = self.keys();
        let mut inv = REQUEUE.prepare_invoke();
        inv.key(k.queues());
        for token in &p.tokens {
            let t = Token::decode(token)?;
            inv.key(k.inflight(t.process, t.queue))
                .key(k.queue(t.queue));
            inv.arg(t.raw).arg(t.queue);
        }
        let _moved: u64 = self.eval(&inv).await?;
        Ok(())
    }

    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        self.heartbeat(p).await
    }

    async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
        self.remove_process(id).await
    }

    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        if p.limit == 0 {
            return Ok(0);
        }
        let k = self.keys();
        let now = score(p.now);
        let (schedule, retry) = (k.schedule(), k.retry());
        let mut pipe = redis::pipe();
        for key in [&schedule, &retry] {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(&now)
                .arg("LIMIT")
                .arg(0)
                .arg(p.limit);
        }
        let (due_scheduled, due_retry): (Vec<String>, Vec<String>) = self.pipe(&pipe).await?;
        let moves: Vec<Move> = due_scheduled
            .into_iter()
            .map(|m| (&schedule, "the schedule set", m))
            .chain(due_retry.into_iter().map(|m| (&retry, "the retry set", m)))
            .take(p.limit)
            .map(|(key, place, m)| Self::enqueue_or_bury(Source::Set, key, m, place, p.now))
            .collect();
        if moves.is_empty() {
            return Ok(0);
        }
        let (moved, _) = self.run_moves(moves, p.now, DeadLimits::default()).await?;
        Ok(moved)
    }

    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        let k = self.keys();
        let mut inv = RESCUE.prepare_invoke();
        inv.key(k.leases())
            .key(k.beats())
            .key(k.processes())
            .key(k.queues());
        inv.arg(score(p.now)).arg(k.ns());
        let reply: Vec<redis::Value> = self.eval(&inv).await?;
        let mut items = reply.into_iter();
        let total: u64 = match items.next() {
            Some(v) => redis::from_redis_value(v).map_err(|_| super::error::bad_reply("rescue"))?,
            None => return Err(super::error::bad_reply("rescue")),
        };
        while let (Some(process), Some(count)) = (items.next(), items.next()) {
            let process: String = redis::from_redis_value(process).unwrap_or_default();
            let count: u64 = redis::from_redis_value(count).unwrap_or_default();
            tracing::warn!(
                %process,
                jobs = count,
                "lease expired (no heartbeat); its in-flight jobs were returned to their queues"
            );
        }
        Ok(total)
    }

    fn metrics(&self) -> Option<&dyn jobs::metrics::MetricsStore> {
        Some(self)
    }
}
