#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(queue = "mailers", qeue = "critical")]
async fn welcome(user_id: u64) -> Result<(), E> {
    let _ = user_id;
    Ok(())
}

fn main() {
    // The job is still generated, so its uses do not add errors.
    let _ = Welcome::new(1);
}
