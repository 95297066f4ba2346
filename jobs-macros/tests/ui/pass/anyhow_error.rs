//! With the `anyhow` feature, a job may return `anyhow::Error`: it is recorded with its
//! chain, not refused as a type that is not an error. (`anyhow::Error` is not
//! `std::error::Error`; the generated code picks its conversion before the others.)

#[derive(Debug, thiserror::Error)]
#[error("smtp timed out")]
struct Smtp;

#[jobs::job]
async fn welcome(user_id: u64) -> anyhow::Result<()> {
    Err(anyhow::Error::new(Smtp).context(format!("welcome {user_id}")))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let failure = Welcome::perform_now(7).await.unwrap_err();
    assert_eq!(failure.kind, jobs::FailureKind::Error);
    assert_eq!(failure.chain, ["welcome 7", "smtp timed out"]);
    assert_eq!(failure.message, "welcome 7: smtp timed out");
}
