//! Push and reserve: FIFO per queue, queue order, limits, paused queues, waiting for a push.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{BackendError, ReserveParams, Reserved};
use tokio::sync::Barrier;

use crate::support::*;
use crate::CaseResult;
use jobs::backend::{QueueListParams, QueuePauseParams};

/// Jobs of one queue come out oldest first, unchanged but for `enqueued_at` (the push's
/// `now`); other queues are not touched; an empty queue gives nothing.
pub async fn fifo_per_queue(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (0..3).map(|n| job("fifo", n)).collect();
    for (i, j) in (0..).zip(&jobs) {
        push(&b, vec![j.clone()], at(i)).await?;
    }
    let other = job("other", 99);
    push(&b, vec![other.clone()], at(5)).await?;

    for (i, expected) in (0..).zip(&jobs) {
        let got = reserve(&b, &["fifo"], 1, P1, at(10)).await?;
        assert_eq!(got.len(), 1, "reserve #{i} from a queue that holds jobs");
        assert_eq!(
            *got[0].job,
            enqueued(expected.clone(), at(i)),
            "reserve #{i} gives the {i}th job pushed, as pushed, with enqueued_at = push time"
        );
    }
    let empty = reserve(&b, &["fifo"], 1, P1, at(10)).await?;
    assert!(empty.is_empty(), "an emptied queue gave {empty:?}");

    let rest = reserve(&b, &["other"], 5, P1, at(10)).await?;
    assert_eq!(
        reserved_jids(&rest),
        vec![other.jid],
        "the other queue keeps its job"
    );
    Ok(())
}

/// Queues are tried in the order given, each drained before the next; reversing the order
/// reverses the preference; queues not asked for are left alone.
pub async fn queues_in_given_order(b: Subject) -> CaseResult {
    let (l1, h1, l2, h2) = (job("low", 1), job("high", 1), job("low", 2), job("high", 2));
    let ignored = job("ignored", 1);
    for (i, j) in (0..).zip([&l1, &h1, &ignored, &l2, &h2]) {
        push(&b, vec![j.clone()], at(i)).await?;
    }
    let got = reserve(&b, &["high", "low"], 3, P1, at(10)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids([&h1, &h2, &l1]),
        "high drained first, then low from its head"
    );

    let (l3, h3) = (job("low", 3), job("high", 3));
    push(&b, vec![h3.clone(), l3.clone()], at(11)).await?;
    let got = reserve(&b, &["low", "high"], 2, P1, at(12)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids([&l2, &l3]),
        "with low listed first, low is drained before high"
    );
    let got = reserve(&b, &["low", "high"], 5, P1, at(12)).await?;
    assert_eq!(reserved_jids(&got), jids([&h3]), "then high");

    let left = drain(&b, "ignored", at(13)).await?;
    assert_eq!(
        jids(&left),
        jids([&ignored]),
        "a queue not asked for keeps its job"
    );
    Ok(())
}

/// `limit` caps a batch, which takes from the head and moves on to the next queue when one
/// runs out.
pub async fn limit_caps_and_spans_queues(b: Subject) -> CaseResult {
    let a: Vec<_> = (0..3).map(|n| job("a", n)).collect();
    let c: Vec<_> = (0..2).map(|n| job("c", n)).collect();
    push(&b, a.iter().chain(&c).cloned().collect(), at(0)).await?;

    let got = reserve(&b, &["a", "c"], 2, P1, at(1)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids(&a[..2]),
        "limit 2 takes the two oldest of a"
    );
    let got = reserve(&b, &["a", "c"], 2, P1, at(1)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids([&a[2], &c[0]]),
        "a batch spills over into the next queue"
    );
    let got = reserve(&b, &["a", "c"], 10, P1, at(1)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids(&c[1..]),
        "a large limit takes what is left"
    );
    let got = reserve(&b, &["a", "c"], 10, P1, at(1)).await?;
    assert!(got.is_empty(), "nothing left, yet got {got:?}");
    Ok(())
}

/// A paused queue is skipped (its jobs stay and are listed) until it is resumed.
pub async fn paused_queue_skipped(b: Subject) -> CaseResult {
    let (held, open) = (job("held", 1), job("open", 1));
    push(&b, vec![held.clone(), open.clone()], at(0)).await?;
    b.queue_pause(QueuePauseParams::new("held", true)).await?;

    let got = reserve(&b, &["held", "open"], 5, P1, at(1)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids([&open]),
        "the paused queue is skipped"
    );
    let got = reserve(&b, &["held"], 5, P1, at(1)).await?;
    assert!(got.is_empty(), "a paused queue gave {got:?}");
    let listed = b.queue_list(QueueListParams::new(at(1))).await?;
    let held_info = listed.iter().find(|q| q.name == "held");
    assert!(
        held_info.is_some_and(|q| q.paused && q.size == 1),
        "the paused queue is listed as paused with its job: {listed:?}"
    );

    b.queue_pause(QueuePauseParams::new("held", false)).await?;
    let got = reserve(&b, &["held"], 5, P1, at(2)).await?;
    assert_eq!(
        reserved_jids(&got),
        jids([&held]),
        "resumed, its job is given out"
    );
    Ok(())
}

/// Many processes reserving from one queue at once get each job exactly once.
pub async fn concurrent_reserves_take_each_job_once(b: Subject) -> CaseResult {
    const TASKS: usize = 6;
    let jobs: Vec<_> = (0..120).map(|n| job("shared", n)).collect();
    push(&b, jobs.clone(), at(0)).await?;

    let start = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (b, start) = (b.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let process = format!("conformance-host:{t}:racer");
                let mut got = Vec::new();
                loop {
                    let batch = reserve(&b, &["shared"], 5, &process, at(1)).await?;
                    if batch.is_empty() {
                        return Ok::<_, BackendError>(got);
                    }
                    got.extend(reserved_jids(&batch));
                }
            })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.expect("a reserving task panicked")?);
    }
    let mut expected = jids(&jobs);
    taken.sort();
    expected.sort();
    assert_eq!(
        taken, expected,
        "every job reserved once: none lost, none twice"
    );
    Ok(())
}

/// A reserve waiting on an empty queue is woken by a push from another task and returns
/// the pushed job well before its `wait` ends.
pub async fn reserve_wakes_on_push(b: Subject) -> CaseResult {
    let mut params = ReserveParams::new(vec!["wake".into()], P1, at(0));
    params.wait = Duration::from_secs(20);
    let waiter = b.clone();
    let mut reserving = Box::pin(async move { waiter.job_reserve(params).await });
    // Poll once so the reserve is under way (for the in-memory backend: registered as a
    // waiter) before the job exists; returning now would mean it did not wait.
    assert!(
        futures::poll!(reserving.as_mut()).is_pending(),
        "a reserve with a wait returned at once on an empty queue"
    );
    let reserving = tokio::spawn(reserving);

    let pushed = job("wake", 1);
    let pusher = b.clone();
    let to_push = pushed.clone();
    tokio::spawn(async move { push(&pusher, vec![to_push], at(1)).await })
        .await
        .expect("the pushing task panicked")?;

    let got: Vec<Reserved> = tokio::time::timeout(Duration::from_secs(60), reserving)
        .await
        .expect("the waiting reserve neither woke nor timed out")
        .expect("the reserving task panicked")?;
    assert_eq!(
        got.iter().map(|r| (*r.job).clone()).collect::<Vec<_>>(),
        vec![enqueued(pushed, at(1))],
        "the waiting reserve returns the job pushed meanwhile (an empty answer means it \
         slept through the push until its wait ran out)"
    );
    Ok(())
}

/// A reserve with a `wait` on queues with nothing available (empty, or paused with jobs)
/// returns an empty list once the wait has passed, not at once and not much later.
pub async fn reserve_times_out_empty(b: Subject) -> CaseResult {
    push(&b, vec![job("held", 1)], at(0)).await?;
    b.queue_pause(QueuePauseParams::new("held", true)).await?;
    let wait = Duration::from_secs(1);
    let mut params = ReserveParams::new(vec!["held".into(), "empty".into()], P1, at(1));
    params.wait = wait;
    params.limit = 5;

    let started = Instant::now();
    let got = b.job_reserve(params).await?;
    let took = started.elapsed();
    assert!(got.is_empty(), "nothing was available, yet got {got:?}");
    assert!(
        took >= wait / 2,
        "returned after {took:?}, without waiting ({wait:?})"
    );
    assert!(
        took < wait + Duration::from_secs(20),
        "returned after {took:?}, far past its wait of {wait:?}"
    );
    Ok(())
}
