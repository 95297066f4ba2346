//! Model-based property test against the in-memory backend (see `jobs_conformance::model`).
//! It has no restart (its state is the process), so its sequences never restart it.

jobs_conformance::model_suite!(memory, async {
    Ok::<_, jobs_conformance::CaseError>(std::sync::Arc::new(jobs::memory::MemoryBackend::new())
        as std::sync::Arc<dyn jobs::backend::AdminBackend>)
});
