//! Runs the conformance suite against the Redis backend, each case under a key prefix of its
//! own on the server at `JOBS_TEST_REDIS_URL` (see `servers`).
//!
//! Prefixes are `conformance:<epoch secs>:<pid>:<n>`; nothing is flushed, and a case's keys
//! stay under its prefix (a few small keys per case).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod servers;

use jobs::backend::AdminBackend;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use jobs_conformance::{CaseError, Factory};

async fn fresh_prefix() -> Result<Arc<dyn AdminBackend>, CaseError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = servers::redis_url();
    let secs = chrono::Utc::now().timestamp();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("conformance:{secs}:{}:{n}", std::process::id());
    let opts = RedisOptions::new(url).with_prefix(prefix);
    let backend = RedisBackend::connect(opts).await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

jobs_conformance::conformance_suite!(redis, Factory::fallible(fresh_prefix).require_all());
