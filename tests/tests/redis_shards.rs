//! Runs the whole conformance suite against the sharded Redis backend (`redis+shards://`):
//! two shards, databases 1 and 2 of the server at `JOBS_TEST_REDIS_URL` (see `servers`), each
//! case under a key prefix of its own on both.
//!
//! Queues go to shards by the hash of their name, except `default`, pinned to shard 1 (it
//! would hash to shard 0), so every case that uses `default` and another queue runs its
//! routing, reserves and listings across both shards. Prefixes are
//! `shards:<epoch secs>:<pid>:<n>`; nothing is flushed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod servers;

use jobs::backend::AdminBackend;
use jobs_backends::redis::RedisOptions;
use jobs_backends::redis_shards::{ShardOptions, ShardedRedis};
use jobs_conformance::{CaseError, Factory};

async fn fresh_prefix() -> Result<Arc<dyn AdminBackend>, CaseError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let secs = chrono::Utc::now().timestamp();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("shards:{secs}:{}:{n}", std::process::id());
    let shards = [1, 2]
        .map(|db| RedisOptions::new(servers::redis_db_url(db)).with_prefix(prefix.clone()));
    let opts = ShardOptions::new(shards.to_vec()).route("default", 1);
    let backend = ShardedRedis::connect(opts).await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

jobs_conformance::conformance_suite!(redis_shards, Factory::fallible(fresh_prefix).require_all());

/// The URL form reaches the same backend through `jobs::connect`.
#[tokio::test]
async fn the_url_form_connects_through_the_registry() {
    let one = servers::redis_db_url(1);
    let two = servers::redis_db_url(2);
    let strip = |u: &str| u.trim_start_matches("redis://").to_owned();
    let url = format!(
        "redis+shards://{},{}?prefix=shards-url:{}&route=default:1",
        strip(&one),
        strip(&two),
        std::process::id()
    );
    let backend = jobs_backends::connect(&url).await.unwrap();
    assert_eq!(backend.name(), "redis");
    let opts = ShardOptions::from_url(&url).unwrap();
    assert_eq!((opts.shards.len(), opts.shard_of("default")), (2, 1));
}
