#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(retry = -1)]
async fn negative() -> Result<(), E> {
    Ok(())
}

#[jobs::job(retry = "5")]
async fn quoted() -> Result<(), E> {
    Ok(())
}

#[jobs::job(retry = 10000000000)]
async fn too_many() -> Result<(), E> {
    Ok(())
}

fn main() {}
