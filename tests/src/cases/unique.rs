//! Unique jobs: a push skips (or replaces) a job whose lock another job holds; the lock is
//! the holder's, released with its last transition and never by another job, and lapses.

use jobs::backend::{
    FinishOutcome, JobActionParams, JobSet, PushConflict, RequeueParams, UniqueListParams,
    UniqueReleaseParams,
};
use jobs::envelope::flow::UniqueUntil::{Start, Success};

use crate::support::*;
use crate::CaseResult;

const Q: &str = "uniq";

/// The jids waiting in the case's queue, in order.
async fn waiting(b: &Subject) -> Result<Vec<String>, crate::CaseError> {
    Ok(stored_jids(&list(b, JobSet::Queue(Q.into())).await?))
}

/// A second push of a job with the same lock stores nothing and names the holder; a job
/// with another key is stored; duplicates inside one push count too.
pub async fn a_duplicate_is_skipped_and_names_the_holder(b: Subject) -> CaseResult {
    let a = unique_job(Q, 1, "k", Success, 600);
    let b2 = unique_job(Q, 2, "k", Success, 600);
    let c = unique_job(Q, 3, "other", Success, 600);
    let d = unique_job(Q, 4, "other", Success, 600);
    let first = push_report(&b, vec![a.clone()], at(0), PushConflict::Skip).await?;
    assert!(first.duplicates.is_empty(), "the first job takes the lock");
    let again = push_report(&b, vec![b2, c.clone(), d], at(1), PushConflict::Skip).await?;
    assert_eq!(
        again.duplicates,
        vec![(0, a.jid.clone()), (2, c.jid.clone())],
        "the same key is a duplicate of the holder, also within one push"
    );
    assert_eq!(
        waiting(&b).await?,
        jids([&a, &c]),
        "only the holders are stored"
    );
    Ok(())
}

/// Replace deletes a waiting holder and stores the new job, which holds the lock now; a
/// running holder is kept and the new job is a duplicate.
pub async fn replace_takes_a_waiting_holders_place_but_not_a_running_ones(
    b: Subject,
) -> CaseResult {
    let a = unique_job(Q, 1, "k", Success, 600);
    let b2 = unique_job(Q, 2, "k", Success, 600);
    let c = unique_job(Q, 3, "k", Success, 600);
    let d = unique_job(Q, 4, "k", Success, 600);
    push(&b, vec![a.clone()], at(0)).await?;
    let r = push_report(&b, vec![b2.clone()], at(1), PushConflict::Replace).await?;
    assert_eq!(
        r.replaced,
        vec![(0, a.jid.clone())],
        "the waiting holder is replaced"
    );
    assert_eq!(waiting(&b).await?, jids([&b2]), "the old job is gone");
    let r = push_report(&b, vec![c], at(2), PushConflict::Skip).await?;
    assert_eq!(
        r.duplicates,
        vec![(0, b2.jid.clone())],
        "the new job holds the lock"
    );

    let taken = reserve(&b, &[Q], 1, P1, at(3)).await?;
    assert_eq!(reserved_jids(&taken), jids([&b2]), "setup: the holder runs");
    let r = push_report(&b, vec![d], at(4), PushConflict::Replace).await?;
    assert_eq!(
        r.duplicates,
        vec![(0, b2.jid.clone())],
        "a running holder is not replaced"
    );
    assert!(r.replaced.is_empty());
    Ok(())
}

/// Until success: held while the job waits, runs, waits to retry and is snoozed; released
/// when it succeeds.
pub async fn until_success_holds_through_retries_and_ends_with_success(b: Subject) -> CaseResult {
    let a = unique_job(Q, 1, "k", Success, 6000);
    push(&b, vec![a.clone()], at(0)).await?;
    let dup = |n| unique_job(Q, n, "k", Success, 6000);
    let taken = reserve(&b, &[Q], 1, P1, at(1)).await?;
    finish(
        &b,
        &taken[0],
        a.clone(),
        FinishOutcome::Retry { at: at(10) },
        true,
        at(2),
    )
    .await?;
    let r = push_report(&b, vec![dup(2)], at(3), PushConflict::Skip).await?;
    assert_eq!(
        r.duplicates,
        vec![(0, a.jid.clone())],
        "held while waiting to retry"
    );
    promote(&b, at(10), 10).await?;
    let taken = reserve(&b, &[Q], 1, P1, at(11)).await?;
    finish(
        &b,
        &taken[0],
        a.clone(),
        FinishOutcome::Snooze { at: at(20) },
        false,
        at(12),
    )
    .await?;
    let r = push_report(&b, vec![dup(3)], at(13), PushConflict::Skip).await?;
    assert_eq!(r.duplicates, vec![(0, a.jid.clone())], "held while snoozed");
    promote(&b, at(20), 10).await?;
    let taken = reserve(&b, &[Q], 1, P1, at(21)).await?;
    finish(
        &b,
        &taken[0],
        a.clone(),
        FinishOutcome::Completed,
        false,
        at(22),
    )
    .await?;
    let fresh = dup(4);
    let r = push_report(&b, vec![fresh.clone()], at(23), PushConflict::Skip).await?;
    assert!(r.duplicates.is_empty(), "released when the job succeeded");
    assert_eq!(waiting(&b).await?, jids([&fresh]));
    Ok(())
}

/// Each other last transition releases the lock too: discard, dead, expired.
pub async fn discard_death_and_expiry_release_the_lock(b: Subject) -> CaseResult {
    for (n, end) in [
        (1, FinishOutcome::Discard),
        (2, FinishOutcome::Dead),
        (3, FinishOutcome::Expired),
    ] {
        let key = format!("k{n}");
        let a = unique_job(Q, n, &key, Success, 6000);
        push(&b, vec![a.clone()], at(0)).await?;
        let taken = reserve(&b, &[Q], 1, P1, at(1)).await?;
        finish(&b, &taken[0], a, end.clone(), false, at(2)).await?;
        let next = unique_job(Q, 10 + n, &key, Success, 6000);
        let r = push_report(&b, vec![next.clone()], at(3), PushConflict::Skip).await?;
        assert!(r.duplicates.is_empty(), "{end:?} released the lock");
        let taken = reserve(&b, &[Q], 1, P1, at(4)).await?;
        finish(&b, &taken[0], next, FinishOutcome::Completed, false, at(5)).await?;
    }
    assert_eq!(
        b.stats().await?.expired,
        1,
        "the expired job is counted as expired"
    );
    Ok(())
}

/// Until start: released when a worker takes the job.
pub async fn until_start_releases_when_the_job_is_taken(b: Subject) -> CaseResult {
    let a = unique_job(Q, 1, "k", Start, 6000);
    push(&b, vec![a.clone()], at(0)).await?;
    let r = push_report(
        &b,
        vec![unique_job(Q, 2, "k", Start, 6000)],
        at(1),
        PushConflict::Skip,
    )
    .await?;
    assert_eq!(r.duplicates, vec![(0, a.jid.clone())], "held while waiting");
    reserve(&b, &[Q], 1, P1, at(2)).await?;
    let r = push_report(
        &b,
        vec![unique_job(Q, 3, "k", Start, 6000)],
        at(3),
        PushConflict::Skip,
    )
    .await?;
    assert!(r.duplicates.is_empty(), "released once the job started");
    Ok(())
}

/// A job given back (requeue) or rescued keeps its lock: it is not a duplicate of itself.
pub async fn requeue_and_rescue_keep_the_lock(b: Subject) -> CaseResult {
    let a = unique_job(Q, 1, "k", Success, 6000);
    push(&b, vec![a.clone()], at(0)).await?;
    let taken = reserve(&b, &[Q], 1, P1, at(1)).await?;
    b.job_requeue(RequeueParams::new(vec![taken[0].token.clone()], at(2)))
        .await?;
    let taken = reserve(&b, &[Q], 1, P1, at(3)).await?;
    assert_eq!(
        reserved_jids(&taken),
        jids([&a]),
        "requeued, not refused as a duplicate"
    );
    rescue(&b, at(3 + LEASE_TTL.as_secs() as i64)).await?;
    let r = push_report(
        &b,
        vec![unique_job(Q, 2, "k", Success, 6000)],
        at(70),
        PushConflict::Skip,
    )
    .await?;
    assert_eq!(
        r.duplicates,
        vec![(0, a.jid.clone())],
        "held through a rescue"
    );
    assert_eq!(
        waiting(&b).await?,
        jids([&a]),
        "the rescued job is back, alone"
    );
    Ok(())
}

/// A lock lapses at its time whatever became of its job; the new holder's lock is then not
/// released by the old job's end.
pub async fn a_lapsed_lock_frees_the_key_and_the_old_job_cannot_release_the_new_lock(
    b: Subject,
) -> CaseResult {
    let old = unique_job(Q, 1, "k", Success, 60);
    push(&b, vec![old.clone()], at(0)).await?;
    let new = unique_job(Q, 2, "k", Success, 6000);
    let r = push_report(&b, vec![new.clone()], at(61), PushConflict::Skip).await?;
    assert!(r.duplicates.is_empty(), "a lapsed lock does not block");
    let taken = reserve(&b, &[Q], 1, P1, at(62)).await?;
    assert_eq!(
        reserved_jids(&taken),
        jids([&old]),
        "setup: the old job runs first"
    );
    finish(&b, &taken[0], old, FinishOutcome::Completed, false, at(63)).await?;
    let r = push_report(
        &b,
        vec![unique_job(Q, 3, "k", Success, 6000)],
        at(64),
        PushConflict::Skip,
    )
    .await?;
    assert_eq!(
        r.duplicates,
        vec![(0, new.jid.clone())],
        "the old job's end did not release the new job's lock"
    );
    Ok(())
}

/// Deleting or killing a job from the admin side releases its lock.
pub async fn admin_delete_and_kill_release_the_lock(b: Subject) -> CaseResult {
    let a = unique_job(Q, 1, "k", Success, 6000);
    let c = unique_job(Q, 2, "j", Success, 6000);
    push(&b, vec![a.clone(), c.clone()], at(0)).await?;
    let set = JobSet::Queue(Q.into());
    b.job_delete(JobActionParams::jids(
        set.clone(),
        vec![a.jid.clone()],
        at(1),
    ))
    .await?;
    b.job_kill(JobActionParams::jids(set, vec![c.jid.clone()], at(1)))
        .await?;
    let r = push_report(
        &b,
        vec![
            unique_job(Q, 3, "k", Success, 6000),
            unique_job(Q, 4, "j", Success, 6000),
        ],
        at(2),
        PushConflict::Skip,
    )
    .await?;
    assert!(
        r.duplicates.is_empty(),
        "deleted and killed jobs hold no lock"
    );
    Ok(())
}

/// The admin side lists the locks held (not lapsed ones) and releases one by key.
pub async fn locks_are_listed_and_an_operator_can_release_one(b: Subject) -> CaseResult {
    let a = unique_job(Q, 1, "k", Success, 600);
    let lapsing = unique_job(Q, 2, "soon", Start, 30);
    push(&b, vec![a.clone(), lapsing], at(0)).await?;
    let held = b.unique_list(UniqueListParams::new(at(60))).await?;
    assert_eq!(held.len(), 1, "the lapsed lock is not listed: {held:?}");
    let lock = &held[0];
    assert_eq!(
        (
            lock.jid.as_str(),
            lock.class.as_str(),
            lock.queue.as_str(),
            lock.until
        ),
        (a.jid.as_str(), CLASS, Q, Success)
    );
    assert_eq!(lock.expires_at, at(600));
    assert_eq!(Some(lock.key.clone()), a.unique().map(|l| l.key));
    assert!(
        b.unique_release(UniqueReleaseParams::new(lock.key.clone()))
            .await?
    );
    assert!(
        !b.unique_release(UniqueReleaseParams::new(lock.key.clone()))
            .await?
    );
    let r = push_report(
        &b,
        vec![unique_job(Q, 3, "k", Success, 600)],
        at(61),
        PushConflict::Skip,
    )
    .await?;
    assert!(r.duplicates.is_empty(), "a released lock no longer blocks");
    Ok(())
}
