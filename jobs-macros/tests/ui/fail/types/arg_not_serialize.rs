#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

struct User {
    id: u64,
}

#[jobs::job]
async fn welcome(user: User) -> Result<(), E> {
    let _ = user.id;
    Ok(())
}

fn main() {}
