//! A job without arguments, with every option left at its default.

use jobs::envelope::RetrySetting;
use jobs::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[jobs::job]
async fn ping() -> Result<(), Never> {
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(Ping::NAME, "Ping");
    let options = Ping::options();
    assert_eq!(options.queue, "default");
    assert_eq!(options.retry, RetrySetting::Count(25));
    assert!(options.dead && options.timeout.is_none());
    assert!(Ping::required_states().is_empty());
    assert!(Ping::new().to_args().unwrap().is_empty());
    assert!(Ping::from_args(&[]).is_ok());
    assert!(Ping::from_args(&[serde_json::json!(1)]).is_err());
    ping().await.unwrap();
}
