//! Runs the conformance suite against the Postgres backend, each case in a schema of its own.
//!
//! The server is `JOBS_POSTGRES_URL` (default: `postgres://root@127.0.0.1:5432/test`).
//! Schemas are named `conformance_<epoch secs>_<pid>_<n>`; each run first drops those left by
//! runs more than an hour old (through `psql`, when it is installed), since a case has no
//! teardown to drop its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};

use jobs::backend::{AdminBackend, BackendError};
use jobs_backends::postgres::PostgresBackend;
use jobs_conformance::{CaseError, Factory};

fn base_url() -> String {
    std::env::var("JOBS_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

fn sweep_old_schemas() {
    const SWEEP: &str = "DO $$ DECLARE s text; BEGIN
        FOR s IN SELECT nspname FROM pg_namespace
                 WHERE nspname ~ '^conformance_[0-9]+_[0-9]+_[0-9]+$'
                   AND split_part(nspname, '_', 2)::bigint < extract(epoch FROM now()) - 3600
        LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$";
    let _ = std::process::Command::new("psql")
        .args([&base_url(), "-q", "-c", SWEEP])
        .output();
}

async fn fresh_schema() -> Result<Arc<dyn AdminBackend>, CaseError> {
    static SWEPT: Once = Once::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    SWEPT.call_once(sweep_old_schemas);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let schema = format!(
        "conformance_{secs}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = format!("{}?schema={schema}&max_connections=4", base_url());
    match PostgresBackend::connect(&url).await {
        Ok(backend) => Ok(Arc::new(backend) as Arc<dyn AdminBackend>),
        Err(jobs::ConnectError::Backend(e)) => Err(CaseError::Backend(e)),
        Err(e) => Err(CaseError::Backend(BackendError::msg(e.to_string()))),
    }
}

jobs_conformance::conformance_suite!(postgres, Factory::fallible(fresh_schema));
