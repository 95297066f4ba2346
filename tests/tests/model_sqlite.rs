//! Model-based property test against the SQLite backend, a temporary file per case.

jobs_conformance::model_suite!(sqlite, async {
    let backend = jobs_backends::sqlite::SqliteBackend::temporary().await?;
    Ok::<_, jobs_conformance::CaseError>(
        std::sync::Arc::new(backend) as std::sync::Arc<dyn jobs::backend::AdminBackend>
    )
});
