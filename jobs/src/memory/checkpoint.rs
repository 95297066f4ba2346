//! Checkpoints of the in-memory backend: a leased job's stored envelope replaced, fenced by
//! its lease token.

use super::MemoryBackend;
use crate::backend::{BackendError, CheckpointParams, LeaseToken};

impl MemoryBackend {
    /// Replaces the envelope of the job leased under `p.token` and clears its rescue count;
    /// a lease no longer held is refused. The token stays the same.
    pub(super) fn checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
        let mut st = self.lock();
        let Some(leased) = st.leased.get_mut(p.token.as_str()) else {
            return Err(BackendError::LeaseLost {
                jid: p.job.jid,
                reason: "the lease is no longer held (rescued, settled or given back)".into(),
            });
        };
        let jid = leased.job.jid.clone();
        if jid != p.job.jid {
            return Err(BackendError::msg(format!(
                "checkpoint of job {} sent with the lease of job {jid}",
                p.job.jid
            )));
        }
        leased.job = std::sync::Arc::new(p.job);
        st.rescues.remove(&jid);
        Ok(p.token)
    }
}
