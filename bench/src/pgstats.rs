//! What a Postgres run costs the server besides CPU, per job: WAL bytes, WAL fsyncs and
//! commits from the server's cumulative statistics, and what its busy backends wait on,
//! sampled.
//!
//! 1. Counters: `pg_stat_wal` (`wal_bytes`, `wal_sync`: fsyncs of the WAL, what a durable
//!    commit waits for) and `pg_stat_database.xact_commit` of the run's database, read at the
//!    start and end of the timed window like the CPU times (`cpu.rs`).
//! 2. Waits: a task samples `pg_stat_activity` every 20 ms for the database's active
//!    backends (not its own) and counts each sample by wait event type: none (on CPU),
//!    `Lock` (row and table locks), `LWLock`, `IO` (WAL writes and fsyncs among them) and the
//!    rest. The shares over the window say whether backends wait on locks or on the disk.
//! 3. Server-wide: another database's load on the same server is counted too (WAL).
//!    Backends flush their counts at most once a second, so a window of a few hundred ms
//!    reads low; `bench/compare`'s runs last seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The wait classes counted, in this order.
const CLASSES: [&str; 5] = ["cpu", "Lock", "LWLock", "IO", "other"];

/// Reads the counters and runs the wait sampler.
pub struct PgStats {
    pool: sqlx::PgPool,
    samples: Arc<[AtomicU64; 5]>,
    sampler: tokio::task::JoinHandle<()>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgMark {
    wal_bytes: f64,
    wal_sync: f64,
    commits: f64,
    samples: [u64; 5],
}

/// Per job over a window, and the wait shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgPerJob {
    pub wal_bytes: f64,
    pub fsyncs: f64,
    pub commits: f64,
    /// Share of active-backend samples per class of [`CLASSES`] (0..1).
    pub waits: [f64; 5],
}

impl PgStats {
    /// Connects to the server at `url` (the run's database) and starts sampling.
    pub async fn start(url: &str) -> Option<PgStats> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .ok()?;
        let samples: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
        let sampler = {
            let (pool, samples) = (pool.clone(), samples.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    let rows: Vec<(Option<String>, i64)> = match sqlx::query_as(
                        "SELECT wait_event_type, count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND state = 'active' \
                         AND pid <> pg_backend_pid() GROUP BY 1",
                    )
                    .fetch_all(&pool)
                    .await
                    {
                        Ok(rows) => rows,
                        Err(_) => continue,
                    };
                    for (class, n) in rows {
                        let i = match class.as_deref() {
                            None => 0,
                            Some("Lock") => 1,
                            Some("LWLock") => 2,
                            Some("IO") => 3,
                            Some(_) => 4,
                        };
                        samples[i].fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
                    }
                }
            })
        };
        Some(PgStats {
            pool,
            samples,
            sampler,
        })
    }

    /// The counters now (`None` where the server does not have them: before PostgreSQL 14).
    pub async fn mark(&self) -> Option<PgMark> {
        let (wal_bytes, wal_sync): (f64, f64) =
            sqlx::query_as("SELECT wal_bytes::float8, wal_sync::float8 FROM pg_stat_wal")
                .fetch_one(&self.pool)
                .await
                .ok()?;
        let commits: f64 = sqlx::query_scalar(
            "SELECT xact_commit::float8 FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&self.pool)
        .await
        .ok()?;
        let samples = std::array::from_fn(|i| self.samples[i].load(Ordering::Relaxed));
        Some(PgMark {
            wal_bytes,
            wal_sync,
            commits,
            samples,
        })
    }
}

impl Drop for PgStats {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

impl PgMark {
    /// Per job from this mark to `later`, over `jobs` jobs.
    pub fn per_job(&self, later: &PgMark, jobs: u64) -> Option<PgPerJob> {
        if jobs == 0 {
            return None;
        }
        let n = jobs as f64;
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        let taken: Vec<u64> = (0..5)
            .map(|i| later.samples[i].saturating_sub(self.samples[i]))
            .collect();
        let total = taken.iter().sum::<u64>().max(1) as f64;
        Some(PgPerJob {
            wal_bytes: round((later.wal_bytes - self.wal_bytes) / n),
            fsyncs: round((later.wal_sync - self.wal_sync) / n),
            commits: round((later.commits - self.commits) / n),
            waits: std::array::from_fn(|i| round(taken[i] as f64 / total)),
        })
    }
}

impl PgPerJob {
    /// `WAL X B, Y fsyncs, Z commits per job; waits: cpu a, Lock b, ...`
    pub fn describe(&self) -> String {
        let waits: Vec<String> = CLASSES
            .iter()
            .zip(self.waits)
            .map(|(c, s)| format!("{c} {:.0}%", s * 100.0))
            .collect();
        format!(
            "per job: WAL {:.0} B, {:.3} WAL fsyncs, {:.3} commits; active backends' samples: {}",
            self.wal_bytes,
            self.fsyncs,
            self.commits,
            waits.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_job_divides_the_counters_and_shares_the_samples() {
        let a = PgMark::default();
        let b = PgMark {
            wal_bytes: 3000.0,
            wal_sync: 10.0,
            commits: 40.0,
            samples: [2, 1, 0, 1, 0],
        };
        let p = a.per_job(&b, 10).unwrap();
        assert_eq!((p.wal_bytes, p.fsyncs, p.commits), (300.0, 1.0, 4.0));
        assert_eq!(p.waits, [0.5, 0.25, 0.0, 0.25, 0.0]);
        assert!(a.per_job(&b, 0).is_none());
    }
}
