//! `active_job` is a flag: a value is refused, and so is a second one.

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(name = "A", active_job = true)]
async fn a() -> Result<(), E> {
    Ok(())
}

#[jobs::job(name = "B", active_job, active_job)]
async fn b() -> Result<(), E> {
    Ok(())
}

fn main() {}
