#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

struct Mailer;

impl Mailer {
    #[jobs::job]
    async fn welcome(&self, user_id: u64) -> Result<(), E> {
        let _ = user_id;
        Ok(())
    }
}

fn main() {}
