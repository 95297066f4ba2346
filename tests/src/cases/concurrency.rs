//! Concurrency limits: at most `limit` jobs of a key hold a lease at once. A job whose key is
//! full is moved aside, not reserved, not counted as an attempt and not in the way of other
//! jobs; every settle, requeue and rescue frees its slot once and brings the oldest waiting
//! job of the key back to the head of its queue.

use jobs::backend::{
    FinishOutcome, LimitKind, LimitWaitingDeleteParams, LimitWaitingParams, LimitsListParams,
    PushConflict, RequeueParams,
};
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;

use crate::support::*;
use crate::CaseResult;

const Q: &str = "limited";

/// Job `n` on the case's queue, limited to `limit` at once per `key`.
fn limited(n: i64, key: &str, limit: u32) -> JobEnvelope {
    let mut j = job(Q, n);
    j.set_concurrency(Some(ConcurrencyLimit::new(key, limit)));
    j
}

/// Job `n` limited to one at once on key `k`, holding the unique lock `lock` until success.
fn limited_unique(n: i64, lock: &str) -> JobEnvelope {
    let mut j = unique(n, lock);
    j.set_concurrency(Some(ConcurrencyLimit::new("k", 1)));
    j
}

/// Job `n` holding the unique lock `lock` until success (no limit).
fn unique(n: i64, lock: &str) -> JobEnvelope {
    unique_job(Q, n, lock, jobs::envelope::flow::UniqueUntil::Success, 6000)
}

/// Three jobs of key `k` limited to one pushed at 0, the first reserved at 1 (the other two
/// moved aside) and completed at 2, which brings the second back to the queue.
async fn first_of_three_done(b: &Subject) -> Result<Vec<JobEnvelope>, crate::CaseError> {
    let jobs: Vec<_> = (1..=3).map(|n| limited(n, "k", 1)).collect();
    push(b, jobs.clone(), at(0)).await?;
    let first = reserve(b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(reserved_jids(&first), jids(&jobs[..1]));
    let done = FinishOutcome::Completed;
    finish(b, &first[0], first[0].job.clone(), done, false, at(2)).await?;
    Ok(jobs)
}

/// (key, in use, waiting, limit) of every concurrency limit listed.
async fn usage(b: &Subject) -> Result<Vec<(String, u64, u64, u32)>, crate::CaseError> {
    let listed = b.limits_list(LimitsListParams::new(at(0))).await?;
    Ok(listed
        .into_iter()
        .filter(|u| u.kind == LimitKind::Concurrency)
        .map(|u| (u.key, u.in_use, u.waiting, u.limit))
        .collect())
}

fn row(key: &str, in_use: u64, waiting: u64, limit: u32) -> (String, u64, u64, u32) {
    (key.to_owned(), in_use, waiting, limit)
}

/// With one slot taken, the key's other jobs are moved aside and the jobs behind them, of
/// another key or of none, are reserved in the same call; the dashboard's listing shows each
/// key's use.
pub async fn a_full_key_moves_its_jobs_aside_and_the_rest_run(b: Subject) -> CaseResult {
    let k1 = limited(1, "k", 1);
    let k2 = limited(2, "k", 1);
    let k3 = limited(3, "k", 1);
    let l1 = limited(4, "l", 1);
    let free = job(Q, 5);
    push(
        &b,
        vec![k1.clone(), k2, k3, l1.clone(), free.clone()],
        at(0),
    )
    .await?;
    let taken = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(
        reserved_jids(&taken),
        jids([&k1, &l1, &free]),
        "one job per full key; the others move aside and do not block the queue"
    );
    assert!(
        reserve(&b, &[Q], 10, P1, at(2)).await?.is_empty(),
        "no second job of a full key is reserved"
    );
    assert_eq!(
        usage(&b).await?,
        vec![row("k", 1, 2, 1), row("l", 1, 0, 1)],
        "each key lists its slots in use, its waiting jobs and its limit"
    );
    Ok(())
}

/// A limit of two lets two run at once, and a third waits.
pub async fn a_limit_of_two_runs_two_at_once(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (1..=3).map(|n| limited(n, "k", 2)).collect();
    push(&b, jobs.clone(), at(0)).await?;
    let taken = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(reserved_jids(&taken), jids(&jobs[..2]));
    let more = reserve(&b, &[Q], 10, P2, at(2)).await?;
    assert!(more.is_empty(), "a second process gets no third slot");
    Ok(())
}

/// Every way a run ends (success, retry, snooze, death, discard) frees the slot in the same
/// step, and the oldest waiting job comes back unchanged: not counted as an attempt.
pub async fn every_settle_frees_the_slot_and_brings_the_oldest_back(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (1..=6).map(|n| limited(n, "k", 1)).collect();
    push(&b, jobs.clone(), at(0)).await?;
    let outcomes = [
        FinishOutcome::Completed,
        FinishOutcome::Retry { at: at(500) },
        FinishOutcome::Snooze { at: at(500) },
        FinishOutcome::Dead,
        FinishOutcome::Discard,
    ];
    let mut now = 1;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let taken = reserve(&b, &[Q], 10, P1, at(now)).await?;
        assert_eq!(
            reserved_jids(&taken),
            vec![jobs[i].jid.clone()],
            "the oldest waiting job runs next, alone ({outcome:?} comes next)"
        );
        assert_eq!(taken[0].job.retry_count, None, "waiting counted no attempt");
        assert_eq!(
            taken[0].job.args, jobs[i].args,
            "the job came back unchanged"
        );
        let report = finish(&b, &taken[0], taken[0].job.clone(), outcome, false, at(now)).await?;
        assert!(report.lost.is_empty());
        now += 1;
    }
    let last = reserve(&b, &[Q], 10, P1, at(now)).await?;
    assert_eq!(reserved_jids(&last), vec![jobs[5].jid.clone()]);
    Ok(())
}

/// A requeued job frees its slot and leads its queue again, ahead of the waiting job its
/// slot brought back, which moves aside again.
pub async fn a_requeue_frees_the_slot_and_the_job_leads(b: Subject) -> CaseResult {
    let k1 = limited(1, "k", 1);
    let k2 = limited(2, "k", 1);
    push(&b, vec![k1.clone(), k2.clone()], at(0)).await?;
    let taken = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(reserved_jids(&taken), jids([&k1]));
    b.job_requeue(RequeueParams::new(vec![taken[0].token.clone()], at(2)))
        .await?;
    let again = reserve(&b, &[Q], 10, P1, at(3)).await?;
    assert_eq!(reserved_jids(&again), jids([&k1]), "the requeued job leads");
    assert_eq!(usage(&b).await?, vec![row("k", 1, 1, 1)]);
    Ok(())
}

/// A dead process's slot frees when its lease is rescued, once: the late acknowledgement of
/// the rescued lease is refused and frees nothing, so the new holder keeps its slot.
pub async fn a_rescue_frees_the_slot_once_and_a_late_ack_frees_nothing(b: Subject) -> CaseResult {
    let k1 = limited(1, "k", 1);
    let k2 = limited(2, "k", 1);
    push(&b, vec![k1.clone(), k2.clone()], at(0)).await?;
    let first = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(reserved_jids(&first), jids([&k1]));
    assert!(reserve(&b, &[Q], 10, P2, at(2)).await?.is_empty());
    let after = LEASE_TTL.as_secs() as i64 + 5;
    assert!(
        rescue(&b, at(after)).await? >= 1,
        "the expired lease is rescued"
    );
    let second = reserve(&b, &[Q], 10, P2, at(after + 1)).await?;
    assert_eq!(
        reserved_jids(&second),
        jids([&k1]),
        "the rescued job runs again, alone: its old slot was freed once"
    );
    let late = finish(
        &b,
        &first[0],
        k1.clone(),
        FinishOutcome::Completed,
        false,
        at(after + 2),
    )
    .await?;
    assert_eq!(late.lost, vec![0], "the late acknowledgement is refused");
    assert!(
        reserve(&b, &[Q], 10, P1, at(after + 3)).await?.is_empty(),
        "the refused acknowledgement freed no slot"
    );
    let done = finish(
        &b,
        &second[0],
        k1.clone(),
        FinishOutcome::Completed,
        false,
        at(after + 4),
    )
    .await?;
    assert!(done.lost.is_empty());
    let third = reserve(&b, &[Q], 10, P1, at(after + 5)).await?;
    assert_eq!(reserved_jids(&third), jids([&k2]));
    assert_eq!(usage(&b).await?, vec![row("k", 1, 0, 1)]);
    Ok(())
}

/// Jobs waiting for one key run in the order they were pushed, also when more arrive while
/// they wait.
pub async fn waiting_jobs_run_in_push_order(b: Subject) -> CaseResult {
    let first: Vec<_> = (1..=4).map(|n| limited(n, "k", 1)).collect();
    push(&b, first.clone(), at(0)).await?;
    let mut order = Vec::new();
    let mut now = 1;
    let mut taken = reserve(&b, &[Q], 10, P1, at(now)).await?;
    let later: Vec<_> = (5..=6).map(|n| limited(n, "k", 1)).collect();
    push(&b, later.clone(), at(now)).await?;
    while let Some(r) = taken.pop() {
        assert!(taken.is_empty(), "one at a time");
        order.push(r.job.jid.clone());
        now += 1;
        finish(
            &b,
            &r,
            r.job.clone(),
            FinishOutcome::Completed,
            false,
            at(now),
        )
        .await?;
        taken = reserve(&b, &[Q], 10, P1, at(now)).await?;
    }
    let expected: Vec<_> = first.iter().chain(&later).map(|j| j.jid.clone()).collect();
    assert_eq!(order, expected);
    assert!(usage(&b).await?.is_empty(), "an idle key is not listed");
    Ok(())
}

/// Two hundred jobs of a key limited to one do not hold back the job behind them: the
/// second reserve of one job gets it.
pub async fn a_hot_key_does_not_hold_back_the_queue(b: Subject) -> CaseResult {
    let hot: Vec<_> = (1..=200).map(|n| limited(n, "hot", 1)).collect();
    let other = job(Q, 1000);
    let mut all = hot.clone();
    all.push(other.clone());
    push(&b, all, at(0)).await?;
    let first = reserve(&b, &[Q], 1, P1, at(1)).await?;
    assert_eq!(reserved_jids(&first), jids([&hot[0]]));
    let second = reserve(&b, &[Q], 1, P1, at(2)).await?;
    assert_eq!(reserved_jids(&second), jids([&other]));
    assert_eq!(usage(&b).await?, vec![row("hot", 1, 199, 1)]);
    Ok(())
}

/// A job brought back for a freed slot and then deleted by an operator does not strand the
/// jobs still waiting for its key: by the next rescue pass at the latest, the next one is
/// back and runs.
pub async fn deleting_a_job_brought_back_strands_no_waiting_job(b: Subject) -> CaseResult {
    let jobs = first_of_three_done(&b).await?;
    // The slot brought the second job back to the queue; an operator deletes it there.
    let deleted = b
        .job_delete(jobs::backend::JobActionParams::jids(
            jobs::backend::JobSet::Queue(Q.into()),
            vec![jobs[1].jid.clone()],
            at(3),
        ))
        .await?;
    assert_eq!(deleted, 1, "the job brought back waits in its queue");
    rescue(&b, at(4)).await?;
    let next = reserve(&b, &[Q], 10, P1, at(5)).await?;
    assert_eq!(
        reserved_jids(&next),
        jids(&jobs[2..]),
        "the third job is not stranded"
    );
    Ok(())
}

/// A rescue's sweep while the job a freed slot brought back still waits in its queue leaves
/// the key alone: no later waiting job overtakes it.
pub async fn a_sweep_sends_no_job_ahead_of_the_one_brought_back(b: Subject) -> CaseResult {
    let jobs = first_of_three_done(&b).await?;
    rescue(&b, at(3)).await?;
    let next = reserve(&b, &[Q], 1, P1, at(4)).await?;
    assert_eq!(
        reserved_jids(&next),
        jids(&jobs[1..2]),
        "the job brought back runs before the one still waiting"
    );
    assert_eq!(
        usage(&b).await?,
        [row("k", 1, 1, 1)],
        "one slot held, one job waiting"
    );
    Ok(())
}

/// The jobs moved aside for a key are listed for it, oldest first and page by page, as they
/// were pushed (arguments included); a job brought back for a freed slot leaves the list.
pub async fn jobs_waiting_for_a_slot_are_listed_oldest_first(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (1..=4).map(|n| limited(n, "k", 1)).collect();
    let other = limited(9, "l", 1);
    let mut all = jobs.clone();
    all.push(other);
    push(&b, all, at(0)).await?;
    let first = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(first.len(), 2, "one job of each key runs");
    let waiting = |offset, limit| {
        let p = LimitWaitingParams::new("k").page(offset, limit);
        b.limit_waiting(p)
    };
    let listed = waiting(0, 10).await?;
    assert_eq!(
        listed.iter().map(|j| j.jid.clone()).collect::<Vec<_>>(),
        jids(&jobs[1..]),
        "the three jobs aside, oldest first"
    );
    assert_eq!(listed[0].args, jobs[1].args, "listed as pushed");
    assert_eq!(listed[0].class, jobs[1].class);
    let page = waiting(1, 1).await?;
    assert_eq!(
        page.iter().map(|j| j.jid.clone()).collect::<Vec<_>>(),
        jids(&jobs[2..3])
    );
    assert!(
        b.limit_waiting(LimitWaitingParams::new("l"))
            .await?
            .is_empty(),
        "a key with nothing aside lists nothing"
    );
    assert!(
        b.limit_waiting(LimitWaitingParams::new("nobody"))
            .await?
            .is_empty(),
        "an unknown key lists nothing"
    );
    let k1 = first
        .iter()
        .find(|r| r.job.jid == jobs[0].jid)
        .expect("the first job of k runs");
    finish(
        &b,
        k1,
        k1.job.clone(),
        FinishOutcome::Completed,
        false,
        at(2),
    )
    .await?;
    assert_eq!(
        waiting(0, 10)
            .await?
            .iter()
            .map(|j| j.jid.clone())
            .collect::<Vec<_>>(),
        jids(&jobs[2..]),
        "the job brought back left the list"
    );
    Ok(())
}

/// An operator deletes jobs waiting for a slot: they leave the list with their unique locks
/// (a job with the same key can be pushed again), the slot held and the other waiting jobs
/// stay as they are, a jid not waiting for that key is left alone, and deleting the last one
/// leaves the key with nothing waiting.
pub async fn deleting_jobs_waiting_for_a_slot_releases_their_locks_and_nothing_else(
    b: Subject,
) -> CaseResult {
    let jobs = vec![
        limited_unique(1, "u1"),
        limited_unique(2, "u2"),
        limited_unique(3, "u3"),
    ];
    push(&b, jobs.clone(), at(0)).await?;
    let running = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(reserved_jids(&running), jids(&jobs[..1]));
    let delete =
        |jids: Vec<String>| b.limit_waiting_delete(LimitWaitingDeleteParams::new("k", jids));
    let gone = delete(vec![
        jobs[1].jid.clone(),
        jobs[0].jid.clone(),
        "nobody".into(),
    ])
    .await?;
    assert_eq!(
        gone, 1,
        "only the job waiting for the key is deleted, not the running one"
    );
    assert_eq!(
        b.limit_waiting_delete(LimitWaitingDeleteParams::new(
            "other",
            vec![jobs[2].jid.clone()]
        ))
        .await?,
        0,
        "a job waiting for another key is left alone"
    );
    let listed = b.limit_waiting(LimitWaitingParams::new("k")).await?;
    assert_eq!(
        listed.iter().map(|j| j.jid.clone()).collect::<Vec<_>>(),
        jids(&jobs[2..])
    );
    assert_eq!(
        usage(&b).await?,
        vec![row("k", 1, 1, 1)],
        "the slot is still held"
    );
    let again = unique(4, "u2");
    let r = push_report(&b, vec![again.clone()], at(2), PushConflict::Skip).await?;
    assert!(
        r.duplicates.is_empty(),
        "the deleted job's lock went with it"
    );
    let r = push_report(
        &b,
        vec![unique_job(
            Q,
            5,
            "u3",
            jobs::envelope::flow::UniqueUntil::Success,
            6000,
        )],
        at(2),
        PushConflict::Skip,
    )
    .await?;
    assert_eq!(
        r.duplicates,
        vec![(0, jobs[2].jid.clone())],
        "the others keep theirs"
    );
    assert_eq!(delete(vec![jobs[2].jid.clone()]).await?, 1);
    assert_eq!(
        usage(&b).await?,
        vec![row("k", 1, 0, 1)],
        "nothing waits any more"
    );
    finish(
        &b,
        &running[0],
        running[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(3),
    )
    .await?;
    assert!(
        usage(&b).await?.is_empty(),
        "an idle key leaves nothing behind"
    );
    let next = reserve(&b, &[Q], 10, P1, at(4)).await?;
    assert_eq!(
        reserved_jids(&next),
        jids([&again]),
        "no deleted job comes back"
    );
    Ok(())
}

/// A unique job moved aside for its key's slot has not started: a push with
/// `PushConflict::Replace` takes its place as it takes a queued holder's, and the key counts
/// one job fewer waiting.
pub async fn replace_takes_the_place_of_a_holder_waiting_for_a_slot(b: Subject) -> CaseResult {
    let running = limited_unique(1, "u1");
    let aside = limited_unique(2, "u2");
    push(&b, vec![running.clone(), aside.clone()], at(0)).await?;
    let taken = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(reserved_jids(&taken), jids([&running]));
    assert_eq!(
        usage(&b).await?,
        vec![row("k", 1, 1, 1)],
        "setup: one job aside"
    );
    let newer = unique(3, "u2");
    let r = push_report(&b, vec![newer.clone()], at(2), PushConflict::Replace).await?;
    assert_eq!(
        r.replaced,
        vec![(0, aside.jid.clone())],
        "the holder waiting for a slot is replaced"
    );
    assert!(r.duplicates.is_empty());
    assert!(
        b.limit_waiting(LimitWaitingParams::new("k"))
            .await?
            .is_empty(),
        "the old job is gone from the jobs aside"
    );
    assert_eq!(usage(&b).await?, vec![row("k", 1, 0, 1)]);
    let r = push_report(
        &b,
        vec![unique_job(
            Q,
            4,
            "u2",
            jobs::envelope::flow::UniqueUntil::Success,
            6000,
        )],
        at(3),
        PushConflict::Skip,
    )
    .await?;
    assert_eq!(
        r.duplicates,
        vec![(0, newer.jid.clone())],
        "the new job holds the lock"
    );
    finish(
        &b,
        &taken[0],
        taken[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(4),
    )
    .await?;
    let next = reserve(&b, &[Q], 10, P1, at(5)).await?;
    assert_eq!(
        reserved_jids(&next),
        jids([&newer]),
        "the replaced job never comes back"
    );
    Ok(())
}
