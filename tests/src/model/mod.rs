//! Model-based property tests: random sequences of backend operations, checked after every
//! step against a reference model kept in memory.
//!
//! 1. [`Op`] is one step: push (now or later), reserve, finish with each outcome, requeue, a
//!    crash of every process (their leases expire and are rescued), promotion after time
//!    passes, a heartbeat, and a finish on a lease that was already rescued.
//! 2. [`Model`] (`state.rs`) is what must hold: where each job is, queue order, who holds
//!    which lease, how often each job was rescued.
//! 3. [`run`] applies a sequence to a fresh backend and to the model, and after each step
//!    compares every queue (in order; where the contract leaves an order to the backend,
//!    jobs promoted together or rescued from different processes, the model checks the
//!    listing's order against the rules and then follows it), the scheduled, retry and dead sets (as sets): every
//!    pushed jid is in exactly one place or finished, nothing appears that was not pushed, no
//!    job is lost, and a stale lease never settles.
//! 4. [`model_suite!`](crate::model_suite) runs it under proptest for one backend:
//!    `JOBS_MODEL_CASES` cases (default 200; a local setting runs many more).

mod state;

use std::collections::BTreeSet;

use jobs::backend::{
    FinishOutcome, JobSet, QueueListParams, RequeueParams, RescueParams, Reserved,
};
use proptest::prelude::*;

use crate::support::*;
use crate::CaseError;
pub use state::{Model, Place};

/// The queues the model uses; reserves ask for them in this order.
pub const QUEUES: [&str; 2] = ["model_a", "model_b"];
/// Processes that reserve.
pub const PROCESSES: [&str; 2] = [P1, P2];
/// How many rescues bury a job.
pub const MAX_RESCUES: u32 = 3;

/// How a finish ends a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Completed: removed.
    Complete,
    /// To the retry set, due after this many seconds.
    Retry(u8),
    /// To the scheduled set, due after this many seconds.
    Snooze(u8),
    /// To the dead set.
    Dead,
    /// Removed, kept nowhere.
    Discard,
}

/// One step of a sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// Push a job to a queue, or to the scheduled set when `delay` is set.
    Push { queue: u8, delay: Option<u8> },
    /// Reserve up to `limit` jobs for a process.
    Reserve { process: u8, limit: u8 },
    /// Finish one held lease (picked by index among those held).
    Finish { pick: u8, end: End },
    /// Give one held lease back to the head of its queue.
    Requeue { pick: u8 },
    /// Every process stops beating: time passes beyond every lease, and a rescue returns
    /// (or, at the last rescue, buries) every leased job.
    Crash,
    /// Time passes by `secs`, then due jobs are promoted.
    Promote { secs: u8 },
    /// A process beats, extending its leases.
    Beat { process: u8 },
    /// A finish on a lease rescued earlier: it must be refused, changing nothing.
    Stale { pick: u8 },
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        4 => Just(End::Complete),
        1 => (1u8..30).prop_map(End::Retry),
        1 => (1u8..30).prop_map(End::Snooze),
        1 => Just(End::Dead),
        1 => Just(End::Discard),
    ]
}

/// Any step, weighted so that sequences push, reserve and finish most.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..2, proptest::option::weighted(0.2, 1u8..20))
            .prop_map(|(queue, delay)| Op::Push { queue, delay }),
        4 => (0u8..2, 1u8..4).prop_map(|(process, limit)| Op::Reserve { process, limit }),
        4 => (any::<u8>(), end()).prop_map(|(pick, end)| Op::Finish { pick, end }),
        1 => any::<u8>().prop_map(|pick| Op::Requeue { pick }),
        1 => Just(Op::Crash),
        2 => (1u8..40).prop_map(|secs| Op::Promote { secs }),
        1 => (0u8..2).prop_map(|process| Op::Beat { process }),
        1 => any::<u8>().prop_map(|pick| Op::Stale { pick }),
    ]
}

/// A lease the test holds, as the backend handed it out.
struct Held {
    reserved: Reserved,
    process: usize,
}

/// Applies `ops` to a fresh backend `b` and the model, checking after each step.
pub async fn run(b: Subject, ops: Vec<Op>) -> Result<(), CaseError> {
    let mut model = Model::default();
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
        }
        check(&b, &model, step).await?;
    }
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

/// Runs the model test for one backend: `model_suite!(name, async factory expression)`.
///
/// The factory is an async block giving a fresh `Result<Subject, CaseError>`.
#[macro_export]
macro_rules! model_suite {
    ($backend:ident, $factory:expr $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            use $crate::model::proptest::prelude::*;

            fn cases() -> u32 {
                std::env::var("JOBS_MODEL_CASES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(200)
            }

            proptest! {
                #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
                #[test]
                fn sequences_match_the_model(ops in proptest::collection::vec($crate::model::op(), 1..40)) {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        match $factory.await {
                            Ok(subject) => match $crate::model::run(subject, ops).await {
                                Ok(()) => {}
                                Err($crate::CaseError::Skip(reason)) => eprintln!("SKIPPED {}: {reason}", stringify!($backend)),
                                Err($crate::CaseError::Backend(e)) => panic!("a backend call failed: {e}"),
                            },
                            Err($crate::CaseError::Skip(reason)) => eprintln!("SKIPPED {}: {reason}", stringify!($backend)),
                            Err($crate::CaseError::Backend(e)) => panic!("setup failed: {e}"),
                        }
                    });
                }
            }
        }
    };
}

#[doc(hidden)]
pub use proptest;
