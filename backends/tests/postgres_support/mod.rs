//! What the Postgres tests share: a fresh backend in a schema of its own, dropped at the end.
//!
//! Every test gets a unique schema (`pgtest_<pid>_<n>_<random>`), so tests run in parallel
//! against the one server without seeing each other's jobs. The server is
//! `JOBS_TEST_DATABASE_URL` (default: `postgres://root@127.0.0.1:5432/test`; `scripts/test`
//! sets it).

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use jobs::backend::{Backend, PushParams, ReserveParams, Reserved};
use jobs::envelope::JobEnvelope;
use jobs_backends::postgres::PostgresBackend;
use sqlx::Connection;

/// The database every test uses: `JOBS_TEST_DATABASE_URL`, or the local default (trust
/// auth, user root, database test).
pub fn base_url() -> String {
    std::env::var("JOBS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// [`base_url`] with the query parameters `params` (`k=v&...`) added.
pub fn base_url_with(params: &str) -> String {
    let base = base_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{params}")
}

/// A schema name no other test uses.
pub fn unique_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "pgtest_{}_{}_{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// The URL of `schema` with a small pool.
pub fn url(schema: &str) -> String {
    base_url_with(&format!("schema={schema}&max_connections=4"))
}

/// A backend in a fresh schema; call [`TestDb::drop`] at the end of the test.
pub struct TestDb {
    pub backend: PostgresBackend,
    pub schema: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let schema = unique_schema();
        let backend = PostgresBackend::connect(&url(&schema)).await.unwrap();
        TestDb { backend, schema }
    }

    /// Another backend (own pool, own listener) on the same schema, as another process.
    pub async fn another(&self) -> PostgresBackend {
        PostgresBackend::connect(&url(&self.schema)).await.unwrap()
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        drop_schema(&self.schema).await;
    }
}

/// Drops `schema` with everything in it.
pub async fn drop_schema(schema: &str) {
    let mut conn = sqlx::PgConnection::connect(&base_url()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A fixed instant: 2030-01-01T00:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

/// A job on `queue` whose one argument is `n`.
pub fn job(queue: &str, n: i64) -> JobEnvelope {
    JobEnvelope::new("PgTestJob", queue, vec![n.into()])
}

/// Pushes `jobs` at [`t0`].
pub async fn push(b: &impl Backend, jobs: Vec<JobEnvelope>) {
    b.job_push(PushParams::new(jobs, t0())).await.unwrap();
}

/// Reserves up to `limit` jobs from `queue` as `process`, not waiting.
pub async fn reserve(b: &impl Backend, queue: &str, limit: usize, process: &str) -> Vec<Reserved> {
    let mut p = ReserveParams::new(vec![queue.to_owned()], process, t0());
    p.limit = limit;
    b.job_reserve(p).await.unwrap()
}
