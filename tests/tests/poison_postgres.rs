//! The poison area against the Postgres backend: bad payloads written straight into the
//! `jobs` table of a fresh schema, through a pool of the test's own.
//!
//! The server is `JOBS_TEST_DATABASE_URL` (see `servers`). Schemas are named as in
//! `postgres.rs` (`conformance_<epoch secs>_<pid>_<n>`), whose runs drop the old ones.
//! The `payload` column is `json`: Postgres refuses bytes that are not JSON text, so
//! those kinds are reported as unsupported here, and the cases skip them.

mod servers;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{AdminBackend, BackendError};
use jobs_backends::postgres::PostgresBackend;
use jobs_conformance::poison::{PoisonFactory, PoisonSubject, RawPlace, RawStore};
use jobs_conformance::CaseError;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// Writes rows the way the backend does, except that the payload is the text given.
struct PostgresRaw {
    pool: PgPool,
    schema: String,
}

#[async_trait]
impl RawStore for PostgresRaw {
    async fn put_raw(&self, place: RawPlace, jid: &str, bytes: &[u8]) -> Result<(), BackendError> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(BackendError::Unsupported {
                backend: "postgres",
                operation: "storing bytes that are not UTF-8 text",
            });
        };
        let (queue, state, at): (&str, &str, DateTime<Utc>) = match &place {
            RawPlace::Queue(q) => (q, "available", Utc::now()),
            RawPlace::Scheduled(q, at) => (q, "scheduled", *at),
            RawPlace::Retry(q, at) => (q, "retryable", *at),
            RawPlace::Dead(q, at) => (q, "dead", *at),
        };
        let s = format!("\"{}\"", self.schema);
        let sql = format!(
            "WITH row AS (
                 INSERT INTO {s}.jobs (jid, queue, state, run_at, position, payload)
                 VALUES ($1, $2, $3::{s}.job_state, $4, nextval('{s}.position_seq'), $5::json)
             )
             INSERT INTO {s}.queues (name) SELECT $2 WHERE $3 = 'available'
             ON CONFLICT DO NOTHING"
        );
        let result = sqlx::query(&sql)
            .bind(jid)
            .bind(queue)
            .bind(state)
            .bind(at)
            .bind(text)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            // invalid_text_representation: the json column refuses text that is not JSON.
            Err(e)
                if e.as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "22P02") =>
            {
                Err(BackendError::Unsupported {
                    backend: "postgres",
                    operation: "storing text that is not JSON in a json column",
                })
            }
            Err(e) => Err(BackendError::other(
                "raw insert into the Postgres jobs table",
                e,
            )),
        }
    }
}

/// A backend on a fresh schema, and a raw pool on the same database.
async fn subject() -> Result<PoisonSubject, CaseError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let schema = format!(
        "conformance_{secs}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let base = servers::postgres_url();
    let url = format!("{base}?schema={schema}&max_connections=4");
    let backend = match PostgresBackend::connect(&url).await {
        Ok(backend) => backend,
        Err(jobs::ConnectError::Backend(e)) => return Err(CaseError::Backend(e)),
        Err(e) => return Err(CaseError::Backend(BackendError::msg(e.to_string()))),
    };
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .map_err(|e| BackendError::other("opening the raw Postgres pool", e))?;
    Ok(PoisonSubject {
        backend: Arc::new(backend) as Arc<dyn AdminBackend>,
        raw: Arc::new(PostgresRaw { pool, schema }),
    })
}

jobs_conformance::poison_suite!(postgres, PoisonFactory::new(subject));
