//! Process records in Sidekiq's format: heartbeat, removal, listing and signals.
//!
//! 1. A heartbeat is one MULTI/EXEC: `SADD processes`, the process hash (`info` JSON as
//!    Sidekiq writes it, `busy`, `beat`, `quiet`, `rss` (resident kB, from
//!    `/proc/self/status`; 0 where there is none), `rtt_us` (the previous heartbeat's round
//!    trip; a timed PING before the first)), its running jobs in
//!    `<id>:workers` and `<id>:work` (`{"queue","payload","run_at"}` per job), the lease
//!    extension (`jobs-rs:leases`), the renewal of its lease epoch's expiry
//!    (`jobs-rs:epoch:*`), the record's own expiry (`jobs-rs:beats`), and reading then
//!    clearing `<id>-signals`.
//! 2. Exact values Sidekiq's fields would round (the `ProcessInfo`, nanosecond times) ride
//!    along in fields Sidekiq ignores: `info.jobs_rs`, `jobs_rs_beat`, `jobs_rs_started_at`.
//! 3. Ruby Sidekiq processes sharing the Redis are listed too, from their fields alone.

use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::error::bad_reply;
use super::raw::encode;
use super::scripts::{BEAT, UNHELD};
use super::token::Token;
use super::{lease_arg, score, Inner, EPOCH_TTL_SECS};

/// Sidekiq keeps a process hash 60 s past its last beat.
const MIN_RECORD_TTL_SECS: u64 = 60;

/// The `info` field as Sidekiq writes it, plus our exact copy.
#[derive(Serialize)]
struct InfoOut<'a> {
    hostname: &'a str,
    started_at: f64,
    pid: u32,
    tag: &'a str,
    concurrency: usize,
    queues: &'a [String],
    labels: &'a [String],
    identity: &'a str,
    version: &'a str,
    jobs_rs: &'a ProcessInfo,
}

/// The `info` field as any Sidekiq version or this crate wrote it.
#[derive(Deserialize, Default)]
#[serde(default)]
struct InfoIn {
    jobs_rs: Option<ProcessInfo>,
    hostname: Option<String>,
    started_at: Option<serde_json::Number>,
    pid: Option<u32>,
    tag: Option<String>,
    concurrency: Option<usize>,
    queues: Option<Vec<String>>,
    labels: Option<Vec<String>>,
    identity: Option<String>,
    version: Option<String>,
}

impl InfoIn {
    fn into_info(self, id: &str) -> ProcessInfo {
        if let Some(info) = self.jobs_rs {
            return info;
        }
        ProcessInfo {
            id: self.identity.unwrap_or_else(|| id.to_owned()),
            hostname: self.hostname.unwrap_or_default(),
            pid: self.pid.unwrap_or_default(),
            tag: self.tag.filter(|t| !t.is_empty()),
            queues: self.queues.unwrap_or_default(),
            concurrency: self.concurrency.unwrap_or_default(),
            started_at: self
                .started_at
                .as_ref()
                .and_then(epoch_number)
                .map_or_else(DateTime::default, from_epoch),
            labels: self.labels.unwrap_or_default(),
            version: self.version.unwrap_or_default(),
        }
    }
}

/// Epoch seconds from a JSON number, reading Sidekiq 8's integer milliseconds too.
fn epoch_number(n: &serde_json::Number) -> Option<f64> {
    match n.as_i64() {
        Some(i) if i > 100_000_000_000 => Some(i as f64 / 1000.0),
        _ => n.as_f64(),
    }
}

/// Records a beat, extends the process's lease and returns its pending signals.
pub(super) async fn process_heartbeat(
    inner: &Inner,
    p: HeartbeatParams,
) -> Result<HeartbeatReply, BackendError> {
    let k = inner.keys();
    let id = &p.info.id;
    let running_jids: Vec<String> = p.running.iter().map(|r| r.job.jid.clone()).collect();
    let info = serde_json::to_string(&InfoOut {
        hostname: &p.info.hostname,
        started_at: to_epoch(p.info.started_at),
        pid: p.info.pid,
        tag: p.info.tag.as_deref().unwrap_or(""),
        concurrency: p.info.concurrency,
        queues: &p.info.queues,
        labels: &p.info.labels,
        identity: id,
        version: &p.info.version,
        jobs_rs: &p.info,
    })
    .map_err(|e| BackendError::Decode(format!("process info cannot be encoded: {e}")))?;
    let mut running = Vec::with_capacity(p.running.len() * 2);
    for r in &p.running {
        let value = serde_json::json!({
            "queue": r.job.queue,
            "payload": encode(&r.job)?,
            "run_at": r.started_at.timestamp(),
            "jobs_rs_started_at": r.started_at.to_rfc3339(),
        });
        running.push(r.job.jid.clone());
        running.push(value.to_string());
    }
    let ttl = MIN_RECORD_TTL_SECS.max(p.lease_ttl.as_secs().saturating_add(1));
    let rtt_us = match inner.beat_rtt_us.load(Ordering::Relaxed) {
        0 => {
            let started = Instant::now();
            inner.query::<()>(&redis::cmd("PING")).await?;
            micros(started)
        }
        known => known,
    };
    let expiry = lease_arg(p.lease_clock, p.now, p.lease_ttl);
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("SADD").arg(k.processes()).arg(id).ignore();
    pipe.cmd("HSET")
        .arg(k.process(id))
        .arg("info")
        .arg(info)
        .arg("busy")
        .arg(p.running.len())
        .arg("beat")
        .arg(score(p.now))
        .arg("quiet")
        .arg(if p.quiet { "true" } else { "false" })
        .arg("rss")
        .arg(rss_kb())
        .arg("rtt_us")
        .arg(rtt_us)
        .arg("jobs_rs_beat")
        .arg(p.now.to_rfc3339())
        .ignore();
    pipe.cmd("EXPIRE").arg(k.process(id)).arg(ttl).ignore();
    for key in [k.workers(id), k.work(id)] {
        pipe.cmd("DEL").arg(&key).ignore();
        if !running.is_empty() {
            pipe.cmd("HSET").arg(&key).arg(&running).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(ttl).ignore();
        }
    }
    pipe.cmd("EVAL")
        .arg(BEAT)
        .arg(2)
        .arg(k.leases())
        .arg(k.beats())
        .arg(&expiry)
        .arg(id)
        .ignore();
    // Keeps the lease epoch of a process rescued before for as long as it beats (a no-op
    // for one never rescued): were it to expire, its stale tokens would match again.
    pipe.cmd("EXPIRE")
        .arg(k.epoch(id))
        .arg(EPOCH_TTL_SECS)
        .ignore();
    if let Some(held) = &p.leases {
        give_back_unheld(&mut pipe, k, id, held, ttl)?;
    }
    pipe.cmd("LRANGE").arg(k.signals(id)).arg(0).arg(-1);
    pipe.cmd("DEL").arg(k.signals(id)).ignore();
    let started = Instant::now();
    let (mut signals,): (Vec<String>,) = inner.pipe(&pipe).await?;
    inner.beat_rtt_us.store(micros(started), Ordering::Relaxed);
    signals.reverse(); // LPUSHed: oldest last
    let signals: Vec<ProcessSignal> = signals.iter().filter_map(|s| signal_from(s)).collect();
    // A quiet or stop read now takes effect now: the process hash says quiet in this beat,
    // not the next one (Sidekiq's Busy page showed it a heartbeat late).
    if !p.quiet && !signals.is_empty() {
        inner
            .query::<()>(
                redis::cmd("HSET")
                    .arg(k.process(id))
                    .arg("quiet")
                    .arg("true"),
            )
            .await?;
    }
    let cancels = super::cancel::pending(inner, &running_jids).await?;
    Ok(HeartbeatReply { signals, cancels })
}

/// Microseconds since `started`, at least 1 (0 means "not measured").
fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// This process's resident set size in kB, as Sidekiq writes `rss` (from `ps`); 0 where
/// `/proc/self/status` cannot be read.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| vm_rss_kb(&status))
        .unwrap_or(0)
}

/// The `VmRSS:` line of a `/proc/<pid>/status` text, in kB.
fn vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Adds `unheld.lua` to a heartbeat's transaction: in-flight jobs of process `id` missing
/// from `held` two beats in a row go back to their queues (a lost reserve reply).
fn give_back_unheld(
    pipe: &mut redis::Pipeline,
    k: &super::keys::Keys,
    id: &str,
    held: &[LeaseToken],
    ttl: u64,
) -> Result<(), BackendError> {
    pipe.cmd("EVAL")
        .arg(UNHELD)
        .arg(3)
        .arg(k.leased(id))
        .arg(k.unheld(id))
        .arg(k.queues())
        .arg(k.ns())
        .arg(id)
        .arg(ttl);
    for token in held {
        let t = Token::decode(token)?;
        if t.process == id {
            pipe.arg(sha1_smol::Sha1::from(t.raw.as_bytes()).digest().to_string());
        }
    }
    pipe.ignore();
    Ok(())
}

/// Drops a process's record, its running jobs and its signals.
pub(super) async fn process_remove(
    inner: &Inner,
    params: ProcessRemoveParams,
) -> Result<(), BackendError> {
    let id = &params.id;
    let k = inner.keys();
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("SREM").arg(k.processes()).arg(id).ignore();
    pipe.cmd("DEL")
        .arg(k.process(id))
        .arg(k.workers(id))
        .arg(k.work(id))
        .arg(k.signals(id))
        .ignore();
    pipe.cmd("ZREM").arg(k.beats()).arg(id).ignore();
    inner.pipe::<()>(&pipe).await
}

/// Every process record, ours and Sidekiq's, by id.
pub(super) async fn process_list(inner: &Inner) -> Result<Vec<ProcessRecord>, BackendError> {
    let k = inner.keys();
    let mut ids: Vec<String> = inner
        .query(redis::cmd("SMEMBERS").arg(k.processes()))
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    ids.sort();
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HMGET").arg(k.process(id)).arg(&[
            "info",
            "busy",
            "beat",
            "quiet",
            "jobs_rs_beat",
        ]);
        pipe.cmd("HGETALL").arg(k.workers(id));
        pipe.cmd("HGETALL").arg(k.work(id));
    }
    let replies = chunk3(inner.pipe(&pipe).await?)?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, (fields, workers, work)) in ids.iter().zip(replies) {
        let [info, _busy, beat, quiet, exact_beat] = fields;
        let Some(info) = info else { continue };
        let info: InfoIn = serde_json::from_str(&info).map_err(|e| {
            BackendError::Decode(format!("the info of process {id} is not valid JSON: {e}"))
        })?;
        let beat_at = exact_beat
            .and_then(|b| DateTime::parse_from_rfc3339(&b).ok())
            .map(|b| b.with_timezone(&Utc))
            .or_else(|| beat.and_then(|b| b.parse::<f64>().ok()).map(from_epoch))
            .unwrap_or_default();
        let running = if workers.is_empty() { work } else { workers };
        out.push(ProcessRecord {
            info: info.into_info(id),
            beat_at,
            quiet: quiet.as_deref() == Some("true"),
            running: running
                .chunks(2)
                .filter_map(|pair| running_job(pair.get(1)?))
                .collect(),
        });
    }
    Ok(out)
}

/// Leaves a signal for a live process, as Sidekiq's web UI does.
pub(super) async fn process_signal(
    inner: &Inner,
    params: ProcessSignalParams,
) -> Result<(), BackendError> {
    let (id, signal) = (&params.id, params.signal);
    let k = inner.keys();
    let live: bool = inner.query(redis::cmd("EXISTS").arg(k.process(id))).await?;
    if !live {
        return Err(BackendError::msg(format!("no live process with id {id}")));
    }
    let name = match signal {
        ProcessSignal::Quiet => "TSTP",
        ProcessSignal::Stop => "TERM",
        _ => {
            return Err(BackendError::Unsupported {
                backend: "redis",
                operation: "this process signal",
            })
        }
    };
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("LPUSH").arg(k.signals(id)).arg(name).ignore();
    pipe.cmd("EXPIRE").arg(k.signals(id)).arg(60).ignore();
    inner.pipe::<()>(&pipe).await
}

type Value3 = ([Option<String>; 5], Vec<String>, Vec<String>);

/// Groups the replies of the listing pipeline by process.
fn chunk3(replies: Vec<redis::Value>) -> Result<Vec<Value3>, BackendError> {
    let mut out = Vec::with_capacity(replies.len() / 3);
    let mut it = replies.into_iter();
    while let (Some(a), Some(b), Some(c)) = (it.next(), it.next(), it.next()) {
        let fields: Vec<Option<String>> =
            redis::from_redis_value(a).map_err(|_| bad_reply("process list"))?;
        let fields: [Option<String>; 5] =
            fields.try_into().map_err(|_| bad_reply("process list"))?;
        let b = redis::from_redis_value(b).map_err(|_| bad_reply("process list"))?;
        let c = redis::from_redis_value(c).map_err(|_| bad_reply("process list"))?;
        out.push((fields, b, c));
    }
    Ok(out)
}

/// A running job from a `<id>:workers` value (payload as a JSON string or, from old
/// Sidekiq versions, an object).
fn running_job(value: &str) -> Option<RunningJob> {
    let v: Value = serde_json::from_str(value).ok()?;
    let job = match v.get("payload")? {
        Value::String(s) => JobEnvelope::from_json(s).ok()?,
        other => serde_json::from_value(other.clone()).ok()?,
    };
    let started_at = v
        .get("jobs_rs_started_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            v.get("run_at")
                .and_then(Value::as_number)
                .and_then(epoch_number)
                .map(from_epoch)
        })
        .unwrap_or_default();
    Some(RunningJob { job, started_at })
}

/// Sidekiq's signal names, as its web UI and `sidekiqctl` send them.
fn signal_from(name: &str) -> Option<ProcessSignal> {
    match name {
        "TSTP" | "USR1" => Some(ProcessSignal::Quiet),
        "TERM" => Some(ProcessSignal::Stop),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_the_vmrss_line_in_kb() {
        let status = "Name:\tjobs\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(vm_rss_kb(status), Some(12345));
        assert_eq!(vm_rss_kb("Name:\tjobs\n"), None);
        if cfg!(target_os = "linux") {
            assert!(rss_kb() > 0);
        }
    }

    #[test]
    fn a_measured_round_trip_is_never_zero() {
        assert!(micros(Instant::now()) >= 1);
    }
}
