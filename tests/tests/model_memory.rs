//! Model-based property test against the in-memory backend (see `jobs_conformance::model`).

jobs_conformance::model_suite!(memory, async {
    Ok::<_, jobs_conformance::CaseError>(std::sync::Arc::new(jobs::memory::MemoryBackend::new())
        as std::sync::Arc<dyn jobs::backend::AdminBackend>)
});
