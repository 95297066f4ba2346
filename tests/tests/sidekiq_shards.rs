//! Ruby Sidekiq on the shards of `redis+shards://`: each shard is a plain Sidekiq instance.
//! Jobs pushed through the sharded backend land on their queue's shard, where Ruby's API
//! lists them and a Ruby `sidekiq` process performs them; jobs Ruby pushes to a shard are
//! performed by a Rust worker on the sharded backend. Two databases of the shared server
//! (12 and 13, see `sidekiq_support`) are the shards. Skipped (with a `SKIPPED` line) when
//! Ruby Sidekiq is not installed, as the other interop tests are.

mod servers;
mod sidekiq_support;

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::AdminBackend;
use jobs::prelude::*;
use jobs::{Enqueue, Registry};
use jobs_backends::redis::RedisOptions;
use jobs_backends::redis_shards::{ShardOptions, ShardedRedis};
use serde_json::{json, Value};
use sidekiq_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shard_is_a_sidekiq_instance_ruby_lists_performs_and_pushes_to() {
    if !have_ruby_sidekiq("each_shard_is_a_sidekiq_instance") {
        return;
    }
    let a = Db::take(12).await;
    let b = Db::take(13).await;
    // `mailers` hashes to shard 0: pinned to shard 1 so the two queues are apart.
    let opts = ShardOptions::new(vec![
        RedisOptions::new(a.url.clone()),
        RedisOptions::new(b.url.clone()),
    ])
    .route("mailers", 1);
    let sharded = Arc::new(ShardedRedis::connect(opts).await.unwrap());
    assert_eq!(
        (sharded.shard_of("default"), sharded.shard_of("mailers")),
        (0, 1)
    );
    let client = Client::new(sharded.clone());

    let to_default: Vec<jobs::Enqueued> = Enqueue::<InteropEcho>::new()
        .client(&client)
        .enqueue_all((0..3).map(|i| InteropEcho(vec![json!(i), json!("default")])))
        .await
        .unwrap();
    let to_mailers: Vec<jobs::Enqueued> = Enqueue::<InteropEcho>::new()
        .client(&client)
        .queue("mailers")
        .enqueue_all((0..2).map(|i| InteropEcho(vec![json!(i), json!("mailers")])))
        .await
        .unwrap();

    // Ruby's API on each shard sees only that shard's queue.
    let on_a: Value =
        serde_json::from_str(&ruby(&a, "inspect_sets.rb", &[], Duration::from_secs(30)).await)
            .unwrap();
    let on_b: Value =
        serde_json::from_str(&ruby(&b, "inspect_sets.rb", &[], Duration::from_secs(30)).await)
            .unwrap();
    assert_eq!(on_a["queues"], json!(["default"]), "{on_a}");
    assert_eq!(on_a["queue"]["size"], 3, "{on_a}");
    assert_eq!(on_b["queues"], json!(["mailers"]), "{on_b}");
    assert_eq!(on_b["stats"]["queues"]["mailers"], 2, "{on_b}");
    let listed: Vec<&Value> = on_a["queue"]["jobs"].as_array().unwrap().iter().collect();
    for e in &to_default {
        assert!(
            listed.iter().any(|j| j["jid"] == json!(e)),
            "{e:?} on shard 0"
        );
    }
    // The merged view of the sharded backend counts both.
    let queues = sharded
        .queue_list(jobs::backend::QueueListParams::new(jobs::chrono::Utc::now()))
        .await
        .unwrap();
    let sizes: Vec<(String, u64)> = queues.into_iter().map(|q| (q.name, q.size)).collect();
    assert_eq!(
        sizes,
        vec![("default".to_owned(), 3), ("mailers".to_owned(), 2)]
    );

    // A Ruby Sidekiq process on shard 0 performs its jobs.
    let mut sidekiq = start_sidekiq(&a);
    let performed = a.wait_performed(3, Duration::from_secs(60)).await;
    let _ = sidekiq.kill().await;
    for e in &to_default {
        assert!(
            performed.iter().any(|r| r["jid"] == json!(e)),
            "{e:?} not performed by Ruby on shard 0: {performed:?}"
        );
    }
    let _: () = redis::cmd("DEL")
        .arg(PERFORMED)
        .query_async(&mut a.raw.clone())
        .await
        .unwrap();

    // Ruby pushes to shard 0; a Rust worker on the sharded backend performs every job, and
    // the mailers jobs on shard 1 too.
    let worker = start_worker(sharded.clone(), |w| {
        w.queues(["default", "mailers"])
            .registry(Registry::new().with::<InteropEcho>().unwrap())
            .state(Recorder(a.raw.clone()))
    });
    let out = ruby(&a, "push_shapes.rb", &[], Duration::from_secs(60)).await;
    assert!(out.lines().any(|l| l.starts_with("ok ")), "{out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let performed = a.performed().await;
        let missing: Vec<_> = to_mailers
            .iter()
            .filter(|e| !performed.iter().any(|r| r["jid"] == json!(e)))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{missing:?} from shard 1 not performed by the Rust worker: {performed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    let stats = sharded.stats().await.unwrap();
    assert_eq!((stats.enqueued, stats.failed), (0, 0), "{stats:?}");
}
