//! The admin side of the Redis backend: queues, listing and acting on jobs, processes,
//! counters, and clearing its own keys.
//!
//! 1. Listing reads what Sidekiq's API reads (`LRANGE` from the right for a queue, `ZRANGE` /
//!    `ZREVRANGE WITHSCORES` for the sets); a filter reads the whole set and pages in Rust.
//! 2. Actions (delete, enqueue now, kill) pick jobs in Rust, then `move.lua` claims each
//!    exact member with `ZREM`/`LREM` before moving it, so a job moves at most once even when
//!    a worker or poller takes it at the same time.
//! 3. `clear_all` deletes by SCAN only keys this backend writes: everything under the prefix
//!    when there is one, else Sidekiq's and `jobs-rs:` keys. Never FLUSHDB.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use jobs::backend::*;
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};

use super::error::bad_reply;
use super::hot::{Action, Move, Source};
use super::keys::glob_escape;
use super::{raw, RedisBackend};

/// Keys deleted per UNLINK during `clear_all`.
const UNLINK_CHUNK: usize = 500;

/// A stored member with its place: the raw text, the job, and its score (sets only).
struct Entry {
    raw: String,
    job: JobEnvelope,
    score: Option<f64>,
}

impl RedisBackend {
    /// The key of a set and how its members are claimed.
    fn set_key(&self, set: &JobSet) -> (String, Source) {
        let k = self.keys();
        match set {
            JobSet::Queue(name) => (k.queue(name), Source::List),
            JobSet::Scheduled => (k.schedule(), Source::Set),
            JobSet::Retry => (k.retry(), Source::Set),
            _ => (k.dead(), Source::Set),
        }
    }

    /// Every member of a set in listing order (queue oldest first, scheduled and retry
    /// soonest first, dead most recent first).
    async fn entries(&self, set: &JobSet) -> Result<Vec<Entry>, BackendError> {
        let (key, source) = self.set_key(set);
        let place = describe(set);
        if source == Source::List {
            let mut raws: Vec<String> = self
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
        let flat: Vec<String> = self
            .query(redis::cmd(cmd).arg(&key).arg(0).arg(-1).arg("WITHSCORES"))
            .await?;
        scored(flat, &place)
    }

    /// Members of `set` that `selection` picks.
    async fn selected(
        &self,
        set: &JobSet,
        selection: &Selection,
    ) -> Result<Vec<Entry>, BackendError> {
        let all = self.entries(set).await?;
        Ok(all
            .into_iter()
            .filter(|e| match selection {
                Selection::Jids(jids) => jids.contains(&e.job.jid),
                Selection::Matching(filter) => filter.matches(&e.job),
                _ => false,
            })
            .collect())
    }

    async fn act(
        &self,
        p: JobActionParams,
        action: impl Fn(&Entry) -> Result<(Action, String), BackendError>,
    ) -> Result<u64, BackendError> {
        let (key, source) = self.set_key(&p.set);
        let mut moves = Vec::new();
        for e in self.selected(&p.set, &p.selection).await? {
            let (action, payload) = action(&e)?;
            moves.push(Move {
                source,
                key: key.clone(),
                member: e.raw,
                action,
                payload,
            });
        }
        if moves.is_empty() {
            return Ok(0);
        }
        Ok(self.run_moves(moves, p.now, p.dead_limits).await?.0)
    }
}

/// How errors name a set.
fn describe(set: &JobSet) -> String {
    match set {
        JobSet::Queue(name) => format!("queue `{name}`"),
        JobSet::Scheduled => "the schedule set".into(),
        JobSet::Retry => "the retry set".into(),
        _ => "the dead set".into(),
    }
}

/// Decodes a `WITHSCORES` reply.
fn scored(flat: Vec<String>, place: &str) -> Result<Vec<Entry>, BackendError> {
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

fn stored(set: &JobSet, e: Entry) -> StoredJob {
    StoredJob {
        job: e.job,
        set: set.clone(),
        at: e.score.map(from_epoch),
    }
}

fn latency(now: DateTime<Utc>, head: Option<&String>) -> std::time::Duration {
    let enqueued = head
        .and_then(|raw| JobEnvelope::from_json(raw).ok())
        .and_then(|j| j.enqueued_at);
    let secs = enqueued.map_or(0.0, |t| (to_epoch(now) - t).max(0.0));
    std::time::Duration::from_secs_f64(secs)
}

fn index(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl AdminBackend for RedisBackend {
    async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError> {
        let k = self.keys();
        let mut pipe = redis::pipe();
        pipe.cmd("SMEMBERS").arg(k.queues());
        pipe.cmd("SMEMBERS").arg(k.paused());
        let (known, paused): (Vec<String>, Vec<String>) = self.pipe(&pipe).await?;
        let mut names: Vec<&String> = known.iter().chain(paused.iter()).collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("LLEN").arg(k.queue(name));
            pipe.cmd("LRANGE").arg(k.queue(name)).arg(-1).arg(-1);
        }
        let replies: Vec<(u64, Vec<String>)> = self.pipe(&pipe).await?;
        Ok(names
            .into_iter()
            .zip(replies)
            .map(|(name, (size, head))| QueueInfo {
                name: name.clone(),
                size,
                latency: latency(now, head.first()),
                paused: paused.contains(name),
            })
            .collect())
    }

    async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError> {
        let cmd = if paused { "SADD" } else { "SREM" };
        self.query::<()>(redis::cmd(cmd).arg(self.keys().paused()).arg(queue))
            .await
    }

    async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError> {
        let k = self.keys();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("LLEN").arg(k.queue(queue));
        pipe.cmd("DEL").arg(k.queue(queue)).ignore();
        pipe.cmd("SREM").arg(k.queues()).arg(queue).ignore();
        let reply = self.pipe(&pipe).await;
        // After the removal: a push that raced it must not count the queue as added.
        self.inner.known.forget();
        let (n,): (u64,) = reply?;
        Ok(n)
    }

    async fn job_list(&self, p: JobListParams) -> Result<JobPage, BackendError> {
        let skip = usize::try_from(p.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(p.limit).unwrap_or(usize::MAX);
        if !p.filter.is_empty() {
            let all: Vec<Entry> = self
                .entries(&p.set)
                .await?
                .into_iter()
                .filter(|e| p.filter.matches(&e.job))
                .collect();
            let total = all.len() as u64;
            let jobs = all
                .into_iter()
                .skip(skip)
                .take(take)
                .map(|e| stored(&p.set, e))
                .collect();
            return Ok(JobPage { total, jobs });
        }
        let (key, source) = self.set_key(&p.set);
        let place = describe(&p.set);
        let (first, last) = (
            index(p.offset),
            index(p.offset.saturating_add(p.limit)).saturating_sub(1),
        );
        let mut pipe = redis::pipe();
        let entries = if source == Source::List {
            pipe.cmd("LLEN").arg(&key);
            // Oldest first is right to left: positions counted from the right end.
            pipe.cmd("LRANGE")
                .arg(&key)
                .arg(-last.saturating_add(1))
                .arg(-first.saturating_add(1));
            let (total, mut raws): (u64, Vec<String>) = self.pipe(&pipe).await?;
            if p.limit == 0 || p.offset >= total {
                raws.clear();
            }
            raws.reverse();
            let entries = raws
                .into_iter()
                .map(|raw| {
                    let job = raw::decode(&raw, &place)?;
                    Ok(Entry {
                        raw,
                        job,
                        score: None,
                    })
                })
                .collect::<Result<Vec<_>, BackendError>>()?;
            (total, entries)
        } else {
            let cmd = if p.set == JobSet::Dead {
                "ZREVRANGE"
            } else {
                "ZRANGE"
            };
            pipe.cmd("ZCARD").arg(&key);
            pipe.cmd(cmd)
                .arg(&key)
                .arg(first)
                .arg(last)
                .arg("WITHSCORES");
            let (total, flat): (u64, Vec<String>) = self.pipe(&pipe).await?;
            let flat = if p.limit == 0 { Vec::new() } else { flat };
            (total, scored(flat, &place)?)
        };
        let (total, entries) = entries;
        Ok(JobPage {
            total,
            jobs: entries.into_iter().map(|e| stored(&p.set, e)).collect(),
        })
    }

    async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError> {
        let (key, source) = self.set_key(&set);
        let place = describe(&set);
        if source == Source::List {
            let raws: Vec<String> = self
                .query(redis::cmd("LRANGE").arg(&key).arg(0).arg(-1))
                .await?;
            for raw in raws.into_iter().rev().filter(|r| r.contains(jid)) {
                let job = raw::decode(&raw, &place)?;
                if job.jid == jid {
                    return Ok(Some(StoredJob { job, set, at: None }));
                }
            }
            return Ok(None);
        }
        // As Sidekiq's `find_job`: ZSCAN for members containing the jid.
        let pattern = format!("*{}*", glob_escape(jid));
        let mut cursor = 0u64;
        loop {
            let (next, flat): (u64, Vec<String>) = self
                .query(
                    redis::cmd("ZSCAN")
                        .arg(&key)
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            for e in scored(flat, &place)? {
                if e.job.jid == jid {
                    return Ok(Some(stored(&set, e)));
                }
            }
            if next == 0 {
                return Ok(None);
            }
            cursor = next;
        }
    }

    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        self.act(p, |_| Ok((Action::Delete, String::new()))).await
    }

    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        if matches!(p.set, JobSet::Queue(_)) {
            return Ok(0);
        }
        let now = p.now;
        self.act(p, |e| {
            let payload = raw::restamp(&e.raw, &e.job, now)?;
            Ok((Action::Enqueue(e.job.queue.clone()), payload))
        })
        .await
    }

    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        if p.set == JobSet::Dead {
            return Ok(0);
        }
        self.act(p, |e| Ok((Action::Kill, e.raw.clone()))).await
    }

    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        self.list_processes().await
    }

    async fn process_signal(
        &self,
        id: &ProcessId,
        signal: ProcessSignal,
    ) -> Result<(), BackendError> {
        self.signal_process(id, signal).await
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        let k = self.keys();
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(k.processed());
        pipe.cmd("GET").arg(k.failed());
        pipe.cmd("GET").arg(k.dead_trimmed());
        pipe.cmd("ZCARD").arg(k.schedule());
        pipe.cmd("ZCARD").arg(k.retry());
        pipe.cmd("ZCARD").arg(k.dead());
        pipe.cmd("SMEMBERS").arg(k.queues());
        #[allow(clippy::type_complexity)]
        let (processed, failed, trimmed, scheduled, retries, dead, queues): (
            Option<u64>,
            Option<u64>,
            Option<u64>,
            u64,
            u64,
            u64,
            Vec<String>,
        ) = self.pipe(&pipe).await?;
        let mut enqueued = 0;
        if !queues.is_empty() {
            let mut pipe = redis::pipe();
            for q in &queues {
                pipe.cmd("LLEN").arg(k.queue(q));
            }
            let sizes: Vec<u64> = self.pipe(&pipe).await?;
            enqueued = sizes.iter().sum();
        }
        Ok(Stats {
            processed: processed.unwrap_or(0),
            failed: failed.unwrap_or(0),
            dead_trimmed: trimmed.unwrap_or(0),
            enqueued,
            scheduled,
            retries,
            dead,
        })
    }

    async fn stats_history(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayStats>, BackendError> {
        let dates: Vec<NaiveDate> = (0..days)
            .rev()
            .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
            .collect();
        if dates.is_empty() {
            return Ok(Vec::new());
        }
        let k = self.keys();
        let mut pipe = redis::pipe();
        pipe.cmd("MGET")
            .arg(dates.iter().map(|d| k.processed_on(*d)).collect::<Vec<_>>());
        pipe.cmd("MGET")
            .arg(dates.iter().map(|d| k.failed_on(*d)).collect::<Vec<_>>());
        let (processed, failed): (Vec<Option<u64>>, Vec<Option<u64>>) = self.pipe(&pipe).await?;
        Ok(dates
            .into_iter()
            .zip(processed.into_iter().zip(failed))
            .map(|(date, (p, f))| DayStats {
                date,
                processed: p.unwrap_or(0),
                failed: f.unwrap_or(0),
            })
            .collect())
    }

    async fn clear_all(&self) -> Result<(), BackendError> {
        let result = async {
            let k = self.keys();
            let mut doomed: Vec<String> = Vec::new();
            if k.ns().is_empty() {
                let ids: Vec<String> = self
                    .query(redis::cmd("SMEMBERS").arg(k.processes()))
                    .await?;
                for id in &ids {
                    doomed.extend([k.process(id), k.workers(id), k.work(id), k.signals(id)]);
                }
                doomed.extend([k.queues(), k.schedule(), k.retry(), k.dead(), k.processes()]);
            }
            for pattern in k.patterns() {
                let mut cursor = 0u64;
                loop {
                    let (next, keys): (u64, Vec<String>) = self
                        .query(
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(&pattern)
                                .arg("COUNT")
                                .arg(1000),
                        )
                        .await?;
                    doomed.extend(keys);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            doomed.sort();
            doomed.dedup();
            for chunk in doomed.chunks(UNLINK_CHUNK) {
                self.query::<()>(redis::cmd("UNLINK").arg(chunk)).await?;
            }
            Ok::<(), BackendError>(())
        }
        .await;
        // After the removal: a push that raced it must not count a queue as added.
        self.inner.known.forget();
        result
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        self.server_facts().await
    }

    fn schedules(&self) -> Option<&dyn jobs::schedule::ScheduleStore> {
        Some(self)
    }
}
