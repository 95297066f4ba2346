//! `unique`, `priority` and `expires_in` reach the job's options.

use std::time::Duration;

use jobs::envelope::flow::UniqueUntil;
use jobs::Job;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(
    unique(by = [account_id], within = "10m", until = "start", per_queue = true),
    priority = 3,
    expires_in = "1h"
)]
async fn sync_account(region: String, account_id: u64) -> Result<(), E> {
    let _ = (region, account_id);
    Ok(())
}

#[jobs::job(unique(within = "30s"))]
async fn send_receipt(order_id: u64) -> Result<(), E> {
    let _ = order_id;
    Ok(())
}

fn main() {
    let o = SyncAccount::options();
    let u = o.unique.expect("unique");
    assert_eq!(u.args, Some(&[1usize][..]));
    assert_eq!(u.within, Duration::from_secs(600));
    assert_eq!(u.until, UniqueUntil::Start);
    assert!(u.queue);
    assert_eq!(o.priority, 3);
    assert_eq!(o.expires_in, Some(Duration::from_secs(3600)));
    let u = SendReceipt::options().unique.expect("unique");
    assert_eq!((u.args, u.until, u.queue), (None, UniqueUntil::Success, false));
    assert_eq!(SendReceipt::options().priority, 0);
}
