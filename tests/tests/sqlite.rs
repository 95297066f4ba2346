//! The conformance suite against the SQLite backend: every case on its own temporary file.

jobs_conformance::conformance_suite!(
    sqlite,
    jobs_conformance::Factory::fallible(|| async {
        let backend = jobs_backends::sqlite::SqliteBackend::temporary().await?;
        Ok(std::sync::Arc::new(backend) as std::sync::Arc<dyn jobs::backend::AdminBackend>)
    })
    .require_all()
);
