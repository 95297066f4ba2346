//! The Postgres backend: jobs in one table, reserved with `FOR UPDATE SKIP LOCKED`.
//!
//! 1. [`PostgresBackend::connect`] opens a pool, runs the embedded migrations under an
//!    advisory lock ([`migrate`]) and starts a LISTEN task that wakes idle reservers
//!    (`notify.rs`).
//! 2. The hot path is one statement per call: a bulk push (`push.rs`; a push of unique jobs
//!    is a short transaction, `unique.rs`), a reserve of up to
//!    `limit` rows (`reserve.rs`), a finish of many leases with the counters (`finish.rs`),
//!    all fenced by lease tokens. The reserve commits asynchronously (`reserve.sql` says
//!    why that keeps at-least-once); `jobs` is analyzed once when it has no planner
//!    statistics yet (`stats.rs`).
//! 3. [`PostgresBackend::push_in`] enqueues on the app's own transaction or connection:
//!    the job exists, and workers are notified, only if that transaction commits.
//! 4. Driver errors are mapped to [`BackendError`]s in one function (`error.rs`).
//! 5. Recurring jobs (`schedule.rs`): schedule state in `schedules`, each tick claimed by
//!    inserting `(name, tick)` into `schedule_claims` in the transaction that pushes its job.
//! 6. Job metrics (`metrics.rs`): counters and a duration histogram per hour and job name
//!    in `job_metrics`, added with `INSERT ... ON CONFLICT DO UPDATE`.
//! 7. The trait impls below are a table of contents: each method is one line that
//!    delegates to the file of its family, the same files in every backend (`push.rs`,
//!    `reserve.rs`, `finish.rs`, `lease.rs`, `process.rs`, `promote.rs`, `listing.rs`,
//!    `actions.rs`, `facts.rs`, `metrics.rs`, `schedule.rs`; `docs/internals.md`).
//!    The rest is this backend's own machinery: `migrate.rs`, `notify.rs`, `rows.rs`,
//!    `sql.rs`, `sets.rs`, `stats.rs`, `poison.rs` (rows whose payload is not a job),
//!    `unique.rs` (unique locks: pushes that take them, and the admin side's list) and
//!    `limits.rs` (concurrency and rate limits; the slots live in triggers, migration 9).
//!
//! Tables live in a schema of their own (`?schema=` in the URL, default `jobs`); the SQL
//! is in `backends/sql/postgres/`.

mod actions;
mod age;
mod batch;
mod cancel;
mod checkpoint;
mod config;
mod error;
mod facts;
mod finish;
mod lease;
mod limits;
mod listing;
mod metrics;
mod migrate;
mod notify;
mod poison;
mod process;
mod promote;
mod push;
mod reserve;
mod results;
mod rows;
mod schedule;
mod sets;
mod sql;
mod stats;
mod unique;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs::metrics::{JobMetrics, MetricsStore, RecordParams};
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};
use jobs::{redact_url, ConnectError, ConnectFuture};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::PgConnection;
use tokio::task::JoinHandle;

pub use config::{InvalidSchema, PostgresOptions};
pub use migrate::{migrate, migration_status};

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
    limits: limits::Seen,
}

impl Inner {
    /// The schema holding this backend's tables.
    fn schema(&self) -> &str {
        self.options.schema()
    }

    /// A statement written inline, bound to this backend's schema (the small admin queries).
    fn q(&self, sql: &str) -> String {
        Queries::inline(self.schema(), sql)
    }
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
        facts::warn_if_autovacuum_off(&mut conn, &cx.target).await;
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
                limits: limits::Seen::default(),
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

    /// Pushes jobs on the app's own transaction or connection, timed now; returns the
    /// unique jobs not stored as given ([`PushReport`]).
    ///
    /// The jobs are stored, and idle workers notified, only when that transaction
    /// commits; on rollback they never existed. Single, delayed (`at` set) and bulk
    /// pushes all go through here, in one statement (unique jobs: a few, under a
    /// savepoint). A job whose jid is already stored fails the push with a conflict
    /// error and stores none of the jobs.
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
    ) -> Result<PushReport, BackendError> {
        self.job_push_in(conn, PushParams::new(jobs, Utc::now()))
            .await
    }

    /// [`PostgresBackend::push_in`] with an explicit time, as the `Backend` methods take.
    pub async fn job_push_in(
        &self,
        conn: &mut PgConnection,
        params: PushParams,
    ) -> Result<PushReport, BackendError> {
        push::insert(&self.inner, conn, params)
            .await
            .map(|pushed| pushed.report)
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

#[async_trait]
impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn job_push(&self, p: PushParams) -> Result<PushReport, BackendError> {
        push::job_push(&self.inner, p).await
    }

    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        reserve::job_reserve(&self.inner, p).await
    }

    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        finish::job_finish(&self.inner, p).await
    }

    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        lease::job_requeue(&self.inner, p).await
    }

    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        process::process_heartbeat(&self.inner, p).await
    }

    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError> {
        process::process_remove(&self.inner, params).await
    }

    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        promote::scheduled_promote(&self.inner, p).await
    }

    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        let now = p.now;
        let rescued = lease::lease_rescue(&self.inner, p).await?;
        results::purge(&self.inner, now).await?;
        Ok(rescued)
    }

    async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
        age::priority_age(&self.inner, p).await
    }

    async fn job_checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
        checkpoint::job_checkpoint(&self.inner, p).await
    }

    async fn rate_acquire(&self, p: RateAcquireParams) -> Result<RateDecision, BackendError> {
        limits::rate_acquire(&self.inner, p).await
    }

    async fn job_cancel(&self, params: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
        cancel::job_cancel(&self.inner, params).await
    }

    async fn cancel_pending(
        &self,
        params: CancelPendingParams,
    ) -> Result<Vec<String>, BackendError> {
        cancel::cancel_pending(&self.inner, params).await
    }

    async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
        cancel::cancel_listen(&self.inner).await
    }

    fn metrics(&self) -> Option<&dyn MetricsStore> {
        Some(self)
    }

    async fn job_progress(&self, p: ProgressParams) -> Result<bool, BackendError> {
        results::job_progress(&self.inner, p).await
    }

    async fn job_status(&self, p: JidParams) -> Result<JobStatus, BackendError> {
        results::job_status(&self.inner, p).await
    }

    async fn job_result(&self, p: JidParams) -> Result<Option<StoredResult>, BackendError> {
        results::job_result(&self.inner, p).await
    }

    fn batches(&self) -> Option<&dyn jobs::backend::BatchStore> {
        Some(self)
    }
}

#[async_trait]
impl AdminBackend for PostgresBackend {
    async fn queue_list(&self, params: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
        listing::queue_list(&self.inner, params).await
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), BackendError> {
        actions::queue_pause(&self.inner, params).await
    }

    async fn queue_clear(&self, params: QueueClearParams) -> Result<u64, BackendError> {
        actions::queue_clear(&self.inner, params).await
    }

    async fn job_list(&self, params: JobListParams) -> Result<JobPage, BackendError> {
        listing::job_list(&self.inner, params).await
    }

    async fn job_get(&self, params: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
        listing::job_get(&self.inner, params).await
    }

    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        actions::job_delete(&self.inner, p).await
    }

    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        actions::job_enqueue_now(&self.inner, p).await
    }

    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        actions::job_kill(&self.inner, p).await
    }

    async fn unique_list(&self, p: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError> {
        unique::unique_list(&self.inner, p).await
    }

    async fn unique_release(&self, p: UniqueReleaseParams) -> Result<bool, BackendError> {
        unique::unique_release(&self.inner, p).await
    }

    async fn limits_list(&self, p: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError> {
        limits::limits_list(&self.inner, p).await
    }

    async fn limit_waiting(&self, p: LimitWaitingParams) -> Result<Vec<JobEnvelope>, BackendError> {
        limits::limit_waiting(&self.inner, p).await
    }

    async fn limit_waiting_delete(&self, p: LimitWaitingDeleteParams) -> Result<u64, BackendError> {
        limits::limit_waiting_delete(&self.inner, p).await
    }

    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        process::process_list(&self.inner).await
    }

    async fn process_signal(&self, params: ProcessSignalParams) -> Result<(), BackendError> {
        process::process_signal(&self.inner, params).await
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        listing::stats(&self.inner).await
    }

    async fn stats_history(
        &self,
        params: StatsHistoryParams,
    ) -> Result<Vec<DayStats>, BackendError> {
        listing::stats_history(&self.inner, params).await
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        facts::facts(&self.inner).await
    }

    fn schedules(&self) -> Option<&dyn ScheduleStore> {
        Some(self)
    }

    async fn clear_all(&self) -> Result<(), BackendError> {
        actions::clear_all(&self.inner).await
    }
}

#[async_trait]
impl ScheduleStore for PostgresBackend {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        schedule::schedule_list(&self.inner).await
    }

    async fn schedule_get(
        &self,
        params: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        schedule::schedule_get(&self.inner, params).await
    }

    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        schedule::schedule_declare(&self.inner, p).await
    }

    async fn schedule_advance(&self, params: AdvanceParams) -> Result<(), BackendError> {
        schedule::schedule_advance(&self.inner, params).await
    }

    async fn schedule_set_enabled(&self, params: EnableParams) -> Result<bool, BackendError> {
        schedule::schedule_set_enabled(&self.inner, params).await
    }

    async fn schedule_remove(&self, params: ScheduleRemoveParams) -> Result<bool, BackendError> {
        schedule::schedule_remove(&self.inner, params).await
    }

    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        schedule::schedule_claim(&self.inner, p).await
    }
}

#[async_trait]
impl MetricsStore for PostgresBackend {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        metrics::metrics_record(&self.inner, p).await
    }

    async fn metrics_query(
        &self,
        params: MetricsQueryParams,
    ) -> Result<Vec<JobMetrics>, BackendError> {
        metrics::metrics_query(&self.inner, params).await
    }
}
