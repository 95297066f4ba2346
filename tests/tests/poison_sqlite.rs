//! The poison area against the SQLite backend: bad bytes written straight into the `jobs`
//! table of a temporary database, through a second connection, beside the backend's rows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{AdminBackend, BackendError};
use jobs_backends::sqlite::SqliteBackend;
use jobs_conformance::poison::{PoisonFactory, PoisonSubject, RawPlace, RawStore};
use jobs_conformance::CaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// Writes rows the way the backend does, except that the payload is whatever bytes it is
/// given: bound as a blob and cast to text, so bytes that are not UTF-8 are stored as they are.
struct SqliteRaw {
    pool: SqlitePool,
}

const INSERT: &str = "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload)
    VALUES (?1, ?2, 'RawPayload', ?3, ?4,
            (SELECT value + 1 FROM sequences WHERE name = 'pos'), CAST(?5 AS TEXT))";

#[async_trait]
impl RawStore for SqliteRaw {
    async fn put_raw(&self, place: RawPlace, jid: &str, bytes: &[u8]) -> Result<(), BackendError> {
        let (queue, state, at): (&str, &str, DateTime<Utc>) = match &place {
            RawPlace::Queue(q) => (q, "available", Utc::now()),
            RawPlace::Scheduled(q, at) => (q, "scheduled", *at),
            RawPlace::Retry(q, at) => (q, "retryable", *at),
            RawPlace::Dead(q, at) => (q, "dead", *at),
        };
        sqlx::query(INSERT)
            .bind(jid)
            .bind(queue)
            .bind(state)
            .bind(at.timestamp_micros())
            .bind(bytes)
            .execute(&self.pool)
            .await
            .map_err(|e| BackendError::other("raw insert into the SQLite jobs table", e))?;
        Ok(())
    }
}

/// A temporary database and a second connection to its file.
async fn subject() -> Result<PoisonSubject, CaseError> {
    let backend = SqliteBackend::temporary().await?;
    let options = SqliteConnectOptions::new()
        .filename(backend.path())
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| BackendError::other("opening the raw SQLite connection", e))?;
    Ok(PoisonSubject {
        backend: Arc::new(backend) as Arc<dyn AdminBackend>,
        raw: Arc::new(SqliteRaw { pool }),
    })
}

jobs_conformance::poison_suite!(sqlite, PoisonFactory::new(subject));
