//! Progress reports and job status at the backend seam: fenced by the lease, throttled by
//! the writer, and never shown as running once the run's lease is gone.

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::{Backend, FinishOutcome, JidParams, JobStatus, Progress, ProgressParams};
use jobs::clock::{Clock, ManualClock};
use jobs::ProgressWriter;

use crate::support::*;
use crate::CaseResult;

/// The status of `jid` at `now`.
async fn status(
    b: &Subject,
    jid: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<JobStatus, jobs::backend::BackendError> {
    b.job_status(JidParams::new(jid, now)).await
}

/// The progress a running job shows, or a panic naming what it showed instead.
fn running_progress(s: &JobStatus) -> Option<Progress> {
    match s {
        JobStatus::Running { progress } => progress.clone(),
        other => panic!("expected running, got {other:?}"),
    }
}

/// The lease holder's report is stored and shown with the running job (data included); a
/// rescued lease's token writes nothing, the rescued job shows as waiting, and the next run
/// shows no stale progress until it reports its own.
pub async fn progress_fenced_by_lease(b: Subject) -> CaseResult {
    let j = job("progress", 1);
    push(&b, vec![j.clone()], at(0)).await?;
    let first = reserve(&b, &["progress"], 1, P1, at(0)).await?.remove(0);
    assert_eq!(
        running_progress(&status(&b, &j.jid, at(1)).await?),
        None,
        "a run that reported nothing shows no progress"
    );
    let report =
        Progress::new(40, "rendering page 4 of 10", at(2)).data(serde_json::json!({"pages": 4}));
    let written = b
        .job_progress(ProgressParams::new(
            first.token.clone(),
            &j.jid,
            report.clone(),
        ))
        .await?;
    assert!(written, "the lease holder's report is taken");
    assert_eq!(
        running_progress(&status(&b, &j.jid, at(3)).await?),
        Some(report),
        "the report is shown with the running job"
    );

    assert_eq!(
        rescue(&b, at(61)).await?,
        1,
        "setup: the lease expired and was rescued"
    );
    assert!(
        matches!(status(&b, &j.jid, at(61)).await?, JobStatus::Waiting { ref queue } if queue == "progress"),
        "a rescued job is waiting, not running with its stale progress"
    );
    let late = Progress::new(90, "still going", at(62));
    let written = b
        .job_progress(ProgressParams::new(first.token.clone(), &j.jid, late))
        .await?;
    assert!(!written, "a rescued lease's report is refused");

    let second = reserve(&b, &["progress"], 1, P2, at(63)).await?.remove(0);
    assert_eq!(
        running_progress(&status(&b, &j.jid, at(63)).await?),
        None,
        "the next run shows no stale progress"
    );
    let own = Progress::new(10, "starting over", at(64));
    assert!(
        b.job_progress(ProgressParams::new(
            second.token.clone(),
            &j.jid,
            own.clone()
        ))
        .await?
    );
    assert_eq!(
        running_progress(&status(&b, &j.jid, at(64)).await?),
        Some(own)
    );
    finish(
        &b,
        &second,
        second.job.clone(),
        FinishOutcome::Completed,
        false,
        at(65),
    )
    .await?;
    assert_eq!(
        status(&b, &j.jid, at(65)).await?,
        JobStatus::Unknown,
        "a completed job without a result is not kept"
    );
    Ok(())
}

/// `job_status` follows a job through waiting, scheduled, retry and dead, and says unknown
/// for a jid never pushed.
pub async fn status_follows_the_job(b: Subject) -> CaseResult {
    assert_eq!(
        status(&b, "000000000000000000000000", at(0)).await?,
        JobStatus::Unknown
    );
    let later = scheduled(job("status-later", 1), at(30));
    push(&b, vec![later.clone()], at(0)).await?;
    assert_eq!(
        status(&b, &later.jid, at(1)).await?,
        JobStatus::Scheduled { at: at(30) }
    );
    let now = job("status", 2);
    push(&b, vec![now.clone()], at(0)).await?;
    assert_eq!(
        status(&b, &now.jid, at(1)).await?,
        JobStatus::Waiting {
            queue: "status".into()
        }
    );
    let r = reserve(&b, &["status"], 1, P1, at(2)).await?.remove(0);
    let stored = failed(r.job.clone(), "smtp down", at(3));
    finish(
        &b,
        &r,
        stored.clone(),
        FinishOutcome::Retry { at: at(40) },
        true,
        at(3),
    )
    .await?;
    assert_eq!(
        status(&b, &now.jid, at(4)).await?,
        JobStatus::Retry {
            at: at(40),
            error: Some("smtp down".into())
        }
    );
    promote(&b, at(41), 10).await?;
    let r = reserve(&b, &["status"], 1, P1, at(41)).await?.remove(0);
    assert_eq!(r.job.jid, now.jid, "setup: the retry runs");
    let stored = failed(r.job.clone(), "smtp still down", at(42));
    finish(&b, &r, stored, FinishOutcome::Dead, true, at(42)).await?;
    assert_eq!(
        status(&b, &now.jid, at(43)).await?,
        JobStatus::Dead {
            error: Some("smtp still down".into())
        }
    );
    Ok(())
}

/// A writer stores its first report at once, holds reports made within the interval
/// (keeping only the last), writes the held one on flush, and writes at once again once the
/// interval (on the worker's clock) has passed.
pub async fn progress_writes_are_throttled(b: Subject) -> CaseResult {
    let j = job("throttle", 1);
    push(&b, vec![j.clone()], at(0)).await?;
    let r = reserve(&b, &["throttle"], 1, P1, at(0)).await?.remove(0);
    let clock = Arc::new(ManualClock::new(at(1)));
    let backend: Arc<dyn Backend> = b.clone();
    // A long interval: the writer's own timer does not fire while the case runs.
    let w = ProgressWriter::new(
        backend,
        clock.clone(),
        r.token.clone(),
        &j.jid,
        Duration::from_secs(600),
    );
    let shown = |s: JobStatus| running_progress(&s).map(|p| p.percent);
    w.report(10, "a", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        shown(status(&b, &j.jid, at(1)).await?),
        Some(10),
        "first report written"
    );
    clock.advance(Duration::from_secs(1));
    w.report(20, "b", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.report(30, "c", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        shown(status(&b, &j.jid, at(2)).await?),
        Some(10),
        "reports within the interval are held, not written"
    );
    assert!(w.has_pending());
    w.flush().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        shown(status(&b, &j.jid, at(2)).await?),
        Some(30),
        "the flush writes the last held report"
    );
    clock.advance(Duration::from_secs(601));
    w.report(50, "d", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        shown(status(&b, &j.jid, clock.now()).await?),
        Some(50),
        "after the interval a report is written at once"
    );
    Ok(())
}
