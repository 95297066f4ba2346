#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(retry = 3, queue = "a", retry = 5)]
async fn welcome(user_id: u64) -> Result<(), E> {
    let _ = user_id;
    Ok(())
}

fn main() {}
