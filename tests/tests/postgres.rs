//! Runs the conformance suite against the Postgres backend, each case in a schema of its own.
//!
//! The server is `JOBS_TEST_DATABASE_URL` (see `servers`).
//! Schemas are named `conformance_<epoch secs>_<pid>_<n>`; each run first drops those more
//! than ten minutes old (through `psql`, when it is installed), since a case has no teardown
//! to drop its own.

mod servers;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};

use jobs::backend::{AdminBackend, BackendError};
use jobs_backends::postgres::PostgresBackend;
use jobs_conformance::{CaseError, Factory};

fn base_url() -> String {
    servers::postgres_url()
}

fn sweep_old_schemas() {
    use std::io::Write;
    // One DROP per statement (`\gexec`): dropping hundreds in one transaction runs out
    // of lock slots.
    const SWEEP: &str = "SET client_min_messages = warning;
        SELECT format('DROP SCHEMA %I CASCADE', nspname) FROM pg_namespace
        WHERE nspname ~ '^conformance_[0-9]+_[0-9]+_[0-9]+$'
          AND split_part(nspname, '_', 2)::bigint < extract(epoch FROM now()) - 600
        \\gexec\n";
    let psql = std::process::Command::new("psql")
        .args([base_url().as_str(), "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut psql) = psql {
        if let Some(mut stdin) = psql.stdin.take() {
            let _ = stdin.write_all(SWEEP.as_bytes());
        }
        let _ = psql.wait();
    }
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
