//! The database handle every operation uses, and the conversions between rows and values.
//!
//! 1. [`Db`] holds the writer connection, the reader pool, the error context and the
//!    wake-up [`Notify`]; [`Db::write`] opens a transaction with `BEGIN IMMEDIATE`, so it
//!    takes the write lock up front and waits for it under the busy timeout, never failing
//!    later when a read would have to upgrade. [`Db::exec`] lends the writer for a single
//!    statement, which takes the write lock when it starts just the same.
//! 2. Times are stored as integer microseconds; lease tokens are `row id:nonce`, the nonce
//!    random and new for each reserve call.
//! 3. Envelopes are stored as the JSON text `serde_json` writes, and read back the same way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, LeaseToken};
use jobs::envelope::JobEnvelope;
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use tokio::sync::Notify;

use super::error::{self, ErrorContext, Sqlx};
use super::writer::{Conn, Writer};

/// A transaction on the writer connection, begun with `BEGIN IMMEDIATE`.
pub(super) type Tx<'a> = Conn<'a>;

/// A read transaction on a reader connection.
pub(super) type ReadTx = Transaction<'static, Sqlite>;

/// The connections and shared state of one backend.
#[derive(Debug)]
pub(super) struct Db {
    /// One connection: every write goes through it.
    pub(super) writer: Writer,
    /// Connections for the admin side's reads.
    pub(super) readers: SqlitePool,
    /// Shared by every backend of this file in this process; notified after commits that
    /// make jobs available.
    pub(super) wake: std::sync::Arc<Notify>,
    /// How often an idle reserver looks for jobs other processes pushed.
    pub(super) poll_interval: Duration,
    /// Where the database is, for errors.
    pub(super) cx: ErrorContext,
    /// A temporary file, deleted (with its WAL and shared-memory files) on drop.
    pub(super) temporary: Option<std::path::PathBuf>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(path) = &self.temporary {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                // Missing files are fine; open connections keep their unlinked files.
                let _ = std::fs::remove_file(name);
            }
        }
    }
}

impl Db {
    /// A write transaction holding the database's write lock from its first statement.
    pub(super) async fn write(&self) -> Result<Tx<'_>, BackendError> {
        let mut tx = self.writer.acquire(&self.cx).await?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *tx)
            .await
            .or_backend(&self.cx)?;
        Ok(tx)
    }

    /// The writer connection for one statement, outside any transaction: settle it after a
    /// success.
    pub(super) async fn exec(&self) -> Result<Conn<'_>, BackendError> {
        self.writer.acquire(&self.cx).await
    }

    /// A read transaction: one consistent snapshot, beside any writer.
    pub(super) async fn read(&self) -> Result<ReadTx, BackendError> {
        self.readers.begin().await.or_backend(&self.cx)
    }

    /// Commits `tx`.
    pub(super) async fn commit(&self, mut tx: Tx<'_>) -> Result<(), BackendError> {
        sqlx::query("COMMIT")
            .execute(&mut *tx)
            .await
            .or_backend(&self.cx)?;
        tx.settle();
        Ok(())
    }

    /// Wakes every reserver waiting on this file in this process.
    pub(super) fn wake_reservers(&self) {
        self.wake.notify_waiters();
    }
}

/// A time as stored: microseconds since the epoch.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored time back as a time.
pub(super) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// A duration in microseconds, saturating.
pub(super) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// `now + d` in stored microseconds, saturating.
pub(super) fn after(now: DateTime<Utc>, d: Duration) -> i64 {
    micros(now).saturating_add(duration_micros(d))
}

/// A fresh random nonce for the leases of one reserve call.
pub(super) fn nonce() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The token of the lease on row `id` taken with `nonce`.
pub(super) fn token(id: i64, nonce: &str) -> LeaseToken {
    LeaseToken::new(format!("{id}:{nonce}"))
}

/// The row id and nonce of a token; `None` for a token this backend did not issue.
pub(super) fn parse_token(token: &LeaseToken) -> Option<(i64, &str)> {
    let (id, nonce) = token.0.split_once(':')?;
    Some((id.parse().ok()?, nonce))
}

/// Reads a stored envelope.
pub(super) fn decode_job(payload: &str) -> Result<JobEnvelope, BackendError> {
    JobEnvelope::from_json(payload).map_err(|e| error::decode("a stored job", e))
}

/// Writes an envelope for storage, without its `at` (the row's time holds it).
pub(super) fn encode_job(job: &JobEnvelope) -> Result<String, BackendError> {
    if job.at.is_some() {
        let mut job = job.clone();
        job.at = None;
        return job.to_json().map_err(|e| error::encode("a job", e));
    }
    job.to_json().map_err(|e| error::encode("a job", e))
}

/// A list of row ids as the JSON array `json_each` reads.
pub(super) fn id_list(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        let t = token(42, "00ff");
        assert_eq!(parse_token(&t), Some((42, "00ff")));
        assert_eq!(parse_token(&LeaseToken("x:abc".into())), None);
        assert_eq!(parse_token(&LeaseToken("nonsense".into())), None);
    }

    #[test]
    fn stored_jobs_lose_their_at() {
        let mut job = JobEnvelope::new("A", "q", vec![]);
        job.at = Some(5.0);
        let back = decode_job(&encode_job(&job).unwrap()).unwrap();
        assert_eq!(back.at, None);
        assert_eq!(id_list(&[1, 2, 30]), "[1,2,30]");
        assert_eq!(id_list(&[]), "[]");
    }
}
