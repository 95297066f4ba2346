//! Checkpoints: a running job's envelope (with its step progress) replaces the stored one,
//! fenced by the lease token, in one statement.
//!
//! The fence is the one every settle uses: `state = 'running' AND lease_token = nonce`, so
//! a lease rescued, requeued or settled before is reported lost and nothing is written. The
//! checkpoint is progress, so the job's rescue count starts again from zero.

use jobs::backend::{BackendError, CheckpointParams, LeaseToken};

use super::db::{encode_job, parse_token, Db};
use super::error::Sqlx;

/// Stores `p.job` for the running row of `p.token`; the token is unchanged.
pub(super) async fn job_checkpoint(
    db: &Db,
    p: CheckpointParams,
) -> Result<LeaseToken, BackendError> {
    let lost = |jid: String| BackendError::LeaseLost {
        jid,
        reason: "the lease is no longer held (rescued, settled or given back)".into(),
    };
    let Some((id, nonce)) = parse_token(&p.token) else {
        return Err(lost(p.job.jid));
    };
    let payload = encode_job(&p.job)?;
    let mut conn = db.exec().await?;
    let done = sqlx::query(
        "UPDATE jobs SET payload = ?3, rescues = 0
         WHERE id = ?1 AND state = 'running' AND lease_token = ?2 AND jid = ?4",
    )
    .bind(id)
    .bind(nonce)
    .bind(payload)
    .bind(&p.job.jid)
    .execute(&mut *conn)
    .await
    .or_backend(&db.cx)?;
    conn.settle();
    if done.rows_affected() == 0 {
        return Err(lost(p.job.jid));
    }
    Ok(p.token)
}
