//! Signatures beyond the basic one: patterns on special parameters, `mut` and raw names,
//! `io::Result`, `Outcome`, visibility, `#[cfg]`, and arguments of nested types.

use std::collections::BTreeMap;
use std::time::Duration;

use jobs::prelude::*;

#[derive(Clone)]
struct Pool(u32);

mod jobs_mod {
    use super::*;

    /// Kept in its module, visible to the crate.
    #[jobs::job]
    pub(crate) async fn sync_account(
        State(pool): State<Pool>,
        mut r#type: String,
        tags: BTreeMap<String, Vec<u8>>,
        _ctx: jobs::JobContext,
    ) -> std::io::Result<Outcome> {
        r#type.push('!');
        if pool.0 == 0 || tags.is_empty() {
            return Ok(Outcome::snooze(Duration::from_secs(30)));
        }
        Ok(Outcome::Done)
    }
}

#[cfg(any())]
#[jobs::job]
async fn compiled_out(x: NotEvenAType) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    use jobs_mod::SyncAccount;
    let job = SyncAccount::new("a".into(), BTreeMap::from([("k".into(), vec![1])]));
    let args = job.to_args().unwrap();
    assert_eq!(args[0], serde_json::json!("a"));
    assert_eq!(args[1], serde_json::json!({"k": [1]}));
    let err = SyncAccount::from_args(&[serde_json::json!(1), serde_json::json!({})]);
    let err = err.err().unwrap().to_string();
    assert!(err.contains("`type: String`"), "{err}");
    let err = SyncAccount::from_args(&[serde_json::json!("a"), serde_json::json!(2)]);
    let err = err.err().unwrap().to_string();
    assert!(err.contains("`tags: BTreeMap<String, Vec<u8>>`"), "{err}");
    assert_eq!(
        SyncAccount::required_states(),
        vec![jobs::StateKey::of::<Pool>()]
    );
}
