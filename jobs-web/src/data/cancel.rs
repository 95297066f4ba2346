//! The dashboard's cancellation: cancel jobs by jid through the backend, audited.

use chrono::{DateTime, Utc};

use crate::permit::Permit;
use crate::{AppState, WebError};

impl AppState {
    /// Cancels the jobs `jids` wherever they are (waiting: to the cancelled set; running:
    /// signalled); the answer for each.
    pub(crate) async fn cancel(
        &self,
        permit: Permit,
        jids: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<Vec<jobs::backend::Cancellation>, WebError> {
        let target = format!("jobs {}", jids.join(", "));
        let answers = self
            .backend
            .job_cancel(jobs::backend::CancelParams::new(jids, now))
            .await?;
        let done = answers
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    jobs::backend::Cancellation::Cancelled | jobs::backend::Cancellation::Requested
                )
            })
            .count() as u64;
        self.audit(permit, target, done);
        Ok(answers)
    }
}
