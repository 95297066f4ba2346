#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job]
async fn welcome<T: serde::Serialize>(user: T) -> Result<(), E> {
    let _ = user;
    Ok(())
}

fn main() {}
