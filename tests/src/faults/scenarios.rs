//! The faults done to worker processes, for every backend: SIGKILL, SIGSTOP past the
//! lease then SIGCONT, a clock running 90 s ahead, and a job that aborts its process under
//! a supervisor that restarts it.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use jobs::envelope::{JobEnvelope, KILLED_PROCESS_ERROR};
use jobs::Client;

use super::check::dead_set;
use super::fleet::{history_job, push_recorded, WorkerProc, ABORT_JOB, QUEUE};
use super::history::{now_ms, Event, HistoryLog};
use super::run::{Run, Target};
use super::Settings;

/// Waits at least `min`, then until `done` holds or `max` has passed since the start;
/// returns whether `done` held. For faults whose length is the point (a process stopped past
/// its lease), with an event that usually ends them sooner.
pub async fn hold(run: &Run, min: Duration, max: Duration, done: impl Fn(&Run) -> bool) -> bool {
    let started = Instant::now();
    loop {
        let elapsed = started.elapsed();
        if elapsed >= min && done(run) {
            return true;
        }
        if elapsed >= max {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether every job of `jobs` that process `pid` was running has started elsewhere or
/// been settled since `since_ms`.
pub fn all_moved_on(run: &Run, jobs: &[String], pid: u32, since_ms: u64) -> bool {
    let history = run.history();
    jobs.iter().all(|j| history.moved_on(j, pid, since_ms))
}

/// The jobs process `pid` is running now, by the history.
fn running_in(run: &Run, pid: u32) -> Vec<String> {
    run.history()
        .running_in(pid)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Holds a fault that hit process `pid` at `at_ms` past 1.5 × the lease, and until every
/// job the process was running when it began has started elsewhere or been settled (5 × the
/// lease at most).
pub async fn hold_past_the_lease(run: &Run, pid: u32, at_ms: u64) {
    let caught = running_in(run, pid);
    let lease = run.settings.lease_ttl;
    hold(run, lease * 3 / 2, lease * 5, |run| {
        all_moved_on(run, &caught, pid, at_ms)
    })
    .await;
}

/// Ends a run of `HistoryJob`s: stops the enqueuer, waits for quiescence, stops the
/// workers, checks, prints the line and asserts the common checks with `bound`.
pub async fn finish_clean(
    run: &mut Run,
    enqueuer: super::fleet::Enqueuer,
    workers: Vec<WorkerProc>,
    bound: u64,
) {
    run.enqueues = enqueuer.stop().await;
    let quiet = run.quiesce(run.settings.quiesce_within).await;
    let verdict = run.end(workers).await;
    run.assert_clean(&verdict, bound);
    assert!(quiet, "{}: not every job ended", run.name);
}

/// SIGKILL of a worker running jobs, `rounds` times; the killed one is replaced each time.
/// Its jobs run again elsewhere once its lease expires.
pub async fn sigkill(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("sigkill", target, s);
    let b = run.worker().await;
    let mut a = run.worker().await;
    let enqueuer = run.enqueuer();
    for _ in 0..s.rounds {
        run.wait_running(a.pid()).await;
        let (at, pid) = (now_ms(), a.pid());
        a.kill().await;
        run.injected(at, vec![pid], 1);
        let caught = running_in(&run, pid);
        run.wait_for(
            "the killed worker's jobs running again",
            Duration::from_secs(60),
            |h| caught.iter().all(|j| h.moved_on(j, pid, at)),
        )
        .await;
        a = run.worker().await;
    }
    let bound = s.duplicate_bound(run.injected, 1);
    finish_clean(&mut run, enqueuer, vec![a, b], bound).await;
}

/// SIGSTOP of a worker running jobs until its lease has expired and another worker runs
/// its jobs, then SIGCONT: its late settles of those jobs must be refused (fencing).
pub async fn sigstop(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("sigstop", target, s);
    let b = run.worker().await;
    let a = run.worker().await;
    let enqueuer = run.enqueuer();
    for _ in 0..s.rounds {
        run.wait_running(a.pid()).await;
        let (at, pid) = (now_ms(), a.pid());
        a.signal("STOP");
        // On SQLite a process stopped inside a write would hold the lock: then the jobs
        // cannot move on, and the stop lasts 5 × the lease.
        hold_past_the_lease(&run, pid, at).await;
        a.signal("CONT");
        run.injected(at, vec![pid], 1);
    }
    let bound = s.duplicate_bound(run.injected, 1);
    finish_clean(&mut run, enqueuer, vec![a, b], bound).await;
}

/// One worker's clock runs 90 s ahead while another's is right, both working the same
/// queue for `rounds` × 3 s worth of jobs. Leases are set and judged in the store's clock
/// (`LeaseClock::Store`), so the fast worker takes none of the other's running jobs for
/// abandoned: not one duplicate start, and no job may die of it. (Judged by each process's
/// own clock, the fast one rescued the other's leases a minute and a half early.)
pub async fn clock_skew(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("clock_skew", target, s);
    let b = run.worker().await;
    let skewed = WorkerProc::start(&run.spec.with_clock_offset_ms(90_000)).await;
    run.injected += 1;
    let enqueuer = run.enqueuer();
    let want = 60 * u64::from(s.rounds);
    run.wait_for(
        &format!("{want} jobs enqueued"),
        Duration::from_secs(120),
        |h| h.enqueued().len() as u64 >= want,
    )
    .await;
    // The skew must cost nothing: no duplicate start at all.
    finish_clean(&mut run, enqueuer, vec![skewed, b], 0).await;
}

/// A job that aborts the process running it, among innocent jobs, under a supervisor
/// that restarts every worker that dies: after [`jobs::backend::DEFAULT_MAX_RESCUES`]
/// rescues it is in the dead set as `jobs::ProcessKilled`, and every innocent job
/// completed (none dead).
pub async fn process_killing_job(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("process_killing_job", target, s);
    let log = HistoryLog::open(run.history_path())
        .unwrap_or_else(|e| panic!("cannot open the history: {e}"));
    let half = s.innocents / 2;
    let killer = JobEnvelope::new(ABORT_JOB, QUEUE, vec![]);
    let killer_jid = killer.jid.clone();
    let mut jobs: Vec<JobEnvelope> = (0..half).map(history_job).collect();
    jobs.push(killer);
    jobs.extend((half..s.innocents).map(history_job));
    let client = Client::new(target.admin.clone());
    let failed = push_recorded(&client, &log, jobs).await;
    assert_eq!(failed, 0, "every enqueue succeeds");

    let mut workers = vec![run.worker().await, run.worker().await];
    let mut deaths = 0u32;
    let max = jobs::backend::DEFAULT_MAX_RESCUES;
    let deadline = Instant::now() + s.lease_ttl * (max + 1) * 4 + Duration::from_secs(20);
    let grace = s.lease_ttl * 2 + s.poll * 2;
    let ended = loop {
        for w in workers.iter_mut() {
            if let Some(status) = w.exited() {
                let pid = w.pid();
                assert_eq!(
                    status.signal(),
                    Some(6),
                    "worker {pid} died by SIGABRT, not {status}"
                );
                deaths += 1;
                run.injected(now_ms(), vec![pid], 1);
                *w = run.worker().await;
            }
        }
        let history = run.history();
        let dead = dead_set(target.admin.as_ref())
            .await
            .map(|d| d.into_keys().collect())
            .unwrap_or_default();
        let left = super::check::unsettled(&history, &dead, now_ms(), grace);
        if left.is_empty() {
            break true;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "process_killing_job on {}: after {deaths} deaths, not ended: {left:?}",
                target.backend
            );
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let verdict = run.end(workers).await;
    let what = format!(
        "process_killing_job on {} (history: {})",
        target.backend,
        run.history_path().display()
    );
    assert!(
        ended,
        "{what}: the killer and its neighbours did not all end; {deaths} processes died"
    );
    assert_eq!(
        verdict.dead.get(&killer_jid),
        Some(&Some(KILLED_PROCESS_ERROR.to_owned())),
        "{what}: the process-killing job is dead as {KILLED_PROCESS_ERROR}"
    );
    assert_eq!(
        verdict.dead.len(),
        1,
        "{what}: only the killer is dead: {:?}",
        verdict.dead
    );
    assert_eq!(
        deaths, max,
        "{what}: it killed {max} processes, one per run"
    );
    assert!(verdict.lost.is_empty(), "{what}: lost {:?}", verdict.lost);
    assert!(
        verdict.terminal_twice.is_empty(),
        "{what}: ended twice {:?}",
        verdict.terminal_twice
    );
    assert_eq!(verdict.waiting, 0, "{what}: jobs left waiting");
    assert_eq!(run.stranded, 0, "{what}: jobs left leased");
    assert_eq!(
        verdict.completed + verdict.unconfirmed,
        verdict.enqueued - 1,
        "{what}: every innocent job completed"
    );
    let bound = s.duplicate_bound(u64::from(deaths), 1);
    assert!(
        verdict.duplicates <= bound,
        "{what}: {} duplicate starts, more than {bound}",
        verdict.duplicates
    );
    let runs = run
        .history()
        .events
        .iter()
        .filter(|e| matches!(e, Event::Start { jid, .. } if *jid == killer_jid))
        .count();
    assert_eq!(runs, max as usize, "{what}: the killer ran once per death");
    run.discard_history();
}
