//! `active_job` marks a job as a Ruby Active Job class: its options say so, and it keeps
//! its wire name (the Ruby class) and arguments as any other job.

use jobs::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(name = "WelcomeJob", queue = "mailers", active_job)]
async fn welcome(user_id: i64, options: serde_json::Value) -> Result<(), E> {
    let _ = (user_id, options);
    Ok(())
}

#[jobs::job(name = "PlainJob")]
async fn plain() -> Result<(), E> {
    Ok(())
}

fn main() {
    assert_eq!(Welcome::NAME, "WelcomeJob");
    assert!(Welcome::options().active_job);
    assert_eq!(Welcome::options().queue, "mailers");
    assert!(!Plain::options().active_job);
}
