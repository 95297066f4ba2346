//! Worker processes: heartbeats that extend leases and collect signals, and their records.
//!
//! 1. [`process_heartbeat`] upserts the record, extends every lease the process holds and
//!    takes its pending signals, in one statement (`heartbeat.sql`).
//! 2. [`process_signal`] leaves a signal only for a process that has a record.
//! 3. A record is stored whole as JSON (`rows.rs`), so it reads back exactly as written.

use jobs::backend::ProcessRemoveParams;
use jobs::backend::ProcessSignalParams;
use jobs::backend::{BackendError, HeartbeatParams, HeartbeatReply, ProcessRecord, ProcessSignal};
use sqlx::types::Json;

use super::error::Sqlx;
use super::rows::{self, StoredProcess};
use super::Inner;

/// Records a beat, extends the process's leases and returns its pending signals.
pub(super) async fn process_heartbeat(
    inner: &Inner,
    p: HeartbeatParams,
) -> Result<HeartbeatReply, BackendError> {
    let id = p.info.id.clone();
    let running: Vec<String> = p.running.iter().map(|r| r.job.jid.clone()).collect();
    let record = StoredProcess::new(p.info, p.now, p.quiet, p.running);
    let record = serde_json::to_string(&record)
        .map_err(|e| BackendError::other("cannot encode a process record", e))?;
    let signals: Vec<String> = sqlx::query_scalar(&inner.sql.heartbeat)
        .bind(&id)
        .bind(record)
        .bind(p.now)
        .bind(rows::lease_time(
            p.lease_clock,
            rows::plus(p.now, p.lease_ttl),
        ))
        .bind(rows::ttl_micros(p.lease_ttl))
        .bind(p.leases.as_ref().map(|held| {
            held.iter()
                .filter_map(|t| rows::parse_token(t).map(|(id, _)| id))
                .collect::<Vec<i64>>()
        }))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let signals = signals
        .iter()
        .filter_map(|s| {
            let parsed = serde_json::from_str::<ProcessSignal>(s);
            if parsed.is_err() {
                tracing::warn!(process = %id, signal = %s, "ignoring an unknown process signal");
            }
            parsed.ok()
        })
        .collect();
    let cancels = super::cancel::pending(inner, &running).await?;
    Ok(HeartbeatReply { signals, cancels })
}

/// Drops a process's record.
pub(super) async fn process_remove(
    inner: &Inner,
    params: ProcessRemoveParams,
) -> Result<(), BackendError> {
    let id = &params.id;
    sqlx::query(&inner.sql.process_remove)
        .bind(id)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(())
}

/// Every process record, by id.
pub(super) async fn process_list(inner: &Inner) -> Result<Vec<ProcessRecord>, BackendError> {
    let sql = inner.q("SELECT record FROM __SCHEMA__.processes ORDER BY id COLLATE \"C\"");
    let records: Vec<Json<StoredProcess>> = sqlx::query_scalar(&sql)
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(records.into_iter().map(|Json(r)| r.into_record()).collect())
}

/// Leaves a signal for a live process, read at its next beat.
pub(super) async fn process_signal(
    inner: &Inner,
    params: ProcessSignalParams,
) -> Result<(), BackendError> {
    let (id, signal) = (&params.id, params.signal);
    let signal = serde_json::to_string(&signal)
        .map_err(|e| BackendError::other("cannot encode a process signal", e))?;
    let sql = inner.q("INSERT INTO __SCHEMA__.process_signals (process_id, signal)
         SELECT id, $2 FROM __SCHEMA__.processes WHERE id = $1");
    let done = sqlx::query(&sql)
        .bind(id)
        .bind(signal)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    if done.rows_affected() == 0 {
        return Err(BackendError::msg(format!("no live process with id {id}")));
    }
    Ok(())
}
