//! The result of a run: the JSON line every scenario prints last, percentiles and peak RSS.

use serde::Serialize;

/// The last line of every run, as one JSON object (fields that do not apply are null).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub backend: &'static str,
    pub jobs: u64,
    pub concurrency: usize,
    pub processes: usize,
    pub enqueue_per_s: Option<f64>,
    pub process_per_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    /// CPU per job performed, in µs: the worker process(es), and the store's server
    /// (`cpu.rs`; null where it cannot be read, and for memory and SQLite, whose store runs
    /// inside the worker and is counted there).
    pub worker_cpu_us_per_job: Option<f64>,
    pub store_cpu_us_per_job: Option<f64>,
    /// The round trip a delaying proxy added, in ms (`--delay-ms`; null: no proxy).
    pub delay_ms: Option<f64>,
    /// Client round trips the proxy carried, per job (null: no proxy).
    pub round_trips_per_job: Option<f64>,
    /// Where the worker processes ran: `netns` (each in a network namespace of its own,
    /// `--netns`) or `processes` (separate processes on one network stack); null: one
    /// worker inside the benchmark's process.
    pub worker_hosts: Option<&'static str>,
    /// Postgres, per job: WAL bytes, WAL fsyncs, commits (server-wide counters).
    pub pg_wal_bytes_per_job: Option<f64>,
    pub pg_fsyncs_per_job: Option<f64>,
    pub pg_commits_per_job: Option<f64>,
    /// Postgres: share of the run's active-backend samples waiting on a `Lock`, and on `IO`.
    pub pg_lock_wait_share: Option<f64>,
    pub pg_io_wait_share: Option<f64>,
}

impl Report {
    /// Prints the report as one JSON line.
    pub fn print_json(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(self)?);
        Ok(())
    }
}

/// Rounds to 3 decimals for the JSON line.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `p`-quantile (0..=1) of sorted samples, nearest rank; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

/// This process's resident-set high-water mark in KiB (`VmHWM`), when /proc has it.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the high-water mark to the current RSS (Linux `clear_refs` 5), so a worker run
/// after the enqueue phase reports its own peak. Ignored where unsupported.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// KiB to MiB, rounded to 0.1.
pub fn kb_to_mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0], 0.99), Some(3.0));
    }
}
