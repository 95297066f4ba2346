//! Resumable steps at the backend seam: `job_checkpoint` stores a running job's progress
//! with the job, fenced by its lease, and every way back to a queue carries it.

use jobs::backend::{BackendError, CheckpointParams, FinishOutcome, LeaseToken, RequeueParams};
use jobs::envelope::JobEnvelope;
use jobs::STEPS_FIELD;
use serde_json::{json, Value};

use crate::support::*;
use crate::CaseResult;

/// `job` with step progress `progress`, as a run's checkpoint writes it.
fn with_progress(job: &JobEnvelope, progress: Value) -> JobEnvelope {
    let mut job = job.clone();
    job.extra.insert(STEPS_FIELD.to_owned(), progress);
    job
}

/// Checkpoints `job` under `token` at `now`; the token that holds the lease afterwards.
async fn checkpoint(
    b: &Subject,
    token: &LeaseToken,
    job: JobEnvelope,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<LeaseToken, BackendError> {
    b.job_checkpoint(CheckpointParams::new(token.clone(), job, now))
        .await
}

/// A step recorded before the process died comes back with the rescued job: the next
/// reserve hands out the job with its progress, and no attempt was counted.
pub async fn a_checkpoint_survives_a_rescue(b: Subject) -> CaseResult {
    push(&b, vec![job("steps", 1)], at(0)).await?;
    let first = reserve(&b, &["steps"], 1, P1, at(0)).await?;
    assert_eq!(first.len(), 1, "setup: the job is reserved");
    let progress = json!({"done": ["fetch"], "cursors": {"rows": 500}});
    checkpoint(
        &b,
        &first[0].token,
        with_progress(&first[0].job, progress.clone()),
        at(1),
    )
    .await?;

    assert_eq!(
        rescue(&b, at(60)).await?,
        1,
        "the dead process's lease is rescued"
    );
    let again = reserve(&b, &["steps"], 1, P2, at(61)).await?;
    assert_eq!(again.len(), 1, "the rescued job is reserved again");
    let job = &again[0].job;
    assert_eq!(job.jid, first[0].job.jid);
    assert_eq!(
        job.extra.get(STEPS_FIELD),
        Some(&progress),
        "the rescued job carries the progress its first run saved"
    );
    assert_eq!(job.retry_count, None, "a rescue counts no attempt");
    assert_eq!(job.attempt(), 1, "still the first attempt");
    Ok(())
}

/// A run fenced off by a rescue cannot write steps: its checkpoint is refused as a lost
/// lease and the progress of the run that replaced it stands.
pub async fn a_fenced_off_run_cannot_write_steps(b: Subject) -> CaseResult {
    push(&b, vec![job("steps", 2)], at(0)).await?;
    let old = reserve(&b, &["steps"], 1, P1, at(0)).await?;
    assert_eq!(
        rescue(&b, at(60)).await?,
        1,
        "setup: the first lease is rescued"
    );
    let new = reserve(&b, &["steps"], 1, P2, at(61)).await?;
    assert_eq!(new.len(), 1, "setup: the job is reserved again");
    let newer = json!({"done": [], "cursors": {"rows": 10}});
    let token = checkpoint(
        &b,
        &new[0].token,
        with_progress(&new[0].job, newer.clone()),
        at(62),
    )
    .await?;

    let stale = json!({"done": ["everything"], "cursors": {}});
    let refused = checkpoint(&b, &old[0].token, with_progress(&old[0].job, stale), at(63)).await;
    assert!(
        matches!(refused, Err(BackendError::LeaseLost { .. })),
        "the old run's checkpoint must be refused as a lost lease, got {refused:?}"
    );
    b.job_requeue(RequeueParams::new(vec![token], at(64)))
        .await?;
    let back = reserve(&b, &["steps"], 1, P2, at(65)).await?;
    assert_eq!(
        back.first().and_then(|r| r.job.extra.get(STEPS_FIELD)),
        Some(&newer),
        "the live run's progress stands"
    );
    Ok(())
}

/// After a checkpoint the run still holds its lease under the token the backend answered:
/// it settles the job, and the cursor is replaced by each checkpoint.
pub async fn the_answered_token_settles_the_job(b: Subject) -> CaseResult {
    push(&b, vec![job("steps", 3)], at(0)).await?;
    let got = reserve(&b, &["steps"], 1, P1, at(0)).await?;
    let mut token = got[0].token.clone();
    for cursor in [100, 200, 300] {
        let progress = json!({"done": [], "cursors": {"rows": cursor}});
        token = checkpoint(&b, &token, with_progress(&got[0].job, progress), at(1)).await?;
    }
    let mut r = got[0].clone();
    r.token = token;
    let report = finish(
        &b,
        &r,
        r.job.clone(),
        FinishOutcome::Completed,
        false,
        at(2),
    )
    .await?;
    assert!(report.lost.is_empty(), "the answered token settles the job");
    assert!(
        whereabouts(&b, &r.job.jid, "steps").await?.is_empty(),
        "a completed job leaves nothing behind, its steps included"
    );
    Ok(())
}

/// A job given back (the worker's shutdown requeue) goes to its queue with its progress;
/// a retry stores the progress the run hands over, with the attempt counted.
pub async fn requeue_and_retry_keep_the_progress(b: Subject) -> CaseResult {
    push(&b, vec![job("steps", 4)], at(0)).await?;
    let got = reserve(&b, &["steps"], 1, P1, at(0)).await?;
    let progress = json!({"done": ["a"], "cursors": {"b": "k-17"}});
    let stored = with_progress(&got[0].job, progress.clone());
    let token = checkpoint(&b, &got[0].token, stored.clone(), at(1)).await?;
    b.job_requeue(RequeueParams::new(vec![token], at(2)))
        .await?;

    let again = reserve(&b, &["steps"], 1, P1, at(3)).await?;
    assert_eq!(again.len(), 1, "the requeued job is there");
    assert_eq!(
        again[0].job.extra.get(STEPS_FIELD),
        Some(&progress),
        "requeued with its progress"
    );
    assert_eq!(
        again[0].job.retry_count, None,
        "a requeue counts no attempt"
    );

    let failed_run = failed(again[0].job.clone(), "boom in step b", at(4));
    let report = finish(
        &b,
        &again[0],
        failed_run,
        FinishOutcome::Retry { at: at(10) },
        true,
        at(4),
    )
    .await?;
    assert!(report.lost.is_empty());
    promote(&b, at(10), 10).await?;
    let retried = reserve(&b, &["steps"], 1, P1, at(11)).await?;
    assert_eq!(retried.len(), 1, "the retry is due");
    assert_eq!(
        retried[0].job.extra.get(STEPS_FIELD),
        Some(&progress),
        "the retry resumes from the saved steps"
    );
    assert_eq!(
        retried[0].job.retry_count,
        Some(0),
        "the failure counted an attempt"
    );
    Ok(())
}

/// A checkpoint is progress: the job's rescue count starts again from zero, so a long job
/// killed by several deploys is not buried as the cause of the crashes.
pub async fn a_checkpoint_clears_the_rescue_count(b: Subject) -> CaseResult {
    push(&b, vec![job("steps", 5)], at(0)).await?;
    let mut now = 0;
    let mut last = None;
    for _ in 0..2 {
        let got = reserve(&b, &["steps"], 1, P1, at(now)).await?;
        assert_eq!(got.len(), 1, "setup: the job is reserved");
        now += 60;
        assert_eq!(rescue(&b, at(now)).await?, 1, "setup: the lease is rescued");
        now += 1;
        last = Some(got);
    }
    let got = reserve(&b, &["steps"], 1, P2, at(now)).await?;
    assert_eq!(
        got[0].rescues, 2,
        "setup: two rescues counted, got {}",
        got[0].rescues
    );
    drop(last);
    let progress = json!({"done": [], "cursors": {"rows": 1}});
    checkpoint(
        &b,
        &got[0].token,
        with_progress(&got[0].job, progress),
        at(now),
    )
    .await?;
    now += 60;
    assert_eq!(
        rescue(&b, at(now)).await?,
        1,
        "the lease is rescued once more"
    );
    let again = reserve(&b, &["steps"], 1, P2, at(now + 1)).await?;
    assert_eq!(
        again.len(),
        1,
        "the job is still alive (not buried at the third rescue)"
    );
    assert_eq!(again[0].rescues, 1, "counted from the checkpoint on");
    Ok(())
}
