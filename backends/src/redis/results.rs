//! Progress reports and results in Redis, in keys Sidekiq never reads; job payloads are
//! unchanged.
//!
//! 1. `jobs-rs:progress:<jid>`: the last report with the process and lease epoch of the run
//!    that wrote it (`progress.lua`, fenced as a finish is: epoch and in-flight payload),
//!    with a PEXPIRE. `running.lua` shows it only while that run holds the job, and deletes
//!    a stale one.
//! 2. `jobs-rs:result:<jid>`: the result record, set by `finish.lua` in the settle's script
//!    (only for an item that applies) with a PEXPIRE of its retention, and listed by expiry
//!    in `jobs-rs:results`, which the rescue pass ([`purge`]) trims, so retention follows
//!    the caller's clock as on the other backends.
//! 3. [`job_status`] looks where Sidekiq's API looks: in-flight lists, then the sorted sets
//!    (`ZSCAN` as `find_job`), then the queues; it looks at the running jobs and results
//!    again when it found nothing, so a job moving meanwhile is not reported unknown.

use chrono::{DateTime, Utc};
use jobs::backend::{
    result_expiry, BackendError, Finish, FinishOutcome, JidParams, JobGetParams, JobSet, JobStatus,
    Progress, ProgressParams, StoredResult,
};

use super::clock::score;
use super::keys::Keys;
use super::scripts::{PROGRESS, RUNNING};
use super::token::Token;
use super::{listing, Inner};

/// How long a progress report lives without another write: a day.
const PROGRESS_TTL_MS: u64 = 24 * 3600 * 1000;

/// The result arguments of a finish item: key, record, time to live (ms), expiry score.
pub(super) fn record(
    k: &Keys,
    item: &Finish,
    now: DateTime<Utc>,
) -> Option<(String, String, u64, String)> {
    let result = item.result.as_ref()?;
    if !matches!(item.outcome, FinishOutcome::Completed) {
        return None;
    }
    let expires_at = result_expiry(now, result.ttl);
    let stored =
        StoredResult::new(result.json.clone(), now, expires_at).with_class(&item.job.class);
    let ttl_ms = u64::try_from(result.ttl.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Some((
        k.result(&item.job.jid),
        stored.to_record(),
        ttl_ms,
        score(expires_at),
    ))
}

/// Stores a report while the writer's run holds the job.
pub(super) async fn job_progress(inner: &Inner, p: ProgressParams) -> Result<bool, BackendError> {
    let t = Token::decode(&p.token)?;
    let k = inner.keys();
    let record = serde_json::json!({
        "process": t.process,
        "epoch": t.epoch.to_string(),
        "progress": p.progress,
    })
    .to_string();
    let mut inv = PROGRESS.prepare_invoke();
    inv.key(k.epoch(t.process))
        .key(k.inflight(t.process, t.queue))
        .key(k.progress(&p.jid))
        .arg(t.epoch)
        .arg(t.raw)
        .arg(record)
        .arg(PROGRESS_TTL_MS);
    let written: i64 = inner.eval(&inv).await?;
    Ok(written == 1)
}

/// The result of `p.jid`, unless expired.
pub(super) async fn job_result(
    inner: &Inner,
    p: JidParams,
) -> Result<Option<StoredResult>, BackendError> {
    let mut cmd = redis::cmd("GET");
    cmd.arg(inner.keys().result(&p.jid));
    let text: Option<String> = inner.query(&cmd).await?;
    match text {
        Some(t) => Ok(Some(StoredResult::from_record(&t)?).filter(|r| r.expires_at > p.now)),
        None => Ok(None),
    }
}

/// `Some(status)` when the job runs now.
async fn running(inner: &Inner, jid: &str) -> Result<Option<JobStatus>, BackendError> {
    let k = inner.keys();
    let mut inv = RUNNING.prepare_invoke();
    inv.key(k.leases())
        .key(k.progress(jid))
        .arg(jid)
        .arg(k.ns());
    let reply: Vec<redis::Value> = inner.eval(&inv).await?;
    if reply.is_empty() {
        return Ok(None);
    }
    let progress = match reply.get(1) {
        Some(v) => {
            let text: String = redis::from_redis_value(v.clone())
                .map_err(|_| super::error::bad_reply("running"))?;
            let mut record: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| BackendError::Decode(format!("stored progress: {e}")))?;
            let p = record
                .get_mut("progress")
                .map(serde_json::Value::take)
                .unwrap_or_default();
            Some(
                serde_json::from_value::<Progress>(p)
                    .map_err(|e| BackendError::Decode(format!("stored progress: {e}")))?,
            )
        }
        None => None,
    };
    Ok(Some(JobStatus::Running { progress }))
}

/// Where `p.jid` is.
pub(super) async fn job_status(inner: &Inner, p: JidParams) -> Result<JobStatus, BackendError> {
    for look in 0..2 {
        if let Some(s) = running(inner, &p.jid).await? {
            return Ok(s);
        }
        if let Some(r) = job_result(inner, p.clone()).await? {
            return Ok(JobStatus::Succeeded {
                finished_at: Some(r.finished_at),
            });
        }
        if look == 1 {
            break;
        }
        let mut sets = vec![JobSet::Scheduled, JobSet::Retry, JobSet::Dead];
        let k = inner.keys();
        let mut pipe = redis::pipe();
        pipe.cmd("SMEMBERS").arg(k.queues());
        pipe.cmd("SMEMBERS").arg(k.pqueues());
        let (mut queues, prioritized): (Vec<String>, Vec<String>) = inner.pipe(&pipe).await?;
        queues.extend(prioritized);
        queues.sort_unstable();
        queues.dedup();
        sets.extend(queues.into_iter().map(JobSet::Queue));
        for set in sets {
            let found = listing::job_get(inner, JobGetParams::new(set.clone(), &p.jid)).await?;
            if let Some(s) = found {
                let at = s.at.unwrap_or(p.now);
                return Ok(JobStatus::in_set(&set, at, &s.job));
            }
        }
    }
    Ok(JobStatus::Unknown)
}

/// Removes the results past their expiry at `now` (their PEXPIRE is the backstop).
pub(super) async fn purge(inner: &Inner, now: DateTime<Utc>) -> Result<(), BackendError> {
    let k = inner.keys();
    let mut cmd = redis::cmd("ZRANGEBYSCORE");
    cmd.arg(k.results())
        .arg("-inf")
        .arg(score(now))
        .arg("LIMIT")
        .arg(0)
        .arg(1000);
    let keys: Vec<String> = inner.query(&cmd).await?;
    if keys.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    pipe.cmd("DEL").arg(&keys).ignore();
    pipe.cmd("ZREM").arg(k.results()).arg(&keys).ignore();
    inner.pipe::<()>(&pipe).await
}
