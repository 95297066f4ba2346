//! Cancelling jobs at the backend: waiting jobs to the cancelled set, running jobs by request
//! (heartbeat and channel), the cancelled set's listing and limits, and cancel racing finish.

use std::time::Duration;

use futures::StreamExt;
use jobs::backend::{
    CancelParams, CancelPendingParams, Cancellation, DeadLimits, FinishOutcome, HeartbeatParams,
    JobActionParams, JobFilter, JobListParams, JobSet, RunningJob,
};
use jobs::envelope::flow::UniqueUntil;
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;

use crate::support::*;
use crate::CaseResult;

/// Cancels `jids` at `now` with the default limits.
async fn cancel(
    b: &Subject,
    jids: &[&str],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Cancellation>, jobs::backend::BackendError> {
    let jids = jids.iter().map(|j| j.to_string()).collect();
    b.job_cancel(CancelParams::new(jids, now)).await
}

/// Which of `jids` have a cancel requested.
async fn pending(b: &Subject, jids: &[&str]) -> Result<Vec<String>, jobs::backend::BackendError> {
    let jids = jids.iter().map(|j| j.to_string()).collect();
    b.cancel_pending(CancelPendingParams::new(jids)).await
}

/// The jids of the cancelled set, most recent first.
async fn cancelled(b: &Subject) -> Result<Vec<String>, jobs::backend::BackendError> {
    Ok(stored_jids(&list(b, JobSet::Cancelled).await?))
}

/// A heartbeat of `process` at `now` running `jobs`; the jids the reply says are cancelled.
async fn beat_running(
    b: &Subject,
    process: &str,
    jobs: &[JobEnvelope],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, jobs::backend::BackendError> {
    let running = jobs
        .iter()
        .map(|j| RunningJob {
            job: j.clone(),
            started_at: now,
        })
        .collect();
    let reply = b
        .process_heartbeat(
            HeartbeatParams::new(info(process), now)
                .running(running)
                .quiet(false)
                .lease_ttl(LEASE_TTL),
        )
        .await?;
    Ok(reply.cancels)
}

/// A waiting, a scheduled and a retrying job are each moved to the cancelled set at once
/// (most recent first there), leave their places, never run, and count as neither processed
/// nor failed; an unknown jid answers `NotFound`.
pub async fn waiting_scheduled_and_retrying_jobs_move_to_the_cancelled_set(
    b: Subject,
) -> CaseResult {
    let retrying = park(
        &b,
        job("c", 1),
        FinishOutcome::Retry { at: at(100) },
        "smtp down",
        at(0),
    )
    .await?;
    let waiting = job("c", 2);
    let later = scheduled(job("c", 3), at(50));
    push(&b, vec![waiting.clone(), later.clone()], at(1)).await?;
    let before = b.stats().await?;

    let answers = cancel(&b, &[&waiting.jid], at(10)).await?;
    assert_eq!(answers, [Cancellation::Cancelled], "a job in its queue");
    let answers = cancel(&b, &[&later.jid, &retrying.jid, "no-such-jid"], at(11)).await?;
    assert_eq!(
        answers,
        [
            Cancellation::Cancelled,
            Cancellation::Cancelled,
            Cancellation::NotFound
        ],
        "scheduled, retrying, unknown"
    );
    for j in [&waiting, &later, &retrying] {
        assert_eq!(
            whereabouts(&b, &j.jid, "c").await?,
            vec![],
            "{} left its place",
            j.jid
        );
    }
    let listed = list(&b, JobSet::Cancelled).await?;
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        listed[2].job.jid, waiting.jid,
        "the earliest cancel is last"
    );
    assert_eq!(listed[2].at, Some(at(10)), "at the time of its cancel");
    assert_eq!(listed[0].at, Some(at(11)));
    assert!(
        listed.iter().all(|s| s.set == JobSet::Cancelled),
        "{listed:?}"
    );
    assert_eq!(
        promote(&b, at(1000), 100).await?,
        0,
        "nothing left to promote"
    );
    assert_eq!(
        reserve(&b, &["c"], 10, P1, at(1000)).await?.len(),
        0,
        "nothing to run"
    );
    let after = b.stats().await?;
    assert_eq!(
        (
            after.processed,
            after.failed,
            after.retries,
            after.scheduled,
            after.enqueued
        ),
        (before.processed, before.failed, 0, 0, 0),
        "not counted: {after:?}"
    );
    Ok(())
}

/// Cancelling a job already cancelled, or one in the dead set, answers `AlreadyFinished`
/// and changes nothing.
pub async fn a_finished_job_answers_already_finished(b: Subject) -> CaseResult {
    let dead = park(&b, job("c", 1), FinishOutcome::Dead, "gave up", at(0)).await?;
    let j = job("c", 2);
    push(&b, vec![j.clone()], at(1)).await?;
    assert_eq!(
        cancel(&b, &[&j.jid], at(2)).await?,
        [Cancellation::Cancelled]
    );
    let answers = cancel(&b, &[&j.jid, &dead.jid], at(3)).await?;
    assert_eq!(
        answers,
        [Cancellation::AlreadyFinished, Cancellation::AlreadyFinished]
    );
    assert_eq!(
        cancelled(&b).await?,
        vec![j.jid.clone()],
        "still one record"
    );
    assert_eq!(stored_jids(&list(&b, JobSet::Dead).await?), vec![dead.jid]);
    Ok(())
}

/// A running job is not moved: its cancel is requested, `cancel_pending` names it, and the
/// heartbeat of the process running it (only) returns it; settled as `Cancelled`, it is in
/// the cancelled set, its request is gone, and it counts as neither processed nor failed.
pub async fn a_running_job_gets_a_request_its_heartbeat_returns(b: Subject) -> CaseResult {
    let j = job("c", 1);
    push(&b, vec![j.clone()], at(0)).await?;
    let got = reserve(&b, &["c"], 1, P1, at(1)).await?;
    assert_eq!(reserved_jids(&got), vec![j.jid.clone()], "setup");
    assert_eq!(
        cancel(&b, &[&j.jid], at(2)).await?,
        [Cancellation::Requested]
    );
    assert_eq!(cancelled(&b).await?, Vec::<String>::new(), "not moved yet");
    assert_eq!(pending(&b, &[&j.jid, "other"]).await?, vec![j.jid.clone()]);
    assert_eq!(
        beat_running(&b, P1, &[(*got[0].job).clone()], at(3)).await?,
        vec![j.jid.clone()],
        "the beat of the process running it carries the cancel"
    );
    assert_eq!(
        beat_running(&b, P2, &[], at(3)).await?,
        Vec::<String>::new(),
        "another process's beat does not"
    );
    assert_eq!(
        beat_running(&b, P1, &[(*got[0].job).clone()], at(4)).await?,
        vec![j.jid.clone()],
        "every beat carries it until the job is settled"
    );
    let report = finish(
        &b,
        &got[0],
        got[0].job.clone(),
        FinishOutcome::Cancelled,
        false,
        at(5),
    )
    .await?;
    assert!(report.lost.is_empty(), "a held lease settles");
    let listed = list(&b, JobSet::Cancelled).await?;
    assert_eq!(stored_jids(&listed), vec![j.jid.clone()]);
    assert_eq!(listed[0].at, Some(at(5)));
    assert_eq!(pending(&b, &[&j.jid]).await?, Vec::<String>::new());
    assert_eq!(whereabouts(&b, &j.jid, "c").await?, vec![]);
    let stats = b.stats().await?;
    assert_eq!((stats.processed, stats.failed), (0, 0), "{stats:?}");
    Ok(())
}

/// The backend's channel announces a cancel requested for a running job to a feed opened
/// before it (Redis pub/sub, Postgres LISTEN, an in-process wake).
pub async fn the_channel_announces_a_request(b: Subject) -> CaseResult {
    let mut feed = b.cancel_listen().await?;
    let j = job("c", 1);
    push(&b, vec![j.clone()], at(0)).await?;
    let got = reserve(&b, &["c"], 1, P1, at(1)).await?;
    assert_eq!(reserved_jids(&got), vec![j.jid.clone()], "setup");
    assert_eq!(
        cancel(&b, &[&j.jid], at(2)).await?,
        [Cancellation::Requested]
    );
    let heard = tokio::time::timeout(Duration::from_secs(20), feed.next()).await;
    assert_eq!(
        heard.ok().flatten(),
        Some(j.jid.clone()),
        "the feed announced the cancel"
    );
    Ok(())
}

/// Cancel racing the end of a run ends in one terminal state: finished then cancelled is
/// not cancelled (`NotFound`); cancelled then completed stays completed, and a second
/// settle of the lease (as cancelled) is refused, so no cancelled record appears.
pub async fn cancel_and_finish_race_to_one_terminal_state(b: Subject) -> CaseResult {
    let (a, c) = (job("c", 1), job("c", 2));
    push(&b, vec![a.clone(), c.clone()], at(0)).await?;
    let got = reserve(&b, &["c"], 2, P1, at(1)).await?;
    assert_eq!(reserved_jids(&got), vec![a.jid.clone(), c.jid.clone()]);

    // Finish, then cancel.
    finish(
        &b,
        &got[0],
        got[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(2),
    )
    .await?;
    let answer = cancel(&b, &[&a.jid], at(3)).await?;
    assert!(
        matches!(
            answer[..],
            [Cancellation::NotFound] | [Cancellation::AlreadyFinished]
        ),
        "a completed job cannot be cancelled: {answer:?}"
    );

    // Cancel, then complete; then the same lease settled as cancelled.
    assert_eq!(
        cancel(&b, &[&c.jid], at(4)).await?,
        [Cancellation::Requested]
    );
    let done = finish(
        &b,
        &got[1],
        got[1].job.clone(),
        FinishOutcome::Completed,
        false,
        at(5),
    )
    .await?;
    assert!(done.lost.is_empty(), "the completion settles");
    let late = finish(
        &b,
        &got[1],
        got[1].job.clone(),
        FinishOutcome::Cancelled,
        false,
        at(6),
    )
    .await?;
    assert_eq!(late.lost, vec![0], "the lease is settled once");
    assert_eq!(
        cancelled(&b).await?,
        Vec::<String>::new(),
        "no cancelled record"
    );
    let stats = b.stats().await?;
    assert_eq!(stats.processed, 2, "both completed: {stats:?}");
    let answer = cancel(&b, &[&c.jid], at(7)).await?;
    assert!(
        matches!(
            answer[..],
            [Cancellation::NotFound] | [Cancellation::AlreadyFinished]
        ),
        "{answer:?}"
    );
    Ok(())
}

/// Cancelling a waiting unique job releases its lock (the same job can be pushed again), and
/// a running job settled as cancelled frees its concurrency slot, bringing the job waiting
/// for it back.
pub async fn cancel_releases_the_unique_lock_and_the_concurrency_slot(b: Subject) -> CaseResult {
    let first = unique_job("c", 1, "report-7", UniqueUntil::Success, 6000);
    push(&b, vec![first.clone()], at(0)).await?;
    assert_eq!(
        cancel(&b, &[&first.jid], at(1)).await?,
        [Cancellation::Cancelled]
    );
    let again = unique_job("c", 2, "report-7", UniqueUntil::Success, 6000);
    let report = push_report(
        &b,
        vec![again.clone()],
        at(2),
        jobs::backend::PushConflict::Skip,
    )
    .await?;
    assert!(
        report.duplicates.is_empty(),
        "the lock went with the cancel: {report:?}"
    );
    assert_eq!(
        drain(&b, "c", at(3)).await?.len(),
        1,
        "the new job is there"
    );

    let limited = |n| {
        let mut j = job("l", n);
        j.set_concurrency(Some(ConcurrencyLimit::new("k", 1)));
        j
    };
    let (runs, waits) = (limited(1), limited(2));
    push(&b, vec![runs.clone(), waits.clone()], at(10)).await?;
    let got = reserve(&b, &["l"], 2, P1, at(11)).await?;
    assert_eq!(reserved_jids(&got), vec![runs.jid.clone()], "one slot");
    assert_eq!(
        cancel(&b, &[&runs.jid], at(12)).await?,
        [Cancellation::Requested]
    );
    finish(
        &b,
        &got[0],
        got[0].job.clone(),
        FinishOutcome::Cancelled,
        false,
        at(13),
    )
    .await?;
    let next = reserve(&b, &["l"], 2, P1, at(14)).await?;
    assert_eq!(
        reserved_jids(&next),
        vec![waits.jid.clone()],
        "the slot was freed"
    );
    Ok(())
}

/// The cancelled set is filtered by class, deleted from, and trimmed to the limits given
/// (the dead set's by default): the oldest beyond `max_jobs` go.
pub async fn the_cancelled_set_is_filtered_deleted_and_trimmed(b: Subject) -> CaseResult {
    let mut jobs: Vec<JobEnvelope> = (1..=4).map(|n| job("c", n)).collect();
    jobs[3].class = "OtherJob".into();
    push(&b, jobs.clone(), at(0)).await?;
    for (i, j) in jobs.iter().enumerate() {
        let now = at(10 + i as i64);
        let limits = DeadLimits {
            max_jobs: 3,
            max_age: Duration::from_secs(3600),
        };
        let answers = b
            .job_cancel(CancelParams::new(vec![j.jid.clone()], now).limits(limits))
            .await?;
        assert_eq!(answers, [Cancellation::Cancelled]);
    }
    let all = cancelled(&b).await?;
    assert_eq!(
        all,
        vec![
            jobs[3].jid.clone(),
            jobs[2].jid.clone(),
            jobs[1].jid.clone()
        ],
        "the oldest beyond 3 trimmed"
    );
    let page = b
        .job_list(
            JobListParams::new(JobSet::Cancelled, 10).filter(JobFilter::new().class("OtherJob")),
        )
        .await?;
    assert_eq!(
        (page.total, stored_jids(&page.jobs)),
        (1, vec![jobs[3].jid.clone()])
    );
    let gone = b
        .job_delete(JobActionParams::jids(
            JobSet::Cancelled,
            vec![jobs[2].jid.clone()],
            at(20),
        ))
        .await?;
    assert_eq!(gone, 1);
    assert_eq!(
        cancelled(&b).await?,
        vec![jobs[3].jid.clone(), jobs[1].jid.clone()]
    );
    let one = b
        .job_get(jobs::backend::JobGetParams::new(
            JobSet::Cancelled,
            jobs[1].jid.clone(),
        ))
        .await?;
    assert_eq!(one.map(|s| s.job.args), Some(jobs[1].args.clone()));
    Ok(())
}

/// A job moved aside for a concurrency slot is cancelled like a waiting one: it leaves the
/// key's waiting list for the cancelled set, and a freed slot brings nothing back for it.
pub async fn a_job_waiting_for_a_slot_is_cancelled(b: Subject) -> CaseResult {
    let limited = |n| {
        let mut j = job("l", n);
        j.set_concurrency(Some(ConcurrencyLimit::new("k2", 1)));
        j
    };
    let (runs, aside) = (limited(1), limited(2));
    push(&b, vec![runs.clone(), aside.clone()], at(0)).await?;
    let got = reserve(&b, &["l"], 2, P1, at(1)).await?;
    assert_eq!(reserved_jids(&got), vec![runs.jid.clone()], "one slot");
    assert_eq!(
        cancel(&b, &[&aside.jid], at(2)).await?,
        [Cancellation::Cancelled]
    );
    assert_eq!(cancelled(&b).await?, vec![aside.jid.clone()]);
    let waiting = b
        .limit_waiting(jobs::backend::LimitWaitingParams::new("k2"))
        .await?;
    assert!(waiting.is_empty(), "{waiting:?}");
    finish(
        &b,
        &got[0],
        got[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(3),
    )
    .await?;
    assert_eq!(
        reserve(&b, &["l"], 2, P1, at(4)).await?.len(),
        0,
        "nothing comes back for the cancelled job"
    );
    Ok(())
}
