//! A rolling restart under a steady stream of jobs: worker A gets SIGTERM while it runs a
//! job and a replacement A' starts at once; A finishes what it runs and exits 0, B completes
//! jobs all through A's drain, and the history checker finds nothing lost and no job started
//! twice (a graceful drain causes no duplicate). What `docs/deploy.md` points at.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use jobs::envelope::JobEnvelope;
use jobs::Client;

use super::fleet::{push_recorded, WorkerProc, HISTORY_JOB, QUEUE};
use super::history::{now_ms, Event, History, HistoryLog};
use super::run::{Run, Target};
use super::scenarios::finish_clean;
use super::Settings;

/// How long the job A runs when it is told to stop: its drain lasts about that long, long
/// enough for B to complete jobs meanwhile (the steady stream's jobs hold 150 to 450 ms).
pub const DRAIN_HOLD_MS: u64 = 1500;

/// Where the long jobs' numbers start, apart from the enqueuer's.
const LONG_BASE: u64 = 1_000_000;

/// Process `pid`'s run of `jid` started (`Start`), if it did, and where.
fn started_in(history: &History, jid: &str) -> Option<u32> {
    history.events.iter().find_map(|e| match e {
        Event::Start { jid: j, pid, .. } if j == jid => Some(*pid),
        _ => None,
    })
}

/// Pushes long `HistoryJob`s one at a time until worker `pid` starts one; returns it. The
/// long ones B takes meanwhile just run.
async fn long_job_in(run: &Run, client: &Client, log: &HistoryLog, pid: u32, round: u32) -> String {
    for k in 0..40u64 {
        let i = LONG_BASE + u64::from(round) * 100 + k;
        let job = JobEnvelope::new(HISTORY_JOB, QUEUE, vec![i.into(), DRAIN_HOLD_MS.into()]);
        let jid = job.jid.clone();
        assert_eq!(
            push_recorded(client, log, vec![job]).await,
            0,
            "a long job is pushed"
        );
        run.wait_for("the long job starting", Duration::from_secs(60), |h| {
            started_in(h, &jid).is_some()
        })
        .await;
        if started_in(&run.history(), &jid) == Some(pid) {
            return jid;
        }
    }
    panic!("worker {pid} never took one of 40 long jobs");
}

/// Waits (up to 30 s) for `worker` to exit on its own; its status.
async fn exit_of(worker: &mut WorkerProc) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = worker.exited() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "worker {} did not exit within 30 s of SIGTERM",
            worker.pid()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Rolling restart, `rounds` times: A (running a long job) gets SIGTERM, A' starts while A
/// drains, A exits 0 having settled its job itself, and B settles jobs during the drain.
/// Ends with the common checks and no duplicate start allowed.
pub async fn rolling_restart(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("rolling_restart", target, s);
    let log = HistoryLog::open(run.history_path())
        .unwrap_or_else(|e| panic!("cannot open the history: {e}"));
    let client = Client::new(target.admin.clone());
    let b = run.worker().await;
    let mut a = run.worker().await;
    let enqueuer = run.enqueuer();
    for round in 0..s.rounds {
        let long = long_job_in(&run, &client, &log, a.pid(), round).await;
        let (at, pid) = (now_ms(), a.pid());
        a.signal("TERM");
        // The replacement starts while the old one drains, as a deploy does it.
        let replacement = run.worker().await;
        let status = exit_of(&mut a).await;
        assert!(
            status.success(),
            "worker {pid} exited {status} after SIGTERM"
        );
        let h = run.history();
        let exit_ms = h
            .events
            .iter()
            .find_map(|e| match e {
                Event::Exit { pid: p, at_ms } if *p == pid => Some(*at_ms),
                _ => None,
            })
            .unwrap_or_else(|| panic!("worker {pid} recorded no graceful exit"));
        let settled_by = |jid: &str| {
            h.events.iter().find_map(|e| match e {
                Event::Settled { jid: j, pid, .. } if j == jid => Some(*pid),
                _ => None,
            })
        };
        assert_eq!(
            settled_by(&long),
            Some(pid),
            "the draining worker finishes the job it runs"
        );
        let by_b_during_drain = h
            .events
            .iter()
            .filter(|e| {
                matches!(e, Event::Settled { pid: p, at_ms, .. }
                    if *p == b.pid() && *at_ms > at && *at_ms < exit_ms)
            })
            .count();
        assert!(
            by_b_during_drain > 0,
            "round {round}: B settled no job during A's drain ({at}..{exit_ms} ms)"
        );
        assert!(
            exit_ms - at >= DRAIN_HOLD_MS / 2,
            "round {round}: A's drain ({} ms) did not wait for its job",
            exit_ms - at
        );
        a = replacement;
    }
    run.wait_running(a.pid()).await;
    // Nothing was killed: every job starts once.
    finish_clean(&mut run, enqueuer, vec![a, b], 0).await;
}
