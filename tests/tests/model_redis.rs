//! Model-based property test against the Redis backend: one key prefix for this run,
//! emptied with `clear_all` before every case (see `jobs_conformance::model`).

mod servers;

use std::sync::Arc;

use jobs::backend::AdminBackend;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use jobs_conformance::CaseError;

async fn subject() -> Result<Arc<dyn AdminBackend>, CaseError> {
    let prefix = format!("model:{}", std::process::id());
    let opts = RedisOptions::new(servers::redis_url()).with_prefix(prefix);
    let backend = RedisBackend::connect(opts).await?;
    backend.clear_all().await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

jobs_conformance::model_suite!(redis, subject());
