//! The Postgres backend's schedule store: recurring-job state and tick claims.
//!
//! 1. A schedule's state is one row of `schedules` (migration 3); declaring is an
//!    `INSERT ... ON CONFLICT DO UPDATE` of description and job only, so an existing
//!    schedule keeps its enabled flag, last run and next run; `next_run` only rises.
//! 2. A claim is one transaction: prune expired claims, `INSERT ... ON CONFLICT DO NOTHING`
//!    the `(name, tick)` key, and only when a row was inserted push the job (the same
//!    statement as `job_push`, notifying at commit) and raise `last_run`. A concurrent
//!    claimer of the same tick waits on the key, then inserts nothing: each tick enqueues
//!    once, and a claim never commits without its job.

use chrono::{DateTime, Utc};
use jobs::backend::AdvanceParams;
use jobs::backend::EnableParams;
use jobs::backend::ScheduleGetParams;
use jobs::backend::ScheduleRemoveParams;
use jobs::backend::{BackendError, PushParams};
use jobs::envelope::JobEnvelope;
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord};
use sqlx::Connection;

use super::error::Sqlx;
use super::push::insert;
use super::rows::encode;
use super::Inner;

/// A `schedules` row.
type Row = (
    String,
    String,
    String,
    bool,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

const COLUMNS: &str = "name, description, job, enabled, last_run, next_run";

fn record(row: Row) -> Result<ScheduleRecord, BackendError> {
    let (name, description, job, enabled, last_run, next_run) = row;
    let job = JobEnvelope::from_json(&job)
        .map_err(|e| BackendError::Decode(format!("schedule {name}: job template: {e}")))?;
    Ok(ScheduleRecord {
        name,
        description,
        job,
        enabled,
        last_run,
        next_run,
    })
}

/// Every schedule, by name.
pub(super) async fn schedule_list(inner: &Inner) -> Result<Vec<ScheduleRecord>, BackendError> {
    let sql = inner.q(&format!(
        "SELECT {COLUMNS} FROM __SCHEMA__.schedules ORDER BY name"
    ));
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    rows.into_iter().map(record).collect()
}

/// One schedule by name.
pub(super) async fn schedule_get(
    inner: &Inner,
    params: ScheduleGetParams,
) -> Result<Option<ScheduleRecord>, BackendError> {
    let name = params.name.as_str();
    let sql = inner.q(&format!(
        "SELECT {COLUMNS} FROM __SCHEMA__.schedules WHERE name = $1"
    ));
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(name)
        .fetch_optional(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    row.map(record).transpose()
}

/// Creates a schedule, or refreshes the description and job of an existing one.
pub(super) async fn schedule_declare(
    inner: &Inner,
    p: DeclareParams,
) -> Result<ScheduleRecord, BackendError> {
    let sql = inner.q(&format!(
        "INSERT INTO __SCHEMA__.schedules (name, description, job, enabled, next_run)
         VALUES ($1, $2, $3, true, $4)
         ON CONFLICT (name) DO UPDATE
             SET description = EXCLUDED.description, job = EXCLUDED.job
         RETURNING {COLUMNS}"
    ));
    let row: Row = sqlx::query_as(&sql)
        .bind(&p.name)
        .bind(&p.description)
        .bind(encode(&p.job)?)
        .bind(p.next_run)
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    record(row)
}

/// Raises a schedule's next run to `next_run` (never lowers it).
pub(super) async fn schedule_advance(
    inner: &Inner,
    params: AdvanceParams,
) -> Result<(), BackendError> {
    let (name, next_run) = (params.name.as_str(), params.next_run);
    let sql = inner.q("UPDATE __SCHEMA__.schedules SET next_run = $2
         WHERE name = $1 AND (next_run IS NULL OR next_run < $2)");
    sqlx::query(&sql)
        .bind(name)
        .bind(next_run)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(())
}

/// Enables or disables a schedule; false when there is none.
pub(super) async fn schedule_set_enabled(
    inner: &Inner,
    params: EnableParams,
) -> Result<bool, BackendError> {
    let (name, enabled) = (params.name.as_str(), params.enabled);
    let sql = inner.q("UPDATE __SCHEMA__.schedules SET enabled = $2 WHERE name = $1");
    let done = sqlx::query(&sql)
        .bind(name)
        .bind(enabled)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(done.rows_affected() > 0)
}

/// Removes a schedule; false when there was none.
pub(super) async fn schedule_remove(
    inner: &Inner,
    params: ScheduleRemoveParams,
) -> Result<bool, BackendError> {
    let name = params.name.as_str();
    let sql = inner.q("DELETE FROM __SCHEMA__.schedules WHERE name = $1");
    let done = sqlx::query(&sql)
        .bind(name)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(done.rows_affected() > 0)
}

/// Claims a tick and pushes its job, once across processes; false when already claimed.
pub(super) async fn schedule_claim(inner: &Inner, p: ClaimParams) -> Result<bool, BackendError> {
    let keep = chrono::Duration::from_std(p.keep).unwrap_or(chrono::Duration::MAX);
    let expires = p
        .now
        .checked_add_signed(keep)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
    let mut tx = conn.begin().await.or_backend(&inner.cx)?;
    sqlx::query(&inner.q("DELETE FROM __SCHEMA__.schedule_claims WHERE expires_at <= $1"))
        .bind(p.now)
        .execute(&mut *tx)
        .await
        .or_backend(&inner.cx)?;
    let inserted = sqlx::query(&inner.q(
        "INSERT INTO __SCHEMA__.schedule_claims (name, tick, expires_at)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    ))
    .bind(&p.name)
    .bind(p.tick)
    .bind(expires)
    .execute(&mut *tx)
    .await
    .or_backend(&inner.cx)?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await.or_backend(&inner.cx)?;
        return Ok(false);
    }
    insert(inner, &mut tx, PushParams::new(vec![p.queued_job()], p.now)).await?;
    sqlx::query(&inner.q("UPDATE __SCHEMA__.schedules SET last_run = $2
         WHERE name = $1 AND (last_run IS NULL OR last_run < $2)"))
    .bind(&p.name)
    .bind(p.tick)
    .execute(&mut *tx)
    .await
    .or_backend(&inner.cx)?;
    tx.commit().await.or_backend(&inner.cx)?;
    inner.wake.wake_all();
    Ok(true)
}
