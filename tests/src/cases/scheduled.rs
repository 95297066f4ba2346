//! Scheduled jobs: held until their time, promoted once each, stored without their `at`.

use std::sync::Arc;

use jobs::backend::{BackendError, FinishOutcome, JobListParams, JobSet, StoredJob};
use tokio::sync::Barrier;

use crate::support::*;
use crate::CaseResult;
use jobs::backend::JobGetParams;

/// A job pushed with `at` is not reservable, nor counted in its queue, before a promote at
/// its time; a promote a second early moves nothing; at its time it moves and is reserved
/// with `enqueued_at` = the promote's `now` and no `at`.
pub async fn not_reservable_before_its_time(b: Subject) -> CaseResult {
    let later = job("timed", 1);
    push(&b, vec![scheduled(later.clone(), at(60))], at(0)).await?;

    let got = reserve(&b, &["timed"], 5, P1, at(0)).await?;
    assert!(
        got.is_empty(),
        "a job due at +60s was reserved at once: {got:?}"
    );
    let waiting = b
        .job_list(JobListParams::new(JobSet::Queue("timed".into()), 10))
        .await?;
    assert_eq!(waiting.total, 0, "a scheduled job is not in its queue yet");

    let moved = promote(&b, at(59), 100).await?;
    assert_eq!(moved, 0, "a promote one second early moved the job");
    let got = reserve(&b, &["timed"], 5, P1, at(59)).await?;
    assert!(
        got.is_empty(),
        "reserved one second before its time: {got:?}"
    );

    let moved = promote(&b, at(60), 100).await?;
    assert_eq!(moved, 1, "a promote at the job's time moves it");
    let got = reserve(&b, &["timed"], 5, P1, at(61)).await?;
    assert_eq!(got.len(), 1, "the promoted job is reservable");
    assert_eq!(
        *got[0].job,
        enqueued(later, at(60)),
        "as pushed, without at, enqueued at promote"
    );
    assert!(
        list(&b, JobSet::Scheduled).await?.is_empty(),
        "the scheduled set is empty"
    );
    Ok(())
}

/// A promote moves at most `limit` jobs, the soonest due first, to the tail of their
/// queues; jobs not yet due stay scheduled.
pub async fn promote_limit_takes_soonest_first(b: Subject) -> CaseResult {
    let (s30, s10, s20, far) = (job("p", 30), job("p", 10), job("p", 20), job("p", 1000));
    let already = job("p", 0);
    push(&b, vec![already.clone()], at(0)).await?;
    push(
        &b,
        vec![
            scheduled(s30.clone(), at(30)),
            scheduled(s10.clone(), at(10)),
            scheduled(far.clone(), at(1000)),
            scheduled(s20.clone(), at(20)),
        ],
        at(0),
    )
    .await?;

    let moved = promote(&b, at(100), 2).await?;
    assert_eq!(moved, 2, "limit 2 moves two of the three due jobs");
    let moved = promote(&b, at(101), 10).await?;
    assert_eq!(moved, 1, "the next promote moves the last due job");
    let moved = promote(&b, at(102), 10).await?;
    assert_eq!(moved, 0, "nothing due is left");

    let queued = drain(&b, "p", at(103)).await?;
    assert_eq!(
        queued,
        vec![
            enqueued(already, at(0)),
            enqueued(s10, at(100)),
            enqueued(s20, at(100)),
            enqueued(s30, at(101)),
        ],
        "promoted jobs join the tail, soonest due first, stamped with each promote's now"
    );
    let left = list(&b, JobSet::Scheduled).await?;
    assert_eq!(
        stored_jids(&left),
        jids([&far]),
        "the job not yet due stays scheduled"
    );
    Ok(())
}

/// A promote's `limit` counts scheduled and retry jobs together; the next promote moves
/// the rest.
pub async fn promote_limit_counts_both_sets(b: Subject) -> CaseResult {
    let retry = FinishOutcome::Retry { at: at(10) };
    let retried = park(&b, job("both-r", 1), retry, "boom", at(0)).await?;
    let timed: Vec<_> = (0..2).map(|n| job("both-s", n)).collect();
    let pushes = timed.iter().map(|j| scheduled(j.clone(), at(10)));
    push(&b, pushes.collect(), at(0)).await?;

    assert_eq!(
        promote(&b, at(10), 2).await?,
        2,
        "limit 2 moves two of three due jobs"
    );
    assert_eq!(
        promote(&b, at(10), 2).await?,
        1,
        "the next promote moves the third"
    );
    assert_eq!(promote(&b, at(10), 2).await?, 0, "nothing due is left");
    assert_eq!(jids(&drain(&b, "both-r", at(11)).await?), jids([&retried]));
    assert_eq!(jids(&drain(&b, "both-s", at(11)).await?), jids(&timed));
    Ok(())
}

/// Many tasks promoting the same due jobs at once move each job exactly once: the counts
/// they report add up to the jobs pushed, and the queue holds each job once.
pub async fn concurrent_promote_moves_each_job_once(b: Subject) -> CaseResult {
    const JOBS: usize = 60;
    const TASKS: usize = 6;
    let jobs: Vec<_> = (0..JOBS as i64).map(|n| job("race", n)).collect();
    let due: Vec<_> = jobs.iter().map(|j| scheduled(j.clone(), at(10))).collect();
    push(&b, due, at(0)).await?;

    let start = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (b, start) = (b.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let mut moved = 0;
                loop {
                    let n = promote(&b, at(10), 7).await?;
                    if n == 0 {
                        return Ok::<u64, BackendError>(moved);
                    }
                    moved += n;
                }
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a promoting task panicked")?;
    }
    assert_eq!(
        total, JOBS as u64,
        "the promotes together report each job once"
    );

    let mut queued = jids(&drain(&b, "race", at(11)).await?);
    let mut expected = jids(&jobs);
    queued.sort();
    expected.sort();
    assert_eq!(queued, expected, "the queue holds every job exactly once");
    assert!(
        list(&b, JobSet::Scheduled).await?.is_empty(),
        "nothing is left scheduled"
    );
    Ok(())
}

/// The scheduled set stores the job without its `at` field; the time is the listing's
/// `StoredJob.at`, the same through `job_list` and `job_get`.
pub async fn scheduled_member_has_no_at(b: Subject) -> CaseResult {
    let original = job("s", 1);
    push(&b, vec![scheduled(original.clone(), at(300))], at(0)).await?;

    let expected = StoredJob {
        job: original.clone(),
        set: JobSet::Scheduled,
        at: Some(at(300)),
    };
    let listed = list(&b, JobSet::Scheduled).await?;
    assert_eq!(
        listed,
        vec![expected.clone()],
        "listed without `at`, timed by StoredJob.at"
    );
    let got = b
        .job_get(JobGetParams::new(JobSet::Scheduled, &original.jid))
        .await?;
    assert_eq!(got, Some(expected), "job_get agrees with job_list");
    Ok(())
}
