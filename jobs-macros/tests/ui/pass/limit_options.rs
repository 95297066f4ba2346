//! `concurrency` and `rate` reach the job's options and the envelope it enqueues.

use std::time::Duration;

use jobs::Job;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(
    concurrency(limit = 1, key = account_id),
    rate(limit = 100, per = "1m", key = [region, account_id])
)]
async fn sync_account(region: String, account_id: u64) -> Result<(), E> {
    let _ = (region, account_id);
    Ok(())
}

#[jobs::job(concurrency(limit = 5))]
async fn rebuild_index() -> Result<(), E> {
    Ok(())
}

fn main() {
    let o = SyncAccount::options();
    let c = o.concurrency.expect("concurrency");
    assert_eq!((c.limit, c.key), (1, Some(&[1usize][..])));
    let r = o.rate.expect("rate");
    assert_eq!((r.limit, r.per, r.key), (100, Duration::from_secs(60), Some(&[0usize, 1][..])));
    let args = [serde_json::json!("eu"), serde_json::json!(42)];
    assert_eq!(c.for_job("SyncAccount", &args).key, "SyncAccount:42");
    assert_eq!(r.for_job("SyncAccount", &args).key, "SyncAccount:\"eu\",42");
    let c = RebuildIndex::options().concurrency.expect("concurrency");
    assert_eq!((c.limit, c.key), (5, None));
    assert!(RebuildIndex::options().rate.is_none());
}
