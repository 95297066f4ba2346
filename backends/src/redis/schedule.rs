//! The Redis backend's schedule store: recurring-job state and tick claims.
//!
//! 1. **Keys**, all ours under `jobs-rs:`: `jobs-rs:schedules` (set of names) and a hash per
//!    schedule, `jobs-rs:schedule:<name>` (`description`, `job` = the template JSON,
//!    `enabled` = `1`/`0`, `last_run`, `next_run` as epoch seconds). Each claimed tick is a
//!    key `jobs-rs:schedule-claim:<len>:<name>:<tick µs>` that expires after the claim's keep
//!    time (7 days by default), so old claims prune themselves.
//! 2. **Claim** (`lua/schedule_claim.lua`): `SET NX PX` on the claim key and, only when that
//!    set it, `LPUSH` of the job and `SADD` of its queue, in one script: exactly one caller
//!    per tick pushes, and a claim never exists without its job. A job with a priority goes
//!    to its priority list and wakes the reserves blocked on its queue (`unique.rs`).
//! 3. **Declare** is one `MULTI`: `HSET` the description and job, `HSETNX` enabled and
//!    next run (so an existing schedule keeps its state), then read the hash back.

use jobs::backend::AdvanceParams;
use jobs::backend::EnableParams;
use jobs::backend::ScheduleGetParams;
use jobs::backend::ScheduleRemoveParams;
use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::envelope::{from_epoch, JobEnvelope};
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord};
use redis::Script;

use super::raw::encode;
use super::{score, Inner};

static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/schedule_claim.lua")));
static UPDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../lua/schedule_update.lua")));

/// The set of schedule names.
fn schedules_key(inner: &Inner) -> String {
    format!("{}jobs-rs:schedules", inner.keys().ns())
}

/// A schedule's hash.
fn schedule_key(inner: &Inner, name: &str) -> String {
    format!("{}jobs-rs:schedule:{name}", inner.keys().ns())
}

/// The claim of one tick of a schedule.
fn claim_key(inner: &Inner, name: &str, tick: DateTime<Utc>) -> String {
    format!(
        "{}jobs-rs:schedule-claim:{}:{name}:{}",
        inner.keys().ns(),
        name.len(),
        tick.timestamp_micros()
    )
}

fn time(
    fields: &HashMap<String, String>,
    key: &str,
) -> Result<Option<DateTime<Utc>>, BackendError> {
    match fields.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(|s| Some(from_epoch(s)))
            .map_err(|_| BackendError::Decode(format!("schedule {key} `{v}` is not a time"))),
    }
}

fn record(
    name: &str,
    fields: HashMap<String, String>,
) -> Result<Option<ScheduleRecord>, BackendError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let job = fields.get("job").map(String::as_str).unwrap_or_default();
    let job = JobEnvelope::from_json(job)
        .map_err(|e| BackendError::Decode(format!("schedule {name}: job template: {e}")))?;
    Ok(Some(ScheduleRecord {
        name: name.to_owned(),
        description: fields.get("description").cloned().unwrap_or_default(),
        job,
        enabled: fields.get("enabled").map(String::as_str) != Some("0"),
        last_run: time(&fields, "last_run")?,
        next_run: time(&fields, "next_run")?,
    }))
}

/// Every schedule, by name.
pub(super) async fn schedule_list(inner: &Inner) -> Result<Vec<ScheduleRecord>, BackendError> {
    let mut names: Vec<String> = inner
        .query(redis::cmd("SMEMBERS").arg(schedules_key(inner)))
        .await?;
    names.sort();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for name in &names {
        pipe.cmd("HGETALL").arg(schedule_key(inner, name));
    }
    let all: Vec<HashMap<String, String>> = inner.pipe(&pipe).await?;
    let mut out = Vec::with_capacity(names.len());
    for (name, fields) in names.iter().zip(all) {
        out.extend(record(name, fields)?);
    }
    Ok(out)
}

/// One schedule by name.
pub(super) async fn schedule_get(
    inner: &Inner,
    params: ScheduleGetParams,
) -> Result<Option<ScheduleRecord>, BackendError> {
    let name = params.name.as_str();
    let fields: HashMap<String, String> = inner
        .query(redis::cmd("HGETALL").arg(schedule_key(inner, name)))
        .await?;
    record(name, fields)
}

/// Creates a schedule, or refreshes the description and job of an existing one.
pub(super) async fn schedule_declare(
    inner: &Inner,
    p: DeclareParams,
) -> Result<ScheduleRecord, BackendError> {
    let key = schedule_key(inner, &p.name);
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("SADD")
        .arg(schedules_key(inner))
        .arg(&p.name)
        .ignore();
    pipe.cmd("HSET")
        .arg(&key)
        .arg("description")
        .arg(&p.description)
        .arg("job")
        .arg(encode(&p.job)?)
        .ignore();
    pipe.cmd("HSETNX")
        .arg(&key)
        .arg("enabled")
        .arg("1")
        .ignore();
    if let Some(next) = p.next_run {
        pipe.cmd("HSETNX")
            .arg(&key)
            .arg("next_run")
            .arg(score(next))
            .ignore();
    }
    pipe.cmd("HGETALL").arg(&key);
    let (fields,): (HashMap<String, String>,) = inner.pipe(&pipe).await?;
    record(&p.name, fields)?
        .ok_or_else(|| BackendError::Decode(format!("schedule {} vanished while declared", p.name)))
}

/// Raises a schedule's next run to `next_run` (never lowers it).
pub(super) async fn schedule_advance(
    inner: &Inner,
    params: AdvanceParams,
) -> Result<(), BackendError> {
    let (name, next_run) = (params.name.as_str(), params.next_run);
    let mut inv = UPDATE.prepare_invoke();
    inv.key(schedule_key(inner, name))
        .arg("advance")
        .arg(score(next_run));
    inner.eval::<i64>(&inv).await.map(drop)
}

/// Enables or disables a schedule; false when there is none.
pub(super) async fn schedule_set_enabled(
    inner: &Inner,
    params: EnableParams,
) -> Result<bool, BackendError> {
    let (name, enabled) = (params.name.as_str(), params.enabled);
    let mut inv = UPDATE.prepare_invoke();
    inv.key(schedule_key(inner, name))
        .arg("enable")
        .arg(if enabled { "1" } else { "0" });
    Ok(inner.eval::<i64>(&inv).await? == 1)
}

/// Removes a schedule; false when there was none.
pub(super) async fn schedule_remove(
    inner: &Inner,
    params: ScheduleRemoveParams,
) -> Result<bool, BackendError> {
    let name = params.name.as_str();
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.cmd("SREM").arg(schedules_key(inner)).arg(name);
    pipe.cmd("DEL").arg(schedule_key(inner, name)).ignore();
    let (removed,): (i64,) = inner.pipe(&pipe).await?;
    Ok(removed > 0)
}

/// Claims a tick and pushes its job, once across processes; false when already claimed.
pub(super) async fn schedule_claim(inner: &Inner, p: ClaimParams) -> Result<bool, BackendError> {
    let job = p.queued_job();
    let k = inner.keys();
    let keep_ms = u64::try_from(p.keep.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut inv = CLAIM.prepare_invoke();
    let priority = job.priority();
    let list = match priority {
        0 => k.queue(&job.queue),
        p => k.pqueue(p, &job.queue),
    };
    inv.key(claim_key(inner, &p.name, p.tick))
        .key(list)
        .key(k.queues())
        .key(schedule_key(inner, &p.name));
    if priority > 0 {
        inv.key(k.pqueues()).key(k.sleepers(&job.queue));
    }
    inv.arg(keep_ms)
        .arg(encode(&job)?)
        .arg(&job.queue)
        .arg(score(p.tick));
    let (claimed, sleepers): (i64, Vec<String>) = inner.eval(&inv).await?;
    super::unique::wake(inner, &sleepers).await;
    Ok(claimed == 1)
}
