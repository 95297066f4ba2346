#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(unique(by = [no_such_arg], within = "10m"))]
async fn unknown_arg(account_id: u64) -> Result<(), E> {
    let _ = account_id;
    Ok(())
}

#[jobs::job(unique(by = [account_id]))]
async fn no_within(account_id: u64) -> Result<(), E> {
    let _ = account_id;
    Ok(())
}

#[jobs::job(unique(within = "10m", until = "finish"))]
async fn bad_until() -> Result<(), E> {
    Ok(())
}

#[jobs::job(unique(within = "0s"))]
async fn zero_within() -> Result<(), E> {
    Ok(())
}

#[jobs::job(unique(within = "1m", scope = "global"))]
async fn unknown_unique_key() -> Result<(), E> {
    Ok(())
}

#[jobs::job(priority = 10)]
async fn priority_too_big() -> Result<(), E> {
    Ok(())
}

#[jobs::job(expires_in = "soon")]
async fn bad_expiry() -> Result<(), E> {
    Ok(())
}

fn main() {}
