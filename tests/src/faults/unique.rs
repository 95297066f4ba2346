//! Unique locks under SIGKILL, with real worker processes: a lock is held through the
//! rescue of its killed job (a second enqueue is a duplicate), and once every job has
//! succeeded no lock is left (a new enqueue of every key is stored).

use std::time::Duration;

use jobs::backend::{PushConflict, PushParams, UniqueListParams};
use jobs::envelope::flow::{UniqueLock, UniqueUntil};
use jobs::envelope::{to_epoch, JobEnvelope};
use jobs::Client;

use super::fleet::{push_recorded, HISTORY_JOB, QUEUE};
use super::history::{now_ms, HistoryLog};
use super::run::{Run, Target};
use super::Settings;

/// `HistoryJob(i, hold)` unique by `i` until it succeeds, for ten minutes at most.
fn unique_job(i: u64) -> JobEnvelope {
    let hold = 150 + (i * 53) % 250;
    let mut job = JobEnvelope::new(HISTORY_JOB, QUEUE, vec![i.into(), hold.into()]);
    let lapse = to_epoch(chrono::Utc::now()) + 600.0;
    let key = format!("faults-unique-{i}");
    job.set_unique(Some(UniqueLock::new(
        HISTORY_JOB,
        None,
        &[key.into()],
        UniqueUntil::Success,
        lapse,
    )));
    job
}

/// A second job with `job`'s lock (a new jid, the same key).
fn duplicate_of(job: &JobEnvelope) -> JobEnvelope {
    let mut twin = JobEnvelope::new(HISTORY_JOB, QUEUE, job.args.clone());
    twin.set_unique(job.unique());
    twin
}

/// Two workers run unique jobs; `rounds` times the one running jobs is SIGKILLed and, while
/// its jobs wait for their lease to lapse, an enqueue of each of them is refused as a
/// duplicate naming it. After the run every job completed once, no lock is held, and each
/// key takes a new job.
pub async fn unique_locks(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("unique_locks", target, s);
    let mut a = run.worker().await;
    let b = run.worker().await;
    let log = HistoryLog::open(run.history_path())
        .unwrap_or_else(|e| panic!("cannot open the history: {e}"));
    let client = Client::new(target.admin.clone());
    // A batch per round, so the replaced worker has jobs to be caught running.
    const BATCH: u64 = 24;
    let mut jobs: Vec<JobEnvelope> = Vec::new();
    let mut checked = 0;
    for round in 0..u64::from(s.rounds) {
        let batch: Vec<JobEnvelope> = (round * BATCH..(round + 1) * BATCH)
            .map(unique_job)
            .collect();
        jobs.extend(batch.iter().cloned());
        let failed = push_recorded(&client, &log, batch).await;
        assert_eq!(failed, 0, "every enqueue succeeds");
        let caught = run.wait_running(a.pid()).await;
        let (at, pid) = (now_ms(), a.pid());
        a.kill().await;
        run.injected(at, vec![pid], 1);
        for jid in &caught {
            let Some(job) = jobs.iter().find(|j| &j.jid == jid) else {
                continue;
            };
            let push = PushParams::new(vec![duplicate_of(job)], chrono::Utc::now())
                .on_conflict(PushConflict::Skip);
            let report = target
                .admin
                .job_push(push)
                .await
                .unwrap_or_else(|e| panic!("push failed: {e}"));
            assert_eq!(
                report.duplicates,
                vec![(0, jid.clone())],
                "{}: the killed worker's job {jid} keeps its lock until it ends",
                target.backend
            );
            checked += 1;
        }
        run.wait_for(
            "the killed worker's jobs running again",
            Duration::from_secs(60),
            |h| caught.iter().all(|j| h.moved_on(j, pid, at)),
        )
        .await;
        a = run.worker().await;
    }
    run.enqueues = (jobs.len() as u64, 0);
    assert!(checked > 0, "a killed worker was running a unique job");
    let quiet = run.quiesce(run.settings.quiesce_within).await;
    let verdict = run.end(vec![a, b]).await;
    let held = target
        .admin
        .unique_list(UniqueListParams::new(chrono::Utc::now()))
        .await
        .unwrap_or_else(|e| panic!("listing locks failed: {e}"));
    assert!(
        held.is_empty(),
        "{}: locks left after every job succeeded: {held:?}",
        target.backend
    );
    let bound = s.duplicate_bound(run.injected, 1);
    run.assert_clean(&verdict, bound);
    assert!(quiet, "{}: not every job ended", run.name);
    let again: Vec<JobEnvelope> = jobs.iter().map(duplicate_of).collect();
    let report = target
        .admin
        .job_push(PushParams::new(again, chrono::Utc::now()))
        .await
        .unwrap_or_else(|e| panic!("push failed: {e}"));
    assert!(
        report.duplicates.is_empty(),
        "{}: every key takes a new job once its holder succeeded: {:?}",
        target.backend,
        report.duplicates
    );
}
