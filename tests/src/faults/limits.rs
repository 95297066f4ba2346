//! Limits under faults, with real worker processes: a concurrency limit of 1 holds across
//! three workers while they are SIGKILLed and SIGSTOPped past their lease (no two runs of
//! the key ever overlap, and every job completes), and a rate limit of 50 per second
//! spreads 1,000 jobs over three workers across 19 to 25 seconds with no second holding
//! more than 50 starts.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use jobs::envelope::limits::{ConcurrencyLimit, RateLimit};
use jobs::envelope::JobEnvelope;
use jobs::Client;

use super::check::Injection;
use super::fleet::{push_recorded, WorkerProc, HISTORY_JOB, QUEUE};
use super::history::{now_ms, Event, History, HistoryLog};
use super::run::{Run, Target};
use super::scenarios::{all_moved_on, hold};
use super::Settings;

/// The one key the concurrency run limits to 1.
const KEY: &str = "faults:one-at-a-time";

/// One run of a job, from its start until it returned or its process was hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// The job.
    pub jid: String,
    /// The process that ran it.
    pub pid: u32,
    /// When it started.
    pub start_ms: u64,
    /// When it returned, or when a fault stopped or killed its process (`u64::MAX` when
    /// neither: it never ended).
    pub end_ms: u64,
}

/// Every run in `history`: a start closed by its process's next end of that job; a run
/// with no end is closed by the first fault that hit its process after it started (a
/// SIGKILL, or a SIGSTOP after which the woken process dropped the job, as it must once its
/// lease may have lapsed). A run that returned after a SIGSTOP ran on when its process woke:
/// it spans the stop.
pub fn intervals(history: &History, injections: &[Injection]) -> Vec<Interval> {
    let mut out = Vec::new();
    for (i, e) in history.events.iter().enumerate() {
        let Event::Start {
            jid, pid, at_ms, ..
        } = e
        else {
            continue;
        };
        let ended = history.events[i + 1..]
            .iter()
            .find_map(|later| match later {
                Event::End {
                    jid: j,
                    pid: p,
                    at_ms,
                    ..
                } if j == jid && p == pid => Some(*at_ms),
                _ => None,
            });
        let hit = injections
            .iter()
            .filter(|inj| inj.pids.contains(pid) && inj.at_ms >= *at_ms)
            .map(|inj| inj.at_ms)
            .min();
        let end_ms = ended.or(hit).unwrap_or(u64::MAX);
        out.push(Interval {
            jid: jid.clone(),
            pid: *pid,
            start_ms: *at_ms,
            end_ms,
        });
    }
    out.sort_by_key(|i| i.start_ms);
    out
}

/// Pairs of runs that overlap in time (each run against every later one that starts
/// before it ends).
pub fn overlaps(runs: &[Interval]) -> Vec<(Interval, Interval)> {
    let mut found = Vec::new();
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            if b.start_ms >= a.end_ms {
                break;
            }
            found.push((a.clone(), b.clone()));
        }
    }
    found
}

/// `HistoryJob(i, hold)` limited to one at a time on [`KEY`].
fn limited_job(i: u64) -> JobEnvelope {
    let hold = 60 + (i * 37) % 120;
    let mut job = JobEnvelope::new(HISTORY_JOB, QUEUE, vec![i.into(), hold.into()]);
    job.set_concurrency(Some(ConcurrencyLimit::new(KEY, 1)));
    job
}

/// The jobs process `pid` runs now: started there after the last fault that hit it and not
/// ended. A run cut off by a fault (a stopped worker drops its job when it wakes, without
/// an end) is not running any more.
fn live_runs(run: &Run, history: &History, pid: u32) -> Vec<String> {
    let since = run
        .injections
        .iter()
        .filter(|inj| inj.pids.contains(&pid))
        .map(|inj| inj.at_ms)
        .max()
        .unwrap_or(0);
    let mut open: Vec<&str> = Vec::new();
    for e in &history.events {
        match e {
            Event::Start {
                jid, pid: p, at_ms, ..
            } if *p == pid && *at_ms >= since => open.push(jid),
            Event::End { jid, pid: p, .. } if *p == pid => open.retain(|j| j != jid),
            _ => {}
        }
    }
    open.into_iter().map(str::to_owned).collect()
}

/// Waits until one of `workers` runs a job; returns its index and the jobs it runs.
async fn busy_worker(run: &Run, workers: &[WorkerProc]) -> (usize, Vec<String>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let history = run.history();
        for (i, w) in workers.iter().enumerate() {
            let running = live_runs(run, &history, w.pid());
            if !running.is_empty() {
                return (i, running);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}: no worker ran a job within 60 s (history: {})",
            run.name,
            run.history_path().display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Three workers share one key limited to 1 while, `rounds` times, the worker running it
/// is SIGKILLed (and replaced) and then the next one is SIGSTOPped past its lease and
/// continued. Every run's interval is checked against every other: none may overlap.
pub async fn concurrency_limit(target: &Target) {
    let s = Settings::from_env();
    let long = std::env::var("JOBS_FAULTS_LONG").is_ok_and(|v| v == "1");
    let mut run = Run::new("concurrency_limit", target, s);
    let mut workers = vec![run.worker().await, run.worker().await, run.worker().await];
    let log = HistoryLog::open(run.history_path())
        .unwrap_or_else(|e| panic!("cannot open the history: {e}"));
    let client = Client::new(target.admin.clone());
    // A batch per round, so the jobs never all end before the round finds one running.
    let per_round: u64 = if long { 75 } else { 25 };
    let mut pushed = 0u64;
    for _ in 0..s.rounds {
        let batch = (pushed..pushed + per_round).map(limited_job).collect();
        let failed = push_recorded(&client, &log, batch).await;
        assert_eq!(failed, 0, "every enqueue succeeds");
        pushed += per_round;
        run.enqueues = (pushed, 0);
        let (i, caught) = busy_worker(&run, &workers).await;
        let victim = workers.remove(i);
        let (at, pid) = (now_ms(), victim.pid());
        victim.kill().await;
        run.injected(at, vec![pid], 1);
        run.wait_for(
            "the killed worker's job running again",
            Duration::from_secs(60),
            |h| caught.iter().all(|j| h.moved_on(j, pid, at)),
        )
        .await;
        workers.push(run.worker().await);

        let (i, caught) = busy_worker(&run, &workers).await;
        let (at, pid) = (now_ms(), workers[i].pid());
        workers[i].signal("STOP");
        hold(&run, s.lease_ttl * 3 / 2, s.lease_ttl * 5, |run| {
            all_moved_on(run, &caught, pid, at)
        })
        .await;
        workers[i].signal("CONT");
        run.injected(at, vec![pid], 1);
    }
    let quiet = run.quiesce(run.settings.quiesce_within).await;
    let verdict = run.end(workers).await;
    let runs = intervals(&run.history(), &run.injections);
    let overlapping = overlaps(&runs);
    assert!(
        overlapping.is_empty(),
        "{} on {}: runs of a key limited to 1 overlapped: {:?} (history: {})",
        run.name,
        target.backend,
        overlapping.iter().take(5).collect::<Vec<_>>(),
        run.history_path().display()
    );
    assert_eq!(
        runs.iter().filter(|r| r.end_ms == u64::MAX).count(),
        0,
        "every run ended"
    );
    let bound = s.duplicate_bound(run.injected, 1);
    run.assert_clean(&verdict, bound);
    assert!(quiet, "{}: not every job ended", run.name);
}

/// The longest a worker takes to record a start after the store granted it.
const RECORD_DELAY_MS: u64 = 100;

/// The most of `starts` (milliseconds, any order) within any window of `window_ms`.
pub(crate) fn busiest_in(starts: &[u64], window_ms: u64) -> usize {
    let mut sorted = starts.to_vec();
    sorted.sort_unstable();
    let mut first = 0;
    let mut most = 0;
    for (last, at) in sorted.iter().enumerate() {
        while sorted[first] + window_ms <= *at {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

/// 1,000 jobs limited to 50 starts per second, three workers of ten: the starts span 19 s
/// (the first 50 at once, then 50 more each second) to 25 s, and no window of a second
/// (less the delay of recording a start) holds more than 50 of them.
pub async fn rate_limit(target: &Target) {
    let s = Settings::from_env();
    let mut run = Run::new("rate_limit", target, s);
    run.spec.concurrency = 10;
    let log = HistoryLog::open(run.history_path())
        .unwrap_or_else(|e| panic!("cannot open the history: {e}"));
    let client = Client::new(target.admin.clone());
    let n = 1_000u64;
    let jobs = (0..n)
        .map(|i| {
            let mut job = JobEnvelope::new(HISTORY_JOB, QUEUE, vec![i.into(), 1.into()]);
            job.set_rate(Some(RateLimit::new("faults:partner-api", 50, 1_000)));
            job
        })
        .collect();
    let failed = push_recorded(&client, &log, jobs).await;
    assert_eq!(failed, 0, "every enqueue succeeds");
    run.enqueues = (n, 0);
    let workers = vec![run.worker().await, run.worker().await, run.worker().await];
    let quiet = run.quiesce(Duration::from_secs(90)).await;
    let verdict = run.end(workers).await;
    let starts: Vec<u64> = run
        .history()
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Start { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len() as u64, n, "each job started once");
    let (first, last) = (
        starts.iter().copied().min().unwrap_or(0),
        starts.iter().copied().max().unwrap_or(0),
    );
    let span = last - first;
    let mut per_second: BTreeMap<u64, u32> = BTreeMap::new();
    for at in &starts {
        *per_second.entry(at / 1000).or_default() += 1;
    }
    let busiest = per_second.values().copied().max().unwrap_or(0);
    // The store grants by its own clock; a worker records the start a little later, after
    // the reserve's reply reached it. So a grant late in one second may be recorded early
    // in the next, beside a full second of grants, and a calendar second of recorded starts
    // may hold 51 with the limit kept. Any window of 1,000 ms less that delay (up to
    // `RECORD_DELAY_MS`) holds starts granted within 1,000 ms, at most 50 of them.
    let window = 1_000 - RECORD_DELAY_MS;
    let busiest_window = busiest_in(&starts, window);
    // Past the harness's capture, as the run's summary line.
    let _ = writeln!(
        std::io::stderr(),
        "faults-rate: backend={} jobs={n} limit=50/s span_ms={span} busiest_second={busiest} busiest_{window}ms={busiest_window}",
        target.backend
    );
    assert!(
        busiest_window <= 50,
        "{}: a window of {window} ms held {busiest_window} starts (calendar seconds: {per_second:?})",
        target.backend
    );
    assert!(
        (19_000..=25_000).contains(&span),
        "{}: 1,000 starts at 50/s took {span} ms, not 19 to 25 s",
        target.backend
    );
    run.assert_clean(&verdict, 0);
    assert!(quiet, "{}: not every job ended", run.name);
}
