//! Priorities: within a queue, priority 0 runs first and 9 last, first in first out within
//! one priority; promoted jobs keep theirs; listings show them in run order.

use jobs::backend::{JobSet, QueueListParams};

use crate::support::*;
use crate::CaseResult;

const Q: &str = "prio";

fn with_priority(n: i64, priority: u8) -> jobs::envelope::JobEnvelope {
    let mut j = job(Q, n);
    j.set_priority(priority);
    j
}

/// Jobs are reserved by priority (0 first), and in push order within a priority, whether
/// pushed one by one or together.
pub async fn smaller_priority_first_fifo_within_one(b: Subject) -> CaseResult {
    let a = with_priority(1, 5);
    let c = with_priority(2, 0);
    let d = with_priority(3, 5);
    let e = with_priority(4, 9);
    let f = with_priority(5, 0);
    push(&b, vec![a.clone(), c.clone()], at(0)).await?;
    push(&b, vec![d.clone()], at(1)).await?;
    push(&b, vec![e.clone(), f.clone()], at(2)).await?;
    let listed = list(&b, JobSet::Queue(Q.into())).await?;
    assert_eq!(
        stored_jids(&listed),
        jids([&c, &f, &a, &d, &e]),
        "the queue lists jobs in the order they will run"
    );
    assert_eq!(
        listed.iter().map(|s| s.job.priority()).collect::<Vec<_>>(),
        vec![0, 0, 5, 5, 9],
        "each job's priority is kept"
    );
    let queues = b.queue_list(QueueListParams::new(at(3))).await?;
    let size = queues.iter().find(|q| q.name == Q).map(|q| q.size);
    assert_eq!(size, Some(5), "the queue's size counts every priority");
    let taken = reserve(&b, &[Q], 2, P1, at(3)).await?;
    assert_eq!(reserved_jids(&taken), jids([&c, &f]));
    let taken = reserve(&b, &[Q], 3, P1, at(4)).await?;
    assert_eq!(reserved_jids(&taken), jids([&a, &d, &e]));
    Ok(())
}

/// A scheduled job keeps its priority when it is promoted to its queue.
pub async fn promoted_jobs_keep_their_priority(b: Subject) -> CaseResult {
    let low = scheduled(with_priority(1, 7), at(10));
    let high = scheduled(with_priority(2, 1), at(10));
    push(&b, vec![low.clone(), high.clone()], at(0)).await?;
    promote(&b, at(10), 10).await?;
    let taken = reserve(&b, &[Q], 2, P1, at(11)).await?;
    assert_eq!(reserved_jids(&taken), jids([&high, &low]));
    assert_eq!(taken[0].job.priority(), 1);
    Ok(())
}

/// A job given back to its queue (requeued, or rescued) runs before every waiting job and
/// every job pushed after it, whatever their priorities; then priorities order the rest.
pub async fn a_job_given_back_leads_every_priority(b: Subject) -> CaseResult {
    let low = with_priority(1, 9);
    push(&b, vec![low.clone()], at(0)).await?;
    let taken = reserve(&b, &[Q], 1, P1, at(1)).await?;
    b.job_requeue(jobs::backend::RequeueParams::new(
        vec![taken[0].token.clone()],
        at(2),
    ))
    .await?;
    let top = with_priority(2, 0);
    let mid = with_priority(3, 4);
    push(&b, vec![mid.clone(), top.clone()], at(3)).await?;
    let order = reserve(&b, &[Q], 3, P1, at(4)).await?;
    assert_eq!(reserved_jids(&order), jids([&low, &top, &mid]));
    Ok(())
}

/// With aging every 10 s, a priority-9 job that has waited 100 s runs as priority 0, ahead
/// of the priority-0 job pushed after it; jobs that waited less keep their rank; a second
/// pass at the same time moves nothing; listings keep the declared priority.
pub async fn aging_lets_a_long_waiting_job_overtake(b: Subject) -> CaseResult {
    let every = std::time::Duration::from_secs(10);
    let low = with_priority(1, 9);
    let mid = with_priority(2, 2);
    let high = with_priority(3, 0);
    let fresh = with_priority(4, 9);
    push(&b, vec![low.clone()], at(0)).await?;
    push(&b, vec![mid.clone()], at(95)).await?;
    push(&b, vec![high.clone()], at(96)).await?;
    push(&b, vec![fresh.clone()], at(99)).await?;
    let moved = b
        .priority_age(jobs::backend::AgeParams::new(at(100), every))
        .await?;
    assert_eq!(moved, 1, "only the job that waited 100 s climbs");
    let again = b
        .priority_age(jobs::backend::AgeParams::new(at(100), every))
        .await?;
    assert_eq!(again, 0, "a second pass moves nothing");
    let listed = list(&b, JobSet::Queue(Q.into())).await?;
    let declared = listed
        .iter()
        .find(|s| s.job.jid == low.jid)
        .map(|s| s.job.priority());
    assert_eq!(declared, Some(9), "the declared priority is kept");
    let taken = reserve(&b, &[Q], 4, P1, at(101)).await?;
    assert_eq!(reserved_jids(&taken), jids([&low, &high, &mid, &fresh]));
    Ok(())
}

/// A job climbs one priority per `every` waited: a priority-9 job that waited 35 s at 10 s a
/// step runs as priority 6, ahead of a priority-6 job pushed after it and behind a
/// priority-5 one.
pub async fn aging_climbs_one_priority_per_step(b: Subject) -> CaseResult {
    let every = std::time::Duration::from_secs(10);
    let low = with_priority(1, 9);
    let six = with_priority(2, 6);
    let five = with_priority(3, 5);
    push(&b, vec![low.clone()], at(0)).await?;
    push(&b, vec![six.clone()], at(34)).await?;
    let moved = b
        .priority_age(jobs::backend::AgeParams::new(at(35), every))
        .await?;
    assert_eq!(moved, 1);
    push(&b, vec![five.clone()], at(35)).await?;
    let taken = reserve(&b, &[Q], 3, P1, at(36)).await?;
    assert_eq!(reserved_jids(&taken), jids([&five, &low, &six]));
    Ok(())
}

/// Under a steady stream (two pushes a second, one of them priority 9, the other of a
/// priority that cycles through 0..9) with a pass every second and aging every 3 s, each
/// pass moves exactly the jobs whose wait crossed a step since the one before, and the
/// queue always lists (and runs) its jobs in the order of the priorities their waits
/// earned: no job is held back behind the jobs that aged just before it.
pub async fn aging_keeps_up_with_a_steady_stream(b: Subject) -> CaseResult {
    let every = std::time::Duration::from_secs(3);
    let band = |s: &jobs::backend::StoredJob, t: i64| {
        let enqueued = s.job.enqueued_at.unwrap_or(f64::INFINITY);
        jobs::backend::AgeParams::new(at(t), every).aged(s.job.priority(), enqueued)
    };
    for t in 0..40_i64 {
        let cycling = u8::try_from((t * 7) % 10).unwrap_or(0);
        let pushed = vec![with_priority(2 * t, cycling), with_priority(2 * t + 1, 9)];
        push(&b, pushed, at(t)).await?;
        let before = list(&b, JobSet::Queue(Q.into())).await?;
        let crossed = before
            .iter()
            .filter(|s| band(s, t) < band(s, t - 1))
            .count();
        let moved = b
            .priority_age(jobs::backend::AgeParams::new(at(t), every))
            .await?;
        assert_eq!(moved, crossed as u64, "jobs moved by the pass at {t} s");
        let after = list(&b, JobSet::Queue(Q.into())).await?;
        let bands: Vec<u8> = after.iter().map(|s| band(s, t)).collect();
        assert!(
            bands.windows(2).all(|w| w[0] <= w[1]),
            "at {t} s the queue runs in the order of the earned priorities: {bands:?}"
        );
        if t % 4 == 3 {
            let taken = reserve(&b, &[Q], 3, P1, at(t)).await?;
            let first: Vec<String> = after.iter().take(3).map(|s| s.job.jid.clone()).collect();
            assert_eq!(
                reserved_jids(&taken),
                first,
                "reserve takes the listed head"
            );
        }
    }
    Ok(())
}
