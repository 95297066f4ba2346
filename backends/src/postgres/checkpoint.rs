//! Checkpoints: a running job's envelope (with its step progress) replaces the stored one,
//! fenced by the lease token, in one statement.
//!
//! The row's `lease_token` is set exactly while it runs (constraint
//! `jobs_lease_while_running`), so matching it is the whole fence: a rescued, requeued or
//! settled lease matches nothing and is reported lost. The checkpoint is progress, so the
//! row's rescue count starts again from zero.

use jobs::backend::{BackendError, CheckpointParams, LeaseToken};

use super::error::Sqlx;
use super::{rows, Inner};

/// Stores `p.job` for the running row of `p.token`; the token is unchanged.
pub(super) async fn job_checkpoint(
    inner: &Inner,
    p: CheckpointParams,
) -> Result<LeaseToken, BackendError> {
    let lost = |jid: String| BackendError::LeaseLost {
        jid,
        reason: "the lease is no longer held (rescued, settled or given back)".into(),
    };
    let Some((id, lease)) = rows::parse_token(&p.token) else {
        return Err(lost(p.job.jid));
    };
    // Stored without `at`, as every kept payload (the row's `run_at` holds the time).
    let payload = if p.job.at.is_some() {
        let mut job = p.job.clone();
        job.at = None;
        rows::encode(&job)?
    } else {
        rows::encode(&p.job)?
    };
    let done = sqlx::query(
        &inner.q("UPDATE __SCHEMA__.jobs SET payload = $3::json, rescues = 0
         WHERE id = $1 AND lease_token = $2 AND jid = $4"),
    )
    .bind(id)
    .bind(lease)
    .bind(payload)
    .bind(&p.job.jid)
    .execute(&inner.pool)
    .await
    .or_backend(&inner.cx)?;
    if done.rows_affected() == 0 {
        return Err(lost(p.job.jid));
    }
    Ok(p.token)
}
