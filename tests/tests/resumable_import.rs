//! `examples/resumable_import` as real processes on SQLite, Redis and Postgres: a worker
//! SIGKILLed mid-import is taken over after its lease expires and the import resumes from
//! its last checkpoint, with every row in the output exactly once and no attempt counted;
//! a worker sent SIGTERM mid-import stops at its next checkpoint (long before its shutdown
//! timeout), the job waits in its queue with its cursor and its attempt unchanged, and the
//! next worker resumes it from that cursor.
//!
//! The example binary is built by `cargo build --workspace --examples` (scripts/test); with
//! `JOBS_E2E=1` a missing binary fails the test, else the test says it is skipped.

mod servers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobs::backend::{JobListParams, JobSet};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ROWS: u64 = 100_000;
/// The output's full length: row ids 0..ROWS, one per line.
fn full_len() -> u64 {
    (0..ROWS).map(|i| i.to_string().len() as u64 + 1).sum()
}

fn example_binary() -> Option<PathBuf> {
    let debug = Path::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .parent()?
        .to_path_buf();
    let exe = debug.join("examples").join("resumable_import");
    if exe.exists() {
        return Some(exe);
    }
    assert!(
        std::env::var_os("JOBS_E2E").is_none(),
        "{} is missing: cargo build -p jobs-examples --example resumable_import",
        exe.display()
    );
    eprintln!("skipped: build the example first (cargo build -p jobs-examples --example resumable_import) or set JOBS_E2E=1");
    None
}

/// One import: the example binary, its backend and its output file.
struct Import {
    exe: PathBuf,
    url: String,
    out: PathBuf,
}

impl Import {
    fn command(&self, what: &str) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg(what)
            .env("JOBS_URL", &self.url)
            .env("IMPORT_OUT", &self.out)
            .env("IMPORT_ROWS", ROWS.to_string())
            .env("IMPORT_CHUNK", "1000")
            .env("IMPORT_PAUSE_MS", "15")
            .env("IMPORT_LEASE_TTL_MS", "1500")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `what` to its end (within 120 s); its stdout. Fails on a non-zero status.
    async fn run(&self, what: &str) -> String {
        let out = tokio::time::timeout(Duration::from_secs(120), self.command(what).output())
            .await
            .unwrap_or_else(|_| panic!("`{what}` ended within 120 s"))
            .unwrap_or_else(|e| panic!("run `{what}`: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`{what}` failed ({}): {stdout}",
            out.status
        );
        stdout
    }

    /// Starts `work`; the child and the lines it prints.
    fn work(&self) -> (Child, Arc<Mutex<Vec<String>>>) {
        let mut child = self
            .command("work")
            .spawn()
            .expect("start the example worker");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut reader = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        (child, lines)
    }

    /// Waits until the output holds about a quarter of the rows: the import is mid-way.
    async fn wait_mid_way(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let len = std::fs::metadata(&self.out).map(|m| m.len()).unwrap_or(0);
            if len >= full_len() / 4 {
                assert!(
                    len < full_len(),
                    "the import finished before it could be interrupted"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the import never got a quarter through"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The row the resumed run said it resumed at.
fn resumed_at(lines: &[String]) -> u64 {
    let at = lines
        .iter()
        .find_map(|l| l.strip_prefix("resuming at row "))
        .unwrap_or_else(|| panic!("the second worker did not resume: {lines:?}"));
    at.parse().unwrap_or_else(|_| panic!("resuming at {at:?}"))
}

/// Waits for `child` to end within `within`; its status.
async fn ended(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    tokio::time::timeout(within, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the worker did not end within {within:?}"))
        .expect("wait for the worker")
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("the worker is running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig} {pid}");
}

/// SIGKILL mid-import, a second worker takes over: every row exactly once, nothing failed.
async fn killed_worker_resumes_exactly_once(url: String, exe: PathBuf) {
    let out = std::env::temp_dir().join(format!("jobs-resumable-kill-{:x}.out", nanos()));
    let import = Import { exe, url, out };
    import.run("enqueue").await;
    let (mut first, _) = import.work();
    import.wait_mid_way().await;
    signal(&first, "-KILL");
    ended(&mut first, Duration::from_secs(10)).await;

    let (mut second, lines) = import.work();
    let status = ended(&mut second, Duration::from_secs(120)).await;
    assert!(status.success(), "the second worker ended with {status}");
    let at = resumed_at(&lines.lock().unwrap());
    assert!(at > 0 && at < ROWS, "resumed mid-way, at row {at}");
    let checked = import.run("check").await;
    assert!(checked.contains("each exactly once"), "{checked}");

    let admin = jobs_backends::connect(&import.url).await.expect("connect");
    let stats = admin.stats().await.expect("stats");
    assert_eq!(
        (stats.failed, stats.retries, stats.dead),
        (0, 0, 0),
        "no attempt failed: {stats:?}"
    );
    let _ = std::fs::remove_file(&import.out);
}

/// SIGTERM mid-import: the worker stops at the next checkpoint (not after its 25 s shutdown
/// timeout), the job waits in its queue with its cursor and attempt unchanged, and resumes.
async fn stopped_worker_requeues_and_resumes(url: String, exe: PathBuf) {
    let out = std::env::temp_dir().join(format!("jobs-resumable-term-{:x}.out", nanos()));
    let import = Import { exe, url, out };
    import.run("enqueue").await;
    let (mut first, _) = import.work();
    import.wait_mid_way().await;
    let began = Instant::now();
    signal(&first, "-TERM");
    let status = ended(&mut first, Duration::from_secs(20)).await;
    assert!(status.success(), "the stopped worker ended with {status}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "stopped at a checkpoint, took {:?}",
        began.elapsed()
    );

    let admin = jobs_backends::connect(&import.url).await.expect("connect");
    let waiting = admin
        .job_list(JobListParams::new(JobSet::Queue("import".into()), 10))
        .await
        .expect("list the queue")
        .jobs;
    assert_eq!(
        waiting.len(),
        1,
        "the import waits in its queue: {waiting:?}"
    );
    let job = &waiting[0].job;
    assert_eq!(job.retry_count, None, "no attempt counted");
    let saved = job.extra[jobs::STEPS_FIELD]["cursors"]["rows"]["next_row"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        saved > 0 && saved < ROWS,
        "the cursor was saved mid-way: {saved}"
    );

    let (mut second, lines) = import.work();
    let status = ended(&mut second, Duration::from_secs(120)).await;
    assert!(status.success(), "the second worker ended with {status}");
    assert_eq!(
        resumed_at(&lines.lock().unwrap()),
        saved,
        "resumed from the saved cursor"
    );
    let checked = import.run("check").await;
    assert!(checked.contains("each exactly once"), "{checked}");
    let stats = admin.stats().await.expect("stats");
    assert_eq!(
        (stats.failed, stats.retries, stats.dead),
        (0, 0, 0),
        "{stats:?}"
    );
    let _ = std::fs::remove_file(&import.out);
}

fn nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() ^ i64::from(std::process::id())
}

fn sqlite_url(tag: &str) -> String {
    let path = std::env::temp_dir().join(format!("jobs-resumable-{tag}-{:x}.db", nanos()));
    format!("sqlite://{}", path.display())
}

fn redis_url(tag: &str) -> String {
    servers::with_params(
        &servers::redis_url(),
        &format!("prefix=resumable:{tag}:{:x}", nanos()),
    )
}

fn postgres_url(tag: &str) -> String {
    servers::with_params(
        &servers::postgres_url(),
        &format!("schema=resumable_{tag}_{:x}", nanos()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_mid_import_resumes_exactly_once() {
    let Some(exe) = example_binary() else { return };
    killed_worker_resumes_exactly_once(sqlite_url("kill"), exe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_mid_import_requeues_uncounted_and_resumes() {
    let Some(exe) = example_binary() else { return };
    stopped_worker_requeues_and_resumes(sqlite_url("term"), exe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_kill_9_mid_import_resumes_exactly_once() {
    let Some(exe) = example_binary() else { return };
    killed_worker_resumes_exactly_once(redis_url("kill"), exe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sigterm_mid_import_requeues_uncounted_and_resumes() {
    let Some(exe) = example_binary() else { return };
    stopped_worker_requeues_and_resumes(redis_url("term"), exe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_9_mid_import_resumes_exactly_once() {
    let Some(exe) = example_binary() else { return };
    killed_worker_resumes_exactly_once(postgres_url("kill"), exe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_mid_import_requeues_uncounted_and_resumes() {
    let Some(exe) = example_binary() else { return };
    stopped_worker_requeues_and_resumes(postgres_url("term"), exe).await;
}
