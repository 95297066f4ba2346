//! Progress reports and results in Postgres (migration 11, `0011_progress_results.sql`).
//!
//! 1. [`job_progress`] upserts the report only while the `jobs` row runs under the writer's
//!    lease token (one statement: the fence and the write together).
//! 2. [`store`] writes results inside the finish transaction, for the items that applied;
//!    `finish.rs` takes the transaction path whenever an item carries a result.
//! 3. [`job_status`] reads the row by jid; a running job's report is shown only while its
//!    token is the row's lease token. [`purge`] (the rescue pass) removes expired results
//!    and reports of ended runs.

use chrono::{DateTime, Utc};
use jobs::backend::{
    result_expiry, BackendError, Finish, FinishOutcome, JidParams, JobStatus, Progress,
    ProgressParams, StoredResult,
};
use jobs::envelope::JobEnvelope;
use sqlx::PgConnection;

use super::error::Sqlx;
use super::sql::bind_schema;
use super::{rows, Inner};

/// Stores a report while the row runs under the writer's lease.
pub(super) async fn job_progress(inner: &Inner, p: ProgressParams) -> Result<bool, BackendError> {
    let Some((id, lease)) = rows::parse_token(&p.token) else {
        return Ok(false);
    };
    let json = p.progress.to_json()?;
    let sql = bind_schema(
        "INSERT INTO __SCHEMA__.job_progress (jid, lease_token, progress)
         SELECT $1, $2, $3::json WHERE EXISTS (
             SELECT 1 FROM __SCHEMA__.jobs WHERE id = $4 AND jid = $1 AND lease_token = $2)
         ON CONFLICT (jid) DO UPDATE SET lease_token = excluded.lease_token,
             progress = excluded.progress",
        inner.schema(),
    );
    let written = sqlx::query(&sql)
        .bind(&p.jid)
        .bind(lease)
        .bind(json)
        .bind(id)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?
        .rows_affected();
    Ok(written > 0)
}

/// Whether any item of a finish carries a result to store.
pub(super) fn any(items: &[Finish]) -> bool {
    items
        .iter()
        .any(|i| i.result.is_some() && matches!(i.outcome, FinishOutcome::Completed))
}

/// Writes the results of the items that `applied`, inside the finish transaction.
pub(super) async fn store(
    inner: &Inner,
    conn: &mut PgConnection,
    items: &[Finish],
    applied: &[bool],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = bind_schema(
        "INSERT INTO __SCHEMA__.job_results (jid, json, finished_at, expires_at, class)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (jid) DO UPDATE SET json = excluded.json,
             finished_at = excluded.finished_at, expires_at = excluded.expires_at,
             class = excluded.class",
        inner.schema(),
    );
    for (item, ok) in items.iter().zip(applied) {
        let (true, Some(result), FinishOutcome::Completed) = (*ok, &item.result, &item.outcome)
        else {
            continue;
        };
        sqlx::query(&sql)
            .bind(&item.job.jid)
            .bind(&result.json)
            .bind(now)
            .bind(result_expiry(now, result.ttl))
            .bind(&item.job.class)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The result of `p.jid`, unless expired.
pub(super) async fn job_result(
    inner: &Inner,
    p: JidParams,
) -> Result<Option<StoredResult>, BackendError> {
    let sql = bind_schema(
        "SELECT json, finished_at, expires_at, class FROM __SCHEMA__.job_results
         WHERE jid = $1 AND expires_at > $2",
        inner.schema(),
    );
    let row: Option<(String, DateTime<Utc>, DateTime<Utc>, String)> = sqlx::query_as(&sql)
        .bind(&p.jid)
        .bind(p.now)
        .fetch_optional(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(row.map(|(json, f, e, class)| StoredResult::new(json, f, e).with_class(class)))
}

/// Where `p.jid` is.
pub(super) async fn job_status(inner: &Inner, p: JidParams) -> Result<JobStatus, BackendError> {
    let sql = bind_schema(
        "SELECT j.state::text, j.run_at, j.queue, j.payload::text,
                (SELECT pr.progress::text FROM __SCHEMA__.job_progress pr
                 WHERE pr.jid = j.jid AND pr.lease_token = j.lease_token)
         FROM __SCHEMA__.jobs j WHERE j.jid = $1",
        inner.schema(),
    );
    type Row = (String, DateTime<Utc>, String, String, Option<String>);
    let row: Option<Row> = sqlx::query_as(&sql)
        .bind(&p.jid)
        .fetch_optional(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let error = |payload: &str| {
        serde_json::from_str::<JobEnvelope>(payload)
            .ok()
            .and_then(|j| j.error_message)
    };
    if let Some((state, run_at, queue, payload, progress)) = row {
        return Ok(match state.as_str() {
            "running" => JobStatus::Running {
                progress: progress.as_deref().map(Progress::from_json).transpose()?,
            },
            "available" | "waiting" => JobStatus::Waiting { queue },
            "scheduled" => JobStatus::Scheduled { at: run_at },
            "retryable" => JobStatus::Retry {
                at: run_at,
                error: error(&payload),
            },
            "dead" => JobStatus::Dead {
                error: error(&payload),
            },
            "completed" => JobStatus::Succeeded {
                finished_at: Some(run_at),
            },
            _ => JobStatus::Unknown,
        });
    }
    Ok(match job_result(inner, p).await? {
        Some(r) => JobStatus::Succeeded {
            finished_at: Some(r.finished_at),
        },
        None => JobStatus::Unknown,
    })
}

/// Removes expired results and the reports of runs that ended.
pub(super) async fn purge(inner: &Inner, now: DateTime<Utc>) -> Result<(), BackendError> {
    let sql = bind_schema(
        "WITH gone AS (DELETE FROM __SCHEMA__.job_results WHERE expires_at <= $1)
         DELETE FROM __SCHEMA__.job_progress pr WHERE NOT EXISTS (
             SELECT 1 FROM __SCHEMA__.jobs j
             WHERE j.jid = pr.jid AND j.lease_token = pr.lease_token)",
        inner.schema(),
    );
    sqlx::query(&sql)
        .bind(now)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(())
}
