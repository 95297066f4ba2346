//! The SQLite backend: durable jobs in one file, with no server to run.
//!
//! 1. One `jobs` table holds every job with its state (`available`, `scheduled`,
//!    `running`, `retryable`, `dead`), time, FIFO position and lease; the envelope is the
//!    JSON text every backend stores. The schema is the numbered files of `sql/sqlite/`,
//!    embedded in the crate and applied at connect (`open.rs`).
//! 2. WAL mode with `synchronous=NORMAL` by default (see [`Synchronous`]: every commit
//!    survives the process being killed; `FULL` adds power loss), a busy timeout, and every
//!    write either one statement or a `BEGIN IMMEDIATE` transaction, both of which take the
//!    write lock before reading, on one writer connection (`writer.rs`); so worker and web
//!    processes sharing the file wait for each other instead of failing with "database is
//!    locked".
//! 3. Leases carry an owner, a token and an expiry; every settle is fenced by the token
//!    (`lease.rs`, `finish.rs`, where concurrent finishes commit together). Heartbeats extend
//!    leases (`process.rs`).
//! 4. Idle reservers wake on a `Notify` shared by every backend of the file in this process
//!    (`wake.rs`), and poll for pushes from other processes.
//! 5. Driver errors become [`BackendError`]s in one function (`error.rs`).

mod admin;
mod config;
mod db;
mod error;
mod finish;
mod lease;
mod metrics;
mod moves;
mod open;
mod process;
mod push;
mod schedule;
mod sets;
mod wake;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use jobs::backend::*;
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
/// use jobs::backend::AdminBackend;
/// use jobs_backends::sqlite::{SqliteBackend, SqliteConfig, Synchronous};
///
/// // From a URL: relative to the working directory, created when missing.
/// let backend = SqliteBackend::connect("sqlite://jobs.db").await?;
/// // Or from options.
/// let config = SqliteConfig::new("/var/lib/app/jobs.db").synchronous(Synchronous::Full);
/// let backend = SqliteBackend::open(config).await?;
/// println!("{:?}", backend.queue_list(chrono::Utc::now()).await?);
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

    async fn job_push(&self, params: PushParams) -> Result<(), BackendError> {
        push::job_push(&self.db, params).await
    }

    async fn job_reserve(&self, params: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        lease::job_reserve(&self.db, params).await
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

    async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
        process::process_remove(&self.db, id).await
    }

    async fn scheduled_promote(&self, params: PromoteParams) -> Result<u64, BackendError> {
        push::scheduled_promote(&self.db, params).await
    }

    async fn lease_rescue(&self, params: RescueParams) -> Result<u64, BackendError> {
        lease::lease_rescue(&self.db, params).await
    }

    fn metrics(&self) -> Option<&dyn jobs::metrics::MetricsStore> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
