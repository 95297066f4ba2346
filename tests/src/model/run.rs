//! One case of the model test: a sequence of steps applied to the backend and to the
//! [`Model`], compared after each step.

use std::collections::BTreeSet;

use jobs::backend::{
    FinishOutcome, JobSet, QueueListParams, RequeueParams, RescueParams, Reserved,
};

use super::tick::{self, Ticker, PERIOD};
use super::{End, Model, ModelStore, Op, Place, MAX_RESCUES, PROCESSES, QUEUES};
use crate::support::*;
use crate::CaseError;

/// A lease the test holds, as the backend handed it out.
struct Held {
    reserved: Reserved,
    process: usize,
}

/// Applies `ops` to `b`, a backend on an empty store of `store`, and to the model, checking
/// after each step.
pub async fn run(
    store: &mut dyn ModelStore,
    mut b: Subject,
    ops: Vec<Op>,
) -> Result<(), CaseError> {
    let mut model = Model::default();
    let mut ticker: Option<Ticker> = None;
    let mut held: Vec<Held> = Vec::new();
    let mut stale: Vec<Reserved> = Vec::new();
    let mut now: i64 = 0;
    let mut n = 0i64;
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Push { queue, delay } => {
                n += 1;
                let q = QUEUES[usize::from(queue % 2)];
                let mut j = job(q, n);
                match delay {
                    Some(d) => {
                        let due = now + i64::from(d);
                        j = scheduled(j, at(due));
                        model.push_scheduled(&j.jid, q, due);
                    }
                    None => model.push_queue(&j.jid, q),
                }
                push(&b, vec![j], at(now)).await?;
            }
            Op::Reserve { process, limit } => {
                let p = usize::from(process % 2);
                let got = reserve(&b, &QUEUES, usize::from(limit), PROCESSES[p], at(now)).await?;
                let expected = model.reserve(&QUEUES, usize::from(limit), p);
                assert_eq!(
                    reserved_jids(&got),
                    expected
                        .iter()
                        .map(|(jid, _)| jid.clone())
                        .collect::<Vec<_>>(),
                    "step {step}: reserve hands out the heads of the queues in order"
                );
                for (r, (_, rescues)) in got.iter().zip(&expected) {
                    assert_eq!(
                        r.rescues, *rescues,
                        "step {step}: rescue count of {}",
                        r.job.jid
                    );
                }
                held.extend(got.into_iter().map(|reserved| Held {
                    reserved,
                    process: p,
                }));
            }
            Op::Finish { pick, end } => {
                if held.is_empty() {
                    continue;
                }
                let h = held.remove(usize::from(pick) % held.len());
                let (outcome, place) = match end {
                    End::Complete => (FinishOutcome::Completed, Place::Done),
                    End::Discard => (FinishOutcome::Discard, Place::Done),
                    End::Dead => (FinishOutcome::Dead, Place::Dead),
                    End::Retry(d) => {
                        let due = now + i64::from(d);
                        (FinishOutcome::Retry { at: at(due) }, Place::Retry(due))
                    }
                    End::Snooze(d) => {
                        let due = now + i64::from(d);
                        (FinishOutcome::Snooze { at: at(due) }, Place::Scheduled(due))
                    }
                };
                let failed = matches!(end, End::Retry(_) | End::Dead);
                let report = finish(
                    &b,
                    &h.reserved,
                    h.reserved.job.clone(),
                    outcome,
                    failed,
                    at(now),
                )
                .await?;
                assert!(
                    report.lost.is_empty(),
                    "step {step}: a held lease was refused"
                );
                model.settle(&h.reserved.job.jid, place);
            }
            Op::Requeue { pick } => {
                if held.is_empty() {
                    continue;
                }
                let h = held.remove(usize::from(pick) % held.len());
                b.job_requeue(RequeueParams::new(vec![h.reserved.token.clone()], at(now)))
                    .await?;
                model.requeue(&h.reserved.job.jid);
            }
            Op::Crash => {
                now += 61;
                let rescued = b
                    .lease_rescue(RescueParams::new(at(now)).max_rescues(MAX_RESCUES))
                    .await?;
                assert_eq!(
                    rescued as usize,
                    held.len(),
                    "step {step}: every lease rescued"
                );
                // Each process's jobs go back to the heads in the order it reserved them;
                // across processes the order is the backend's, so the model takes it from the
                // listing after checking it.
                let order: Vec<(String, usize)> = held
                    .iter()
                    .map(|h| (h.reserved.job.jid.clone(), h.process))
                    .collect();
                model.rescue(&order, MAX_RESCUES);
                for q in QUEUES {
                    let listed = stored_jids(&list(&b, JobSet::Queue(q.into())).await?);
                    model.order_rescued(q, &order, &listed);
                }
                stale.extend(held.drain(..).map(|h| h.reserved));
            }
            Op::Promote { secs } => {
                now += i64::from(secs);
                // Leases still held stay valid: their processes beat as time passes.
                for (p, process) in PROCESSES.iter().enumerate() {
                    if held.iter().any(|h| h.process == p) {
                        beat(&b, process, LEASE_TTL, at(now)).await?;
                    }
                }
                while promote(&b, at(now), 1000).await? > 0 {}
                let due = model.due(now);
                // Jobs due together may reach their queue in any order: take the backend's.
                for q in QUEUES {
                    let listed = stored_jids(&list(&b, JobSet::Queue(q.into())).await?);
                    model.promote_into(q, &due, &listed);
                }
            }
            Op::Beat { process } => {
                let p = usize::from(process % 2);
                beat(&b, PROCESSES[p], LEASE_TTL, at(now)).await?;
            }
            Op::Stale { pick } => {
                if stale.is_empty() {
                    continue;
                }
                let r = &stale[usize::from(pick) % stale.len()];
                let report = finish(
                    &b,
                    r,
                    r.job.clone(),
                    FinishOutcome::Completed,
                    false,
                    at(now),
                )
                .await?;
                assert_eq!(report.lost, vec![0], "step {step}: a rescued lease settled");
            }
            Op::Tick => {
                if ticker.is_none() {
                    ticker = Ticker::new(&b)?;
                }
                let Some(t) = &ticker else {
                    continue;
                };
                let claimed = t.tick(now).await?;
                let due = model.tick(now, PERIOD);
                let ticks: Vec<i64> = claimed.iter().map(|(tick, _)| *tick).collect();
                assert_eq!(
                    ticks, due,
                    "step {step}: the ticks claimed at {now}, each once"
                );
                for (_, jid) in claimed {
                    model.push_queue(&jid, QUEUES[0]);
                }
                check_schedule(&b, &model, step).await?;
            }
            Op::Restart { hard } => {
                // The schedulers are processes on the old backend: they go with it.
                ticker = None;
                b = store.restart(b, hard).await?;
                check_schedule(&b, &model, step).await?;
            }
        }
        check(&b, &model, step).await?;
    }
    Ok(())
}

/// Compares the recurring schedule's record with the model.
async fn check_schedule(b: &Subject, model: &Model, step: usize) -> Result<(), CaseError> {
    let Some(want) = model.schedule(PERIOD) else {
        return Ok(());
    };
    let record = tick::record(b)
        .await?
        .unwrap_or_else(|| panic!("step {step}: the schedule's record is gone"));
    let got = (
        record.last_run.map(|t| (t - t0()).num_seconds()),
        record.next_run.map(|t| (t - t0()).num_seconds()),
    );
    assert_eq!(
        got,
        (want.0, Some(want.1)),
        "step {step}: the schedule's (last run, next run)"
    );
    assert!(record.enabled, "step {step}: the schedule stays enabled");
    Ok(())
}

/// Compares every queue (in order) and set (as a set) with the model.
async fn check(b: &Subject, model: &Model, step: usize) -> Result<(), CaseError> {
    for q in QUEUES {
        let listed = stored_jids(&list(b, JobSet::Queue(q.into())).await?);
        assert_eq!(listed, model.queue(q), "step {step}: queue {q}");
    }
    for (set, place) in [
        (JobSet::Scheduled, "scheduled"),
        (JobSet::Retry, "retry"),
        (JobSet::Dead, "dead"),
    ] {
        let listed: BTreeSet<String> = stored_jids(&list(b, set).await?).into_iter().collect();
        assert_eq!(listed, model.set(place), "step {step}: {place} set");
    }
    let known = b.queue_list(QueueListParams::new(at(0))).await?;
    for q in known {
        assert!(
            QUEUES.contains(&q.name.as_str()),
            "step {step}: a queue nobody pushed to: {}",
            q.name
        );
    }
    Ok(())
}
