//! A job whose error type is not an error (`String`): the error says what `E` may be.

#[jobs::job]
async fn welcome(user_id: u64) -> Result<(), String> {
    Err(format!("no user {user_id}"))
}

fn main() {}
