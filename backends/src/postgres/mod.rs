//! The Postgres backend: jobs in one table, reserved with `FOR UPDATE SKIP LOCKED`.
//!
//! 1. [`PostgresBackend::connect`] opens a pool, runs the embedded migrations under an
//!    advisory lock ([`migrate`]) and starts a LISTEN task that wakes idle reservers.
//! 2. The hot path (`hot.rs`) is one statement per call: a bulk push, a reserve of up to
//!    `limit` rows, a finish of many leases with the counters, all fenced by lease tokens.
//!    The reserve commits asynchronously (`reserve.sql` says why that keeps at-least-once);
//!    `jobs` is analyzed once when it has no planner statistics yet (`stats.rs`).
//! 3. [`PostgresBackend::push_in`] enqueues on the app's own transaction or connection:
//!    the job exists, and workers are notified, only if that transaction commits.
//! 4. The admin side lives in `admin.rs` and `select.rs`; driver errors are mapped to
//!    [`BackendError`]s in one function (`error.rs`).
//! 5. Recurring jobs (`schedule.rs`): schedule state in `schedules`, each tick claimed by
//!    inserting `(name, tick)` into `schedule_claims` in the transaction that pushes its job.
//! 6. Job metrics (`metrics.rs`): counters and a duration histogram per hour and job name
//!    in `job_metrics`, added with `INSERT ... ON CONFLICT DO UPDATE`; and the dashboard's
//!    server facts.
//!
//! Tables live in a schema of their own (`?schema=` in the URL, default `jobs`); the SQL
//! is in `backends/sql/postgres/`.

mod admin;
mod config;
mod error;
mod hot;
mod metrics;
mod migrate;
mod notify;
mod rows;
mod schedule;
mod select;
mod sql;
mod stats;

use std::sync::Arc;

use chrono::Utc;
use jobs::backend::{AdminBackend, BackendError, PushParams};
use jobs::envelope::JobEnvelope;
use jobs::{redact_url, ConnectError, ConnectFuture};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tokio::task::JoinHandle;

pub use config::{InvalidSchema, PostgresOptions};
pub use migrate::migrate;

use error::{ErrorContext, Sqlx};
use notify::Wake;
use sql::Queries;

/// A backend storing jobs in PostgreSQL.
///
/// Cloning is cheap and shares the pool. Connect with a URL (`?schema=` picks the schema,
/// default `jobs`), or hand it a pool the app already has with [`PostgresBackend::from_pool`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::postgres::PostgresBackend;
/// let backend = PostgresBackend::connect("postgres://root@127.0.0.1:5432/test?schema=myapp").await?;
/// assert_eq!(backend.schema(), "myapp");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    options: PostgresOptions,
    sql: Queries,
    cx: ErrorContext,
    wake: Arc<Wake>,
    listener: JoinHandle<()>,
    statistics: stats::Statistics,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.inner.cx.target)
            .field("schema", &self.inner.options.schema())
            .finish()
    }
}

impl PostgresBackend {
    /// Connects to the database at `url`, creates or upgrades the schema, and starts
    /// listening for job notifications.
    ///
    /// Besides sqlx's own parameters the URL takes `schema`, `max_connections`,
    /// `acquire_timeout_ms`, `poll_interval_ms` and `completed_retention_secs` (see
    /// [`PostgresOptions`]).
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let (connect, options) = PostgresOptions::from_url(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections())
            .acquire_timeout(options.acquire_timeout())
            .connect_lazy_with(connect);
        Ok(Self::start(pool, options, redact_url(url)).await?)
    }

    /// Uses a pool the app already has; creates or upgrades the schema in `options`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use jobs_backends::postgres::{PostgresBackend, PostgresOptions};
    /// let pool = sqlx::PgPool::connect("postgres://root@127.0.0.1:5432/test").await?;
    /// let backend = PostgresBackend::from_pool(pool, PostgresOptions::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_pool(pool: PgPool, options: PostgresOptions) -> Result<Self, BackendError> {
        let target = describe(&pool.connect_options());
        Self::start(pool, options, target).await
    }

    async fn start(
        pool: PgPool,
        options: PostgresOptions,
        target: String,
    ) -> Result<Self, BackendError> {
        let cx = ErrorContext {
            target,
            acquire_timeout: options.acquire_timeout(),
        };
        let mut conn = pool.acquire().await.or_backend(&cx)?;
        migrate(&mut conn, options.schema()).await?;
        drop(conn);
        let wake = Arc::new(Wake::default());
        let listener = notify::spawn_listener(
            (*pool.connect_options()).clone(),
            sql::channel(options.schema()),
            wake.clone(),
        );
        Ok(PostgresBackend {
            inner: Arc::new(Inner {
                sql: Queries::new(options.schema()),
                pool,
                options,
                cx,
                wake,
                listener,
                statistics: stats::Statistics::default(),
            }),
        })
    }

    /// The schema holding this backend's tables.
    pub fn schema(&self) -> &str {
        self.inner.options.schema()
    }

    /// The connection pool, for the app's own queries and transactions.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Pushes jobs on the app's own transaction or connection, timed now.
    ///
    /// The jobs are stored, and idle workers notified, only when that transaction
    /// commits; on rollback they never existed. Single, delayed (`at` set) and bulk
    /// pushes all go through here, in one statement. A job whose jid is already stored
    /// fails the push with a conflict error and stores none of the jobs.
    ///
    /// ```no_run
    /// # async fn demo(backend: jobs_backends::postgres::PostgresBackend) -> Result<(), Box<dyn std::error::Error>> {
    /// use jobs::envelope::JobEnvelope;
    /// let mut tx = backend.pool().begin().await?;
    /// sqlx::query("INSERT INTO users (email) VALUES ($1)")
    ///     .bind("alice@example.com")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// let welcome = JobEnvelope::new("SendWelcomeEmail", "mailers", vec!["alice@example.com".into()]);
    /// backend.push_in(&mut tx, vec![welcome]).await?;
    /// tx.commit().await?; // the job exists from here on, and a worker wakes for it
    /// # Ok(()) }
    /// ```
    pub async fn push_in(
        &self,
        conn: &mut PgConnection,
        jobs: Vec<JobEnvelope>,
    ) -> Result<(), BackendError> {
        self.job_push_in(conn, PushParams::new(jobs, Utc::now()))
            .await
    }

    /// [`PostgresBackend::push_in`] with an explicit time, as the `Backend` methods take.
    pub async fn job_push_in(
        &self,
        conn: &mut PgConnection,
        params: PushParams,
    ) -> Result<(), BackendError> {
        hot::push(&self.inner, conn, params).await.map(|_| ())
    }
}

/// Where a pool connects, for error messages (never a password).
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// Builds a backend from a `postgres://` or `postgresql://` URL, for `jobs::connect`.
pub fn connect_url(url: String) -> ConnectFuture {
    Box::pin(async move {
        let backend = PostgresBackend::connect(&url).await?;
        Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
    })
}
