//! The SQLite backend: durable jobs in one file, with no server to run.
//!
//! 1. One `jobs` table holds every job with its state (`available`, `scheduled`,
//!    `running`, `retryable`, `dead`, and `waiting` for a concurrency slot), time,
//!    priority, FIFO position, lease, unique lock and concurrency limit; the envelope is
//!    the JSON text every backend stores. The schema is the numbered files of
//!    `sql/sqlite/`, embedded in the crate and applied at connect (`open.rs`).
//! 2. WAL mode with `synchronous=NORMAL` by default (see [`Synchronous`]: every commit
//!    survives the process being killed; `FULL` adds power loss), a busy timeout, and every
//!    write either one statement or a `BEGIN IMMEDIATE` transaction, both of which take the
//!    write lock before reading, on one writer connection (`writer.rs`); so worker and web
//!    processes sharing the file wait for each other instead of failing with "database is
//!    locked".
//! 3. Leases carry an owner, a token and an expiry; every settle is fenced by the token
//!    (`lease.rs`, `finish.rs`, where concurrent finishes commit together). Heartbeats extend
//!    leases (`process.rs`). Each job counts its rescues from dead processes; at the
//!    worker's limit a rescue buries it instead of requeueing it (`lease.rs`).
//! 4. Idle reservers wake on a `Notify` shared by every backend of the file in this process
//!    (`wake.rs`), and poll for pushes from other processes.
//! 5. Driver errors become [`BackendError`]s in one function (`error.rs`).
//! 6. The trait impls below are a table of contents: each method is one line that
//!    delegates to the file of its family, the same files in every backend (`push.rs`,
//!    `reserve.rs`, `finish.rs`, `lease.rs`, `process.rs`, `promote.rs`, `listing.rs`,
//!    `actions.rs`, `facts.rs`, `metrics.rs`, `schedule.rs`, `unique.rs`, `limits.rs`;
//!    `docs/internals.md`).
//!    The rest is this backend's own machinery: `db.rs`, `open.rs`, `writer.rs`,
//!    `wake.rs`, `moves.rs`, `sets.rs` and `poison.rs` (rows whose payload is not a job).

mod actions;
mod age;
mod batch;
mod cancel;
mod checkpoint;
mod config;
mod db;
mod error;
mod facts;
mod finish;
mod lease;
mod limits;
mod listing;
mod metrics;
mod moves;
mod open;
mod poison;
mod process;
mod promote;
mod push;
mod reserve;
mod results;
mod schedule;
mod sets;
mod unique;
mod wake;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs::metrics::{JobMetrics, MetricsStore, RecordParams};
use jobs::schedule::{ClaimParams, DeclareParams, ScheduleRecord, ScheduleStore};
use jobs::ConnectError;

pub use config::{SqliteConfig, Synchronous};
use db::Db;

/// A backend that keeps jobs in a SQLite database file.
///
/// Several processes may share the file: workers and a web process on one machine. Clones
/// share the same connections.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs::backend::{AdminBackend, QueueListParams};
/// use jobs_backends::sqlite::{SqliteBackend, SqliteConfig, Synchronous};
///
/// // From a URL: relative to the working directory, created when missing.
/// let backend = SqliteBackend::connect("sqlite://jobs.db").await?;
/// // Or from options.
/// let config = SqliteConfig::new("/var/lib/app/jobs.db").synchronous(Synchronous::Full);
/// let backend = SqliteBackend::open(config).await?;
/// println!("{:?}", backend.queue_list(QueueListParams::new(chrono::Utc::now())).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    db: Arc<Db>,
}

impl SqliteBackend {
    /// Opens the database a `sqlite://` URL names (see [`SqliteConfig::from_url`]).
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let config = SqliteConfig::from_url(url)?;
        Ok(Self::open(config).await?)
    }

    /// Opens (creating when missing) the database `config` names and brings its schema up
    /// to date.
    pub async fn open(config: SqliteConfig) -> Result<Self, BackendError> {
        Ok(SqliteBackend {
            db: Arc::new(open::open(&config).await?),
        })
    }

    /// A backend on a new database file in the system's temporary directory, deleted when
    /// the last clone of the backend is dropped: for tests, each of which gets its own file
    /// and so runs in parallel with the others.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use jobs::backend::{Backend, PushParams};
    /// use jobs_backends::sqlite::SqliteBackend;
    /// let backend = SqliteBackend::temporary().await.unwrap();
    /// let job = jobs::envelope::JobEnvelope::new("Ping", "default", vec![]);
    /// backend.job_push(PushParams::new(vec![job], chrono::Utc::now())).await.unwrap();
    /// # });
    /// ```
    pub async fn temporary() -> Result<Self, BackendError> {
        Self::temporary_with(|config| config).await
    }

    /// [`SqliteBackend::temporary`] with options changed by `configure` (its path is
    /// ignored).
    pub async fn temporary_with(
        configure: impl FnOnce(SqliteConfig) -> SqliteConfig,
    ) -> Result<Self, BackendError> {
        let path = open::temporary_path();
        let mut config = configure(SqliteConfig::new(&path));
        config.path = path.clone();
        let mut db = open::open(&config).await.inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        db.temporary = Some(path);
        Ok(SqliteBackend { db: Arc::new(db) })
    }

    /// The database file, as opened (canonical).
    pub fn path(&self) -> &std::path::Path {
        std::path::Path::new(&self.db.cx.target)
    }

    /// Closes the connections; calls made afterwards fail with a connection error.
    pub async fn close(&self) {
        self.db.writer.close().await;
        self.db.readers.close().await;
    }
}

/// Builds the backend for `jobs::connect`, registered for the `sqlite` scheme.
pub(crate) fn connector(url: String) -> jobs::ConnectFuture {
    Box::pin(async move {
        let backend: Arc<dyn AdminBackend> = Arc::new(SqliteBackend::connect(&url).await?);
        Ok(backend)
    })
}

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn job_push(&self, params: PushParams) -> Result<PushReport, BackendError> {
        push::job_push(&self.db, params).await
    }

    async fn job_reserve(&self, params: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        reserve::job_reserve(&self.db, params).await
    }

    async fn job_finish(&self, params: FinishParams) -> Result<FinishReport, BackendError> {
        finish::job_finish(&self.db, params).await
    }

    async fn job_requeue(&self, params: RequeueParams) -> Result<(), BackendError> {
        lease::job_requeue(&self.db, params).await
    }

    async fn process_heartbeat(
        &self,
        params: HeartbeatParams,
    ) -> Result<HeartbeatReply, BackendError> {
        process::process_heartbeat(&self.db, params).await
    }

    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError> {
        process::process_remove(&self.db, params).await
    }

    async fn scheduled_promote(&self, params: PromoteParams) -> Result<u64, BackendError> {
        promote::scheduled_promote(&self.db, params).await
    }

    async fn lease_rescue(&self, params: RescueParams) -> Result<u64, BackendError> {
        let now = params.now;
        let rescued = lease::lease_rescue(&self.db, params).await?;
        results::purge(&self.db, now).await?;
        Ok(rescued)
    }

    async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
        age::priority_age(&self.db, p).await
    }

    async fn job_checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
        checkpoint::job_checkpoint(&self.db, p).await
    }

    async fn rate_acquire(&self, params: RateAcquireParams) -> Result<RateDecision, BackendError> {
        limits::rate_acquire(&self.db, params).await
    }

    async fn job_cancel(&self, params: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
        cancel::job_cancel(&self.db, params).await
    }

    async fn cancel_pending(
        &self,
        params: CancelPendingParams,
    ) -> Result<Vec<String>, BackendError> {
        cancel::cancel_pending(&self.db, params).await
    }

    async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
        cancel::cancel_listen(&self.db).await
    }

    fn metrics(&self) -> Option<&dyn MetricsStore> {
        Some(self)
    }

    async fn job_progress(&self, params: ProgressParams) -> Result<bool, BackendError> {
        results::job_progress(&self.db, params).await
    }

    async fn job_status(&self, params: JidParams) -> Result<JobStatus, BackendError> {
        results::job_status(&self.db, params).await
    }

    async fn job_result(&self, params: JidParams) -> Result<Option<StoredResult>, BackendError> {
        results::job_result(&self.db, params).await
    }

    fn batches(&self) -> Option<&dyn jobs::backend::BatchStore> {
        Some(self)
    }
}

#[async_trait]
impl AdminBackend for SqliteBackend {
    async fn queue_list(&self, params: QueueListParams) -> Result<Vec<QueueInfo>, BackendError> {
        listing::queue_list(&self.db, params).await
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), BackendError> {
        actions::queue_pause(&self.db, params).await
    }

    async fn queue_clear(&self, params: QueueClearParams) -> Result<u64, BackendError> {
        actions::queue_clear(&self.db, params).await
    }

    async fn job_list(&self, params: JobListParams) -> Result<JobPage, BackendError> {
        listing::job_list(&self.db, params).await
    }

    async fn job_get(&self, params: JobGetParams) -> Result<Option<StoredJob>, BackendError> {
        listing::job_get(&self.db, params).await
    }

    async fn job_delete(&self, params: JobActionParams) -> Result<u64, BackendError> {
        actions::job_delete(&self.db, params).await
    }

    async fn job_enqueue_now(&self, params: JobActionParams) -> Result<u64, BackendError> {
        actions::job_enqueue_now(&self.db, params).await
    }

    async fn job_kill(&self, params: JobActionParams) -> Result<u64, BackendError> {
        actions::job_kill(&self.db, params).await
    }

    async fn unique_list(&self, params: UniqueListParams) -> Result<Vec<UniqueHeld>, BackendError> {
        unique::unique_list(&self.db, params).await
    }

    async fn unique_release(&self, params: UniqueReleaseParams) -> Result<bool, BackendError> {
        unique::unique_release(&self.db, params).await
    }

    async fn limits_list(&self, params: LimitsListParams) -> Result<Vec<LimitUsage>, BackendError> {
        limits::limits_list(&self.db, params).await
    }

    async fn limit_waiting(
        &self,
        params: LimitWaitingParams,
    ) -> Result<Vec<JobEnvelope>, BackendError> {
        limits::limit_waiting(&self.db, params).await
    }

    async fn limit_waiting_delete(
        &self,
        params: LimitWaitingDeleteParams,
    ) -> Result<u64, BackendError> {
        limits::limit_waiting_delete(&self.db, params).await
    }

    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        process::process_list(&self.db).await
    }

    async fn process_signal(&self, params: ProcessSignalParams) -> Result<(), BackendError> {
        process::process_signal(&self.db, params).await
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        listing::stats(&self.db).await
    }

    async fn stats_history(
        &self,
        params: StatsHistoryParams,
    ) -> Result<Vec<DayStats>, BackendError> {
        listing::stats_history(&self.db, params).await
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        facts::facts(&self.db).await
    }

    fn schedules(&self) -> Option<&dyn ScheduleStore> {
        Some(self)
    }

    async fn clear_all(&self) -> Result<(), BackendError> {
        actions::clear_all(&self.db).await
    }
}

#[async_trait]
impl ScheduleStore for SqliteBackend {
    async fn schedule_list(&self) -> Result<Vec<ScheduleRecord>, BackendError> {
        schedule::schedule_list(&self.db).await
    }

    async fn schedule_get(
        &self,
        params: ScheduleGetParams,
    ) -> Result<Option<ScheduleRecord>, BackendError> {
        schedule::schedule_get(&self.db, params).await
    }

    async fn schedule_declare(&self, p: DeclareParams) -> Result<ScheduleRecord, BackendError> {
        schedule::schedule_declare(&self.db, p).await
    }

    async fn schedule_advance(&self, params: AdvanceParams) -> Result<(), BackendError> {
        schedule::schedule_advance(&self.db, params).await
    }

    async fn schedule_set_enabled(&self, params: EnableParams) -> Result<bool, BackendError> {
        schedule::schedule_set_enabled(&self.db, params).await
    }

    async fn schedule_remove(&self, params: ScheduleRemoveParams) -> Result<bool, BackendError> {
        schedule::schedule_remove(&self.db, params).await
    }

    async fn schedule_claim(&self, p: ClaimParams) -> Result<bool, BackendError> {
        schedule::schedule_claim(&self.db, p).await
    }
}

#[async_trait]
impl MetricsStore for SqliteBackend {
    async fn metrics_record(&self, p: RecordParams) -> Result<(), BackendError> {
        metrics::metrics_record(&self.db, p).await
    }

    async fn metrics_query(
        &self,
        params: MetricsQueryParams,
    ) -> Result<Vec<JobMetrics>, BackendError> {
        metrics::metrics_query(&self.db, params).await
    }
}

#[cfg(test)]
mod tests;

/// The embedded migrations, each with whether the database `config` names has it; every
/// one pending when the file does not exist (this does not create it). What `jobs migrate
/// --dry-run` prints.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::sqlite::{migration_status, SqliteConfig};
/// for m in migration_status(&SqliteConfig::new("jobs.db")).await? {
///     println!("{} {} {}", m.version, m.name, if m.applied { "applied" } else { "pending" });
/// }
/// # Ok(()) }
/// ```
pub async fn migration_status(
    config: &SqliteConfig,
) -> Result<Vec<crate::migrations::MigrationState>, BackendError> {
    open::migration_status(config).await
}

/// Creates the database `config` names when missing and applies its pending migrations
/// (what opening a backend does first); returns the versions applied, none when up to date.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jobs_backends::sqlite::{migrate, SqliteConfig};
/// let applied = migrate(&SqliteConfig::new("jobs.db")).await?;
/// println!("applied migrations {applied:?}");
/// # Ok(()) }
/// ```
pub async fn migrate(config: &SqliteConfig) -> Result<Vec<i64>, BackendError> {
    open::apply_migrations(config).await
}
