//! What the dashboard shows of a job's progress and result, for the Busy page, the job
//! status page and the JSON API: read through `AdminBackend` only, and redacted as
//! arguments are.
//!
//! 1. [`AppState::progress_of`] reads the last progress of running jobs (one status read
//!    each, at most [`MAX_PROGRESS_READS`] per page).
//! 2. [`AppState::job_report`] reads one job's status and result. The result of a job that
//!    declares redacted arguments (`#[job(redact = [..])]`) is always
//!    [`jobs::redact::MARKER`]: it may be made from them. Under
//!    [`crate::Dashboard::hide_args`] every result is [`crate::redact::HIDDEN`] unless the
//!    request holds a [`Reveal`].
//! 3. [`bar`] draws a progress bar with its percent and message.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jobs::backend::{JidParams, JobStatus, Progress};
use maud::{html, Markup};
use serde::Serialize;
use serde_json::Value;

use crate::redact::{Reveal, HIDDEN};
use crate::{AppState, WebError};

/// The most running jobs whose progress one page reads.
pub(crate) const MAX_PROGRESS_READS: usize = 200;

/// One job's status and result, as shown.
#[derive(Debug, Serialize)]
pub(crate) struct JobReport {
    /// The job id.
    pub jid: String,
    /// Where it is, with a running job's last progress.
    pub status: JobStatus,
    /// Its result while kept, as shown (redacted or hidden where due).
    pub result: Option<Value>,
    /// When it finished, with a result.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its result is removed.
    pub result_expires_at: Option<DateTime<Utc>>,
    /// Whether the result shown is masked.
    pub result_masked: bool,
}

impl AppState {
    /// The last progress of each running job of `jids` that reported any.
    pub(crate) async fn progress_of(&self, jids: Vec<String>) -> HashMap<String, Progress> {
        let now = self.now();
        let mut out = HashMap::new();
        for jid in jids.into_iter().take(MAX_PROGRESS_READS) {
            let jid = jid.as_str();
            // A backend that keeps no progress (or a failed read) shows none: the page
            // still shows what runs.
            if let Ok(JobStatus::Running {
                progress: Some(p), ..
            }) = self.backend.job_status(JidParams::new(jid, now)).await
            {
                out.insert(jid.to_owned(), p);
            }
        }
        out
    }

    /// `jid`'s status and result, the result shown as this request may see it.
    pub(crate) async fn job_report(
        &self,
        jid: &str,
        reveal: Option<Reveal>,
    ) -> Result<JobReport, WebError> {
        let now = self.now();
        let status = self.backend.job_status(JidParams::new(jid, now)).await?;
        let stored = self.backend.job_result(JidParams::new(jid, now)).await?;
        let mut report = JobReport {
            jid: jid.to_owned(),
            status,
            result: None,
            finished_at: None,
            result_expires_at: None,
            result_masked: false,
        };
        if let Some(r) = stored {
            let declared = !jobs::redact::positions(&r.class).is_empty();
            let (value, masked) = if declared {
                (Value::from(jobs::redact::MARKER), true)
            } else if self.hides_args() && reveal.is_none() {
                (Value::from(HIDDEN), true)
            } else {
                let v = serde_json::from_str(&r.json).unwrap_or(Value::String(r.json.clone()));
                (v, false)
            };
            report.result = Some(value);
            report.result_masked = masked;
            report.finished_at = Some(r.finished_at);
            report.result_expires_at = Some(r.expires_at);
        }
        Ok(report)
    }
}

/// A progress bar: the percent, a `<progress>` element and the message.
pub(crate) fn bar(p: &Progress) -> Markup {
    html! {
        span.progress title=(p.message) {
            progress max="100" value=(p.percent) { (p.percent) "%" }
            " " (p.percent) "%"
            @if !p.message.is_empty() { " " small.muted { (p.message) } }
        }
    }
}
