//! Admin side, processes and totals: heartbeats, signals, removal, stats, history, clear.

use chrono::NaiveDate;
use jobs::backend::{
    DayStats, FinishOutcome, HeartbeatParams, JobSet, ProcessRecord, ProcessSignal, RunningJob,
    Stats,
};
use jobs::backend::{
    ProcessRemoveParams, ProcessSignalParams, QueueListParams, QueuePauseParams, StatsHistoryParams,
};

use crate::support::*;
use crate::CaseResult;

fn january(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 1, day).expect("a January day")
}

/// `process_list` shows each beating process, by id, as its latest heartbeat described it
/// (info, beat time, quiet flag, running jobs).
pub async fn process_list_shows_heartbeats(b: Subject) -> CaseResult {
    let running = vec![RunningJob {
        job: enqueued(job("default", 1), at(1)),
        started_at: at(2),
    }];
    b.process_heartbeat(
        HeartbeatParams::new(info(P2), at(10))
            .running(running.clone())
            .quiet(true)
            .lease_ttl(LEASE_TTL),
    )
    .await?;
    beat(&b, P1, LEASE_TTL, at(5)).await?;

    let listed = b.process_list().await?;
    let p2 = ProcessRecord {
        info: info(P2),
        beat_at: at(10),
        quiet: true,
        running,
    };
    let p1 = ProcessRecord {
        info: info(P1),
        beat_at: at(5),
        quiet: false,
        running: vec![],
    };
    assert_eq!(
        listed,
        vec![p1, p2.clone()],
        "both processes, by id, as they described"
    );

    let mut changed = info(P1);
    changed.concurrency = 25;
    b.process_heartbeat(
        HeartbeatParams::new(changed.clone(), at(20))
            .running(vec![])
            .quiet(true)
            .lease_ttl(LEASE_TTL),
    )
    .await?;
    let listed = b.process_list().await?;
    let p1 = ProcessRecord {
        info: changed,
        beat_at: at(20),
        quiet: true,
        running: vec![],
    };
    assert_eq!(
        listed,
        vec![p1, p2],
        "a later beat replaces the record, not adds one"
    );
    Ok(())
}

/// Signals left for a process come with its next heartbeat, in order, exactly once, and
/// only to that process.
pub async fn process_signal_delivered_once(b: Subject) -> CaseResult {
    beat(&b, P1, LEASE_TTL, at(0)).await?;
    beat(&b, P2, LEASE_TTL, at(0)).await?;
    b.process_signal(ProcessSignalParams::new(
        P1.to_owned().to_owned(),
        ProcessSignal::Quiet,
    ))
    .await?;
    b.process_signal(ProcessSignalParams::new(
        P1.to_owned().to_owned(),
        ProcessSignal::Stop,
    ))
    .await?;

    let other = beat(&b, P2, LEASE_TTL, at(5)).await?;
    assert!(other.signals.is_empty(), "another process got {other:?}");
    let reply = beat(&b, P1, LEASE_TTL, at(5)).await?;
    assert_eq!(
        reply.signals,
        vec![ProcessSignal::Quiet, ProcessSignal::Stop],
        "in order"
    );
    let again = beat(&b, P1, LEASE_TTL, at(10)).await?;
    assert!(
        again.signals.is_empty(),
        "signals are delivered once, got {again:?}"
    );
    Ok(())
}

/// A signal for a process that never beat is an error, and is not kept for a process that
/// later takes that id.
pub async fn process_signal_unknown_process_errors(b: Subject) -> CaseResult {
    let ghost = "conformance-host:999:ghost".to_owned();
    let sent = b
        .process_signal(ProcessSignalParams::new(ghost.clone(), ProcessSignal::Stop))
        .await;
    assert!(sent.is_err(), "signalling an unknown process succeeded");
    let reply = beat(&b, &ghost, LEASE_TTL, at(0)).await?;
    assert!(
        reply.signals.is_empty(),
        "the refused signal was kept: {reply:?}"
    );
    Ok(())
}

/// `process_remove` drops the record of a process (others stay); it can no longer be
/// signalled.
pub async fn process_remove_drops_record(b: Subject) -> CaseResult {
    beat(&b, P1, LEASE_TTL, at(0)).await?;
    beat(&b, P2, LEASE_TTL, at(0)).await?;
    b.process_remove(ProcessRemoveParams::new(P1.to_owned().to_owned()))
        .await?;

    let ids: Vec<_> = b
        .process_list()
        .await?
        .into_iter()
        .map(|p| p.info.id)
        .collect();
    assert_eq!(ids, vec![P2.to_owned()], "only the other process is left");
    let sent = b
        .process_signal(ProcessSignalParams::new(
            P1.to_owned().to_owned(),
            ProcessSignal::Quiet,
        ))
        .await;
    assert!(sent.is_err(), "a removed process could still be signalled");
    Ok(())
}

/// `lease_rescue` drops the records of processes whose last beat is older than their
/// `lease_ttl`, and keeps those that beat since.
pub async fn rescue_drops_silent_processes(b: Subject) -> CaseResult {
    beat(&b, P1, LEASE_TTL, at(0)).await?;
    beat(&b, P2, LEASE_TTL, at(30)).await?;
    rescue(&b, at(59)).await?;
    assert_eq!(
        b.process_list().await?.len(),
        2,
        "both beat within their ttl"
    );

    rescue(&b, at(60)).await?;
    let ids: Vec<_> = b
        .process_list()
        .await?
        .into_iter()
        .map(|p| p.info.id)
        .collect();
    assert_eq!(ids, vec![P2.to_owned()], "the silent process is dropped");
    Ok(())
}

/// `stats` counts the jobs in queues and in each set alongside the counters.
pub async fn stats_counts_every_set(b: Subject) -> CaseResult {
    park(
        &b,
        job("x", 1),
        FinishOutcome::Retry { at: at(100) },
        "boom",
        at(0),
    )
    .await?;
    park(&b, job("x", 2), FinishOutcome::Dead, "boom", at(0)).await?;
    park(&b, job("x", 3), FinishOutcome::Dead, "boom", at(0)).await?;
    push(&b, vec![job("a", 1), job("a", 2), job("b", 1)], at(1)).await?;
    let timed = (0..2).map(|n| scheduled(job("a", 10 + n), at(500)));
    push(&b, timed.collect(), at(1)).await?;

    let expected = Stats {
        processed: 3,
        failed: 3,
        dead_trimmed: 0,
        expired: 0,
        enqueued: 3,
        scheduled: 2,
        retries: 1,
        dead: 2,
    };
    assert_eq!(b.stats().await?, expected);
    Ok(())
}

/// `stats_history(today, days)` gives `days` days ending today, oldest first, with zeros for
/// days without counts.
pub async fn stats_history_oldest_first_with_zero_days(b: Subject) -> CaseResult {
    const DAY: i64 = 24 * 3600;
    park(&b, job("h", 1), FinishOutcome::Dead, "boom", at(10)).await?;
    for (n, day) in (2..).zip([2, 2]) {
        push(&b, vec![job("h", n)], at(day * DAY)).await?;
        let r = reserve(&b, &["h"], 1, P1, at(day * DAY)).await?;
        finish(
            &b,
            &r[0],
            r[0].job.clone(),
            FinishOutcome::Completed,
            false,
            at(day * DAY + n),
        )
        .await?;
    }

    let history = b
        .stats_history(StatsHistoryParams::new(january(4), 5))
        .await?;
    let day = |date, processed, failed| DayStats {
        date,
        processed,
        failed,
    };
    let expected = vec![
        day(NaiveDate::from_ymd_opt(2029, 12, 31).expect("a day"), 0, 0),
        day(january(1), 1, 1),
        day(january(2), 0, 0),
        day(january(3), 2, 0),
        day(january(4), 0, 0),
    ];
    assert_eq!(
        history, expected,
        "five days, oldest first, zeros where nothing happened"
    );
    let one = b
        .stats_history(StatsHistoryParams::new(january(3), 1))
        .await?;
    assert_eq!(one, vec![day(january(3), 2, 0)], "one day is just today");
    Ok(())
}

/// `clear_all` removes jobs, sets, paused flags, processes, counters and leases.
pub async fn clear_all_removes_everything(b: Subject) -> CaseResult {
    park(
        &b,
        job("c", 1),
        FinishOutcome::Retry { at: at(100) },
        "boom",
        at(0),
    )
    .await?;
    park(&b, job("c", 2), FinishOutcome::Dead, "boom", at(0)).await?;
    push(
        &b,
        vec![job("c", 3), job("c", 4), scheduled(job("c", 5), at(50))],
        at(1),
    )
    .await?;
    let held = reserve(&b, &["c"], 1, P1, at(2)).await?;
    b.queue_pause(QueuePauseParams::new("paused", true)).await?;
    beat(&b, P1, LEASE_TTL, at(2)).await?;

    b.clear_all().await?;
    assert_eq!(
        b.queue_list(QueueListParams::new(at(3))).await?,
        vec![],
        "no queue is left"
    );
    for set in [
        JobSet::Queue("c".into()),
        JobSet::Scheduled,
        JobSet::Retry,
        JobSet::Dead,
    ] {
        assert_eq!(list(&b, set.clone()).await?, vec![], "{set:?} is empty");
    }
    assert_eq!(b.process_list().await?, vec![], "no process is left");
    assert_eq!(b.stats().await?, Stats::default(), "every counter is zero");
    let history = b
        .stats_history(StatsHistoryParams::new(january(1), 1))
        .await?;
    assert_eq!(
        history,
        vec![DayStats {
            date: january(1),
            processed: 0,
            failed: 0
        }]
    );
    let report = finish(
        &b,
        &held[0],
        held[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(4),
    )
    .await?;
    assert_eq!(
        report.lost,
        vec![0],
        "a lease from before the clear is gone"
    );
    assert_eq!(b.stats().await?.processed, 0, "and was not counted");
    Ok(())
}
