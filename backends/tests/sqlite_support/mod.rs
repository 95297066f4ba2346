//! What the SQLite backend's own tests share: a fresh database file per test, removed at
//! the end, and short forms of backend calls.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::sqlite::{SqliteBackend, SqliteConfig};

/// A database file of its own for one test, deleted (with its WAL files) on drop.
pub struct TempDb {
    pub path: PathBuf,
}

impl TempDb {
    /// A path no other test uses; the file does not exist yet.
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "jobs-sqlite-test-{name}-{}-{n}-{:08x}.db",
            std::process::id(),
            rand::random::<u32>()
        ));
        TempDb { path }
    }

    /// The `sqlite:///abs/path` URL of the file.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// The options for this file, with a poll interval of `poll`.
    pub fn config(&self, poll: Duration) -> SqliteConfig {
        SqliteConfig::new(&self.path).poll_interval(poll)
    }

    /// A new backend (with its own pools) on this file.
    pub async fn open(&self) -> SqliteBackend {
        SqliteBackend::open(self.config(Duration::from_millis(200)))
            .await
            .expect("open the SQLite backend")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        remove_db(&self.path);
    }
}

/// Removes a database file and its companions.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// A job on `queue` whose argument is `n`.
pub fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new("SqliteTestJob", queue, vec![n.into()])
}

/// Pushes `jobs` now.
pub async fn push(b: &SqliteBackend, jobs: Vec<JobEnvelope>) -> Result<(), BackendError> {
    b.job_push(PushParams::new(jobs, Utc::now()))
        .await
        .map(|_| ())
}

/// Reserves up to `limit` jobs of `queue` for `process`, waiting up to `wait`.
pub async fn reserve(
    b: &SqliteBackend,
    queue: &str,
    limit: usize,
    process: &str,
    wait: Duration,
) -> Result<Vec<Reserved>, BackendError> {
    let mut p = ReserveParams::new(vec![queue.to_owned()], process, Utc::now());
    p.limit = limit;
    p.wait = wait;
    b.job_reserve(p).await
}

/// Completes reserved jobs in one call; returns the report.
pub async fn complete(b: &SqliteBackend, got: &[Reserved]) -> Result<FinishReport, BackendError> {
    let items = got
        .iter()
        .map(|r| {
            Finish::new(
                r.token.clone(),
                r.job.clone(),
                FinishOutcome::Completed,
                false,
            )
        })
        .collect();
    b.job_finish(FinishParams::new(items, Utc::now()).dead_limits(DeadLimits::default()))
        .await
}
