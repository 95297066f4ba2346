//! The checkpoint seam: a running job's step progress stored with the job, fenced by its lease.

use chrono::{DateTime, Utc};

use super::LeaseToken;
use crate::envelope::JobEnvelope;

/// Store a running job's envelope (with its step progress, in the `jobs_rs_steps` field)
/// in place of the stored one, while `token` still holds its lease.
///
/// The backend replaces what it keeps for the leased job, so whatever takes the job next (a
/// rescue after this process died, a requeue at shutdown, a retry) carries this progress.
/// A lease that was lost (rescued, settled or given back) is refused with
/// [`BackendError::LeaseLost`](super::BackendError::LeaseLost) and nothing is written: an
/// old run fenced off by a rescue cannot overwrite the progress of the run that replaced it.
/// A checkpoint is progress, so the job's rescue count starts again from zero: a long job
/// killed by several deploys is not taken for what killed the processes.
///
/// The backend answers the token that holds the lease from now on: the same one on SQL and
/// in-memory backends, a new one on Redis, whose lease token names the exact bytes of the
/// in-flight record. The old token must not be used again.
///
/// ```
/// use jobs::backend::{CheckpointParams, LeaseToken};
/// use jobs::envelope::JobEnvelope;
/// let job = JobEnvelope::new("Import", "default", vec![]);
/// let params = CheckpointParams::new(LeaseToken("1.2".into()), job, jobs::chrono::Utc::now());
/// assert_eq!(params.token.as_str(), "1.2");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckpointParams {
    /// The lease the running job holds.
    pub token: LeaseToken,
    /// The job as it should be stored from now on (only its extra fields may differ from
    /// the reserved envelope).
    pub job: JobEnvelope,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl CheckpointParams {
    /// Store `job` for the lease `token` at `now`.
    pub fn new(token: LeaseToken, job: JobEnvelope, now: DateTime<Utc>) -> Self {
        CheckpointParams { token, job, now }
    }
}
