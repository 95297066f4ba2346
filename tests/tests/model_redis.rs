//! Model-based property test against the Redis backend (see `jobs_conformance::model`), on
//! a `redis-server` of the test's own (AOF, `appendfsync always`) that a restart stops
//! (`SHUTDOWN`, or SIGKILL for a hard restart) and starts again on the same port and files.
//! Without `redis-server` it runs on the shared server under a key prefix of its own, and
//! a restart only reconnects. The keys are emptied with `clear_all` before every case.

mod servers;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use jobs::backend::AdminBackend;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use jobs_conformance::faults::servers::PrivateRedis;
use jobs_conformance::model::ModelStore;
use jobs_conformance::support::Subject;
use jobs_conformance::CaseError;

struct Store {
    /// The private server, when `redis-server` is installed.
    server: Option<PrivateRedis>,
    url: String,
    prefix: String,
    /// The backend in use, kept from case to case (each case empties the keys).
    current: Option<Subject>,
}

impl Store {
    async fn connect(&mut self) -> Result<Subject, CaseError> {
        let opts = RedisOptions::new(self.url.clone()).with_prefix(self.prefix.clone());
        let backend = Arc::new(RedisBackend::connect(opts).await?) as Arc<dyn AdminBackend>;
        self.current = Some(backend.clone());
        Ok(backend)
    }
}

#[async_trait(?Send)]
impl ModelStore for Store {
    async fn open(&mut self) -> Result<Subject, CaseError> {
        if let Some(server) = self.server.as_mut() {
            // A case that failed half-way through a restart left it stopped.
            if !server.is_running() {
                server.start_again().await;
            }
        }
        let backend = match self.current.clone() {
            Some(b) => b,
            None => self.connect().await?,
        };
        backend.clear_all().await?;
        Ok(backend)
    }

    async fn restart(&mut self, old: Subject, hard: bool) -> Result<Subject, CaseError> {
        self.current = None;
        match self.server.as_mut() {
            Some(server) => {
                if hard {
                    server.crash().await;
                } else {
                    server.shutdown().await;
                }
                drop(old);
                server.start_again().await;
            }
            None => drop(old),
        }
        self.connect().await
    }
}

async fn store() -> Result<Store, CaseError> {
    let prefix = format!("model:{}", std::process::id());
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (server, url) = match PrivateRedis::start(&tmp).await {
        Some(server) => {
            let url = server.url();
            (Some(server), url)
        }
        None => (None, servers::redis_url()),
    };
    Ok(Store {
        server,
        url,
        prefix,
        current: None,
    })
}

jobs_conformance::model_suite!(redis, store: store());
