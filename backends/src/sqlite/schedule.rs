//! Recurring jobs: the [`ScheduleStore`](jobs::schedule::ScheduleStore) of the SQLite backend.
//!
//! 1. A schedule's state is one row of `schedules`; declaring refreshes its description and
//!    job and keeps the rest; `next_run` only rises.
//! 2. A claim is one write transaction: prune expired claims, insert the `(name, tick)` key
//!    (a tick already claimed inserts nothing and the claim is refused), push the job to
//!    its queue's tail and raise `last_run`. So a tick runs once across processes, and a
//!    claim never exists without its job.

use jobs::backend::AdvanceParams;
use jobs::backend::BackendError;
use jobs::backend::EnableParams;
use jobs::backend::ScheduleGetParams;
use jobs::backend::ScheduleRemoveParams;
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord};

use super::db::{after, decode_job, encode_job, from_micros, micros, Db};
use super::error::Sqlx;
use super::push;

/// A `schedules` row: name, description, job, enabled, last run, next run.
type Row = (String, String, String, bool, Option<i64>, Option<i64>);

const COLUMNS: &str = "name, description, job, enabled, last_run, next_run";

fn record(row: Row) -> Result<ScheduleRecord, BackendError> {
    let (name, description, job, enabled, last_run, next_run) = row;
    Ok(ScheduleRecord {
        name,
        description,
        job: decode_job(&job)?,
        enabled,
        last_run: last_run.map(from_micros),
        next_run: next_run.map(from_micros),
    })
}

/// Every schedule, by name.
pub(super) async fn schedule_list(db: &Db) -> Result<Vec<ScheduleRecord>, BackendError> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
    rows.into_iter().map(record).collect()
}

/// One schedule by name.
pub(super) async fn schedule_get(
    db: &Db,
    params: ScheduleGetParams,
) -> Result<Option<ScheduleRecord>, BackendError> {
    let name = params.name.as_str();
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1"))
            .bind(name)
            .fetch_optional(&db.readers)
            .await
            .or_backend(&db.cx)?;
    row.map(record).transpose()
}

/// Creates a schedule, or refreshes the description and job of an existing one.
pub(super) async fn schedule_declare(
    db: &Db,
    p: DeclareParams,
) -> Result<ScheduleRecord, BackendError> {
    let payload = encode_job(&p.job)?;
    // One statement: it holds the write lock from its start, as BEGIN IMMEDIATE would.
    let mut conn = db.exec().await?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO schedules ({COLUMNS}) VALUES (?1, ?2, ?3, 1, NULL, ?4)
         ON CONFLICT (name) DO UPDATE SET description = excluded.description,
             job = excluded.job
         RETURNING {COLUMNS}"
    ))
    .bind(&p.name)
    .bind(&p.description)
    .bind(payload)
    .bind(p.next_run.map(micros))
    .fetch_one(&mut *conn)
    .await
    .or_backend(&db.cx)?;
    conn.settle();
    record(row)
}

/// Raises a schedule's next run to `next_run` (never lowers it).
pub(super) async fn schedule_advance(db: &Db, params: AdvanceParams) -> Result<(), BackendError> {
    let (name, next_run) = (params.name.as_str(), params.next_run);
    let mut conn = db.exec().await?;
    sqlx::query("UPDATE schedules SET next_run = max(coalesce(next_run, ?2), ?2) WHERE name = ?1")
        .bind(name)
        .bind(micros(next_run))
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    conn.settle();
    Ok(())
}

/// Enables or disables a schedule; false when there is none.
pub(super) async fn schedule_set_enabled(
    db: &Db,
    params: EnableParams,
) -> Result<bool, BackendError> {
    let (name, enabled) = (params.name.as_str(), params.enabled);
    let mut conn = db.exec().await?;
    let done = sqlx::query("UPDATE schedules SET enabled = ?2 WHERE name = ?1")
        .bind(name)
        .bind(enabled)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    conn.settle();
    Ok(done.rows_affected() > 0)
}

/// Removes a schedule; false when there was none.
pub(super) async fn schedule_remove(
    db: &Db,
    params: ScheduleRemoveParams,
) -> Result<bool, BackendError> {
    let name = params.name.as_str();
    let mut conn = db.exec().await?;
    let done = sqlx::query("DELETE FROM schedules WHERE name = ?1")
        .bind(name)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    conn.settle();
    Ok(done.rows_affected() > 0)
}

/// Claims a tick and pushes its job, once across processes; false when already claimed.
pub(super) async fn schedule_claim(db: &Db, p: ClaimParams) -> Result<bool, BackendError> {
    // Pushed as the memory reference does: the job takes no unique lock.
    let rows = push::prepare(vec![p.queued_job()], p.now, false)?;
    let available = push::any_available(&rows);
    let (insert, rows) = push::encode(&rows)?;
    let now = micros(p.now);
    let tick = micros(p.tick);
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM schedule_claims WHERE expires_at <= ?1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let claimed = sqlx::query(
        "INSERT INTO schedule_claims (name, tick, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name, tick) DO NOTHING",
    )
    .bind(&p.name)
    .bind(tick)
    .bind(after(p.now, p.keep))
    .execute(&mut *tx)
    .await
    .or_backend(&db.cx)?
    .rows_affected()
        > 0;
    if !claimed {
        return Ok(false);
    }
    push::insert(db, &mut tx, insert, &rows).await?;
    sqlx::query("UPDATE schedules SET last_run = max(coalesce(last_run, ?2), ?2) WHERE name = ?1")
        .bind(&p.name)
        .bind(tick)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    if available {
        db.wake_reservers();
    }
    Ok(true)
}
