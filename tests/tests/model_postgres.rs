//! Model-based property test against the Postgres backend: one schema for this run, emptied
//! with `clear_all` before every case (see `jobs_conformance::model`). The schema is named
//! like the conformance suite's, so its sweep drops it once it is ten minutes old.
//!
//! A restart is a reconnect: the backend's connections (named by `application_name`) are
//! killed with `pg_terminate_backend`, the backend is dropped, and a fresh one connects to
//! the same schema. (Restarting a private cluster per case would be too slow.)

mod servers;

use std::sync::Arc;

use async_trait::async_trait;
use jobs::backend::{AdminBackend, BackendError};
use jobs_backends::postgres::PostgresBackend;
use jobs_conformance::model::ModelStore;
use jobs_conformance::support::Subject;
use jobs_conformance::CaseError;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

struct Store {
    url: String,
    application: String,
    /// A connection of the test's own, which kills the backend's.
    admin: PgPool,
    /// The backend in use, kept from case to case (each case empties the schema).
    current: Option<Subject>,
}

fn backend_error(e: impl std::fmt::Display) -> CaseError {
    CaseError::Backend(BackendError::msg(e.to_string()))
}

impl Store {
    async fn connect(&mut self) -> Result<Subject, CaseError> {
        let backend = match PostgresBackend::connect(&self.url).await {
            Ok(b) => b,
            Err(jobs::ConnectError::Backend(e)) => return Err(CaseError::Backend(e)),
            Err(e) => return Err(backend_error(e)),
        };
        let backend = Arc::new(backend) as Arc<dyn AdminBackend>;
        self.current = Some(backend.clone());
        Ok(backend)
    }
}

#[async_trait(?Send)]
impl ModelStore for Store {
    async fn open(&mut self) -> Result<Subject, CaseError> {
        let backend = match self.current.clone() {
            Some(b) => b,
            None => self.connect().await?,
        };
        backend.clear_all().await?;
        Ok(backend)
    }

    async fn restart(&mut self, old: Subject, _hard: bool) -> Result<Subject, CaseError> {
        self.current = None;
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()) AS k",
        )
        .bind(&self.application)
        .fetch_one(&self.admin)
        .await
        .map_err(backend_error)?;
        assert!(killed > 0, "the backend had no connection to kill");
        drop(old);
        self.connect().await
    }
}

async fn store() -> Result<Store, CaseError> {
    let secs = chrono::Utc::now().timestamp();
    let schema = format!("conformance_{secs}_{}_0", std::process::id());
    let application = format!("jobs_model_{}", std::process::id());
    let url = servers::with_params(
        &servers::postgres_url(),
        &format!("schema={schema}&max_connections=2&application_name={application}"),
    );
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&servers::postgres_url())
        .await
        .map_err(backend_error)?;
    Ok(Store {
        url,
        application,
        admin,
        current: None,
    })
}

jobs_conformance::model_suite!(postgres, store: store());
