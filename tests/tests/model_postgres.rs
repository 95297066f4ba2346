//! Model-based property test against the Postgres backend: one schema for this run, emptied
//! with `clear_all` before every case (see `jobs_conformance::model`). The schema is named
//! like the conformance suite's, so its sweep drops it once it is ten minutes old.

mod servers;

use std::sync::Arc;

use jobs::backend::{AdminBackend, BackendError};
use jobs_backends::postgres::PostgresBackend;
use jobs_conformance::CaseError;

async fn subject() -> Result<Arc<dyn AdminBackend>, CaseError> {
    static SCHEMA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let secs = chrono::Utc::now().timestamp();
        format!("conformance_{secs}_{}_0", std::process::id())
    });
    let url = servers::with_params(
        &servers::postgres_url(),
        &format!("schema={schema}&max_connections=2"),
    );
    let backend = match PostgresBackend::connect(&url).await {
        Ok(b) => b,
        Err(jobs::ConnectError::Backend(e)) => return Err(CaseError::Backend(e)),
        Err(e) => return Err(CaseError::Backend(BackendError::msg(e.to_string()))),
    };
    backend.clear_all().await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

jobs_conformance::model_suite!(postgres, subject());
