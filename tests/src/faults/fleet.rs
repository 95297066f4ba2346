//! The processes of a fault run: test workers (`jobs_test_worker` with `--history`), the
//! signals sent to them, and an enqueuer task recording every enqueue that returned Ok.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs::backend::AdminBackend;
use jobs::envelope::JobEnvelope;
use jobs::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::history::{now_ms, Event, HistoryLog};

/// The class of the jobs fault runs enqueue: `HistoryJob(i, hold_ms)` holds, then succeeds.
pub const HISTORY_JOB: &str = "HistoryJob";
/// The class of the job that aborts the process running it.
pub const ABORT_JOB: &str = "AbortJob";
/// The queue fault runs use.
pub const QUEUE: &str = "faults";

/// How a test worker is started.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The `jobs_test_worker` binary (`env!("CARGO_BIN_EXE_jobs_test_worker")`).
    pub bin: PathBuf,
    /// The store URL.
    pub url: String,
    /// The history file.
    pub history: PathBuf,
    /// Jobs at once.
    pub concurrency: usize,
    /// Lease TTL.
    pub lease_ttl: Duration,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Promote-and-rescue interval.
    pub poll: Duration,
    /// Added to the worker's clock, in milliseconds (may be negative).
    pub clock_offset_ms: i64,
}

impl WorkerSpec {
    /// This spec with another URL.
    pub fn with_url(&self, url: impl Into<String>) -> WorkerSpec {
        WorkerSpec {
            url: url.into(),
            ..self.clone()
        }
    }

    /// This spec with the clock moved by `offset_ms`.
    pub fn with_clock_offset_ms(&self, offset_ms: i64) -> WorkerSpec {
        WorkerSpec {
            clock_offset_ms: offset_ms,
            ..self.clone()
        }
    }
}

/// Spawns `command` (a `jobs_test_worker`; its stdout is piped here, and it is killed when
/// dropped) and waits up to 60 s for its `ready` line; returns it with its process id.
pub async fn spawn_ready(mut command: Command) -> (Child, u32) {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the test worker: {e}"));
    let pid = child
        .id()
        .unwrap_or_else(|| panic!("the worker exited at once"));
    let Some(stdout) = child.stdout.take() else {
        panic!("the worker's stdout is not piped")
    };
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    match line {
        Ok(Ok(Some(line))) if line.starts_with("ready ") => {}
        other => panic!("worker {pid} did not print `ready` within 60 s: {other:?}"),
    }
    (child, pid)
}

/// A running test worker.
pub struct WorkerProc {
    child: Child,
    pid: u32,
}

impl WorkerProc {
    /// Starts a worker and waits (up to 60 s) until it prints `ready`.
    pub async fn start(spec: &WorkerSpec) -> WorkerProc {
        Self::spawn(spec, Command::new(&spec.bin)).await
    }

    /// Starts a worker inside `host`'s network namespace, where the store is reached only
    /// through the listeners the test opened there, and waits until it prints `ready`.
    pub async fn start_on_host(spec: &WorkerSpec, host: &super::netns::Host) -> WorkerProc {
        Self::spawn(spec, host.command(&spec.bin)).await
    }

    /// Adds `spec`'s arguments to `command` (the worker binary, or a wrapper running it)
    /// and starts it.
    async fn spawn(spec: &WorkerSpec, mut command: Command) -> WorkerProc {
        let millis = |d: Duration| d.as_millis().to_string();
        command
            .args(["--url", &spec.url, "--queue", QUEUE])
            .args(["--concurrency", &spec.concurrency.to_string()])
            .args(["--lease-ttl-ms", &millis(spec.lease_ttl)])
            .args(["--heartbeat-ms", &millis(spec.heartbeat)])
            .args(["--poll-ms", &millis(spec.poll)])
            .args(["--shutdown-timeout-ms", "10000"])
            .args(["--clock-offset-ms", &spec.clock_offset_ms.to_string()])
            .arg("--history")
            .arg(&spec.history);
        let (child, pid) = spawn_ready(command).await;
        WorkerProc { child, pid }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{signal} {} failed",
            self.pid
        );
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Whether it exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM (after SIGCONT, in case it is stopped) and wait up to 30 s for the graceful
    /// exit, which must succeed.
    pub async fn stop(mut self) {
        if self.exited().is_some() {
            return;
        }
        self.signal("CONT");
        self.signal("TERM");
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) => assert!(status.success(), "worker {} exited {status}", self.pid),
            _ => {
                let _ = self.child.start_kill();
                panic!("worker {} did not stop within 30 s of SIGTERM", self.pid);
            }
        }
    }
}

/// How long job `i` holds: 150 to 450 ms, staggered so jobs do not end in lockstep.
pub fn hold_ms(i: u64) -> u64 {
    150 + (i * 137) % 300
}

/// A `HistoryJob` number `i`.
pub fn history_job(i: u64) -> JobEnvelope {
    JobEnvelope::new(HISTORY_JOB, QUEUE, vec![i.into(), hold_ms(i).into()])
}

/// Pushes `jobs` one call each, recording each that returned Ok; returns how many failed.
pub async fn push_recorded(client: &Client, log: &HistoryLog, jobs: Vec<JobEnvelope>) -> u64 {
    let mut failed = 0;
    for job in jobs {
        let jid = job.jid.clone();
        match client.push(vec![job]).await {
            Ok(_) => record(log, jid),
            Err(_) => failed += 1,
        }
    }
    failed
}

fn record(log: &HistoryLog, jid: String) {
    let event = Event::Enqueued {
        jid,
        at_ms: now_ms(),
    };
    if let Err(e) = log.record(&event) {
        panic!("cannot append to {}: {e}", log.path().display());
    }
}

/// Enqueues `HistoryJob`s one at a time, one every `every`, until stopped; each enqueue
/// that returned Ok is recorded. Enqueues that fail (the store is down) are counted.
pub struct Enqueuer {
    stop: Arc<AtomicBool>,
    task: JoinHandle<(u64, u64)>,
}

impl Enqueuer {
    /// Starts enqueueing through `admin` into the history at `path`.
    pub fn start(admin: Arc<dyn AdminBackend>, path: &Path, every: Duration) -> Enqueuer {
        let log = HistoryLog::open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let client = Client::new(admin);
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut i, mut failed) = (0u64, 0u64);
            while !stopping.load(Ordering::Relaxed) {
                ticks.tick().await;
                let job = history_job(i);
                i += 1;
                // One enqueue may hang while the store is partitioned: bounded.
                let push = push_recorded(&client, &log, vec![job]);
                match tokio::time::timeout(Duration::from_secs(10), push).await {
                    Ok(n) => failed += n,
                    Err(_) => failed += 1,
                }
            }
            (i, failed)
        });
        Enqueuer { stop, task }
    }

    /// Stops and returns (enqueues tried, enqueues that failed).
    pub async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.task
            .await
            .unwrap_or_else(|e| panic!("the enqueuer panicked: {e}"))
    }
}
