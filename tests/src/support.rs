//! What the cases share: fixed times, job builders, and short forms of backend calls.
//!
//! Every time a case passes to a backend is built from [`t0`], a fixed instant, so no case
//! depends on the wall clock or sleeps to let time pass.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jobs::backend::JobGetParams;
use jobs::backend::{
    AdminBackend, BackendError, DeadLimits, Finish, FinishOutcome, FinishParams, FinishReport,
    HeartbeatParams, HeartbeatReply, JobListParams, JobSet, ProcessInfo, PromoteParams, PushParams,
    RescueParams, ReserveParams, Reserved, StoredJob,
};
use jobs::envelope::{to_epoch, JobEnvelope};
use serde_json::json;

/// The backend under test, as every case receives it.
pub type Subject = Arc<dyn AdminBackend>;

/// The process most cases reserve as.
pub const P1: &str = "conformance-host:101:aaaa";
/// A second process, for cases about several processes.
pub const P2: &str = "conformance-host:202:bbbb";
/// The lease every reserve in the cases asks for.
pub const LEASE_TTL: Duration = Duration::from_secs(60);
/// The class of the jobs [`job`] builds.
pub const CLASS: &str = "ConformanceJob";

/// The fixed instant all case times count from: 2030-01-01T00:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("2030-01-01 is a valid time")
}

/// `secs` seconds after [`t0`].
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// [`at`] as the epoch seconds an envelope stores.
pub fn epoch(secs: i64) -> f64 {
    to_epoch(at(secs))
}

/// A job of class [`CLASS`] on `queue` whose one argument is `n`.
pub fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new(CLASS, queue, vec![json!(n)])
}

/// `job` to be pushed into the scheduled set, due at `when`.
pub fn scheduled(mut job: JobEnvelope, when: DateTime<Utc>) -> JobEnvelope {
    job.at = Some(to_epoch(when));
    job
}

/// `job` as a queue holds it after it was put there at `when`.
pub fn enqueued(job: impl Into<Arc<JobEnvelope>>, when: DateTime<Utc>) -> JobEnvelope {
    let mut job = Arc::unwrap_or_clone(job.into());
    job.at = None;
    job.enqueued_at = Some(to_epoch(when));
    job
}

/// `job` with the error fields a worker records after a failed run at `when`.
pub fn failed(job: impl Into<Arc<JobEnvelope>>, message: &str, when: DateTime<Utc>) -> JobEnvelope {
    let mut job = Arc::unwrap_or_clone(job.into());
    job.error_message = Some(message.to_owned());
    job.error_class = Some("conformance::Error".to_owned());
    job.failed_at = Some(job.failed_at.unwrap_or(to_epoch(when)));
    job.retried_at = Some(to_epoch(when));
    job.retry_count = Some(job.retry_count.map_or(0, |c| c + 1));
    job.error_backtrace = Some(json!(["cases/finish.rs:1", "caused by: connection reset"]));
    job
}

/// The jids of `jobs`, in order.
pub fn jids<'a>(jobs: impl IntoIterator<Item = &'a JobEnvelope>) -> Vec<String> {
    jobs.into_iter().map(|j| j.jid.clone()).collect()
}

/// The jids of reserved jobs, in order.
pub fn reserved_jids(reserved: &[Reserved]) -> Vec<String> {
    jids(reserved.iter().map(|r| &*r.job))
}

/// The jids of listed jobs, in order.
pub fn stored_jids(stored: &[StoredJob]) -> Vec<String> {
    jids(stored.iter().map(|s| &s.job))
}

/// Pushes `jobs` in one call at `now`.
pub async fn push(
    b: &Subject,
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
) -> Result<(), BackendError> {
    b.job_push(PushParams::new(jobs, now)).await.map(|_| ())
}

/// Pushes `jobs` in one call at `now` with `on_conflict`; returns what the push reports.
pub async fn push_report(
    b: &Subject,
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
    on_conflict: jobs::backend::PushConflict,
) -> Result<jobs::backend::PushReport, BackendError> {
    b.job_push(PushParams::new(jobs, now).on_conflict(on_conflict))
        .await
}

/// A job of class [`CLASS`] on `queue` with argument `n`, unique by `key` (its lock's key is
/// derived from it) until `until`, its lock lapsing at [`at`]`(lapse)`.
pub fn unique_job(
    queue: &str,
    n: i64,
    key: &str,
    until: jobs::envelope::flow::UniqueUntil,
    lapse: i64,
) -> JobEnvelope {
    let mut j = job(queue, n);
    j.set_unique(Some(jobs::envelope::flow::UniqueLock::new(
        CLASS,
        None,
        &[json!(key)],
        until,
        epoch(lapse),
    )));
    j
}

/// Promotes up to `limit` due scheduled and retry jobs at `now`; returns how many moved.
pub async fn promote(b: &Subject, now: DateTime<Utc>, limit: usize) -> Result<u64, BackendError> {
    b.scheduled_promote(PromoteParams::new(now).limit(limit))
        .await
}

/// Rescues the leases expired at `now`; returns how many jobs went back.
pub async fn rescue(b: &Subject, now: DateTime<Utc>) -> Result<u64, BackendError> {
    b.lease_rescue(RescueParams::new(now)).await
}

/// Reserves up to `limit` jobs from `queues` for `process`, leased for [`LEASE_TTL`], not
/// waiting.
pub async fn reserve(
    b: &Subject,
    queues: &[&str],
    limit: usize,
    process: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Reserved>, BackendError> {
    let mut params =
        ReserveParams::new(queues.iter().map(|q| q.to_string()).collect(), process, now);
    params.limit = limit;
    params.lease_ttl = LEASE_TTL;
    b.job_reserve(params).await
}

/// Reserves everything waiting in `queue` (as a throwaway process) and returns the jobs.
pub async fn drain(
    b: &Subject,
    queue: &str,
    now: DateTime<Utc>,
) -> Result<Vec<JobEnvelope>, BackendError> {
    let got = reserve(b, &[queue], 100_000, "conformance-drain", now).await?;
    Ok(got
        .into_iter()
        .map(|r| Arc::unwrap_or_clone(r.job))
        .collect())
}

/// A finish item settling `r` with its job as stored next.
pub fn item(
    r: &Reserved,
    job: impl Into<Arc<JobEnvelope>>,
    outcome: FinishOutcome,
    failed: bool,
) -> Finish {
    Finish::new(r.token.clone(), job, outcome, failed)
}

/// Settles `items` in one call at `now`, with the given dead-set limits.
pub async fn finish_all(
    b: &Subject,
    items: Vec<Finish>,
    dead_limits: DeadLimits,
    now: DateTime<Utc>,
) -> Result<FinishReport, BackendError> {
    b.job_finish(FinishParams::new(items, now).dead_limits(dead_limits))
        .await
}

/// Settles one reserved job, storing `job` where `outcome` says, with default limits.
pub async fn finish(
    b: &Subject,
    r: &Reserved,
    job: impl Into<Arc<JobEnvelope>>,
    outcome: FinishOutcome,
    failed: bool,
    now: DateTime<Utc>,
) -> Result<FinishReport, BackendError> {
    let items = vec![item(r, job, outcome, failed)];
    finish_all(b, items, DeadLimits::default(), now).await
}

/// Puts `job` where `outcome` sends it, the way a worker would: push it at `now`, reserve
/// it, and finish it as a failure with error message `message` at `now`. Its queue must be
/// empty. Returns the envelope stored (with the error fields).
pub async fn park(
    b: &Subject,
    job: JobEnvelope,
    outcome: FinishOutcome,
    message: &str,
    now: DateTime<Utc>,
) -> Result<JobEnvelope, BackendError> {
    let (jid, queue) = (job.jid.clone(), job.queue.clone());
    push(b, vec![job], now).await?;
    let got = reserve(b, &[queue.as_str()], 1, "conformance-setup", now).await?;
    assert_eq!(
        reserved_jids(&got),
        vec![jid.clone()],
        "setup: the job's queue must hold only the job being parked"
    );
    let stored = failed(got[0].job.clone(), message, now);
    let report = finish(b, &got[0], stored.clone(), outcome, true, now).await?;
    assert!(report.lost.is_empty(), "setup: a fresh lease was refused");
    Ok(stored)
}

/// Every job of `set`, in the order `job_list` gives.
pub async fn list(b: &Subject, set: JobSet) -> Result<Vec<StoredJob>, BackendError> {
    Ok(b.job_list(JobListParams::new(set, 100_000)).await?.jobs)
}

/// The sets among the queue `queue`, scheduled, retry and dead that hold `jid`.
pub async fn whereabouts(b: &Subject, jid: &str, queue: &str) -> Result<Vec<JobSet>, BackendError> {
    let mut found = Vec::new();
    for set in [
        JobSet::Queue(queue.to_owned()),
        JobSet::Scheduled,
        JobSet::Retry,
        JobSet::Dead,
    ] {
        if b.job_get(JobGetParams::new(set.clone(), jid))
            .await?
            .is_some()
        {
            found.push(set);
        }
    }
    Ok(found)
}

/// What a process with id `id` says about itself.
pub fn info(id: &str) -> ProcessInfo {
    ProcessInfo {
        id: id.to_owned(),
        hostname: "conformance-host".to_owned(),
        pid: 4242,
        tag: Some("conformance".to_owned()),
        queues: vec!["critical".to_owned(), "default".to_owned()],
        concurrency: 5,
        started_at: t0(),
        labels: vec!["suite".to_owned()],
        version: "0.1.0".to_owned(),
    }
}

/// A heartbeat of process `id` at `now`, not quiet and running nothing, extending its leases
/// by `lease_ttl`.
pub async fn beat(
    b: &Subject,
    id: &str,
    lease_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<HeartbeatReply, BackendError> {
    b.process_heartbeat(
        HeartbeatParams::new(info(id), now)
            .running(Vec::new())
            .quiet(false)
            .lease_ttl(lease_ttl),
    )
    .await
}
