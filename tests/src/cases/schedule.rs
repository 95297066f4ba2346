//! Recurring jobs: the backend's [`ScheduleStore`], reached through
//! `AdminBackend::schedules()`. A backend whose `schedules()` is `None` skips these cases.
//!
//! 1. A tick is claimed once, however many callers race for it, and the claim pushes the job.
//! 2. Declaring creates a record or refreshes it, keeping its state; `next_run` only rises.
//! 3. The enabled flag persists through re-declaring; run-now enqueues once.

use std::sync::Arc;

use jobs::backend::JobSet;
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleStore};
use tokio::sync::Barrier;

use crate::support::*;
use crate::{CaseError, CaseResult};
use jobs::backend::{
    AdvanceParams, EnableParams, RunNowParams, ScheduleGetParams, ScheduleRemoveParams,
};

fn store(b: &Subject) -> Result<&dyn ScheduleStore, CaseError> {
    b.schedules().ok_or_else(|| {
        CaseError::Skip(format!(
            "the {} backend keeps no schedule state (AdminBackend::schedules is None)",
            b.name()
        ))
    })
}

fn declare(name: &str, queue: &str, next: i64) -> DeclareParams {
    let mut job = job(queue, 7);
    job.extra.insert("schedule".into(), name.into());
    DeclareParams::new(name.to_owned(), "every 60s".to_owned(), job, Some(at(next)))
}

/// Eight callers race to claim each of twenty ticks: each tick is claimed by exactly one,
/// and exactly one job per tick is pushed to the tail of its queue.
pub async fn claim_once_across_concurrent_claimers(b: Subject) -> CaseResult {
    store(&b)?
        .schedule_declare(declare("race", "ticks", 60))
        .await?;
    let racers = 8;
    let mut claimed_total = 0;
    for tick in 1..=20 {
        let barrier = Arc::new(Barrier::new(racers));
        let mut tasks = Vec::new();
        for _ in 0..racers {
            let (b, barrier) = (b.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                let job = job("ticks", tick);
                barrier.wait().await;
                let store = b
                    .schedules()
                    .ok_or_else(|| jobs::backend::BackendError::msg("no store"))?;
                store
                    .schedule_claim(ClaimParams::new(
                        "race",
                        at(tick * 60),
                        job,
                        at(tick * 60 + 1),
                    ))
                    .await
            }));
        }
        let mut winners = 0;
        for task in tasks {
            if task
                .await
                .map_err(|e| jobs::backend::BackendError::msg(e.to_string()))??
            {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "tick {tick} was claimed by {winners} callers");
        claimed_total += winners;
    }
    let queued = list(&b, JobSet::Queue("ticks".into())).await?;
    assert_eq!(queued.len(), claimed_total, "one job per claimed tick");
    let args: Vec<_> = queued.iter().map(|j| j.job.args.clone()).collect();
    let wanted: Vec<_> = (1..=20).map(|n| vec![serde_json::json!(n)]).collect();
    assert_eq!(args, wanted, "pushed to the tail in claim order");
    assert_eq!(
        queued[0].job.enqueued_at,
        Some(epoch(61)),
        "enqueued_at is the claim's now"
    );
    let record = store(&b)?
        .schedule_get(ScheduleGetParams::new("race"))
        .await?;
    assert_eq!(
        record.and_then(|r| r.last_run),
        Some(at(20 * 60)),
        "a claim raises last_run to its tick"
    );
    Ok(())
}

/// A declared record reads back as declared; declaring again refreshes description and job
/// but keeps enabled, last run and next run; `next_run` rises and never falls.
pub async fn state_round_trip(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let first = declare("nightly", "reports", 100);
    let created = s.schedule_declare(first.clone()).await?;
    assert_eq!(created.name, "nightly");
    assert_eq!(created.description, "every 60s");
    assert_eq!(created.job, first.job);
    assert!(created.enabled);
    assert_eq!(created.last_run, None);
    assert_eq!(created.next_run, Some(at(100)));
    assert_eq!(
        s.schedule_get(ScheduleGetParams::new("nightly")).await?,
        Some(created.clone())
    );
    assert_eq!(
        s.schedule_get(ScheduleGetParams::new("absent")).await?,
        None
    );

    s.schedule_advance(AdvanceParams::new("nightly", at(200)))
        .await?;
    s.schedule_advance(AdvanceParams::new("nightly", at(150)))
        .await?;
    s.schedule_claim(ClaimParams::new(
        "nightly",
        at(100),
        job("reports", 1),
        at(101),
    ))
    .await?;

    let mut again = declare("nightly", "reports", 999);
    again.description = "cron 0 3 * * * (Europe/Berlin)".into();
    let refreshed = s.schedule_declare(again.clone()).await?;
    assert_eq!(refreshed.description, "cron 0 3 * * * (Europe/Berlin)");
    assert_eq!(refreshed.job, again.job);
    assert_eq!(
        refreshed.next_run,
        Some(at(200)),
        "next_run kept, and never lowered"
    );
    assert_eq!(refreshed.last_run, Some(at(100)));

    s.schedule_declare(declare("another", "reports", 5)).await?;
    let names: Vec<_> = s
        .schedule_list()
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(
        names,
        vec!["another".to_owned(), "nightly".to_owned()],
        "listed by name"
    );
    assert!(
        s.schedule_remove(ScheduleRemoveParams::new("another"))
            .await?
    );
    assert!(
        !s.schedule_remove(ScheduleRemoveParams::new("another"))
            .await?
    );
    assert_eq!(s.schedule_list().await?.len(), 1);
    Ok(())
}

/// Disabling persists, also through a later declare (a restart); enabling restores it;
/// unknown names report `false`.
pub async fn enabled_flag_persists(b: Subject) -> CaseResult {
    let s = store(&b)?;
    s.schedule_declare(declare("flag", "q", 60)).await?;
    assert!(
        s.schedule_set_enabled(EnableParams::new("flag", false))
            .await?
    );
    let after_restart = s.schedule_declare(declare("flag", "q", 120)).await?;
    assert!(
        !after_restart.enabled,
        "a disabled schedule stays disabled when declared again"
    );
    assert_eq!(
        s.schedule_get(ScheduleGetParams::new("flag"))
            .await?
            .map(|r| r.enabled),
        Some(false)
    );
    assert!(
        s.schedule_set_enabled(EnableParams::new("flag", true))
            .await?
    );
    assert_eq!(
        s.schedule_get(ScheduleGetParams::new("flag"))
            .await?
            .map(|r| r.enabled),
        Some(true)
    );
    assert!(
        !s.schedule_set_enabled(EnableParams::new("nobody", false))
            .await?
    );
    assert_eq!(
        s.schedule_get(ScheduleGetParams::new("nobody")).await?,
        None,
        "no record made for an unknown name"
    );
    Ok(())
}

/// Run-now pushes one copy of the schedule's job (fresh jid, same class, args and queue),
/// even when disabled; an unknown schedule enqueues nothing.
pub async fn run_now_enqueues_once(b: Subject) -> CaseResult {
    let s = store(&b)?;
    let declared = declare("manual", "manual", 3600);
    s.schedule_declare(declared.clone()).await?;
    s.schedule_set_enabled(EnableParams::new("manual", false))
        .await?;
    let jid = s
        .schedule_run_now(RunNowParams::new("manual", at(10)))
        .await?;
    let Some(jid) = jid else {
        panic!("run-now of a declared schedule returned no job");
    };
    assert_ne!(jid, declared.job.jid, "a fresh jid");
    let queued = list(&b, JobSet::Queue("manual".into())).await?;
    assert_eq!(queued.len(), 1, "exactly one job");
    assert_eq!(queued[0].job.jid, jid);
    assert_eq!(queued[0].job.class, declared.job.class);
    assert_eq!(queued[0].job.args, declared.job.args);
    assert_eq!(
        s.schedule_run_now(RunNowParams::new("unknown", at(11)))
            .await?,
        None
    );
    assert_eq!(list(&b, JobSet::Queue("manual".into())).await?.len(), 1);
    Ok(())
}
