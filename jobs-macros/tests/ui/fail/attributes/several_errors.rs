// Every mistake in the attribute is reported at once, each at its own token.

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(queue = "", dead = "no", backtrace = "all", name = "", color = "red", dead = true)]
async fn welcome(user_id: u64) -> Result<(), E> {
    let _ = user_id;
    Ok(())
}

fn main() {}
