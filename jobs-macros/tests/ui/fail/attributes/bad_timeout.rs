#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(timeout = "30")]
async fn no_unit() -> Result<(), E> {
    Ok(())
}

#[jobs::job(timeout = "1.5s")]
async fn fraction() -> Result<(), E> {
    Ok(())
}

#[jobs::job(timeout = "0s")]
async fn zero() -> Result<(), E> {
    Ok(())
}

#[jobs::job(timeout = 30)]
async fn not_a_string() -> Result<(), E> {
    Ok(())
}

fn main() {}
