#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job]
async fn welcome((user_id, locale): (u64, String), name: &str) -> Result<(), E> {
    let _ = (user_id, locale, name);
    Ok(())
}

fn main() {}
