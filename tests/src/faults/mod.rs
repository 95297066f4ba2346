//! The fault suite: real worker processes and real stores, faults injected while jobs run,
//! and a history checker that proves no job whose enqueue returned Ok was lost.
//!
//! 1. `history.rs`: every process appends events (enqueue Ok, run start and end, settle
//!    sent, applied or refused) to one file per run; `recorder.rs` is what the test worker
//!    (`src/bin/jobs_test_worker.rs --history FILE`) records with.
//! 2. `check.rs`: after quiescence, the history against the store's listings: lost (must
//!    be 0), duplicate starts (bounded by the faults injected), nothing ended twice, and the
//!    recovery time.
//! 3. `fleet.rs` starts and signals worker processes and enqueues; `servers/` runs stores
//!    private to a test (to crash, restart and kill connections of); `proxy.rs` stalls a
//!    worker's traffic to its store (a partition); `resp_proxy.rs` answers a worker's Redis
//!    commands with `-READONLY` (a failover the worker has not noticed); `netns.rs` puts a
//!    worker on a "host" of its own (a network namespace) whose way to each store node is a
//!    proxy, so one node can be cut off from one host (`node_faults.rs`, Redis Cluster).
//! 4. `scenarios.rs`, `store_faults.rs` and `rolling.rs` (a rolling restart: SIGTERM and
//!    replace one worker while another keeps working) are the faults, each a function any backend's
//!    test calls with its [`run::Target`]: `tests/faults_redis.rs`, `faults_postgres.rs`,
//!    `faults_sqlite.rs`.
//!
//! Each run prints one line,
//! `faults: <name> backend=<b> injected=<n> enqueued=<n> lost=0 duplicates=<n> recovery_ms=<n>`,
//! past the test harness's capture (and appends it to `$JOBS_FAULTS_REPORT` when set).
//! [`Settings::from_env`] keeps the suite within CI's budget; `JOBS_FAULTS_LONG=1` runs
//! more rounds of each fault, with more jobs. A failing run keeps its history file (under
//! `target/tmp/faults/`, named in the failure); `JOBS_FAULTS_KEEP=1` keeps those of passing
//! runs too.

pub mod batch;
pub mod check;
pub mod fleet;
pub mod history;
pub mod limits;
pub mod netns;
pub mod node_faults;
pub mod proxy;
pub mod recorder;
pub mod resp_proxy;
pub mod rolling;
pub mod run;
pub mod scenarios;
pub mod servers;
pub mod store_faults;
pub mod unique;

#[cfg(test)]
mod tests;

use std::time::Duration;

/// Sizes and timings of a fault run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Rounds of each fault.
    pub rounds: u32,
    /// Each worker's concurrency.
    pub concurrency: usize,
    /// Each worker's lease TTL.
    pub lease_ttl: Duration,
    /// Each worker's heartbeat interval.
    pub heartbeat: Duration,
    /// Each worker's promote-and-rescue interval.
    pub poll: Duration,
    /// The pace of the enqueuer: one job every so often.
    pub enqueue_every: Duration,
    /// How many jobs are enqueued beside the process-killing job.
    pub innocents: u64,
    /// How long a run may take to settle every job after its last fault.
    pub quiesce_within: Duration,
}

impl Settings {
    /// The CI setting: two rounds of each fault, a 2 s lease. With `JOBS_FAULTS_LONG=1`:
    /// six rounds, and more jobs beside the process-killing one.
    ///
    /// ```
    /// let s = jobs_conformance::faults::Settings::from_env();
    /// assert!(s.lease_ttl.as_secs() <= 3 && s.rounds >= 1);
    /// ```
    pub fn from_env() -> Settings {
        let long = std::env::var("JOBS_FAULTS_LONG").is_ok_and(|v| v == "1");
        Settings {
            rounds: if long { 6 } else { 2 },
            concurrency: 4,
            lease_ttl: Duration::from_secs(2),
            heartbeat: Duration::from_millis(250),
            poll: Duration::from_millis(250),
            enqueue_every: Duration::from_millis(50),
            innocents: if long { 40 } else { 10 },
            quiesce_within: Duration::from_secs(60),
        }
    }

    /// The most duplicate starts `faults` faults can cause, each hitting `processes`
    /// workers: every job a hit worker held may start once more. A worker holds at most
    /// twice its concurrency: the jobs running or reserved (one per slot), and the jobs
    /// that ended but whose outcomes wait to be stored (the settler has room for one per
    /// slot, and a job keeps its lease until its outcome is stored).
    pub fn duplicate_bound(&self, faults: u64, processes: u64) -> u64 {
        faults * processes * 2 * self.concurrency as u64
    }
}

/// The fault suite's worker-side cases as tests (SIGKILL, SIGSTOP past the lease, clock
/// skew, a process-killing job, concurrency and rate limits and unique locks under kills, a
/// rolling restart), for a backend glue that has `async fn shared(name: &str) -> Target`
/// (a fresh target under its own name) and `async fn done(target: Target)` (its cleanup).
/// The rate run is a timing bound: it is ignored here, and `scripts/test` runs it alone.
#[macro_export]
macro_rules! worker_fault_cases {
    () => {
        $crate::worker_fault_cases!(@case sigkill, "sigkill", $crate::faults::scenarios::sigkill);
        $crate::worker_fault_cases!(@case sigstop_past_the_lease, "sigstop", $crate::faults::scenarios::sigstop);
        $crate::worker_fault_cases!(@case clock_skew, "skew", $crate::faults::scenarios::clock_skew);
        $crate::worker_fault_cases!(@case process_killing_job, "abort", $crate::faults::scenarios::process_killing_job);
        $crate::worker_fault_cases!(@case concurrency_limit_under_kills_and_stops, "conc", $crate::faults::limits::concurrency_limit);
        $crate::worker_fault_cases!(@case unique_locks_under_kills, "unique", $crate::faults::unique::unique_locks);
        $crate::worker_fault_cases!(@case rolling_restart, "rolling", $crate::faults::rolling::rolling_restart);

        // A timing bound (1,000 starts at 50/s must span 19 to 25 s): scripts/test runs it on
        // its own, after the workspace, not beside the other fault runs sharing the cores.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "run alone by scripts/test (a timing bound)"]
        async fn rate_limit_across_processes() {
            let t = shared("rate").await;
            $crate::faults::limits::rate_limit(&t).await;
            done(t).await;
        }
    };
    (@case $name:ident, $label:literal, $scenario:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let t = shared($label).await;
            $scenario(&t).await;
            done(t).await;
        }
    };
}
