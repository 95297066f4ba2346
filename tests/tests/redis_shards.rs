//! Runs the whole conformance suite against the sharded Redis backend (`redis+shards://`):
//! two shards, databases 1 and 2 of the server at `JOBS_TEST_REDIS_URL` (see `servers`), each
//! case under a key prefix of its own on both.
//!
//! Queues go to shards by the hash of their name, except `default`, pinned to shard 1 (it
//! would hash to shard 0), so every case that uses `default` and another queue runs its
//! routing, reserves and listings across both shards, and the batch cases' queues, pinned
//! together to shard 0 (a batch lives on one shard). Prefixes are
//! `shards:<epoch secs>:<pid>:<n>`; nothing is flushed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

mod servers;

use jobs::backend::{AdminBackend, Backend, PushParams};
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::RedisOptions;
use jobs_backends::redis_shards::{ShardOptions, ShardedRedis};
use jobs_conformance::{CaseError, Factory};

async fn fresh_prefix() -> Result<Arc<dyn AdminBackend>, CaseError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let secs = chrono::Utc::now().timestamp();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("shards:{secs}:{}:{n}", std::process::id());
    let shards =
        [1, 2].map(|db| RedisOptions::new(servers::redis_db_url(db)).with_prefix(prefix.clone()));
    let mut opts = ShardOptions::new(shards.to_vec()).route("default", 1);
    // A batch lives on one shard: its queues are pinned to shard 0 together.
    for q in jobs_conformance::BATCH_QUEUES {
        opts = opts.route(*q, 0);
    }
    let backend = ShardedRedis::connect(opts).await?;
    Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
}

fn factory() -> Factory {
    Factory::fallible(fresh_prefix).require_all()
}

jobs_conformance::conformance_suite!(redis_shards, factory());

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

/// Each shard keeps Sidekiq's plain layout: a job pushed through the sharded backend is in
/// its queue's shard only, as Sidekiq's JSON in `queue:<name>` with the name in `queues`.
#[tokio::test]
async fn a_pushed_job_is_in_sidekiqs_layout_on_its_queues_shard_only() {
    let prefix = format!(
        "shards-layout:{}:{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let urls = [servers::redis_db_url(1), servers::redis_db_url(2)];
    let shards = urls
        .clone()
        .map(|u| RedisOptions::new(u).with_prefix(prefix.clone()));
    let backend = ShardedRedis::connect(ShardOptions::new(shards.to_vec()).route("default", 1))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let jobs = vec![
        JobEnvelope::new("Mail", "default", vec![serde_json::json!(1)]),
        JobEnvelope::new("Mail", "a", vec![serde_json::json!(2)]),
    ];
    let jids: Vec<String> = jobs.iter().map(|j| j.jid.clone()).collect();
    backend.job_push(PushParams::new(jobs, now)).await.unwrap();
    for (queue, shard, jid) in [("default", 1usize, &jids[0]), ("a", 0, &jids[1])] {
        assert_eq!(backend.shard_of(queue), shard);
        for (i, url) in urls.iter().enumerate() {
            let mut c = redis::Client::open(url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let raw: Vec<String> = redis::cmd("LRANGE")
                .arg(format!("{prefix}:queue:{queue}"))
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap();
            let known: bool = redis::cmd("SISMEMBER")
                .arg(format!("{prefix}:queues"))
                .arg(queue)
                .query_async(&mut c)
                .await
                .unwrap();
            if i == shard {
                assert_eq!(raw.len(), 1, "queue {queue} on shard {i}");
                let job: serde_json::Value = serde_json::from_str(&raw[0]).unwrap();
                assert_eq!(job["jid"], serde_json::json!(jid));
                assert_eq!(job["class"], "Mail");
                assert_eq!(job["queue"], queue);
                assert!(job["enqueued_at"].is_number(), "{job}");
                assert!(known, "queue {queue} listed in `queues` of shard {i}");
            } else {
                assert!(
                    raw.is_empty() && !known,
                    "queue {queue} leaked to shard {i}"
                );
            }
        }
    }
}

/// A batch lives whole on one shard: one whose members' and callbacks' queues are on two
/// shards is refused before anything is written (no batch, no member pushed), naming each
/// queue's shard and the route that joins them; the same batch with its queues pinned
/// together is created on that shard, and a member for another shard is refused when added.
#[tokio::test]
async fn a_batch_spanning_shards_is_refused_and_one_on_a_shard_is_kept_there() {
    use jobs::backend::{BatchAddParams, BatchCreateParams, JobListParams, JobSet};
    use jobs::batch::{BatchEvent, BatchInfo};
    let prefix = format!(
        "shards-batch:{}:{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let shards =
        [1, 2].map(|db| RedisOptions::new(servers::redis_db_url(db)).with_prefix(prefix.clone()));
    let opts = ShardOptions::new(shards.to_vec())
        .route("work", 0)
        .route("done", 1);
    let backend = ShardedRedis::connect(opts.clone()).await.unwrap();
    let store = backend.batches().expect("sharded Redis keeps batches");
    let now = chrono::Utc::now();
    let info = |bid: &str, cb_queue: &str| {
        BatchInfo::new(
            bid,
            "import",
            now.timestamp() as f64,
            std::time::Duration::from_secs(600),
        )
        .callback(
            BatchEvent::Success,
            JobEnvelope::new("Done", cb_queue, vec![]),
        )
    };
    let member = |q: &str| JobEnvelope::new("Work", q, vec![]);
    let refused = store
        .batch_create(
            BatchCreateParams::new(info("b-split", "done"), now).jobs(vec![member("work")]),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("queue work on shard 0") && refused.contains("queue done on shard 1"),
        "{refused}"
    );
    assert!(refused.contains("route=done:0"), "{refused}");
    assert!(store.batch_status("b-split").await.unwrap().is_none());
    let queued = backend
        .job_list(JobListParams::new(JobSet::Queue("work".into()), 10))
        .await
        .unwrap();
    assert_eq!(queued.jobs.len(), 0, "no member was pushed");

    let together = ShardedRedis::connect(opts.route("done", 0)).await.unwrap();
    let store = together.batches().unwrap();
    store
        .batch_create(BatchCreateParams::new(info("b-one", "done"), now).jobs(vec![member("work")]))
        .await
        .unwrap();
    let on_zero = together.shard(0).unwrap().batches().unwrap();
    assert!(
        on_zero.batch_status("b-one").await.unwrap().is_some(),
        "kept on shard 0"
    );
    let on_one = together.shard(1).unwrap().batches().unwrap();
    assert!(
        on_one.batch_status("b-one").await.unwrap().is_none(),
        "and only there"
    );
    assert_eq!(
        together.shard_of("other"),
        1,
        "FNV-1a puts `other` on shard 1"
    );
    let e = store
        .batch_add(BatchAddParams::new("b-one", vec![member("other")], now))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("batch b-one is on shard 0") && e.contains("route=other:0"),
        "{e}"
    );
    let st = store.batch_status("b-one").await.unwrap().unwrap();
    assert_eq!(st.total(), 1, "the refused member was not added");
    together.clear_all().await.unwrap();
}
