//! Runs the poison area against the Redis backend: bytes that are not a job are written
//! with the `redis` crate straight into Sidekiq's keys, each case under a key prefix of its
//! own on the server at `JOBS_TEST_REDIS_URL` (see `servers`).
//!
//! Prefixes are `poison:<epoch secs>:<pid>:<n>`; nothing is flushed, and a case's keys stay
//! under its prefix (a few small keys per case).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod servers;

use async_trait::async_trait;
use jobs::backend::{AdminBackend, BackendError};
use jobs::envelope::to_epoch;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use jobs_conformance::poison::{PoisonFactory, PoisonSubject, RawPlace, RawStore};
use jobs_conformance::CaseError;

/// Writes bytes into the keys a backend under `ns` reads, as Sidekiq lays them out.
struct RedisRaw {
    conn: ::redis::aio::MultiplexedConnection,
    /// The key prefix as prepended: `<prefix>:`.
    ns: String,
}

fn store_error(e: ::redis::RedisError) -> BackendError {
    BackendError::Other {
        message: format!("writing raw bytes to Redis failed: {e}"),
        source: Some(Box::new(e)),
    }
}

#[async_trait]
impl RawStore for RedisRaw {
    async fn put_raw(&self, place: RawPlace, _jid: &str, bytes: &[u8]) -> Result<(), BackendError> {
        let ns = &self.ns;
        let mut pipe = ::redis::pipe();
        match &place {
            RawPlace::Queue(queue) => {
                pipe.cmd("LPUSH")
                    .arg(format!("{ns}queue:{queue}"))
                    .arg(bytes);
                pipe.cmd("SADD").arg(format!("{ns}queues")).arg(queue);
            }
            RawPlace::Scheduled(_, t) => {
                pipe.cmd("ZADD")
                    .arg(format!("{ns}schedule"))
                    .arg(to_epoch(*t))
                    .arg(bytes);
            }
            RawPlace::Retry(_, t) => {
                pipe.cmd("ZADD")
                    .arg(format!("{ns}retry"))
                    .arg(to_epoch(*t))
                    .arg(bytes);
            }
            RawPlace::Dead(_, t) => {
                pipe.cmd("ZADD")
                    .arg(format!("{ns}dead"))
                    .arg(to_epoch(*t))
                    .arg(bytes);
            }
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(store_error)
    }
}

async fn fresh_subject() -> Result<PoisonSubject, CaseError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = servers::redis_url();
    let secs = chrono::Utc::now().timestamp();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("poison:{secs}:{}:{n}", std::process::id());
    let opts = RedisOptions::new(url.clone()).with_prefix(prefix.clone());
    let backend = RedisBackend::connect(opts).await?;
    let client = ::redis::Client::open(url.as_str()).map_err(store_error)?;
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(store_error)?;
    Ok(PoisonSubject {
        backend: Arc::new(backend) as Arc<dyn AdminBackend>,
        raw: Arc::new(RedisRaw {
            conn,
            ns: format!("{prefix}:"),
        }),
    })
}

jobs_conformance::poison_suite!(redis, PoisonFactory::new(fresh_subject));
