//! Finishing a reserved job: where each outcome puts it, what is recorded, what is counted.

use std::time::Duration;

use chrono::NaiveDate;
use jobs::backend::{DayStats, DeadLimits, FinishOutcome, JobSet, Reserved, StoredJob};
use jobs::envelope::JobEnvelope;

use crate::support::*;
use crate::CaseResult;
use jobs::backend::{JobGetParams, StatsHistoryParams};

/// Pushes one job on `queue` at `now` and reserves it for [`P1`].
async fn reserved(
    b: &Subject,
    queue: &str,
    n: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Reserved, jobs::backend::BackendError> {
    let j = job(queue, n);
    push(b, vec![j.clone()], now).await?;
    let mut got = reserve(b, &[queue], 1, P1, now).await?;
    assert_eq!(
        reserved_jids(&got),
        vec![j.jid],
        "setup: the pushed job is reserved"
    );
    Ok(got.remove(0))
}

/// `Completed` removes the job from everywhere and counts it processed, not failed.
pub async fn complete_removes(b: Subject) -> CaseResult {
    let r = reserved(&b, "done", 1, at(0)).await?;
    let report = finish(
        &b,
        &r,
        r.job.clone(),
        FinishOutcome::Completed,
        false,
        at(1),
    )
    .await?;
    assert_eq!(report.lost, Vec::<usize>::new(), "a held lease is not lost");
    assert_eq!(report.dead_trimmed, 0);
    assert_eq!(
        whereabouts(&b, &r.job.jid, "done").await?,
        vec![],
        "kept nowhere"
    );
    let stats = b.stats().await?;
    assert_eq!(
        (stats.processed, stats.failed),
        (1, 0),
        "processed 1, failed 0: {stats:?}"
    );
    Ok(())
}

/// `Retry { at }` stores the job as given (error fields and all) in the retry set at `at`;
/// a promote at `at` brings it back to its queue, and the next reserve gives it.
pub async fn retry_goes_to_retry_set_and_back(b: Subject) -> CaseResult {
    let r = reserved(&b, "flaky", 1, at(0)).await?;
    let stored = failed(r.job.clone(), "timeout talking to smtp", at(1));
    let outcome = FinishOutcome::Retry { at: at(31) };
    let report = finish(&b, &r, stored.clone(), outcome, true, at(1)).await?;
    assert!(report.lost.is_empty(), "a held lease is not lost");

    let listed = list(&b, JobSet::Retry).await?;
    let expected = StoredJob {
        job: stored.clone(),
        set: JobSet::Retry,
        at: Some(at(31)),
    };
    assert_eq!(
        listed,
        vec![expected],
        "in the retry set at its time, error fields stored"
    );
    assert_eq!(
        whereabouts(&b, &r.job.jid, "flaky").await?,
        vec![JobSet::Retry]
    );

    let early = promote(&b, at(30), 10).await?;
    assert_eq!(early, 0, "a retry is not promoted before its time");
    let moved = promote(&b, at(31), 10).await?;
    assert_eq!(moved, 1, "a retry is promoted at its time");
    let again = drain(&b, "flaky", at(32)).await?;
    assert_eq!(
        again,
        vec![enqueued(stored, at(31))],
        "it runs again with its error fields"
    );
    Ok(())
}

/// `Snooze { at }` puts the job in the scheduled set at `at` (not the retry set) and
/// counts nothing; it comes back through promote.
pub async fn snooze_goes_to_scheduled_uncounted(b: Subject) -> CaseResult {
    let r = reserved(&b, "limited", 1, at(0)).await?;
    let outcome = FinishOutcome::Snooze { at: at(90) };
    finish(&b, &r, r.job.clone(), outcome, false, at(1)).await?;

    let got = b
        .job_get(JobGetParams::new(JobSet::Scheduled, &r.job.jid))
        .await?;
    assert_eq!(
        got.and_then(|s| s.at),
        Some(at(90)),
        "scheduled at the snooze time"
    );
    assert!(
        list(&b, JobSet::Retry).await?.is_empty(),
        "a snooze is not a retry"
    );
    let stats = b.stats().await?;
    assert_eq!(
        (stats.processed, stats.failed),
        (0, 0),
        "a snooze counts nothing: {stats:?}"
    );

    let moved = promote(&b, at(90), 10).await?;
    assert_eq!(moved, 1, "the snoozed job comes back at its time");
    assert_eq!(
        jids(&drain(&b, "limited", at(91)).await?),
        vec![r.job.jid.clone()]
    );
    Ok(())
}

/// `Dead` stores the job as given in the dead set, timed at the finish's `now`.
pub async fn dead_goes_to_dead_set(b: Subject) -> CaseResult {
    let r = reserved(&b, "poison", 1, at(0)).await?;
    let stored = failed(r.job.clone(), "invalid input: no such user", at(5));
    finish(&b, &r, stored.clone(), FinishOutcome::Dead, true, at(5)).await?;

    let expected = StoredJob {
        job: stored,
        set: JobSet::Dead,
        at: Some(at(5)),
    };
    assert_eq!(
        list(&b, JobSet::Dead).await?,
        vec![expected],
        "dead at the finish time"
    );
    assert_eq!(
        whereabouts(&b, &r.job.jid, "poison").await?,
        vec![JobSet::Dead]
    );
    let stats = b.stats().await?;
    assert_eq!(
        (stats.processed, stats.failed, stats.dead),
        (1, 1, 1),
        "{stats:?}"
    );
    Ok(())
}

/// `Discard` keeps the job nowhere but still counts it processed (and failed if it failed).
pub async fn discard_keeps_nothing(b: Subject) -> CaseResult {
    let r = reserved(&b, "gone", 1, at(0)).await?;
    let stored = failed(r.job.clone(), "retry = false", at(1));
    finish(&b, &r, stored, FinishOutcome::Discard, true, at(1)).await?;

    assert_eq!(
        whereabouts(&b, &r.job.jid, "gone").await?,
        vec![],
        "kept nowhere"
    );
    let stats = b.stats().await?;
    assert_eq!(
        (
            stats.processed,
            stats.failed,
            stats.enqueued,
            stats.scheduled,
            stats.retries,
            stats.dead
        ),
        (1, 1, 0, 0, 0, 0),
        "{stats:?}"
    );
    Ok(())
}

/// `processed` counts every outcome but a snooze and `failed` every failed item, in total
/// and per UTC day of the finish's `now`.
pub async fn counters_total_and_per_day(b: Subject) -> CaseResult {
    const DAY: i64 = 24 * 3600;
    let outcomes = [
        // (day, outcome, failed)
        (0, FinishOutcome::Completed, false),
        (0, FinishOutcome::Retry { at: at(DAY) }, true),
        (0, FinishOutcome::Completed, false),
        (1, FinishOutcome::Dead, true),
        (1, FinishOutcome::Snooze { at: at(3 * DAY) }, false),
        (1, FinishOutcome::Discard, false),
    ];
    for (n, (day, outcome, failed)) in (0..).zip(outcomes) {
        let now = at(day * DAY + 3600 + n);
        let r = reserved(&b, &format!("count{n}"), n, now).await?;
        let report = finish(&b, &r, r.job.clone(), outcome, failed, now).await?;
        assert!(report.lost.is_empty(), "setup: finish #{n} was refused");
    }

    let stats = b.stats().await?;
    assert_eq!((stats.processed, stats.failed), (5, 2), "totals: {stats:?}");
    let day = |d: u32| NaiveDate::from_ymd_opt(2030, 1, d).expect("a January day");
    let history = b.stats_history(StatsHistoryParams::new(day(2), 3)).await?;
    let expected = vec![
        DayStats {
            date: NaiveDate::from_ymd_opt(2029, 12, 31).expect("a day"),
            processed: 0,
            failed: 0,
        },
        DayStats {
            date: day(1),
            processed: 3,
            failed: 1,
        },
        DayStats {
            date: day(2),
            processed: 2,
            failed: 1,
        },
    ];
    assert_eq!(history, expected, "per day, oldest first");
    Ok(())
}

/// Killing beyond `max_jobs` trims the oldest dead jobs, reporting how many in
/// `FinishReport.dead_trimmed` and adding them to `Stats.dead_trimmed`.
pub async fn dead_trimmed_by_count(b: Subject) -> CaseResult {
    let limits = DeadLimits {
        max_jobs: 2,
        max_age: Duration::from_secs(365 * 24 * 3600),
    };
    let mut died: Vec<JobEnvelope> = Vec::new();
    let mut trimmed = Vec::new();
    for n in 0..4 {
        let r = reserved(&b, "dying", n, at(n)).await?;
        let items = vec![item(&r, r.job.clone(), FinishOutcome::Dead, true)];
        trimmed.push(finish_all(&b, items, limits, at(n)).await?.dead_trimmed);
        died.push(std::sync::Arc::unwrap_or_clone(r.job));
    }
    assert_eq!(trimmed, vec![0, 0, 1, 1], "each death beyond two trims one");
    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(
        stored_jids(&dead),
        jids([&died[3], &died[2]]),
        "the two newest stay"
    );
    assert_eq!(b.stats().await?.dead_trimmed, 2, "the trims are counted");
    Ok(())
}

/// A death trims dead jobs older than `max_age` and reports them, keeping younger ones.
pub async fn dead_trimmed_by_age(b: Subject) -> CaseResult {
    const DAY: i64 = 24 * 3600;
    let limits = DeadLimits {
        max_jobs: 100,
        max_age: Duration::from_secs(10 * DAY as u64),
    };
    let mut died = Vec::new();
    let mut trimmed = Vec::new();
    for (n, day) in (0..).zip([0, 5, 12]) {
        let r = reserved(&b, "aging", n, at(day * DAY)).await?;
        let items = vec![item(&r, r.job.clone(), FinishOutcome::Dead, true)];
        trimmed.push(
            finish_all(&b, items, limits, at(day * DAY))
                .await?
                .dead_trimmed,
        );
        died.push(std::sync::Arc::unwrap_or_clone(r.job));
    }
    assert_eq!(
        trimmed,
        vec![0, 0, 1],
        "the death on day 12 trims the one from day 0"
    );
    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(
        stored_jids(&dead),
        jids([&died[2], &died[1]]),
        "younger than 10 days stay"
    );
    assert_eq!(b.stats().await?.dead_trimmed, 1, "the trim is counted");
    Ok(())
}
