//! One fault run: its target store, its history file, its injected faults, the waits on
//! events in between, and the end (quiescence, graceful stop, check, the summary line).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, RescueParams};

use super::check::{check, dead_set, unsettled, Injection, Verdict};
use super::fleet::{Enqueuer, WorkerProc, WorkerSpec, QUEUE};
use super::history::{now_ms, History};
use super::Settings;

/// Where a fault run works: the store, how workers and the test reach it, and where files go.
#[derive(Clone)]
pub struct Target {
    /// `redis`, `postgres` or `sqlite`, as the summary line names it.
    pub backend: &'static str,
    /// The URL workers use.
    pub url: String,
    /// The test's own connection (enqueues and listings).
    pub admin: Arc<dyn AdminBackend>,
    /// The `jobs_test_worker` binary.
    pub worker_bin: PathBuf,
    /// A directory for history files and private servers (under `target/`).
    pub tmp: PathBuf,
}

impl Target {
    /// A target whose workers use `url` and whose test side connects to `admin_url` (the
    /// same, or the database without the test's schema), with the test worker binary
    /// `worker_bin` (`env!("CARGO_BIN_EXE_jobs_test_worker")` in a test) and `tmp`.
    pub async fn connect(
        backend: &'static str,
        url: String,
        admin_url: &str,
        worker_bin: PathBuf,
        tmp: PathBuf,
    ) -> Target {
        let admin = jobs_backends::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}"));
        Target {
            backend,
            url,
            admin,
            worker_bin,
            tmp,
        }
    }

    /// Deletes every key or row the test's backend wrote (its `clear_all`).
    pub async fn clear(self) {
        self.admin
            .clear_all()
            .await
            .unwrap_or_else(|e| panic!("cannot clear the test's keys: {e}"));
    }
}

/// A fault run in progress.
pub struct Run {
    /// The fault's name, as the summary line gives it.
    pub name: &'static str,
    /// Where it runs.
    pub target: Target,
    /// Its sizes and timings.
    pub settings: Settings,
    /// How its workers start (the target's URL, the run's history file).
    pub spec: WorkerSpec,
    /// The faults injected so far.
    pub injections: Vec<Injection>,
    /// How many faults were injected (a fault hitting several connections counts each).
    pub injected: u64,
    /// Enqueues the run's enqueuer tried, and how many of them failed.
    pub enqueues: (u64, u64),
    /// Jobs still leased once every worker had stopped (see [`Run::end`]).
    pub stranded: u64,
    history: PathBuf,
}

impl Run {
    /// Starts a run of fault `name` on `target`, with a fresh history file.
    pub fn new(name: &'static str, target: &Target, settings: Settings) -> Run {
        let dir = target.tmp.join("faults");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let history = dir.join(format!(
            "{name}-{}-{}-{}.history",
            target.backend,
            std::process::id(),
            now_ms()
        ));
        let spec = WorkerSpec {
            bin: target.worker_bin.clone(),
            url: target.url.clone(),
            history: history.clone(),
            concurrency: settings.concurrency,
            lease_ttl: settings.lease_ttl,
            heartbeat: settings.heartbeat,
            poll: settings.poll,
            clock_offset_ms: 0,
        };
        Run {
            name,
            target: target.clone(),
            settings,
            spec,
            injections: Vec::new(),
            injected: 0,
            enqueues: (0, 0),
            stranded: 0,
            history,
        }
    }

    /// The history file's path.
    pub fn history_path(&self) -> &Path {
        &self.history
    }

    /// The history so far.
    pub fn history(&self) -> History {
        History::read(&self.history).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a worker with the run's spec.
    pub async fn worker(&self) -> WorkerProc {
        WorkerProc::start(&self.spec).await
    }

    /// Starts enqueueing `HistoryJob`s at the run's pace.
    pub fn enqueuer(&self) -> Enqueuer {
        Enqueuer::start(
            self.target.admin.clone(),
            &self.history,
            self.settings.enqueue_every,
        )
    }

    /// Records a fault that hit `pids` (all workers when empty) from `at_ms` until now.
    pub fn injected(&mut self, at_ms: u64, pids: Vec<u32>, count: u64) {
        self.injections.push(Injection {
            at_ms,
            lifted_ms: now_ms(),
            pids,
        });
        self.injected += count;
    }

    /// Polls the history until `done` holds, or fails the test after `within`.
    pub async fn wait_for(&self, what: &str, within: Duration, done: impl Fn(&History) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.history()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} on {}: {what} did not happen within {within:?} (history: {})",
                self.name,
                self.target.backend,
                self.history.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until process `pid` is running at least one job; returns them.
    pub async fn wait_running(&self, pid: u32) -> Vec<String> {
        self.wait_for(
            &format!("a job running in worker {pid}"),
            Duration::from_secs(60),
            |h| !h.running_in(pid).is_empty(),
        )
        .await;
        let history = self.history();
        history
            .running_in(pid)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until every job whose enqueue returned Ok has ended (settled as completed,
    /// dead or discarded, or in the dead set), or until `within` passed; returns whether
    /// they all did.
    pub async fn quiesce(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        // A settle sent and never answered counts as done once a rescue would have
        // brought the job back had the settle failed.
        let grace = self.settings.lease_ttl * 2 + self.settings.poll * 2;
        loop {
            let history = self.history();
            let mut left = unsettled(&history, &Default::default(), now_ms(), grace);
            if !left.is_empty() {
                if let Ok(dead) = dead_set(self.target.admin.as_ref()).await {
                    let dead = dead.into_keys().collect();
                    left = unsettled(&history, &dead, now_ms(), grace);
                }
            }
            if left.is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "{} on {}: {} jobs not ended within {within:?}: {:?}",
                    self.name,
                    self.target.backend,
                    left.len(),
                    left.iter().take(10).collect::<Vec<_>>()
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops `workers` gracefully, returns the jobs still leased to dead processes to
    /// their queues (as their lease expiries would), checks the history against the store
    /// and prints the summary line; the caller asserts on the verdict.
    ///
    /// After a run that quiesced nothing is leased; after one that did not, a job held by a
    /// killed worker is waiting, not lost.
    pub async fn end(&mut self, workers: Vec<WorkerProc>) -> Verdict {
        for w in workers {
            w.stop().await;
        }
        let later = chrono::Duration::from_std(self.settings.lease_ttl * 4)
            .unwrap_or(chrono::Duration::zero());
        self.stranded = self
            .target
            .admin
            .lease_rescue(RescueParams::new(chrono::Utc::now() + later))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{} on {}: rescue failed: {e}",
                    self.name, self.target.backend
                )
            });
        let history = self.history();
        let verdict = check(
            &history,
            self.target.admin.as_ref(),
            &[QUEUE],
            &self.injections,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{} on {}: listing failed: {e}",
                self.name, self.target.backend
            )
        });
        self.report(&verdict);
        verdict
    }

    /// Writes the summary line (and a detail line) to stderr, past the test harness's
    /// capture, and appends it to `$JOBS_FAULTS_REPORT` when that is set.
    pub fn report(&self, v: &Verdict) {
        let line = format!(
            "faults: {} backend={} injected={} enqueued={} lost={} duplicates={} recovery_ms={}",
            self.name,
            self.target.backend,
            self.injected,
            v.enqueued,
            v.lost.len(),
            v.duplicates,
            v.recovery_ms
        );
        let detail = format!(
            "faults-detail: {} backend={} enqueues_tried={} enqueues_failed={} stranded={} completed={} dead={} waiting={} unconfirmed={} refused={} terminal_twice={} unrecorded={} history={}",
            self.name,
            self.target.backend,
            self.enqueues.0,
            self.enqueues.1,
            self.stranded,
            v.completed,
            v.dead.len(),
            v.waiting,
            v.unconfirmed,
            v.refused,
            v.terminal_twice.len(),
            v.unrecorded,
            self.history.display()
        );
        let _ = writeln!(std::io::stderr(), "{line}\n{detail}");
        if let Ok(path) = std::env::var("JOBS_FAULTS_REPORT") {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path);
            if let Ok(mut file) = file {
                let _ = writeln!(file, "{line}");
            }
        }
    }

    /// The checks every run of `HistoryJob`s passes: nothing lost, nothing ended twice,
    /// every job completed (none dead, none left waiting), and at most `bound` duplicate
    /// starts. Deletes the history file when they hold.
    pub fn assert_clean(&self, v: &Verdict, bound: u64) {
        let what = format!(
            "{} on {} (history: {})",
            self.name,
            self.target.backend,
            self.history.display()
        );
        assert!(v.enqueued > 0, "{what}: no enqueue returned Ok");
        assert!(v.lost.is_empty(), "{what}: lost {:?}", v.lost);
        assert!(
            v.terminal_twice.is_empty(),
            "{what}: ended twice {:?}",
            v.terminal_twice
        );
        assert!(v.dead.is_empty(), "{what}: dead {:?}", v.dead);
        assert_eq!(v.waiting, 0, "{what}: jobs left waiting");
        assert_eq!(
            self.stranded, 0,
            "{what}: jobs left leased after every worker stopped"
        );
        assert_eq!(
            v.completed + v.unconfirmed,
            v.enqueued,
            "{what}: every job completes"
        );
        assert!(
            v.duplicates <= bound,
            "{what}: {} duplicate starts, more than the {bound} the {} faults can cause",
            v.duplicates,
            self.injected
        );
        self.discard_history();
    }

    /// Deletes the history file of a run that passed, unless `JOBS_FAULTS_KEEP=1`.
    pub fn discard_history(&self) {
        if !std::env::var("JOBS_FAULTS_KEEP").is_ok_and(|v| v == "1") {
            let _ = std::fs::remove_file(&self.history);
        }
    }
}
