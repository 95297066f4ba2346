//! A job whose `Ok` type is neither `()`, `Outcome` nor `Serialize`: the error says what a
//! job returns.

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

/// Not `Serialize`: it cannot be kept as the job's result.
struct Handle;

#[jobs::job]
async fn count(user_id: u64) -> Result<Handle, E> {
    let _ = user_id;
    Ok(Handle)
}

fn main() {}
