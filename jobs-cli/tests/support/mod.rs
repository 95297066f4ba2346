//! What the CLI tests share: running the built `jobs` binary, and seeding a store through the
//! library with a known set of jobs, a process and a schedule.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{Duration, Utc};
use jobs::backend::{
    AdminBackend, BackendError, DeclareParams, Finish, FinishOutcome, FinishParams,
    HeartbeatParams, ProcessInfo, PushParams, ReserveParams, RunningJob,
};
use jobs::envelope::{to_epoch, JobEnvelope};
use serde_json::json;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit status (-1 when killed by a signal).
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

/// Runs `jobs ARGS` with `JOBS_URL` set to `url` (or unset), stdin closed (not a terminal).
pub fn jobs(url: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jobs"));
    cmd.args(args)
        .env_remove("JOBS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    if let Some(url) = url {
        cmd.env("JOBS_URL", url);
    }
    let output = cmd.output().expect("the jobs binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `jobs ARGS` with `JOBS_URL` set to `url` on a pseudo-terminal (through util-linux's
/// `script`), typing `answer` on it; stdout and stderr come back together in `stdout`.
/// `None` when `script` is not installed or cannot open a pseudo-terminal here.
pub fn jobs_on_tty(url: &str, args: &[&str], answer: &str) -> Option<Run> {
    use std::io::Write;
    let probe = Command::new("script")
        .args(["-qec", "test -t 0", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_jobs"));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("JOBS_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    // Typed once the prompt is up; the pty keeps it until the command reads it.
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(answer.as_bytes())
            .expect("the answer is typed");
    }
    let output = child.wait_with_output().expect("script runs");
    Some(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `jobs ARGS` against `url` and returns its stdout, failing the test unless it exits 0.
pub fn ok(url: &str, args: &[&str]) -> String {
    let run = jobs(Some(url), args);
    assert_eq!(run.code, 0, "jobs {args:?} failed: {run:?}");
    run.stdout
}

/// Runs `jobs --json ARGS` against `url` and parses its stdout.
pub fn json(url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ok(url, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("jobs {all:?}: not JSON ({e}): {out}"))
}

/// The whitespace-separated words of the line of `text` that starts with `first`.
pub fn words_of<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&first))
        .unwrap_or_else(|| panic!("no line starts with {first:?} in:\n{text}"))
}

/// The ids of the jobs the seed stores.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// alice, dave, erin: waiting in `default`, oldest first.
    pub default: Vec<String>,
    /// Waiting in `critical`.
    pub critical: String,
    /// In the scheduled set, due in two hours.
    pub scheduled: String,
    /// bob, carol: in the retry set after an "SMTP timeout".
    pub retries: Vec<String>,
    /// In the dead set after a "division by zero".
    pub dead: String,
}

/// The id of the process the seed beats for.
pub const PROCESS: &str = "cli-test-host:4242:abc";

/// What the seeded process says about itself.
pub fn process_info() -> ProcessInfo {
    ProcessInfo {
        id: PROCESS.to_owned(),
        hostname: "cli-test-host".to_owned(),
        pid: 4242,
        tag: Some("cli".to_owned()),
        queues: vec!["critical".to_owned(), "default".to_owned()],
        concurrency: 5,
        started_at: Utc::now() - Duration::minutes(5),
        labels: Vec::new(),
        version: "0.1.0".to_owned(),
    }
}

/// Pushes `job`, reserves it and finishes it as a failure with `message`, into `outcome`.
async fn park(
    b: &Arc<dyn AdminBackend>,
    job: JobEnvelope,
    outcome: FinishOutcome,
    message: &str,
) -> Result<String, BackendError> {
    let now = Utc::now();
    let jid = job.jid.clone();
    b.job_push(PushParams::new(vec![job], now)).await?;
    let params = ReserveParams::new(vec!["default".to_owned()], "cli-test-seeder", now).limit(1);
    let got = b.job_reserve(params).await?;
    assert_eq!(got.len(), 1, "seed: the parked job is reserved");
    let mut stored = (*got[0].job).clone();
    assert_eq!(
        stored.jid, jid,
        "seed: `default` holds only the job being parked"
    );
    stored.error_message = Some(message.to_owned());
    stored.error_class = Some("app::Error".to_owned());
    stored.failed_at = Some(to_epoch(now));
    stored.retry_count = Some(0);
    let finish = Finish::new(got[0].token.clone(), stored, outcome, true);
    let report = b.job_finish(FinishParams::new(vec![finish], now)).await?;
    assert!(report.lost.is_empty(), "seed: the fresh lease is settled");
    Ok(jid)
}

fn email(to: &str) -> JobEnvelope {
    JobEnvelope::new("Email", "default", vec![json!(to)])
}

/// Stores 4 waiting jobs (3 in `default`, 1 in `critical`), 1 scheduled, 2 retries and 1
/// dead (3 processed, 3 failed), a live process running one job, and a schedule.
pub async fn seed(b: &Arc<dyn AdminBackend>) -> Result<Seeded, BackendError> {
    let in_an_hour = Utc::now() + Duration::hours(1);
    let retry = FinishOutcome::Retry { at: in_an_hour };
    let bob = park(b, email("bob@example.com"), retry.clone(), "SMTP timeout").await?;
    let carol = park(b, email("carol@example.com"), retry, "SMTP timeout").await?;
    let report = JobEnvelope::new("Report", "default", vec![json!(42)]);
    let dead = park(b, report, FinishOutcome::Dead, "division by zero").await?;

    let waiting = vec![
        email("alice@example.com"),
        email("dave@example.com"),
        email("erin@example.com"),
        JobEnvelope::new("Invoice", "critical", vec![json!(7)]),
    ];
    let mut later = JobEnvelope::new("Reminder", "default", vec![json!(1)]);
    later.at = Some(to_epoch(Utc::now() + Duration::hours(2)));
    let ids: Vec<String> = waiting.iter().map(|j| j.jid.clone()).collect();
    let scheduled = later.jid.clone();
    let now = Utc::now();
    b.job_push(PushParams::new(waiting, now)).await?;
    b.job_push(PushParams::new(vec![later], now)).await?;

    let running = RunningJob {
        job: JobEnvelope::new("Export", "default", vec![json!("all")]),
        started_at: now,
    };
    b.process_heartbeat(HeartbeatParams::new(process_info(), now).running(vec![running]))
        .await?;

    let store = b.schedules().expect("the backend keeps schedules");
    let template = JobEnvelope::new("NightlyReport", "reports", vec![json!("sales")]);
    store
        .schedule_declare(DeclareParams::new(
            "nightly_report",
            "cron 30 2 * * * (UTC)",
            template,
            Some(in_an_hour),
        ))
        .await?;
    Ok(Seeded {
        default: ids[..3].to_vec(),
        critical: ids[3].clone(),
        scheduled,
        retries: vec![bob, carol],
        dead,
    })
}
