//! Worker processes: heartbeats that extend leases and collect signals, and their records.
//!
//! 1. [`process_heartbeat`] upserts the record, extends every lease the process holds and
//!    takes its pending signals, in one write transaction.
//! 2. [`process_signal`] leaves a signal only for a process that has a record.
//! 3. Records store `ProcessInfo` and the running jobs as JSON.

use jobs::backend::ProcessRemoveParams;
use jobs::backend::ProcessSignalParams;
use jobs::backend::{
    BackendError, HeartbeatParams, HeartbeatReply, ProcessInfo, ProcessRecord, ProcessSignal,
    RunningJob,
};
use jobs::envelope::JobEnvelope;
use serde::{Deserialize, Serialize};

use super::db::{after, duration_micros, from_micros, micros, parse_token, Db};
use super::error::{self, Sqlx};

/// A running job as stored in a process record.
#[derive(Serialize)]
struct RunningOut<'a> {
    job: &'a JobEnvelope,
    started_at: i64,
}

/// A running job read back.
#[derive(Deserialize)]
struct RunningIn {
    job: JobEnvelope,
    started_at: i64,
}

/// Extends every lease of process `?1` to `?2`.
pub(super) const EXTEND_LEASES: &str =
    "UPDATE jobs SET lease_expires_at = ?2 WHERE state = 'running' AND lease_owner = ?1";

/// Extends the leases of process `?1` on the rows listed in `?3` (a JSON array of ids) to
/// `?2`; its other leases lapse. Each row is found by its id (`+state` keeps the planner off
/// the partial index of running rows, which it would otherwise walk whole).
pub(super) const EXTEND_LISTED: &str = "UPDATE jobs SET lease_expires_at = ?2
    WHERE id IN (SELECT value FROM json_each(?3)) AND +state = 'running' AND lease_owner = ?1";

/// Records a beat, extends the process's leases and returns its pending signals.
pub(super) async fn process_heartbeat(
    db: &Db,
    p: HeartbeatParams,
) -> Result<HeartbeatReply, BackendError> {
    let info = serde_json::to_string(&p.info).map_err(|e| error::encode("process info", e))?;
    let running: Vec<RunningOut<'_>> = p
        .running
        .iter()
        .map(|r| RunningOut {
            job: &r.job,
            started_at: micros(r.started_at),
        })
        .collect();
    let running = serde_json::to_string(&running).map_err(|e| error::encode("running jobs", e))?;
    // Beats and leases in the lease clock's time: rescues judge both in it.
    let now = p.lease_clock.host_time(p.now);
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO processes (id, info, beat_at, quiet, running, lease_ttl_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET info = excluded.info, beat_at = excluded.beat_at,
             quiet = excluded.quiet, running = excluded.running,
             lease_ttl_us = excluded.lease_ttl_us",
    )
    .bind(&p.info.id)
    .bind(info)
    .bind(micros(now))
    .bind(p.quiet)
    .bind(running)
    .bind(duration_micros(p.lease_ttl))
    .execute(&mut *tx)
    .await
    .or_backend(&db.cx)?;
    let listed = match &p.leases {
        None => None,
        Some(held) => {
            let ids: Vec<i64> = held
                .iter()
                .filter_map(|t| parse_token(t).map(|(id, _)| id))
                .collect();
            Some(serde_json::to_string(&ids).map_err(|e| error::encode("lease ids", e))?)
        }
    };
    let extend = sqlx::query(if listed.is_some() {
        EXTEND_LISTED
    } else {
        EXTEND_LEASES
    })
    .bind(&p.info.id)
    .bind(after(now, p.lease_ttl));
    let extend = match listed {
        Some(ids) => extend.bind(ids),
        None => extend,
    };
    extend.execute(&mut *tx).await.or_backend(&db.cx)?;
    let mut signals: Vec<(i64, String)> =
        sqlx::query_as("DELETE FROM process_signals WHERE process_id = ?1 RETURNING id, signal")
            .bind(&p.info.id)
            .fetch_all(&mut *tx)
            .await
            .or_backend(&db.cx)?;
    db.commit(tx).await?;
    signals.sort_unstable_by_key(|(id, _)| *id);
    let signals = signals
        .into_iter()
        .filter_map(|(_, s)| match serde_json::from_str::<ProcessSignal>(&s) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(signal = %s, error = %e, "unknown process signal ignored");
                None
            }
        })
        .collect();
    let jids: Vec<String> = p.running.iter().map(|r| r.job.jid.clone()).collect();
    let cancels = super::cancel::pending(db, &jids).await?;
    Ok(HeartbeatReply { signals, cancels })
}

/// Drops a process's record and its pending signals.
pub(super) async fn process_remove(
    db: &Db,
    params: ProcessRemoveParams,
) -> Result<(), BackendError> {
    let id = &params.id;
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM processes WHERE id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await
}

/// Every process record, by id.
pub(super) async fn process_list(db: &Db) -> Result<Vec<ProcessRecord>, BackendError> {
    let rows: Vec<(String, i64, bool, String)> =
        sqlx::query_as("SELECT info, beat_at, quiet, running FROM processes ORDER BY id")
            .fetch_all(&db.readers)
            .await
            .or_backend(&db.cx)?;
    rows.into_iter()
        .map(|(info, beat_at, quiet, running)| {
            let info: ProcessInfo =
                serde_json::from_str(&info).map_err(|e| error::decode("a process record", e))?;
            let running: Vec<RunningIn> = serde_json::from_str(&running)
                .map_err(|e| error::decode("a process's running jobs", e))?;
            Ok(ProcessRecord {
                info,
                beat_at: from_micros(beat_at),
                quiet,
                running: running
                    .into_iter()
                    .map(|r| RunningJob {
                        job: r.job,
                        started_at: from_micros(r.started_at),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Leaves a signal for a live process, read at its next beat.
pub(super) async fn process_signal(
    db: &Db,
    params: ProcessSignalParams,
) -> Result<(), BackendError> {
    let (id, signal) = (&params.id, params.signal);
    let signal =
        serde_json::to_string(&signal).map_err(|e| error::encode("a process signal", e))?;
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "INSERT INTO process_signals (process_id, signal) SELECT id, ?2 FROM processes WHERE id = ?1",
    )
    .bind(id)
    .bind(signal)
    .execute(&mut *tx)
    .await
    .or_backend(&db.cx)?;
    db.commit(tx).await?;
    if done.rows_affected() == 0 {
        return Err(BackendError::msg(format!("no live process with id {id}")));
    }
    Ok(())
}
