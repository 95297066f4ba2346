//! Bulk push: many jobs in one call all arrive, in order, each where it belongs.

use jobs::backend::JobSet;

use crate::support::*;
use crate::CaseResult;
use jobs::backend::QueueListParams;

/// 1,000 jobs pushed in one call are all in the queue, and come out in push order.
pub async fn thousand_jobs_in_one_push_arrive_in_order(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (0..1000).map(|n| job("bulk", n)).collect();
    push(&b, jobs.clone(), at(0)).await?;

    let listed = b.queue_list(QueueListParams::new(at(0))).await?;
    let size = listed.iter().find(|q| q.name == "bulk").map(|q| q.size);
    assert_eq!(size, Some(1000), "queue_list counts every job: {listed:?}");

    let mut out = Vec::new();
    while out.len() < jobs.len() {
        let got = reserve(&b, &["bulk"], 128, P1, at(1)).await?;
        assert!(
            !got.is_empty(),
            "the queue ran dry after {} of 1000 jobs",
            out.len()
        );
        out.extend(
            got.into_iter()
                .map(|r| std::sync::Arc::unwrap_or_clone(r.job)),
        );
    }
    let expected: Vec<_> = jobs.into_iter().map(|j| enqueued(j, at(0))).collect();
    assert!(
        out == expected,
        "the 1,000 jobs came out changed or out of push order"
    );
    assert!(
        reserve(&b, &["bulk"], 1, P1, at(1)).await?.is_empty(),
        "and no more"
    );
    Ok(())
}

/// One push holding jobs for several queues and for later puts each in its place: queue
/// jobs in their queues in order, timed jobs in the scheduled set.
pub async fn one_push_mixes_scheduled_and_queues(b: Subject) -> CaseResult {
    let mut now_a = Vec::new();
    let mut now_b = Vec::new();
    let mut later = Vec::new();
    let mut batch = Vec::new();
    for n in 0..12 {
        match n % 3 {
            0 => now_a.push(job("mix-a", n)),
            1 => now_b.push(job("mix-b", n)),
            _ => later.push(job("mix-a", n)),
        }
    }
    for n in 0..4 {
        batch.push(now_a[n].clone());
        batch.push(now_b[n].clone());
        batch.push(scheduled(later[n].clone(), at(100 + n as i64)));
    }
    push(&b, batch, at(0)).await?;

    assert_eq!(
        jids(&drain(&b, "mix-a", at(1)).await?),
        jids(&now_a),
        "queue a, in order"
    );
    assert_eq!(
        jids(&drain(&b, "mix-b", at(1)).await?),
        jids(&now_b),
        "queue b, in order"
    );
    let timed = list(&b, JobSet::Scheduled).await?;
    assert_eq!(
        stored_jids(&timed),
        jids(&later),
        "the timed jobs are scheduled"
    );
    let times: Vec<_> = timed.iter().map(|s| s.at).collect();
    assert_eq!(
        times,
        (100..104).map(|s| Some(at(s))).collect::<Vec<_>>(),
        "at their times"
    );
    Ok(())
}
