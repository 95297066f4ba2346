//! `name = "..."` sets the wire name the worker looks up; the type keeps its Rust name.

use jobs::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job(name = "Mailers::Welcome")]
async fn welcome(user_id: u64) -> Result<(), E> {
    let _ = user_id;
    Ok(())
}

fn main() {
    assert_eq!(Welcome::NAME, "Mailers::Welcome");
    let registry = jobs::Registry::from_inventory().unwrap();
    assert!(registry.get("Mailers::Welcome").is_some());
    assert!(registry.get("Welcome").is_none());
}
