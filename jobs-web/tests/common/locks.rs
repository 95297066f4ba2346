//! Helpers for the tests of unique locks: unique jobs, pushing them, the locks held, and the
//! dashboard at a fixed instant.

use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::clock::ManualClock;
use jobs::envelope::flow::{UniqueLock, UniqueUntil};
use jobs::envelope::{to_epoch, JobEnvelope};
use jobs_web::Dashboard;
use serde_json::json;

pub const T: &str = "2030-01-15T12:00:00Z";

pub fn t() -> DateTime<Utc> {
    T.parse().unwrap()
}

pub fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

/// A `class` job on `queue` unique by `arg`, held `until`, its lock lapsing at `expires_at`.
pub fn unique(
    class: &str,
    queue: &str,
    arg: i64,
    until: UniqueUntil,
    expires_at: DateTime<Utc>,
) -> JobEnvelope {
    let mut job = JobEnvelope::new(class, queue, vec![json!(arg)]);
    let lock = UniqueLock::new(class, None, &job.args, until, to_epoch(expires_at));
    job.set_unique(Some(lock));
    job
}

pub fn key(job: &JobEnvelope) -> String {
    job.unique().unwrap().key
}

/// Pushes `job` at `now`; whether it was stored (not a duplicate).
pub async fn push(b: &Arc<dyn AdminBackend>, job: JobEnvelope, now: DateTime<Utc>) -> bool {
    let report = b.job_push(PushParams::new(vec![job], now)).await.unwrap();
    report.duplicates.is_empty()
}

/// The keys of the locks the backend holds at `now`.
pub async fn held(b: &Arc<dyn AdminBackend>, now: DateTime<Utc>) -> Vec<String> {
    let locks = b.unique_list(UniqueListParams::new(now)).await.unwrap();
    locks.into_iter().map(|h| h.key).collect()
}

pub fn with(d: Dashboard) -> Router {
    Router::new().nest("/admin/jobs", d.router())
}

pub fn app_at(b: &Arc<dyn AdminBackend>, clock: &Arc<ManualClock>) -> Router {
    with(Dashboard::new(b.clone()).clock(clock.clone()))
}
