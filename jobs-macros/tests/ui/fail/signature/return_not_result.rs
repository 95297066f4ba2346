#[jobs::job]
async fn welcome(user_id: u64) -> bool {
    user_id > 0
}

#[jobs::job]
async fn nothing(user_id: u64) {
    let _ = user_id;
}

fn main() {}
