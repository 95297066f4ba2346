#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job]
fn welcome(user_id: u64) -> Result<(), E> {
    let _ = user_id;
    Ok(())
}

fn main() {
    // The function is still emitted, so calling it adds no error.
    let _ = welcome(1);
}
