//! Batches, the same on every backend: members tracked by jid in the settle step, and
//! callbacks (`complete`, `success`, `death`) enqueued exactly once.
//!
//! Cases drive the backend's [`BatchStore`] and its fenced `job_finish` with fixed times
//! (`batch_flow.rs` has the cases with a real worker, concurrency and workflows).

use std::time::Duration;

use jobs::backend::{BatchAddParams, BatchCreateParams, BatchStatus, BatchStore};
use jobs::backend::{FinishOutcome, JobActionParams, JobSet};
use jobs::batch::{BatchEvent, BatchInfo, BATCH_FIELD, CALLBACK_FIELD};
use jobs::envelope::{to_epoch, JobEnvelope};

use crate::support::*;
use crate::{CaseError, CaseResult};

pub(crate) const Q: &str = "conformance-batch";
pub(crate) const CB: &str = "conformance-batch-cb";
const DAY: Duration = Duration::from_secs(86_400);

pub(crate) fn store(b: &Subject) -> Result<&dyn BatchStore, CaseError> {
    b.batches()
        .ok_or_else(|| CaseError::Skip(format!("the {} backend keeps no batches", b.name())))
}

/// A batch `bid` with one callback job per event, on queue [`CB`], named after the event.
pub(crate) fn info(bid: &str) -> BatchInfo {
    let mut i = BatchInfo::new(bid, "conformance", to_epoch(t0()), DAY);
    for e in BatchEvent::ALL {
        let cb = JobEnvelope::new(format!("On{}", e.as_str()), CB, vec![bid.into()]);
        i = i.callback(e, cb);
    }
    i
}

pub(crate) fn members(bid: &str, n: i64) -> Vec<JobEnvelope> {
    (0..n)
        .map(|i| {
            let mut j = job(Q, i);
            j.extra.insert(BATCH_FIELD.into(), bid.into());
            j
        })
        .collect()
}

pub(crate) async fn status(b: &Subject, bid: &str) -> Result<BatchStatus, CaseError> {
    Ok(store(b)?
        .batch_status(bid)
        .await?
        .unwrap_or_else(|| panic!("batch {bid} exists")))
}

/// The callbacks enqueued so far, as (event, bid), taken off their queue and completed.
pub(crate) async fn callbacks(b: &Subject, now_s: i64) -> Result<Vec<(String, String)>, CaseError> {
    let got = reserve(b, &[CB], 1000, "conformance-drain", at(now_s)).await?;
    let items = got
        .iter()
        .map(|r| item(r, r.job.clone(), FinishOutcome::Completed, false))
        .collect();
    finish_all(b, items, jobs::backend::DeadLimits::default(), at(now_s)).await?;
    let mut out: Vec<(String, String)> = got
        .into_iter()
        .map(|r| r.job)
        .map(|j| {
            let f = &j.extra[CALLBACK_FIELD];
            assert_eq!(j.class, format!("On{}", f["event"].as_str().unwrap_or("")));
            (
                f["event"].as_str().unwrap_or("").to_owned(),
                f["bid"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

pub(crate) fn ev(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(e, b)| (e.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// Members pushed at creation carry the batch id in `bid` (as Sidekiq Pro writes it) and
/// are counted pending; a sealed batch whose members all succeed fires `complete` and
/// `success` once each, only when the last one settles.
pub async fn success_and_complete_fire_once(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.batch_create(
        BatchCreateParams::new(info("b-ok"), t0())
            .jobs(members("b-ok", 3))
            .sealed(true),
    )
    .await?;
    let st = status(&b, "b-ok").await?;
    assert_eq!((st.total(), st.counts.pending), (3, 3));
    let got = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.job.extra[BATCH_FIELD], "b-ok", "{:?}", r.job);
    }
    for (i, r) in got.iter().enumerate() {
        assert!(
            callbacks(&b, 2).await?.is_empty(),
            "nothing fired before member {i}"
        );
        let rep = finish(&b, r, r.job.clone(), FinishOutcome::Completed, false, at(2)).await?;
        assert!(rep.lost.is_empty());
    }
    assert_eq!(
        callbacks(&b, 3).await?,
        ev(&[("complete", "b-ok"), ("success", "b-ok")])
    );
    // Settling a member again (a stale lease) applies nothing and fires nothing.
    let rep = finish(
        &b,
        &got[0],
        got[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(4),
    )
    .await?;
    assert_eq!(rep.lost, vec![0]);
    assert!(callbacks(&b, 5).await?.is_empty());
    let st = status(&b, "b-ok").await?;
    assert_eq!((st.counts.succeeded, st.counts.pending), (3, 0));
    assert!(st.is_finished() && st.has_fired(BatchEvent::Complete));
    assert!(!st.has_fired(BatchEvent::Death));
    Ok(())
}

/// A member that fails counts once as failed (complete fires, success does not); its
/// rescued and retried runs never count twice, pending never goes below zero, and when the
/// retry succeeds `success` fires, once.
pub async fn a_retried_member_counts_once(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.batch_create(
        BatchCreateParams::new(info("b-re"), t0())
            .jobs(members("b-re", 2))
            .sealed(true),
    )
    .await?;
    let got = reserve(&b, &[Q], 10, P1, at(1)).await?;
    let (a, c) = (&got[0], &got[1]);
    let failed_a = failed(a.job.clone(), "boom", at(2));
    finish(
        &b,
        a,
        failed_a.clone(),
        FinishOutcome::Retry { at: at(10) },
        true,
        at(2),
    )
    .await?;
    let st = status(&b, "b-re").await?;
    assert_eq!((st.counts.pending, st.counts.failed), (1, 1));
    assert_eq!(st.failed_jids, vec![a.job.jid.clone()]);
    finish(&b, c, c.job.clone(), FinishOutcome::Completed, false, at(3)).await?;
    assert_eq!(callbacks(&b, 4).await?, ev(&[("complete", "b-re")]));
    // The retry runs, its lease expires, it is rescued and runs again.
    promote(&b, at(11), 10).await?;
    let first = reserve(&b, &[Q], 10, P1, at(11)).await?;
    assert_eq!(first.len(), 1);
    rescue(&b, at(11) + chrono::Duration::seconds(3600)).await?;
    let second = reserve(&b, &[Q], 10, P2, at(3700)).await?;
    assert_eq!(second.len(), 1);
    let stale = finish(
        &b,
        &first[0],
        first[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(3701),
    )
    .await?;
    assert_eq!(stale.lost, vec![0], "the rescued lease is lost");
    let st = status(&b, "b-re").await?;
    assert_eq!(
        (st.counts.pending, st.counts.failed, st.counts.succeeded),
        (0, 1, 1)
    );
    finish(
        &b,
        &second[0],
        second[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(3702),
    )
    .await?;
    let st = status(&b, "b-re").await?;
    assert_eq!(
        (st.counts.pending, st.counts.failed, st.counts.succeeded),
        (0, 0, 2)
    );
    assert!(st.failed_jids.is_empty());
    assert_eq!(callbacks(&b, 3703).await?, ev(&[("success", "b-re")]));
    Ok(())
}

/// `death` fires once, when the first member dies, before the batch completes; the batch
/// then completes without succeeding, and its dead members are listed.
pub async fn death_fires_once_on_the_first_dead_member(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.batch_create(
        BatchCreateParams::new(info("b-dd"), t0())
            .jobs(members("b-dd", 3))
            .sealed(true),
    )
    .await?;
    let got = reserve(&b, &[Q], 10, P1, at(1)).await?;
    finish(
        &b,
        &got[0],
        failed(got[0].job.clone(), "x", at(2)),
        FinishOutcome::Dead,
        true,
        at(2),
    )
    .await?;
    assert_eq!(callbacks(&b, 3).await?, ev(&[("death", "b-dd")]));
    finish(
        &b,
        &got[1],
        failed(got[1].job.clone(), "x", at(4)),
        FinishOutcome::Dead,
        true,
        at(4),
    )
    .await?;
    assert!(callbacks(&b, 5).await?.is_empty(), "death fires once");
    finish(
        &b,
        &got[2],
        got[2].job.clone(),
        FinishOutcome::Completed,
        false,
        at(6),
    )
    .await?;
    assert_eq!(callbacks(&b, 7).await?, ev(&[("complete", "b-dd")]));
    let st = status(&b, "b-dd").await?;
    assert_eq!((st.counts.dead, st.counts.succeeded), (2, 1));
    assert!(!st.is_finished());
    let mut dead = vec![got[0].job.jid.clone(), got[1].job.jid.clone()];
    dead.sort();
    assert_eq!(st.failed_jids, dead);
    Ok(())
}

/// An open batch does not complete, however many members ended, until it is sealed; then
/// it fires at once. Members added in bulk are stored all together; a completed batch
/// refuses new members; an unknown batch is named in the error.
pub async fn an_open_batch_completes_only_when_sealed(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.batch_create(BatchCreateParams::new(info("b-op"), t0()))
        .await?;
    s.batch_add(BatchAddParams::new("b-op", members("b-op", 2), at(1)))
        .await?;
    let got = reserve(&b, &[Q], 10, P1, at(2)).await?;
    assert_eq!(got.len(), 2);
    for r in &got {
        finish(&b, r, r.job.clone(), FinishOutcome::Completed, false, at(3)).await?;
    }
    assert!(callbacks(&b, 4).await?.is_empty(), "open: nothing fires");
    s.batch_add(BatchAddParams::new("b-op", members("b-op", 1), at(5)))
        .await?;
    let late = reserve(&b, &[Q], 10, P1, at(5)).await?;
    s.batch_seal("b-op", at(6)).await?;
    assert!(
        callbacks(&b, 6).await?.is_empty(),
        "a member is still pending"
    );
    finish(
        &b,
        &late[0],
        late[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(7),
    )
    .await?;
    assert_eq!(
        callbacks(&b, 8).await?,
        ev(&[("complete", "b-op"), ("success", "b-op")])
    );
    let err = s
        .batch_add(BatchAddParams::new("b-op", members("b-op", 1), at(9)))
        .await
        .expect_err("a completed batch takes no members");
    assert!(err.to_string().contains("b-op"), "{err}");
    let err = s
        .batch_add(BatchAddParams::new("b-none", members("b-none", 1), at(9)))
        .await
        .expect_err("no such batch");
    assert!(err.to_string().contains("b-none"), "{err}");
    assert_eq!(status(&b, "b-op").await?.total(), 3);
    // A sealed batch with nothing in it is done at once.
    s.batch_create(BatchCreateParams::new(info("b-empty"), at(10)).sealed(true))
        .await?;
    assert_eq!(
        callbacks(&b, 11).await?,
        ev(&[("complete", "b-empty"), ("success", "b-empty")])
    );
    Ok(())
}

/// A child batch is a pending member of its parent: the parent completes and succeeds only
/// when the child does, and a child's death fires the parent's death too.
pub async fn a_parent_succeeds_when_its_children_do(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.batch_create(BatchCreateParams::new(info("p"), t0()).jobs(members("p", 1)))
        .await?;
    s.batch_create(
        BatchCreateParams::new(info("c1").parent("p"), t0())
            .jobs(members("c1", 1))
            .sealed(true),
    )
    .await?;
    s.batch_create(
        BatchCreateParams::new(info("c2").parent("p"), t0())
            .jobs(members("c2", 1))
            .sealed(true),
    )
    .await?;
    s.batch_seal("p", at(1)).await?;
    let st = status(&b, "p").await?;
    assert_eq!((st.total(), st.counts.pending), (3, 3));
    let mut children = st.children.clone();
    children.sort();
    assert_eq!(children, vec!["c1".to_owned(), "c2".to_owned()]);
    let got = reserve(&b, &[Q], 10, P1, at(2)).await?;
    assert_eq!(got.len(), 3);
    let of = |bid: &str| {
        got.iter()
            .find(|r| r.job.extra[BATCH_FIELD] == bid)
            .unwrap_or_else(|| panic!("a member of {bid}"))
    };
    finish(
        &b,
        of("p"),
        of("p").job.clone(),
        FinishOutcome::Completed,
        false,
        at(3),
    )
    .await?;
    finish(
        &b,
        of("c1"),
        of("c1").job.clone(),
        FinishOutcome::Completed,
        false,
        at(3),
    )
    .await?;
    assert_eq!(
        callbacks(&b, 4).await?,
        ev(&[("complete", "c1"), ("success", "c1")])
    );
    let m = of("c2");
    finish(
        &b,
        m,
        failed(m.job.clone(), "x", at(5)),
        FinishOutcome::Dead,
        true,
        at(5),
    )
    .await?;
    assert_eq!(
        callbacks(&b, 6).await?,
        ev(&[
            ("complete", "c2"),
            ("complete", "p"),
            ("death", "c2"),
            ("death", "p")
        ])
    );
    let st = status(&b, "p").await?;
    assert_eq!(
        (st.counts.pending, st.counts.succeeded, st.counts.dead),
        (0, 2, 1)
    );
    assert!(!st.is_finished());
    // The dead member is retried by an operator and succeeds: the child, then the parent,
    // succeed.
    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(dead.len(), 1);
    b.job_enqueue_now(JobActionParams::jids(
        JobSet::Dead,
        vec![dead[0].job.jid.clone()],
        at(7),
    ))
    .await?;
    let again = reserve(&b, &[Q], 10, P1, at(8)).await?;
    assert_eq!(again.len(), 1);
    finish(
        &b,
        &again[0],
        again[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(9),
    )
    .await?;
    assert_eq!(
        callbacks(&b, 10).await?,
        ev(&[("success", "c2"), ("success", "p")])
    );
    Ok(())
}

/// Batches are listed newest first, and a cleanup pass removes those past their retention
/// (and only those).
pub async fn listed_newest_first_and_expired_ones_cleaned_up(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let short = BatchInfo::new("b-short", "short", to_epoch(t0()), Duration::from_secs(60));
    s.batch_create(BatchCreateParams::new(short, t0())).await?;
    s.batch_create(BatchCreateParams::new(info("b-long"), at(1)))
        .await?;
    let all = s.batch_list(0, 10).await?;
    let bids: Vec<&str> = all.iter().map(|s| s.info.bid.as_str()).collect();
    assert_eq!(bids, vec!["b-long", "b-short"]);
    assert_eq!(s.batch_cleanup(at(59)).await?, 0);
    assert_eq!(s.batch_cleanup(at(61)).await?, 1);
    assert!(s.batch_status("b-short").await?.is_none());
    assert!(s.batch_status("b-long").await?.is_some());
    Ok(())
}

/// A member buried by the rescue (its processes kept dying while it ran) dies in its batch
/// in that same step: `death` fires, and the batch completes instead of staying stuck.
pub async fn a_member_buried_by_the_rescue_dies_in_its_batch(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.batch_create(
        BatchCreateParams::new(info("b-rs"), t0())
            .jobs(members("b-rs", 1))
            .sealed(true),
    )
    .await?;
    let got = reserve(&b, &[Q], 10, P1, at(1)).await?;
    assert_eq!(got.len(), 1);
    let later = at(1) + chrono::Duration::seconds(3600);
    let rescued = b
        .lease_rescue(jobs::backend::RescueParams::new(later).max_rescues(1))
        .await?;
    assert_eq!(rescued, 1);
    assert_eq!(list(&b, JobSet::Dead).await?.len(), 1, "buried");
    assert_eq!(
        callbacks(&b, 3602).await?,
        ev(&[("complete", "b-rs"), ("death", "b-rs")])
    );
    let st = status(&b, "b-rs").await?;
    assert_eq!((st.counts.pending, st.counts.dead), (0, 1));
    Ok(())
}
