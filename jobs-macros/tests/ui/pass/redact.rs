//! `redact = [..]` reaches the job's options as 0-based positions; the stored arguments
//! keep the real values, and argument errors never quote a redacted one.

use jobs::Job;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(redact = [cvv, card_number])]
async fn charge(order_id: u64, card_number: String, cvv: u16) -> Result<(), E> {
    let _ = (order_id, card_number, cvv);
    Ok(())
}

fn main() {
    assert_eq!(Charge::options().redact, &[1usize, 2][..]);
    let job = Charge::new(7, "4111-1111-1111-1111".into(), 123);
    let args = job.to_args().expect("encodes");
    assert_eq!(args, [json!(7), json!("4111-1111-1111-1111"), json!(123)]);
    assert_eq!(
        jobs::redact::args("Charge", &args),
        [json!(7), json!("[redacted]"), json!("[redacted]")]
    );
    let bad = Charge::from_args(&[json!(7), json!(4111), json!("4111-secret")]);
    let text = bad.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("card_number") && !text.contains("4111"), "{text}");
    let count = Charge::from_args(&[json!("4111-secret")]);
    let text = count.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("expected 3") && !text.contains("4111"), "{text}");
    assert_eq!(SyncAccount::options().redact, &[1usize, 2][..]);
    // The function is emitted without the attribute, and still callable.
    let _ = sync_account(1, "pw".into(), "t".into());
}

/// `#[redact]` on a parameter: the same as naming it in `redact = [..]`, and both together.
#[jobs::job(redact = [token])]
async fn sync_account(account_id: u64, #[redact] password: String, token: String) -> Result<(), E> {
    let _ = (account_id, password, token);
    Ok(())
}
