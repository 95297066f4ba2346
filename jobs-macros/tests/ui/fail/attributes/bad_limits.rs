#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(concurrency(limit = 0, key = account_id))]
async fn zero_limit(account_id: u64) -> Result<(), E> {
    let _ = account_id;
    Ok(())
}

#[jobs::job(concurrency(limit = 2, key = no_such_arg))]
async fn unknown_key(account_id: u64) -> Result<(), E> {
    let _ = account_id;
    Ok(())
}

#[jobs::job(concurrency(key = account_id))]
async fn no_limit(account_id: u64) -> Result<(), E> {
    let _ = account_id;
    Ok(())
}

#[jobs::job(concurrency(limit = 1, per = "1m"))]
async fn per_on_concurrency() -> Result<(), E> {
    Ok(())
}

#[jobs::job(rate(limit = 100))]
async fn rate_without_per() -> Result<(), E> {
    Ok(())
}

#[jobs::job(rate(limit = 100, per = "often"))]
async fn bad_per() -> Result<(), E> {
    Ok(())
}

#[jobs::job(rate(limit = "many", per = "1m", key = [partner_id, nope]))]
async fn bad_rate(partner_id: u64) -> Result<(), E> {
    let _ = partner_id;
    Ok(())
}

fn main() {}
