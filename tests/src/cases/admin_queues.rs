//! Admin side, queues: listing with size, latency and paused flag; clearing.

use std::time::Duration;

use jobs::backend::{JobSet, QueueInfo};

use crate::support::*;
use crate::CaseResult;
use jobs::backend::{QueueClearParams, QueueListParams, QueuePauseParams};

/// `queue_list` gives every known queue and every paused one (even empty), sorted by name,
/// with its size, its latency (`now` minus the head job's `enqueued_at`) and paused flag.
pub async fn queue_list_reports_size_latency_paused(b: Subject) -> CaseResult {
    push(&b, vec![job("beta", 1), job("beta", 2)], at(0)).await?;
    push(&b, vec![job("alpha", 1)], at(10)).await?;
    push(&b, vec![job("beta", 3)], at(20)).await?;
    b.queue_pause(QueuePauseParams::new("gamma", true)).await?;
    b.queue_pause(QueuePauseParams::new("beta", true)).await?;

    let listed = b.queue_list(QueueListParams::new(at(30))).await?;
    let expected = vec![
        QueueInfo {
            name: "alpha".into(),
            size: 1,
            latency: Duration::from_secs(20),
            paused: false,
        },
        QueueInfo {
            name: "beta".into(),
            size: 3,
            latency: Duration::from_secs(30),
            paused: true,
        },
        QueueInfo {
            name: "gamma".into(),
            size: 0,
            latency: Duration::ZERO,
            paused: true,
        },
    ];
    assert_eq!(
        listed, expected,
        "sorted by name, sized, latency from the head job"
    );

    b.queue_pause(QueuePauseParams::new("beta", false)).await?;
    let taken = reserve(&b, &["beta"], 2, P1, at(30)).await?;
    assert_eq!(taken.len(), 2, "setup: the two oldest beta jobs reserved");
    let listed = b.queue_list(QueueListParams::new(at(40))).await?;
    let beta = listed.iter().find(|q| q.name == "beta");
    assert_eq!(
        beta,
        Some(&QueueInfo {
            name: "beta".into(),
            size: 1,
            latency: Duration::from_secs(20),
            paused: false,
        }),
        "resumed; size and latency follow the new head"
    );
    Ok(())
}

/// `queue_clear` removes a queue's jobs (returning how many) and the queue from the list,
/// leaving other queues and the scheduled set alone; clearing an unknown queue gives 0.
pub async fn queue_clear_removes_jobs_and_queue(b: Subject) -> CaseResult {
    let kept = job("keep", 1);
    let timed = scheduled(job("wipe", 9), at(500));
    push(
        &b,
        vec![job("wipe", 1), job("wipe", 2), kept.clone(), timed.clone()],
        at(0),
    )
    .await?;

    assert_eq!(
        b.queue_clear(QueueClearParams::new("wipe")).await?,
        2,
        "two jobs cleared"
    );
    let names: Vec<_> = b
        .queue_list(QueueListParams::new(at(1)))
        .await?
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(
        names,
        vec!["keep".to_owned()],
        "the cleared queue is no longer listed"
    );
    assert!(
        reserve(&b, &["wipe"], 5, P1, at(1)).await?.is_empty(),
        "nothing left in it"
    );
    assert_eq!(
        jids(&drain(&b, "keep", at(1)).await?),
        jids([&kept]),
        "keep untouched"
    );
    let left = list(&b, JobSet::Scheduled).await?;
    assert_eq!(
        stored_jids(&left),
        jids([&timed]),
        "its scheduled job is not cleared"
    );
    assert_eq!(
        b.queue_clear(QueueClearParams::new("never-seen")).await?,
        0,
        "an unknown queue clears nothing"
    );
    Ok(())
}
