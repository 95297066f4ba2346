//! Batches through a real worker and under concurrency, and workflows, the same on every
//! backend: members adding members from inside their run, concurrent settles claiming each
//! callback once, and a dependant enqueued once its parents succeeded, reading their
//! results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{Backend, BatchCreateParams, FinishOutcome, JobActionParams, JobSet};
use jobs::batch::BatchEvent;
use jobs::clock::ManualClock;
use jobs::envelope::JobEnvelope;
use jobs::prelude::*;

use super::batch::{callbacks, ev, info, members, status, store, CB, Q};
use super::worker::{client_on, registry_of, Running};
use crate::support::*;
use crate::{CaseError, CaseResult};
use jobs::batch::BATCH_FIELD;

/// The queue the flow cases' jobs run on (the job attributes below name it too).
pub(crate) const WORK: &str = "conformance-batch-w";

/// Adds two members from inside its run (on its first attempt), then ends.
#[jobs::job(name = "ConformanceBatchFan", queue = "conformance-batch-w")]
async fn conformance_batch_fan(ctx: JobContext, depth: u32) -> Result<(), jobs::batch::BatchError> {
    if depth > 0 {
        let batch = ctx.batch().await?;
        batch
            .push_all([
                ConformanceBatchFan::new(depth - 1),
                ConformanceBatchFan::new(depth - 1),
            ])
            .await?;
    }
    Ok(())
}

/// A batch callback: records nothing, it is counted from the processed stats.
#[jobs::job(name = "ConformanceBatchDone", queue = "conformance-batch-w")]
async fn conformance_batch_done(ctx: JobContext) -> Result<(), jobs::batch::BatchError> {
    let cb = ctx
        .batch_callback()
        .ok_or(jobs::batch::BatchError::NotInBatch {
            jid: ctx.jid().to_owned(),
        })?;
    assert!(matches!(
        cb.event,
        BatchEvent::Success | BatchEvent::Complete
    ));
    Ok(())
}

/// A worker on the batch queues running `jobs` (see [`Running::launch`]).
fn start(b: &Subject, jobs: Vec<jobs::registry::JobRegistration>) -> Running {
    let clock = Arc::new(ManualClock::new(t0()));
    let client = client_on(b, &clock);
    Running::launch(b, (client, clock), registry_of(jobs), &[WORK, CB], |w| w)
}

/// A workflow's parent: returns `n * n`, kept one hour.
#[jobs::job(
    name = "ConformanceFlowSquare",
    queue = "conformance-batch-w",
    result_ttl = "1h"
)]
async fn conformance_flow_square(n: u64) -> Result<u64, super::worker::ApiDown> {
    Ok(n * n)
}

/// A workflow's dependant: returns its parents' jids and results, as it read them.
#[jobs::job(
    name = "ConformanceFlowGather",
    queue = "conformance-batch-w",
    result_ttl = "1h"
)]
async fn conformance_flow_gather(
    ctx: JobContext,
) -> Result<(Vec<String>, Vec<u64>), super::worker::ApiDown> {
    let jids = ctx.parents().into_iter().map(str::to_owned).collect();
    let results = ctx
        .parent_results::<u64>()
        .await
        .map_err(|e| super::worker::ApiDown(e.to_string()))?;
    Ok((jids, results))
}

/// Through a real worker: a dependant reads its parents' results, in the order the parents
/// were given, once both succeeded; a parent's result read as the wrong type is an error
/// naming it.
pub async fn a_dependant_reads_its_parents_results(b: Subject) -> CaseResult {
    store(&b)?;
    let w = start(
        &b,
        vec![
            jobs::registry::JobRegistration::of::<ConformanceFlowSquare>(),
            jobs::registry::JobRegistration::of::<ConformanceFlowGather>(),
        ],
    );
    let client = w.client.clone();
    let opts = jobs::EnqueueOptions::default();
    let square = |n| {
        client
            .envelope(&ConformanceFlowSquare::new(n), &opts)
            .unwrap_or_else(|e| panic!("envelope: {e}"))
    };
    let parents = vec![square(4), square(3)];
    let parent_jids: Vec<String> = parents.iter().map(|p| p.jid.clone()).collect();
    let child = client
        .envelope(&ConformanceFlowGather::new(), &opts)
        .unwrap_or_else(|e| panic!("envelope: {e}"));
    let child_jid = child.jid.clone();
    jobs::batch::After::new(parents)
        .then(&client, child)
        .await
        .unwrap_or_else(|e| panic!("after: {e}"));
    // The dependant is unknown (its result "missing") until the last parent's settle
    // enqueues it: poll until it is known, then wait for its result.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.status(&child_jid).await? == jobs::backend::JobStatus::Unknown {
        assert!(
            Instant::now() < deadline,
            "the dependant was never enqueued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got: (Vec<String>, Vec<u64>) = client
        .wait_result(&child_jid, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the dependant's result: {e}"));
    w.stop().await;
    assert_eq!(got, (parent_jids.clone(), vec![16, 9]));
    match client.result::<String>(&parent_jids[0]).await {
        Err(jobs::ResultError::Mismatch { type_name, .. }) => assert!(type_name.contains("String")),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    Ok(())
}

/// Through a real worker: members add members from inside their run (`ctx.batch()`), the
/// batch cannot complete while they run, and `success` and `complete` each run once, after
/// all 7 members.
pub async fn running_members_add_members(b: Subject) -> CaseResult {
    store(&b)?;
    let w = start(
        &b,
        vec![
            jobs::registry::JobRegistration::of::<ConformanceBatchFan>(),
            jobs::registry::JobRegistration::of::<ConformanceBatchDone>(),
        ],
    );
    let batch = jobs::batch::Batch::new()
        .description("fan out")
        .on_success(ConformanceBatchDone::new())
        .on_complete(ConformanceBatchDone::new())
        .run(&w.client, [ConformanceBatchFan::new(2)])
        .await
        .unwrap_or_else(|e| panic!("batch: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        let st = status(&b, batch.bid()).await?;
        let stats = b.stats().await?;
        if st.is_finished() && stats.processed >= 9 {
            break st;
        }
        assert!(Instant::now() < deadline, "timed out: {st:?} {stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    w.stop().await;
    assert_eq!((st.total(), st.counts.succeeded), (7, 7));
    assert_eq!(
        b.stats().await?.processed,
        9,
        "7 members and 2 callbacks, once each"
    );
    Ok(())
}

/// Many members settled at the same moment by concurrent callers: every member counts
/// once, and `complete` and `success` are each enqueued exactly once.
pub async fn concurrent_settles_fire_each_callback_once(b: Subject) -> CaseResult {
    const N: i64 = 40;
    let s = store(&b)?;
    s.batch_create(
        BatchCreateParams::new(info("b-cc"), t0())
            .jobs(members("b-cc", N))
            .sealed(true),
    )
    .await?;
    let got = reserve(&b, &[Q], 100, P1, at(1)).await?;
    assert_eq!(got.len(), N as usize);
    let mut tasks = Vec::new();
    for r in got {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            finish(
                &b,
                &r,
                r.job.clone(),
                FinishOutcome::Completed,
                false,
                at(2),
            )
            .await
        }));
    }
    for t in tasks {
        let rep = t.await.unwrap_or_else(|e| panic!("settle task: {e}"))?;
        assert!(rep.lost.is_empty());
    }
    assert_eq!(
        callbacks(&b, 3).await?,
        ev(&[("complete", "b-cc"), ("success", "b-cc")])
    );
    let st = status(&b, "b-cc").await?;
    assert_eq!((st.counts.pending, st.counts.succeeded), (0, N as u64));
    Ok(())
}

/// One settle call carrying members of two batches with mixed outcomes moves each member
/// once and each batch by its own members only: `complete` fires for both, `death` for the
/// one with a dead member, `success` for neither; the same call again (stale leases)
/// applies nothing, moves nothing and fires nothing.
pub async fn one_settle_of_many_members_moves_each_once(b: Subject) -> CaseResult {
    let s = store(&b)?;
    for (bid, n) in [("b-m1", 3), ("b-m2", 2)] {
        s.batch_create(
            BatchCreateParams::new(info(bid), t0())
                .jobs(members(bid, n))
                .sealed(true),
        )
        .await?;
    }
    let got = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(got.len(), 5);
    let of = |r: &jobs::backend::Reserved| {
        (
            r.job.extra[BATCH_FIELD].as_str().unwrap_or("").to_owned(),
            r.job.args[0].as_i64().unwrap_or(-1),
        )
    };
    let items: Vec<_> = got
        .iter()
        .map(|r| {
            let (outcome, failed) = match of(r) {
                (bid, 2) if bid == "b-m1" => (FinishOutcome::Retry { at: at(100) }, true),
                (bid, 1) if bid == "b-m2" => (FinishOutcome::Dead, true),
                _ => (FinishOutcome::Completed, false),
            };
            item(r, r.job.clone(), outcome, failed)
        })
        .collect();
    let rep = finish_all(
        &b,
        items.clone(),
        jobs::backend::DeadLimits::default(),
        at(2),
    )
    .await?;
    assert!(rep.lost.is_empty(), "{:?}", rep.lost);
    let (one, two) = (status(&b, "b-m1").await?, status(&b, "b-m2").await?);
    assert_eq!(
        (
            one.counts.pending,
            one.counts.succeeded,
            one.counts.failed,
            one.counts.dead
        ),
        (0, 2, 1, 0)
    );
    assert_eq!(
        (
            two.counts.pending,
            two.counts.succeeded,
            two.counts.failed,
            two.counts.dead
        ),
        (0, 1, 0, 1)
    );
    assert_eq!(
        callbacks(&b, 3).await?,
        ev(&[
            ("complete", "b-m1"),
            ("complete", "b-m2"),
            ("death", "b-m2")
        ])
    );
    let again = finish_all(&b, items, jobs::backend::DeadLimits::default(), at(4)).await?;
    assert_eq!(again.lost.len(), 5, "every lease was spent");
    let one = status(&b, "b-m1").await?;
    assert_eq!((one.counts.succeeded, one.counts.failed), (2, 1));
    assert!(callbacks(&b, 5).await?.is_empty());
    Ok(())
}

/// A workflow: the dependant is enqueued once, when both parents succeeded; with
/// `ParentDeath::Cancel` a parent's death cancels it for good (even if the parent is then
/// retried and succeeds); with `Wait` it runs once the dead parent is retried and succeeds.
pub async fn a_dependant_runs_after_its_parents(b: Subject) -> CaseResult {
    store(&b)?;
    let backend: Arc<dyn Backend> = b.clone();
    let clock = Arc::new(ManualClock::new(t0()));
    let client = Client::builder(backend).clock(clock).build();
    let child = |n: i64| JobEnvelope::new("Dependant", CB, vec![n.into()]);
    let mut handles = Vec::new();
    for (n, on_death) in [
        (0, jobs::batch::ParentDeath::Wait),
        (1, jobs::batch::ParentDeath::Cancel),
        (2, jobs::batch::ParentDeath::Wait),
    ] {
        let handle = jobs::batch::After::new(vec![job(Q, 10 * n), job(Q, 10 * n + 1)])
            .on_parent_death(on_death)
            .then(&client, child(n))
            .await
            .unwrap_or_else(|e| panic!("after: {e}"));
        handles.push(handle);
    }
    let got = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(got.len(), 6);
    let arg = |r: &jobs::backend::Reserved| r.job.args[0].as_i64().unwrap_or(-1);
    let dependants = |b: Subject, s: i64| async move {
        let got = reserve(&b, &[CB], 100, "conformance-drain", at(s)).await?;
        let mut args: Vec<i64> = got
            .iter()
            .map(|r| r.job.args[0].as_i64().unwrap_or(-1))
            .collect();
        args.sort();
        Ok::<_, CaseError>(args)
    };
    // Workflow 0: both parents succeed, one after the other.
    for r in got.iter().filter(|r| arg(r) / 10 == 0) {
        assert!(
            dependants(b.clone(), 2).await?.is_empty(),
            "not before both parents"
        );
        finish(&b, r, r.job.clone(), FinishOutcome::Completed, false, at(2)).await?;
    }
    assert_eq!(dependants(b.clone(), 3).await?, vec![0]);
    // Workflows 1 (cancel) and 2 (wait): a parent dies, the other succeeds.
    for r in got.iter().filter(|r| arg(r) >= 10) {
        let (outcome, failed) = match arg(r) % 10 {
            0 => (FinishOutcome::Dead, true),
            _ => (FinishOutcome::Completed, false),
        };
        finish(&b, r, r.job.clone(), outcome, failed, at(4)).await?;
    }
    assert!(
        dependants(b.clone(), 5).await?.is_empty(),
        "a parent is dead"
    );
    // The dead parents are retried and succeed: only the waiting dependant runs.
    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(dead.len(), 2);
    let jids = dead.iter().map(|d| d.job.jid.clone()).collect();
    b.job_enqueue_now(JobActionParams::jids(JobSet::Dead, jids, at(6)))
        .await?;
    for r in reserve(&b, &[Q], 10, P1, at(7)).await? {
        finish(
            &b,
            &r,
            r.job.clone(),
            FinishOutcome::Completed,
            false,
            at(7),
        )
        .await?;
    }
    assert_eq!(dependants(b.clone(), 8).await?, vec![2]);
    let cancelled = handles[1].status().await.unwrap_or_else(|e| panic!("{e}"));
    let cancelled = cancelled.unwrap_or_else(|| panic!("workflow 1 exists"));
    assert!(cancelled.has_fired(BatchEvent::Death) && cancelled.counts.succeeded == 2);
    Ok(())
}
