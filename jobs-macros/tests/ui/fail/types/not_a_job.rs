//! A plain struct given where a job is expected: the error says to use `#[jobs::job]`.

use jobs::{Client, EnqueueOptions};

struct Welcome {
    user_id: u64,
}

async fn signup(client: &Client) {
    let job = Welcome { user_id: 42 };
    let _ = client.enqueue(job, &EnqueueOptions::default()).await;
}

fn main() {
    let _ = signup;
}
