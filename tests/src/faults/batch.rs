//! A batch under SIGKILL, with real processes: three workers run its members and are
//! killed and replaced again and again, while the process adding its members is killed once
//! mid-way and started again (it resumes where the batch stands). Every member runs,
//! `success` and `complete` are each enqueued exactly once, no count goes below zero (the
//! counts always add up to the members added), and the history checker finds 0 lost.
//!
//! The batch has `JOBS_FAULTS_BATCH_MEMBERS` members (default the 10,000: 11 to 31 s
//! per backend here); workers are killed at least [`MIN_ROUNDS`] times (more with
//! `JOBS_FAULTS_ROUNDS`), so each of the three is killed and replaced twice.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use jobs::backend::{BatchCreateParams, JobListParams, JobSet};
use jobs::batch::{BatchEvent, BatchInfo, CALLBACK_FIELD};
use jobs::envelope::{to_epoch, JobEnvelope};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::history::now_ms;
use super::run::{Run, Target};
use super::Settings;

/// Where the callbacks go: a queue no test worker works, so each is counted where it lies.
const CALLBACKS: &str = "faults-batch-callbacks";

/// The fewest worker kills of a run: each of the three workers is killed twice.
const MIN_ROUNDS: u32 = 6;

fn members() -> u64 {
    std::env::var("JOBS_FAULTS_BATCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn adder(bin: &PathBuf, run: &Run, bid: &str, total: u64) -> Child {
    Command::new(bin)
        .args(["--url", &run.target.url, "--bid", bid])
        .args([
            "--total",
            &total.to_string(),
            "--chunk",
            "50",
            "--hold-ms",
            "5",
        ])
        .arg("--history")
        .arg(run.history_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// Reads the adder's lines until `stop` says so or it ends; returns the last line.
async fn read_until(child: &mut Child, stop: impl Fn(&str) -> bool) -> String {
    let Some(out) = child.stdout.as_mut() else {
        panic!("the adder's stdout is not piped");
    };
    let mut lines = BufReader::new(out).lines();
    let mut last = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        last = line;
        if stop(&last) {
            break;
        }
    }
    last
}

/// The run: see the module's doc. `adder_bin` is `jobs_test_batch_adder`.
pub async fn batch_under_kills(target: &Target, adder_bin: PathBuf) {
    let s = Settings::from_env();
    let total = members();
    let mut run = Run::new("batch", target, s);
    let store = target
        .admin
        .batches()
        .unwrap_or_else(|| panic!("{}: no batches", target.backend));
    let bid = format!("faults-batch-{}", now_ms());
    let mut info = BatchInfo::new(
        &bid,
        "fault run",
        to_epoch(chrono::Utc::now()),
        Duration::from_secs(86_400),
    );
    for (event, class) in [
        (BatchEvent::Success, "BatchSuccess"),
        (BatchEvent::Complete, "BatchComplete"),
    ] {
        info = info.callback(event, JobEnvelope::new(class, CALLBACKS, vec![]));
    }
    store
        .batch_create(BatchCreateParams::new(info, chrono::Utc::now()))
        .await
        .unwrap_or_else(|e| panic!("{}: create failed: {e}", target.backend));
    let mut workers = vec![run.worker().await, run.worker().await, run.worker().await];
    // The adder, killed once after a quarter of the members.
    let mut first = adder(&adder_bin, &run, &bid, total);
    let quarter = total / 4;
    read_until(&mut first, |l| {
        l.strip_prefix("ok ")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n >= quarter)
    })
    .await;
    let _ = first.start_kill();
    let _ = first.wait().await;
    run.injected(now_ms(), Vec::new(), 1);
    let mut second = adder(&adder_bin, &run, &bid, total);
    // Workers killed and replaced while members run.
    for round in 0..s.rounds.max(MIN_ROUNDS) {
        let victim = workers.remove(round as usize % workers.len());
        let pid = victim.pid();
        run.wait_running(pid).await;
        let at = now_ms();
        victim.kill().await;
        run.injected(at, vec![pid], 1);
        workers.push(run.worker().await);
        check_counts(&run, &bid, total).await;
    }
    let last = read_until(&mut second, |l| l == "sealed").await;
    assert_eq!(
        last, "sealed",
        "{}: the resumed adder sealed the batch",
        target.backend
    );
    let _ = second.wait().await;
    // Every member ends, and the batch succeeds.
    // Every member settle moves the one batch row: a big batch needs its time.
    let within = s.quiesce_within + Duration::from_millis(total * 20);
    let deadline = Instant::now() + within;
    let status = loop {
        let st = check_counts(&run, &bid, total).await;
        if st.is_finished() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the batch did not succeed: {st:?}",
            target.backend
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((status.total(), status.counts.succeeded), (total, total));
    let quiet = run.quiesce(within).await;
    let verdict = run.end(workers).await;
    run.assert_clean(&verdict, s.duplicate_bound(run.injected, 1));
    assert!(quiet, "{}: not every member ended", run.name);
    let callbacks = target
        .admin
        .job_list(JobListParams::new(JobSet::Queue(CALLBACKS.into()), 100))
        .await
        .unwrap_or_else(|e| panic!("listing callbacks failed: {e}"));
    let mut fired: Vec<String> = callbacks
        .jobs
        .iter()
        .map(|j| {
            assert_eq!(j.job.extra[CALLBACK_FIELD]["bid"], bid.as_str());
            j.job.class.clone()
        })
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        vec!["BatchComplete".to_owned(), "BatchSuccess".to_owned()],
        "{}: complete and success each enqueued exactly once",
        target.backend
    );
}

/// The batch's counts add up to its members (none counted twice, none below zero).
async fn check_counts(run: &Run, bid: &str, total: u64) -> jobs::backend::BatchStatus {
    let store = run
        .target
        .admin
        .batches()
        .unwrap_or_else(|| panic!("no batches"));
    let st = store
        .batch_status(bid)
        .await
        .unwrap_or_else(|e| panic!("status failed: {e}"))
        .unwrap_or_else(|| panic!("batch {bid} gone"));
    let c = st.counts;
    assert!(
        st.total() <= total,
        "{}: more members than added: {st:?}",
        run.target.backend
    );
    assert_eq!(c.pending + c.succeeded + c.failed + c.dead, st.total());
    st
}
