//! A job whose `Ok` type is neither `()` nor `Outcome`: the error says what a job returns.

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job]
async fn count(user_id: u64) -> Result<u32, E> {
    Ok(user_id as u32)
}

fn main() {}
