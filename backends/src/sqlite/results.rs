//! Progress reports and results in SQLite (migration 7, `0007_progress_results.sql`).
//!
//! 1. [`job_progress`] upserts the report only while the `jobs` row runs under the writer's
//!    lease token (one statement: the fence and the write together).
//! 2. [`store`] writes results inside the finish transaction, for the items that applied;
//!    `finish.rs` takes the transaction path whenever an item carries a result.
//! 3. [`job_status`] reads the row by jid; a running job's report is shown only while its
//!    token is the row's lease token. [`purge`] (the rescue pass) removes expired results
//!    and reports of ended runs, writing only when there is something to remove.

use chrono::{DateTime, Utc};
use jobs::backend::{
    result_expiry, BackendError, JidParams, JobStatus, Progress, ProgressParams, ResultWrite,
    StoredResult,
};
use jobs::envelope::JobEnvelope;

use super::db::{from_micros, micros, parse_token, Db, Tx};
use super::error::Sqlx;

/// Stores a report while the row runs under the writer's lease.
pub(super) async fn job_progress(db: &Db, p: ProgressParams) -> Result<bool, BackendError> {
    let Some((id, nonce)) = parse_token(&p.token) else {
        return Ok(false);
    };
    let json = p.progress.to_json()?;
    let mut conn = db.exec().await?;
    let written = sqlx::query(
        "INSERT INTO job_progress (jid, lease_token, progress)
         SELECT ?1, ?2, ?3 WHERE EXISTS (
             SELECT 1 FROM jobs WHERE id = ?4 AND jid = ?1 AND state = 'running'
                 AND lease_token = ?2)
         ON CONFLICT (jid) DO UPDATE SET lease_token = excluded.lease_token,
             progress = excluded.progress",
    )
    .bind(&p.jid)
    .bind(nonce)
    .bind(json)
    .bind(id)
    .execute(&mut *conn)
    .await
    .or_backend(&db.cx)?
    .rows_affected()
        > 0;
    conn.settle();
    Ok(written)
}

/// Writes the results of the settled items `kept` (jid, class, result, now) inside `tx`.
pub(super) async fn store(
    db: &Db,
    tx: &mut Tx<'_>,
    kept: &[(&str, &str, &ResultWrite, DateTime<Utc>)],
) -> Result<(), BackendError> {
    for (jid, class, result, now) in kept {
        sqlx::query(
            "INSERT INTO job_results (jid, json, finished_at, expires_at, class)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (jid) DO UPDATE SET json = excluded.json,
                 finished_at = excluded.finished_at, expires_at = excluded.expires_at,
                 class = excluded.class",
        )
        .bind(jid)
        .bind(&result.json)
        .bind(micros(*now))
        .bind(micros(result_expiry(*now, result.ttl)))
        .bind(class)
        .execute(&mut **tx)
        .await
        .or_backend(&db.cx)?;
    }
    Ok(())
}

/// The result of `p.jid`, unless expired.
pub(super) async fn job_result(
    db: &Db,
    p: JidParams,
) -> Result<Option<StoredResult>, BackendError> {
    let row: Option<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT json, finished_at, expires_at, class FROM job_results
         WHERE jid = ?1 AND expires_at > ?2",
    )
    .bind(&p.jid)
    .bind(micros(p.now))
    .fetch_optional(&db.readers)
    .await
    .or_backend(&db.cx)?;
    Ok(row.map(|(json, f, e, class)| {
        StoredResult::new(json, from_micros(f), from_micros(e)).with_class(class)
    }))
}

/// Where `p.jid` is.
pub(super) async fn job_status(db: &Db, p: JidParams) -> Result<JobStatus, BackendError> {
    let mut read = db.read().await?;
    /// State, run_at, queue, payload, lease token.
    type Row = (String, i64, String, Vec<u8>, Option<String>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT state, run_at, queue, CAST(payload AS BLOB), lease_token FROM jobs WHERE jid = ?1",
    )
    .bind(&p.jid)
    .fetch_optional(&mut *read)
    .await
    .or_backend(&db.cx)?;
    let error = |payload: &[u8]| {
        serde_json::from_slice::<JobEnvelope>(payload)
            .ok()
            .and_then(|j| j.error_message)
    };
    let status = match row {
        Some((state, _, _, _, Some(token))) if state == "running" => {
            let progress: Option<String> = sqlx::query_scalar(
                "SELECT progress FROM job_progress WHERE jid = ?1 AND lease_token = ?2",
            )
            .bind(&p.jid)
            .bind(&token)
            .fetch_optional(&mut *read)
            .await
            .or_backend(&db.cx)?;
            JobStatus::Running {
                progress: progress.as_deref().map(Progress::from_json).transpose()?,
            }
        }
        Some((state, run_at, queue, payload, _)) => match state.as_str() {
            "available" => JobStatus::Waiting { queue },
            "scheduled" => JobStatus::Scheduled {
                at: from_micros(run_at),
            },
            "retryable" => JobStatus::Retry {
                at: from_micros(run_at),
                error: error(&payload),
            },
            "dead" => JobStatus::Dead {
                error: error(&payload),
            },
            _ => JobStatus::Unknown,
        },
        None => {
            let finished: Option<i64> = sqlx::query_scalar(
                "SELECT finished_at FROM job_results WHERE jid = ?1 AND expires_at > ?2",
            )
            .bind(&p.jid)
            .bind(micros(p.now))
            .fetch_optional(&mut *read)
            .await
            .or_backend(&db.cx)?;
            match finished {
                Some(f) => JobStatus::Succeeded {
                    finished_at: Some(from_micros(f)),
                },
                None => JobStatus::Unknown,
            }
        }
    };
    Ok(status)
}

/// Removes expired results and the reports of runs that ended, when there are any.
pub(super) async fn purge(db: &Db, now: DateTime<Utc>) -> Result<(), BackendError> {
    const ENDED: &str = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.jid = job_progress.jid
        AND j.state = 'running' AND j.lease_token = job_progress.lease_token)";
    let now = micros(now);
    let any: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM job_results WHERE expires_at <= ?1)
             OR EXISTS (SELECT 1 FROM job_progress WHERE {ENDED})"
    ))
    .bind(now)
    .fetch_one(&db.readers)
    .await
    .or_backend(&db.cx)?;
    if !any {
        return Ok(());
    }
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM job_results WHERE expires_at <= ?1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    sqlx::query(&format!("DELETE FROM job_progress WHERE {ENDED}"))
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await
}
