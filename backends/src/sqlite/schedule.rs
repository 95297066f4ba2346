//! Recurring jobs: the [`ScheduleStore`] of the SQLite backend.
//!
//! 1. A schedule's state is one row of `schedules`; declaring refreshes its description and
//!    job and keeps the rest; `next_run` only rises.
//! 2. A claim is one write transaction: prune expired claims, insert the `(name, tick)` key
//!    (a tick already claimed inserts nothing and the claim is refused), push the job to
//!    its queue's tail and raise `last_run`. So a tick runs once across processes, and a
//!    claim never exists without its job.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};

use super::db::{after, decode_job, encode_job, from_micros, micros, Db};
use super::error::Sqlx;
use super::{push, SqliteBackend};

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

fn db(b: &SqliteBackend) -> &Db {
    &b.db
}

#[async_trait]
impl ScheduleStore for SqliteBackend {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        let db = db(self);
        let rows: Vec<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))
                .fetch_all(&db.readers)
                .await
                .or_backend(&db.cx)?;
        rows.into_iter().map(record).collect()
    }

    async fn schedule_get(&self, name: &str) -> Result<Option<ScheduleRecord>, BackendError> {
        let db = db(self);
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1"))
                .bind(name)
                .fetch_optional(&db.readers)
                .await
                .or_backend(&db.cx)?;
        row.map(record).transpose()
    }

    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        let db = db(self);
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

    async fn schedule_advance(
        &self,
        name: &str,
        next_run: DateTime<Utc>,
    ) -> Result<(), BackendError> {
        let db = db(self);
        let mut conn = db.exec().await?;
        sqlx::query(
            "UPDATE schedules SET next_run = max(coalesce(next_run, ?2), ?2) WHERE name = ?1",
        )
        .bind(name)
        .bind(micros(next_run))
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
        conn.settle();
        Ok(())
    }

    async fn schedule_set_enabled(&self, name: &str, enabled: bool) -> Result<bool, BackendError> {
        let db = db(self);
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

    async fn schedule_remove(&self, name: &str) -> Result<bool, BackendError> {
        let db = db(self);
        let mut conn = db.exec().await?;
        let done = sqlx::query("DELETE FROM schedules WHERE name = ?1")
            .bind(name)
            .execute(&mut *conn)
            .await
            .or_backend(&db.cx)?;
        conn.settle();
        Ok(done.rows_affected() > 0)
    }

    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        let db = db(self);
        let (rows, available) = push::prepare(vec![p.queued_job()], p.now)?;
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
        push::insert(db, &mut tx, &rows).await?;
        sqlx::query(
            "UPDATE schedules SET last_run = max(coalesce(last_run, ?2), ?2) WHERE name = ?1",
        )
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
}
