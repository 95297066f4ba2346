//! Runs the conformance suite against the in-memory backend, which must pass every case.

jobs_conformance::conformance_suite!(
    memory,
    jobs_conformance::Factory::new(|| async { jobs::memory::MemoryBackend::new() }).require_all()
);
