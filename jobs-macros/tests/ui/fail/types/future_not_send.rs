use std::rc::Rc;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

async fn flush() {}

#[jobs::job]
async fn welcome(user_id: u64) -> Result<(), E> {
    let shared = Rc::new(user_id);
    flush().await;
    let _ = shared;
    Ok(())
}

fn main() {}
