//! The dashboard's server facts: every shard's, each named by its shard.

use jobs::backend::*;

use super::{all, Shards};

pub(super) async fn facts(s: &Shards) -> Result<Vec<(String, String)>, BackendError> {
    let all = all(s.backends.iter().map(|b| b.facts())).await?;
    let mut out = vec![("Shards".to_owned(), s.backends.len().to_string())];
    for (i, facts) in all.into_iter().enumerate() {
        out.extend(
            facts
                .into_iter()
                .map(|(k, v)| (format!("Shard {i}: {k}"), v)),
        );
    }
    Ok(out)
}
