#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(redact = [card_numbr])]
async fn unknown_name(order_id: u64, card_number: String) -> Result<(), E> {
    let _ = (order_id, card_number);
    Ok(())
}

#[jobs::job(redact = [token])]
async fn no_arguments() -> Result<(), E> {
    Ok(())
}

#[jobs::job(redact = card_number)]
async fn not_a_list(card_number: String) -> Result<(), E> {
    let _ = card_number;
    Ok(())
}

#[jobs::job(concurrency(limit = 1, key = account_id), redact = [account_id])]
async fn redacted_key(account_id: String) -> Result<(), E> {
    let _ = account_id;
    Ok(())
}

#[jobs::job(redact = [a], redact = [a])]
async fn twice(a: String) -> Result<(), E> {
    let _ = a;
    Ok(())
}

#[jobs::job]
async fn marked_state(#[redact] s: jobs::State<u8>, #[redact(all)] a: String) -> Result<(), E> {
    let _ = (s, a);
    Ok(())
}

fn main() {}
